"""Long names: a file whose name leaves no room for what tgvid adds to it (`.meta.msgpack`, a temp file's tail,
`.reason.txt`, ` (2)`) is handed on, sent and quarantined under a shorter name, and still shown under its own."""

import os
from pathlib import Path

from tests.media import write_video
from tests.processes import DaemonProcess
from tests.waiting import wait_for
from tgvid import sidecar
from tgvid.filenames import is_utf8
from tgvid.namelength import NAME_MAX_BYTES

LONG_STEM = "é" * 123  # 246 bytes: a cut through the middle of a character would leave a broken name


def only(folder: Path, suffix: str) -> Path:
    found = [p for p in folder.iterdir() if p.name.endswith(suffix)]
    assert len(found) == 1, found
    return found[0]


def test_files_with_250_byte_names_are_handed_on_sent_and_quarantined_under_their_own_names(tmp_path, daemon):
    video = LONG_STEM + ".mp4"
    assert len(os.fsencode(video)) == 250
    transcoder = daemon()
    uploader = DaemonProcess("uploader", tmp_path, tmp_path / "uploader.log",
                             {"TGVID_UPLOADER_QUIET_SECONDS": "0.2"}).wait_ready()
    try:
        write_video(tmp_path / "made.mp4", seconds=1, options={"movflags": "faststart"}).rename(tmp_path / "inbox" / video)
        (tmp_path / "inbox" / (LONG_STEM + ".mkv")).write_bytes(b"not media at all" * 100)
        (tmp_path / "outbox" / (LONG_STEM + ".bin")).write_bytes(os.urandom(5000))  # placed by hand: no sidecar
        wait_for(lambda: len([p for p in (tmp_path / "delivered").iterdir() if p.is_file()]) == 2, 60,
                 "both the handed-on video and the file placed by hand to be delivered")
        wait_for(lambda: any((tmp_path / "quarantine").glob("*.reason.txt")), 30, "the bad file's quarantine")
        wait_for(lambda: len(list((tmp_path / "sent").glob("*" + sidecar.SUFFIX))) == 2, 30, "both to reach sent/")
        sent = sorted((tmp_path / "sent").glob("*" + sidecar.SUFFIX))
    finally:
        uploader.stop()
    shown = [sidecar.read(meta).name_for(meta.with_name(meta.name.removesuffix(sidecar.SUFFIX))) for meta in sent]
    assert sorted(shown) == [LONG_STEM + ".bin", video]
    every_name = [p.name for p in tmp_path.rglob("*")]
    assert max(len(os.fsencode(name)) for name in every_name) <= NAME_MAX_BYTES
    assert all(is_utf8(name) for name in every_name)  # cut at a character boundary
    reason = only(tmp_path / "quarantine", ".reason.txt").read_text()
    assert f"file:   inbox/{LONG_STEM}.mkv" in reason
    assert only(tmp_path / "quarantine", ".mkv").name.startswith(LONG_STEM[:100])
    assert not any((tmp_path / "inbox").iterdir())
    assert "Traceback" not in transcoder.log() + uploader.log()
