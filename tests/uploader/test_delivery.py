"""Delivery in-process with the local-folder sender: albums, quarantine with reasons, fallback, retries."""

import ctypes
import os
import struct
import sys
from pathlib import Path
from types import SimpleNamespace

import msgpack
import pytest
from conftest import hand_off, hand_off_video

from tests.media import png_bytes, video_bytes
from tgvid import sidecar
from tgvid.errors import SendFailed
from uploader import status
from uploader.delivery import Delivery
from uploader.folder import FolderSender
from uploader.ledger import EntryState, Ledger, path_in
from uploader.outbox import Outbox


def settings(**changes):
    values = {"album_window_seconds": 0.0, "delete_after_send": False, "max_retries": 3, **changes}
    return SimpleNamespace(**values)


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


class RefusingSender(FolderSender):
    """A folder sender that refuses albums and any file named bad*, as Telegram refuses an invalid media object."""

    def __init__(self, folder, retry=False):
        super().__init__(folder)
        self.retry = retry
        self.sends = []

    def send(self, items, caption, progress):
        self.sends.append([item.name for item in items])
        if len(items) > 1 or any(item.name.startswith("bad") for item in items):
            raise SendFailed(items[0].path, "The provided media object is invalid", retry=self.retry)
        return super().send(items, caption, progress)


def chmod_000(path: Path) -> None:
    path.write_bytes(b"x")
    path.chmod(0)


def link_to_a_write_only_file(path: Path) -> None:
    """A regular file that even root cannot open for reading."""
    os.symlink("/proc/self/clear_refs", path)


UNREADABLE = [
    pytest.param(chmod_000, marks=pytest.mark.skipif(os.geteuid() == 0, reason="root reads a file whatever its mode"),
                 id="chmod-000"),
    pytest.param(link_to_a_write_only_file, id="write-only",
                 marks=pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc")),
]


def deliver(root: Path, sender=None, clock=None, ledger=None, **changes):
    clock = clock or Clock()
    sender = sender or FolderSender(root / "delivered")
    ledger = ledger or Ledger(path_in(root))
    delivery = Delivery(root, ledger, sender, settings(**changes), lambda *args: None, clock)
    delivery.run(Outbox(root / "outbox", quiet_seconds=0.0).scan(clock()), lambda: False)
    return ledger


def files_under(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                  if p.is_file() and ".receipts" not in p.parts and p != path_in(folder.parent))


def test_an_album_is_delivered_then_moved_to_sent_with_message_ids_in_the_ledger(tmp_path):
    hand_off_video(tmp_path, "trip/a.mp4")
    hand_off(tmp_path, "trip/b.jpg", b"jpeg", "image")
    ledger = deliver(tmp_path)
    assert files_under(tmp_path / "delivered") == ["trip/a.mp4", "trip/b.jpg"]
    assert files_under(tmp_path / "sent") == ["trip/a.mp4", "trip/a.mp4.meta.msgpack", "trip/b.jpg",
                                               "trip/b.jpg.meta.msgpack"]
    assert files_under(tmp_path / "outbox") == []
    entries = list(ledger.entries.values())
    assert [e.state for e in entries] == [EntryState.SENT, EntryState.SENT]
    assert all(e.message_ids for e in entries)
    assert len({e.album for e in entries}) == 1


def test_the_log_says_what_each_lone_file_is_sent_as(tmp_path, caplog):
    caplog.set_level("INFO", logger="uploader.delivery")
    hand_off_video(tmp_path, "clip.mp4")
    hand_off(tmp_path, "photo.jpg", b"jpeg", "image", width=640, height=480)
    hand_off(tmp_path, "huge.png", b"png", "image", width=30000, height=20)
    hand_off(tmp_path, "notes.pdf", b"pdf")
    deliver(tmp_path)
    for name, kind in (("clip.mp4", "video"), ("photo.jpg", "photo"), ("huge.png", "document"),
                       ("notes.pdf", "document")):
        assert f"{name}: sending as {kind} to folder" in caplog.text


def test_a_second_file_of_the_same_name_is_delivered_visibly_not_over_the_first(tmp_path):
    hand_off(tmp_path, "a.pdf", b"first")
    deliver(tmp_path)
    hand_off(tmp_path, "a.pdf", b"second one")
    deliver(tmp_path)
    assert files_under(tmp_path / "delivered") == ["a (2).pdf", "a.pdf"]
    assert (tmp_path / "delivered" / "a (2).pdf").read_bytes() == b"second one"
    assert files_under(tmp_path / "sent") == ["a (2).pdf", "a (2).pdf.meta.msgpack", "a.pdf", "a.pdf.meta.msgpack"]


def test_a_file_over_the_size_limit_is_not_attempted_and_quarantined_with_advice(tmp_path):
    hand_off(tmp_path, "big.mp4", b"x" * 2048)
    sender = FolderSender(tmp_path / "delivered")
    sender.max_file_bytes = 1024
    ledger = deliver(tmp_path, sender)
    assert files_under(tmp_path / "delivered") == []
    reason = (tmp_path / "quarantine" / "big.mp4.reason.txt").read_text()
    assert "over the account's limit" in reason and "README" in reason and "outbox/big.mp4" in reason
    assert (tmp_path / "quarantine" / "big.mp4").read_bytes() == b"x" * 2048
    assert [e.state for e in ledger.entries.values()] == [EntryState.FAILED]


def test_an_empty_file_is_not_attempted_and_quarantined_saying_so(tmp_path):
    hand_off(tmp_path, "empty.pdf", b"")
    hand_off(tmp_path, "fine.pdf", b"%PDF")
    deliver(tmp_path)
    assert files_under(tmp_path / "delivered") == ["fine.pdf"]
    assert "the file is empty" in (tmp_path / "quarantine" / "empty.pdf.reason.txt").read_text()
    assert (tmp_path / "quarantine" / "empty.pdf").exists()
    shown = status.render(status.collect(SimpleNamespace(root=tmp_path))).splitlines()
    assert shown[-1] == f"  failed empty.pdf → {tmp_path / 'quarantine' / 'empty.pdf'}: not sent: the file is empty, " \
                        "and Telegram takes no empty file"
    for name in ("empty.pdf", "empty.pdf.reason.txt", "empty.pdf.meta.msgpack"):
        (tmp_path / "quarantine" / name).unlink()  # a person dealt with it
    assert status.render(status.collect(SimpleNamespace(root=tmp_path))).endswith(", 0 failed")


def test_a_sent_file_that_cannot_be_moved_to_sent_is_tried_again_with_backoff_never_resent(tmp_path, caplog):
    caplog.set_level("INFO", logger="uploader.delivery")
    hand_off(tmp_path, "trip/a.pdf", b"%PDF")
    (tmp_path / "sent").mkdir()
    (tmp_path / "sent" / "trip").write_text("a file where the folder should be: the move fails")
    clock = Clock()
    delivery = Delivery(tmp_path, Ledger(path_in(tmp_path)), FolderSender(tmp_path / "delivered"), settings(),
                        lambda *args: None, clock)

    def scan():
        delivery.run(Outbox(tmp_path / "outbox", quiet_seconds=0.0).scan(clock()), lambda: False)

    scan()  # sent; the move fails
    for seconds in (1, 1, 1):
        clock.now += seconds
        scan()
    assert caplog.text.count("sent, but moving it to sent/ failed") == 1, "one try in the first 5 s"
    (tmp_path / "sent" / "trip").unlink()
    clock.now += 10
    scan()
    assert files_under(tmp_path / "sent") == ["trip/a.pdf", "trip/a.pdf.meta.msgpack"]
    assert files_under(tmp_path / "delivered") == ["trip/a.pdf"]


def test_a_refused_album_is_sent_one_by_one_and_only_the_bad_file_is_quarantined(tmp_path):
    for name in ("a.pdf", "bad.pdf", "c.pdf"):
        hand_off(tmp_path, f"docs/{name}", name.encode())
    sender = RefusingSender(tmp_path / "delivered")
    deliver(tmp_path, sender)
    assert sender.sends == [["a.pdf", "bad.pdf", "c.pdf"], ["a.pdf"], ["bad.pdf"], ["c.pdf"]]
    assert files_under(tmp_path / "delivered") == ["docs/a.pdf", "docs/c.pdf"]
    assert sorted(p.name for p in (tmp_path / "quarantine").iterdir()) == [
        "bad.pdf", "bad.pdf.meta.msgpack", "bad.pdf.reason.txt"]
    assert "media object is invalid" in (tmp_path / "quarantine" / "bad.pdf.reason.txt").read_text()


def test_passing_failures_back_off_keep_the_random_id_and_quarantine_after_max_retries(tmp_path):
    hand_off(tmp_path, "bad.pdf", b"x")
    clock = Clock()
    sender = RefusingSender(tmp_path / "delivered", retry=True)
    ledger = deliver(tmp_path, sender, clock)
    first = next(iter(ledger.entries.values()))
    assert (first.attempts, first.state) == (1, EntryState.SENDING)
    deliver(tmp_path, sender, clock)
    assert len(sender.sends) == 1, "a retry before the backoff has passed"
    clock.now = first.not_before
    ledger = deliver(tmp_path, sender, clock)
    assert next(iter(ledger.entries.values())).random_id == first.random_id
    clock.now += 3600
    ledger = deliver(tmp_path, sender, clock)
    assert len(sender.sends) == 3
    assert [e.state for e in ledger.entries.values()] == [EntryState.FAILED]
    assert "3 attempt(s)" in (tmp_path / "quarantine" / "bad.pdf.reason.txt").read_text()


def test_delete_after_send_leaves_nothing_behind(tmp_path):
    hand_off(tmp_path, "a.pdf", b"x")
    deliver(tmp_path, delete_after_send=True)
    assert files_under(tmp_path / "outbox") == []
    assert files_under(tmp_path / "sent") == []
    assert files_under(tmp_path / "delivered") == ["a.pdf"]


def daemon_ledger(root: Path) -> Ledger:
    """The ledger as the uploader daemon keeps it: sent entries forgotten after 30 days, failed ones once their file
    has left quarantine/ (not back in outbox/)."""
    return Ledger(path_in(root), keep_sent_seconds=30 * 86400.0, outbox=root / "outbox", quarantine=root / "quarantine")


def test_a_file_moved_back_from_quarantine_is_tried_again_with_its_random_id(tmp_path):
    hand_off(tmp_path, "bad.pdf", b"x")
    sender = RefusingSender(tmp_path / "delivered")
    ledger = deliver(tmp_path, sender, ledger=daemon_ledger(tmp_path))
    [failed] = ledger.entries.values()
    for name in ("bad.pdf", "bad.pdf.meta.msgpack"):
        (tmp_path / "quarantine" / name).rename(tmp_path / "outbox" / name)
    sender.retry = True
    ledger = deliver(tmp_path, sender, ledger=daemon_ledger(tmp_path))
    [entry] = ledger.entries.values()
    assert (entry.state, entry.attempts, entry.random_id) == (EntryState.SENDING, 1, failed.random_id)


def test_the_ledger_forgets_a_quarantined_file_once_a_person_removed_it_and_keeps_one_still_there(tmp_path):
    hand_off(tmp_path, "bad one.pdf", b"x")
    hand_off(tmp_path, "bad two.pdf", b"yy")
    sender = RefusingSender(tmp_path / "delivered")
    ledger = deliver(tmp_path, sender, ledger=daemon_ledger(tmp_path))
    assert [e.state for e in ledger.entries.values()] == [EntryState.FAILED, EntryState.FAILED]
    for name in ("bad one.pdf", "bad one.pdf.reason.txt", "bad one.pdf.meta.msgpack"):
        (tmp_path / "quarantine" / name).unlink()  # a person dealt with it
    hand_off(tmp_path, "fine.pdf", b"%PDF")
    ledger = deliver(tmp_path, sender, ledger=daemon_ledger(tmp_path))
    assert sorted((e.relpath, e.state) for e in Ledger(path_in(tmp_path)).entries.values()) == [
        ("bad two.pdf", EntryState.FAILED), ("fine.pdf", EntryState.SENT)]
    assert status.render(status.collect(SimpleNamespace(root=tmp_path))).splitlines()[0].endswith(
        "(1 in all), 1 failed")


def test_a_file_removed_after_the_scan_does_not_stop_the_others(tmp_path, caplog):
    gone = hand_off(tmp_path, "gone.pdf", b"x")
    hand_off(tmp_path, "kept.pdf", b"y")
    arrivals = Outbox(tmp_path / "outbox", quiet_seconds=0.0).scan(1000.0)
    gone.unlink()
    Delivery(tmp_path, Ledger(path_in(tmp_path)), FolderSender(tmp_path / "delivered"), settings(), lambda *args: None,
             Clock()).run(arrivals, lambda: False)
    assert files_under(tmp_path / "delivered") == ["kept.pdf"]
    assert "gone.pdf: " in caplog.text and "trying again at the next scan" in caplog.text


def test_a_hand_placed_video_is_probed_given_a_sidecar_and_delivered(tmp_path):
    path = tmp_path / "outbox" / "clip.mp4"
    path.parent.mkdir(parents=True)
    path.write_bytes(video_bytes())
    deliver(tmp_path)
    assert files_under(tmp_path / "delivered") == ["clip.mp4"]
    meta = sidecar.read(tmp_path / "sent" / "clip.mp4.meta.msgpack")
    assert meta.kind is sidecar.MediaKind.VIDEO and meta.thumbnail_jpeg


def test_a_sidecar_from_a_newer_tgvid_sends_the_file_to_quarantine_saying_so(tmp_path):
    path = hand_off(tmp_path, "a.mp4", b"x")
    sidecar.path_for(path).write_bytes(msgpack.packb({"version": 9, "kind": "video", "size_bytes": 1}))
    deliver(tmp_path)
    assert files_under(tmp_path / "delivered") == []
    assert "format version 9" in (tmp_path / "quarantine" / "a.mp4.reason.txt").read_text()


def test_a_sidecar_with_a_field_of_the_wrong_type_is_replaced_by_probing_and_the_file_delivered(tmp_path, caplog):
    path = hand_off(tmp_path, "photo.png", png_bytes(), "image")
    sidecar.path_for(path).write_bytes(msgpack.packb({"version": 1, "kind": "image", "width": None, "height": 30,
                                                      "size_bytes": path.stat().st_size}))
    deliver(tmp_path)
    assert files_under(tmp_path / "delivered") == ["photo.png"]
    assert "photo.png: its sidecar is unreadable" in caplog.text
    assert sidecar.read(tmp_path / "sent" / "photo.png.meta.msgpack").width == 40


def test_a_name_that_is_not_utf8_goes_to_quarantine_saying_to_rename_it_and_the_others_are_sent(tmp_path):
    bad = os.fsdecode(b"bad\xff.pdf")
    (tmp_path / "outbox").mkdir()
    (tmp_path / "outbox" / bad).write_bytes(b"x")
    hand_off(tmp_path, "good.pdf", b"y")
    ledger = deliver(tmp_path)
    assert files_under(tmp_path / "delivered") == ["good.pdf"]
    assert (tmp_path / "quarantine" / bad).read_bytes() == b"x"
    reason = (tmp_path / "quarantine" / f"{bad}.reason.txt").read_text()
    assert "outbox/bad\\xff.pdf" in reason and "not valid UTF-8" in reason and "rename it" in reason
    assert sorted(e.state for e in ledger.entries.values()) == [EntryState.FAILED, EntryState.SENT]


def test_a_leftover_sidecar_of_another_size_is_replaced_by_probing_the_file(tmp_path):
    path = hand_off(tmp_path, "clip.mp4", b"an older file of that name", "video", width=1920, height=1080)
    path.write_bytes(png_bytes())  # a new file copied over it, the leftover sidecar left as it was
    deliver(tmp_path)
    meta = sidecar.read(tmp_path / "sent" / "clip.mp4.meta.msgpack")
    assert (meta.kind, meta.size_bytes, meta.width) == (sidecar.MediaKind.IMAGE, len(png_bytes()), 40)


@pytest.mark.parametrize("make_unreadable", UNREADABLE)
def test_an_unreadable_file_is_tried_again_with_backoff_then_quarantined_and_the_others_are_sent(
        tmp_path, caplog, make_unreadable):
    hand_off(tmp_path, "good.pdf", b"y")
    make_unreadable(tmp_path / "outbox" / "locked.pdf")
    clock = Clock()
    ledger = deliver(tmp_path, clock=clock)
    assert files_under(tmp_path / "delivered") == ["good.pdf"]
    [entry] = [e for e in ledger.entries.values() if e.relpath == "locked.pdf"]
    assert (entry.state, entry.attempts) == (EntryState.SENDING, 1) and entry.not_before > clock.now
    deliver(tmp_path, clock=clock)
    assert caplog.text.count("locked.pdf: cannot read it") == 1, "tried again before the backoff"
    for _ in range(2):
        clock.now += 3600
        deliver(tmp_path, clock=clock)
    assert not os.path.lexists(tmp_path / "outbox" / "locked.pdf")
    assert os.path.lexists(tmp_path / "quarantine" / "locked.pdf")
    reason = (tmp_path / "quarantine" / "locked.pdf.reason.txt").read_text()
    assert "3 attempt(s)" in reason and "cannot read it" in reason


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc")
def test_an_unreadable_file_that_cannot_be_moved_to_quarantine_stays_and_waits_for_the_backoff(tmp_path, caplog):
    (tmp_path / "outbox").mkdir()
    link_to_a_write_only_file(tmp_path / "outbox" / "locked.pdf")
    (tmp_path / "quarantine").write_bytes(b"")  # a file where the folder should be
    clock = Clock()
    deliver(tmp_path, clock=clock, max_retries=1)
    deliver(tmp_path, clock=clock, max_retries=1)
    assert os.path.lexists(tmp_path / "outbox" / "locked.pdf")
    assert caplog.text.count("locked.pdf: cannot read it") == caplog.text.count("cannot move it to quarantine") == 1


def test_an_os_error_while_sending_is_a_passing_failure_with_backoff(tmp_path):
    hand_off(tmp_path, "a.pdf", b"x")
    sender = FolderSender(tmp_path / "delivered")
    sender.receipts.rmdir()
    sender.receipts.write_bytes(b"")  # the delivery folder broken under the running sender
    clock = Clock()
    ledger = deliver(tmp_path, sender, clock)
    [entry] = ledger.entries.values()
    assert (entry.state, entry.attempts) == (EntryState.SENDING, 1) and entry.not_before > clock.now
    assert "Not a directory" in entry.last_error
    assert files_under(tmp_path / "outbox") == ["a.pdf", "a.pdf.meta.msgpack"]
    shown = status.render(status.collect(SimpleNamespace(root=tmp_path))).splitlines()
    assert shown[-1].startswith("  retrying a.pdf (attempt 1): [Errno 20] Not a directory: ")  # no path, no "send failed"


def album_waiting_for_inbox(root: Path, names: list[str]) -> Path:
    """An album trip/ in outbox/ that waits: inbox/trip/ still holds its long video. Returns that video."""
    for name in names:
        hand_off(root, f"trip/{name}", b"jpeg", "image", width=1, height=1)
    still_coming = root / "inbox" / "trip" / "long.mov"
    still_coming.parent.mkdir(parents=True)
    still_coming.write_bytes(b"being converted")
    return still_coming


def test_a_sidecar_rewritten_while_its_album_waits_is_read_again_and_its_new_content_used(tmp_path):
    still_coming = album_waiting_for_inbox(tmp_path, ["a.jpg", "b.jpg"])
    outbox = Outbox(tmp_path / "outbox", quiet_seconds=0.0)
    delivery = Delivery(tmp_path, Ledger(path_in(tmp_path)), FolderSender(tmp_path / "delivered"), settings(),
                        lambda *args: None, Clock())
    delivery.run(outbox.scan(1000.0), lambda: False)
    assert files_under(tmp_path / "outbox") == ["trip/a.jpg", "trip/a.jpg.meta.msgpack", "trip/b.jpg",
                                                "trip/b.jpg.meta.msgpack"], "the album waits"
    sidecar.write(sidecar.path_for(tmp_path / "outbox" / "trip" / "b.jpg"),
                  sidecar.Sidecar(sidecar.MediaKind.IMAGE, 4, width=1, height=1, shown_name="beach.jpg"))
    still_coming.unlink()
    delivery.run(outbox.scan(1001.0), lambda: False)
    assert files_under(tmp_path / "delivered") == ["trip/a.jpg", "trip/beach.jpg"]


IN_OPEN, IN_ISDIR = 0x20, 0x40000000  # inotify(7)


def opened_files(inotify_fd: int) -> list[str]:
    """The names of the files (not folders) opened in the watched folder since the last call, as inotify(7) tells."""
    names = []
    try:
        data = os.read(inotify_fd, 1 << 16)
    except BlockingIOError:
        return names
    while data:
        _, mask, _, length = struct.unpack_from("iIII", data)
        if not mask & IN_ISDIR:
            names.append(data[16:16 + length].rstrip(b"\0").decode())
        data = data[16 + length:]
    return names


@pytest.mark.skipif(sys.platform != "linux", reason="needs Linux inotify")
def test_files_that_wait_for_their_album_are_not_opened_again_at_each_run(tmp_path):
    album_waiting_for_inbox(tmp_path, ["a.jpg", "b.jpg"])
    outbox = Outbox(tmp_path / "outbox", quiet_seconds=0.0)
    delivery = Delivery(tmp_path, Ledger(path_in(tmp_path)), FolderSender(tmp_path / "delivered"), settings(),
                        lambda *args: None, Clock())
    delivery.run(outbox.scan(1000.0), lambda: False)
    libc = ctypes.CDLL(None, use_errno=True)
    inotify_fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
    assert inotify_fd >= 0 and libc.inotify_add_watch(inotify_fd, bytes(tmp_path / "outbox" / "trip"), IN_OPEN) >= 0
    try:
        delivery.run(outbox.scan(1001.0), lambda: False)
        assert opened_files(inotify_fd) == []
        sidecar.write(sidecar.path_for(tmp_path / "outbox" / "trip" / "b.jpg"),
                      sidecar.Sidecar(sidecar.MediaKind.IMAGE, 4, width=1, height=1, shown_name="beach.jpg"))
        opened_files(inotify_fd)  # the write's own
        delivery.run(outbox.scan(1002.0), lambda: False)
        assert sorted(opened_files(inotify_fd)) == ["b.jpg", "b.jpg.meta.msgpack", "b.jpg.meta.msgpack"], (
            "a new sidecar is read again, by the outbox's check of its size and by the delivery")
    finally:
        os.close(inotify_fd)
