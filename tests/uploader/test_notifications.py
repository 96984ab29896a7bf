"""Notifications: files that went to quarantine, and an uploader stopped on an account problem, are told in
`telegram.notify_chat`, a burst in one message; through Telethon's real request path, and by the local-folder sender."""

import asyncio
import logging
from pathlib import Path
from types import SimpleNamespace

from conftest import hand_off
from fake_telegram import FakeTelegram
from telethon.tl import types
from telethon_internals import fake_client

from tests.conftest import fill
from tests.waiting import wait_for
from tgvid import quarantine
from tgvid.errors import AccountError
from uploader import daemon
from uploader.folder import FolderSender
from uploader.notice import Notices, Reason, is_due, stopped_text
from uploader.telegram import TelegramSender

BATCH_SECONDS = 30.0


def quarantined(root: Path, relpath: str, error: str) -> None:
    """A file put in quarantine as the transcoder does it."""
    source = root / "inbox" / relpath
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_bytes(b"not a video")
    text = quarantine.reason_text(f"inbox/{relpath}", 0.0, "the transcoder", "probing the file", error, "Fix it.")
    quarantine.put(source, root / "quarantine" / relpath, text)


def settings(notify_chat: str = "same") -> SimpleNamespace:
    return SimpleNamespace(telegram=SimpleNamespace(notify_chat=notify_chat))


def sender_on(server: FakeTelegram, chat: str = "me") -> TelegramSender:
    client, _ = fake_client(server)
    return TelegramSender(client, asyncio.new_event_loop(), chat, False, lambda: False)


def test_a_burst_of_quarantined_files_makes_one_telegram_message_and_later_ones_another(tmp_path):
    server = FakeTelegram()
    sender = sender_on(server)
    sender.start()
    quarantined(tmp_path, "old.mkv", "rejected: told before this start")
    notices = Notices(tmp_path, BATCH_SECONDS)
    try:
        for index, name in enumerate(("trip/a.mkv", "trip/b.mkv", "c.avi")):
            quarantined(tmp_path, name, f"rejected: no video stream ({index})")
            daemon.tell(notices, sender, settings(), now=100.0 + index)
        assert server.texts() == [], "a burst still going on is not told piecemeal"
        daemon.tell(notices, sender, settings(), now=102.0 + BATCH_SECONDS)
        [message] = server.texts()
        assert "3 file(s) went to quarantine" in message.message
        for name in ("inbox/trip/a.mkv", "inbox/trip/b.mkv", "inbox/c.avi"):
            assert name in message.message
        assert "old.mkv" not in message.message
        assert message.peer_id == types.PeerUser(1), "the default notify_chat is the chat files go to"

        quarantined(tmp_path, "d.mkv", "rejected: empty")
        later = Notices(tmp_path, BATCH_SECONDS)  # a restart: what was told stays told
        daemon.tell(later, sender, settings(), now=1000.0)
        daemon.tell(later, sender, settings(), now=1000.0 + BATCH_SECONDS)
        assert [m.message.count("- ") for m in server.texts()] == [3, 1]
        assert "inbox/d.mkv" in server.texts()[1].message
    finally:
        sender.close()


def test_an_account_problem_is_told_in_another_chat_and_an_empty_setting_turns_notices_off(tmp_path):
    server = FakeTelegram()
    server.add_channel(1234567890, "Someone's channel", can_post=False)
    sender = sender_on(server, "-1001234567890")
    problem = AccountError("telegram.chat -1001234567890", "this account may not post in the chat")
    try:
        assert daemon.notify(sender, settings("me"), stopped_text(problem.message, tmp_path))
        [message] = server.texts()
        assert message.peer_id == types.PeerUser(1) and "may not post in the chat" in message.message
        assert not daemon.notify(sender, settings("same"), "tgvid: cannot go where files cannot"), \
            "refused like the files, logged, never raised"
    finally:
        sender.close()


def test_a_trickle_of_failures_is_told_after_ten_batch_times_at_the_latest():
    trickle = [Reason(f"inbox/{i}.mkv", "rejected", i, seen_at=float(i * 20)) for i in range(15)]  # one every 20 s
    assert not is_due(trickle, now=299.0, batch_seconds=BATCH_SECONDS)
    assert is_due(trickle, now=300.0, batch_seconds=BATCH_SECONDS)


def test_the_local_folder_sender_delivers_a_notice_as_a_text_file(tmp_path, uploader_processes):
    root = tmp_path / "root"
    process = uploader_processes(root, {"TGVID_UPLOADER_NOTIFY_BATCH_SECONDS": "1"})
    process.wait_ready()
    hand_off(root, "empty one.bin", b"")  # Telegram takes no empty file: quarantined by the uploader
    hand_off(root, "empty two.bin", b"")
    notices = root / "delivered" / "notices"
    wait_for(lambda: notices.is_dir() and list(notices.iterdir()), 30, "a notice in delivered/notices/")
    assert process.stop() == 0
    [notice] = list(notices.iterdir())
    text = notice.read_text()
    assert notice.suffix == ".txt" and "2 file(s) went to quarantine" in text
    assert "outbox/empty one.bin" in text and "outbox/empty two.bin" in text and "the file is empty" in text


def test_a_full_disk_that_keeps_the_notified_mark_from_being_saved_leaves_the_uploader_running(tmp_path, small_disk,
                                                                                               caplog):
    root, sender = small_disk, FolderSender(tmp_path / "delivered")
    notices = Notices(root, BATCH_SECONDS)
    quarantined(root, "a.mkv", "rejected: no video stream")
    filler = fill(root)
    with caplog.at_level(logging.WARNING):
        daemon.tell(notices, sender, settings(), now=100.0)
        daemon.tell(notices, sender, settings(), now=100.0 + BATCH_SECONDS)
        daemon.tell(notices, sender, settings(), now=100.0 + 2 * BATCH_SECONDS)
    assert "notified-until could not be saved" in caplog.text
    [notice] = (tmp_path / "delivered" / "notices").iterdir()
    assert "inbox/a.mkv" in notice.read_text(), "told once: the mark is kept in memory"
    filler.unlink()
    quarantined(root, "b.mkv", "rejected: empty")
    daemon.tell(notices, sender, settings(), now=1000.0)
    daemon.tell(notices, sender, settings(), now=1000.0 + BATCH_SECONDS)
    later = Notices(root, BATCH_SECONDS)  # a restart after the mark could be written again
    later.scan(2000.0)
    assert later.pending == {}
