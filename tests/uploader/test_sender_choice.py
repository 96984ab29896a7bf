"""Which sender the uploader starts with: the local folder only when no Telegram setting is given at all, and a
half-made Telegram configuration refused with the missing settings named."""

import logging
from types import SimpleNamespace

import pytest
from conftest import hand_off

from tests.media import write_video
from tests.waiting import wait_for
from tgvid.errors import ConfigError
from uploader.daemon import make_sender
from uploader.delivery import Delivery
from uploader.folder import FolderSender
from uploader.ledger import Ledger, path_in
from uploader.outbox import Outbox


def config(root, folder_max_file_mib=0.0, **telegram):
    values = {"api_id": 0, "api_hash": "", "bot_token": "", "session": "", "session_file": "telegram.session",
              "chat": "me", **telegram}
    uploader = SimpleNamespace(premium=False, parallel_parts=8, part_kib=0, max_upload_mib_per_second=0.0,
                               folder_max_file_mib=folder_max_file_mib, album_window_seconds=0.0,
                               delete_after_send=False, max_retries=3, oversize="split")
    return SimpleNamespace(root=root, telegram=SimpleNamespace(**values), uploader=uploader)


def test_no_telegram_setting_at_all_delivers_into_the_local_folder_and_says_so(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    sender = make_sender(config(tmp_path), lambda: False)
    assert isinstance(sender, FolderSender)
    assert "using the local-folder sender: no Telegram setting is given" in caplog.text
    assert "in parts" not in caplog.text


def test_a_size_limit_for_the_local_folder_has_a_larger_video_arrive_there_in_parts(tmp_path, caplog):
    """uploader.folder_max_file_mib: what sending in parts looks like, without Telegram."""
    caplog.set_level(logging.INFO)
    video = write_video(tmp_path / "clip.mp4", seconds=2.0, width=160, height=120, gop_frames=5, grain=48,
                        options={"movflags": "+faststart"})  # about 400 KiB, a keyframe every 5 frames
    root = tmp_path / "root"
    hand_off(root, "clip.mp4", video.read_bytes(), "video", duration_seconds=2.0, width=160, height=120,
             has_audio=True)
    settings = config(root, folder_max_file_mib=0.25)
    sender = make_sender(settings, lambda: False)
    assert "files go to delivered/; a video over 0.25 MiB goes in parts (uploader.folder_max_file_mib)" in caplog.text
    delivery = Delivery(root, Ledger(path_in(root)), sender, settings.uploader, lambda *_: None)
    outbox = Outbox(root / "outbox", quiet_seconds=0.0)
    wait_for(lambda: delivery.run(outbox.scan(1000.0), lambda: False) or (root / "sent" / "clip.mp4").exists(), 60,
             "clip.mp4 sent in parts")
    delivery.close()
    parts = sorted(path.name for path in (root / "delivered").glob("*.mp4"))
    assert parts == [f"clip.part{n}of{len(parts)}.mp4" for n in range(1, len(parts) + 1)] and len(parts) >= 2
    assert all(0 < (root / "delivered" / name).stat().st_size <= 256 * 1024 for name in parts)


@pytest.mark.parametrize(("settings", "missing"), [
    ({"api_id": 1, "api_hash": "0123"}, "telegram.api_id and telegram.api_hash are set, but a login "
                                        "(telegram.bot_token, telegram.session, or run `tgvid login`) is missing"),
    ({"bot_token": "1:x"}, "telegram.bot_token is set, but telegram.api_id and telegram.api_hash are missing"),
    ({"api_hash": "0123", "bot_token": "1:x"}, "telegram.api_hash and telegram.bot_token are set, but telegram.api_id "
                                               "is missing"),
    ({"chat": "@mychannel"}, "telegram.chat is set, but telegram.api_id, telegram.api_hash and a login"),
])
def test_half_a_telegram_configuration_refuses_to_start_naming_what_is_missing(tmp_path, settings, missing):
    with pytest.raises(ConfigError, match="missing") as refused:
        make_sender(config(tmp_path, **settings), lambda: False)
    assert missing in refused.value.message
    assert "1:x" not in refused.value.message and "0123" not in refused.value.message
    assert not (tmp_path / "delivered").exists()
