"""Archives dropped into the inbox of the real `tgvid transcoder` process: their videos reach outbox/ under the
archive's folder name, a SIGKILL mid-unpack resumes at the entry it stopped at, a hostile one is quarantined, and
one too big for the disk waits in the inbox."""

import io
import os
import signal
import tarfile
import zipfile
from pathlib import Path

from tests.daemon.test_daemon_process import drop, outbox_files
from tests.media import write_video
from tests.test_unpack import zip_declaring
from tests.waiting import wait_for
from tgvid.errors import CheckpointError
from transcoder import unpack
from transcoder.daemon import job_id


def unpacked_entries(root: Path, relpath: str) -> list[str]:
    try:
        return [e.name for e in unpack.load(root / "work" / job_id(relpath)).done()]
    except CheckpointError:
        return []  # not written yet, or the job is over


def test_a_zip_of_videos_in_folders_reaches_the_outbox_under_its_name(tmp_path, daemon):
    media = tmp_path / "media"
    media.mkdir()
    zipped = media / "holiday.zip"
    with zipfile.ZipFile(zipped, "w") as archive:
        for inner in ("day1/beach.mp4", "day2/hike.mp4"):
            archive.write(write_video(media / "clip.mp4", seconds=1, options={"movflags": "+faststart"}), inner)
        archive.writestr("day1/notes.txt", "not media")

    running = daemon()
    drop(zipped, tmp_path / "inbox", "holiday.zip")

    wanted = {"holiday/day1/beach.mp4", "holiday/day2/hike.mp4"}
    wait_for(lambda: wanted <= outbox_files(tmp_path), 60, "the archive's videos in outbox/")
    assert outbox_files(tmp_path) == wanted
    assert (tmp_path / "originals" / "holiday.zip").read_bytes() == zipped.read_bytes()
    assert "left out day1/notes.txt (not a video or picture)" in running.log()
    assert running.stop() == 0


def test_a_sigkill_mid_unpack_resumes_at_the_entry_it_stopped_at(tmp_path, daemon):
    media = tmp_path / "media"
    media.mkdir()
    video = write_video(media / "clip.mp4", seconds=1, options={"movflags": "+faststart"}).read_bytes()
    packed = media / "album.tar.bz2"
    # Random bytes between the two videos keep bzip2 busy for a while after the first one is unpacked.
    with tarfile.open(packed, "w:bz2", compresslevel=1) as archive:
        for name, data in (("first.mp4", video), ("filler.bin", os.urandom(12 << 20)), ("second.mp4", video)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))

    first = daemon()
    drop(packed, tmp_path / "inbox", "album.tar.bz2")
    wait_for(lambda: unpacked_entries(tmp_path, "album.tar.bz2") == ["first.mp4"], 60, "the first entry unpacked")
    first.stop(signal.SIGKILL)
    assert unpacked_entries(tmp_path, "album.tar.bz2") == ["first.mp4"]

    second = daemon()
    wait_for(lambda: {"album/first.mp4", "album/second.mp4"} <= outbox_files(tmp_path), 60, "both videos in outbox/")
    assert "resuming: 1 of 2 entries already unpacked" in second.log()
    assert (tmp_path / "outbox" / "album" / "second.mp4").read_bytes() == video
    assert (tmp_path / "originals" / "album.tar.bz2").read_bytes() == packed.read_bytes()
    assert second.stop() == 0


def test_an_archive_escaping_its_folder_is_quarantined_with_the_reason(tmp_path, daemon):
    hostile = tmp_path / "evil.zip"
    with zipfile.ZipFile(hostile, "w") as archive:
        archive.writestr("../../escaped.jpg", b"x")

    running = daemon()
    drop(hostile, tmp_path / "inbox", "evil.zip")

    wait_for(lambda: "evil.zip: quarantined" in running.log(), 30, "the archive's quarantine")
    reason = (tmp_path / "quarantine" / "evil.zip.reason.txt").read_text()
    assert "outside the archive's folder" in reason
    assert "an archive job" in reason  # what was tried, in words a person reads
    assert not list(tmp_path.rglob("escaped*")) and not list(tmp_path.parent.glob("escaped*"))
    assert not list((tmp_path / "work").glob(job_id("evil.zip")))
    assert running.stop() == 0


def test_an_archive_too_big_for_the_disk_waits_in_the_inbox(tmp_path, daemon):
    huge = zip_declaring(tmp_path / "huge.zip", 1 << 50)  # its index says a PiB
    running = daemon(archive_max_unpacked_bytes=1 << 60, archive_max_ratio=1e18)
    drop(huge, tmp_path / "inbox", "huge.zip")

    wait_for(lambda: "huge.zip: not enough free disk space: unpacking needs about" in running.log(), 30,
             "the wait for space")
    assert "it starts when there is room; trying again in" in running.log()
    assert (tmp_path / "inbox" / "huge.zip").read_bytes() == huge.read_bytes()
    assert not (tmp_path / "quarantine" / "huge.zip").exists()
    assert running.stop() == 0
