"""The outbox scan: handed-off files are taken at once, hand-placed ones once quiet, temporary names never."""

import os

import pytest
from conftest import hand_off

from uploader.outbox import Outbox


def test_scan_ignores_temporary_names_and_waits_for_hand_placed_files(tmp_path):
    outbox = tmp_path / "outbox"
    hand_off(tmp_path, "trip/a.mp4", b"video")
    for name in (".hidden.mp4", "b.mp4.part", "c.mp4-1234.tmp", ".cache/d.mp4", "e.mp4.crdownload", "~f.pdf"):
        (outbox / name).parent.mkdir(parents=True, exist_ok=True)
        (outbox / name).write_bytes(b"x")
    (outbox / "by-hand.pdf").write_bytes(b"%PDF")
    scanner = Outbox(outbox, quiet_seconds=5.0)
    first = scanner.scan(now=100.0)
    assert [(a.relpath, a.folder, a.has_sidecar) for a in first] == [("trip/a.mp4", "trip", True)]
    assert [a.relpath for a in scanner.scan(now=106.0)] == ["by-hand.pdf", "trip/a.mp4"]


def test_a_hand_placed_file_still_growing_is_not_taken(tmp_path):
    path = tmp_path / "outbox" / "growing.bin"
    path.parent.mkdir()
    path.write_bytes(b"x")
    scanner = Outbox(tmp_path / "outbox", quiet_seconds=5.0)
    scanner.scan(now=0.0)
    with path.open("ab") as handle:
        handle.write(b"more")
    os.utime(path, ns=(10**9, 10**9))
    assert scanner.scan(now=6.0) == []
    assert [a.relpath for a in scanner.scan(now=11.0)] == ["growing.bin"]


def test_a_symlink_loop_is_skipped_and_logged_once_and_the_other_files_are_taken(tmp_path, caplog):
    hand_off(tmp_path, "a.mp4", b"video")
    os.symlink("loop.mp4", tmp_path / "outbox" / "loop.mp4")
    scanner = Outbox(tmp_path / "outbox", quiet_seconds=5.0)
    for now in (0.0, 1.0):
        assert [a.relpath for a in scanner.scan(now)] == ["a.mp4"]
    assert caplog.text.count("outbox/loop.mp4: skipped, cannot read it") == 1


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads and enters folders whatever their permissions")
def test_a_folder_without_permission_is_skipped_and_logged_once_and_the_other_files_are_taken(tmp_path, caplog):
    hand_off(tmp_path, "a.mp4", b"video")
    hand_off(tmp_path, "locked/b.mp4", b"video")
    hand_off(tmp_path, "listable/c.mp4", b"video")
    (tmp_path / "outbox" / "locked").chmod(0)
    (tmp_path / "outbox" / "listable").chmod(0o444)  # names can be listed, the files not reached
    scanner = Outbox(tmp_path / "outbox", quiet_seconds=5.0)
    try:
        for now in (0.0, 1.0):
            assert [a.relpath for a in scanner.scan(now)] == ["a.mp4"]
    finally:
        for folder in ("locked", "listable"):
            (tmp_path / "outbox" / folder).chmod(0o755)
    assert caplog.text.count("outbox/locked: skipped, cannot read it") == 1
    assert caplog.text.count("outbox/listable/c.mp4: skipped, cannot read it") == 1


def test_only_regular_files_are_taken_a_symlink_as_the_file_it_points_to(tmp_path, caplog):
    hand_off(tmp_path, "a.mp4", b"video")
    os.mkfifo(tmp_path / "outbox" / "pipe.mp4")
    (tmp_path / "elsewhere.pdf").write_bytes(b"%PDF")
    os.symlink(tmp_path / "elsewhere.pdf", tmp_path / "outbox" / "linked.pdf")
    scanner = Outbox(tmp_path / "outbox", quiet_seconds=0.0)
    for now in (0.0, 1.0):
        assert [(a.relpath, a.size_bytes) for a in scanner.scan(now)] == [("a.mp4", 5), ("linked.pdf", 4)]
    assert caplog.text.count("outbox/pipe.mp4: skipped, not a regular file") == 1


def test_a_hand_placed_file_held_open_for_writing_is_not_taken_however_long_it_is_quiet(tmp_path):
    path = tmp_path / "outbox" / "copying.mp4"
    path.parent.mkdir()
    scanner = Outbox(tmp_path / "outbox", quiet_seconds=5.0)
    with path.open("wb") as copy:  # a copy that stalls with half of the file written
        copy.write(b"first half")
        copy.flush()
        scanner.scan(now=0.0)
        assert scanner.scan(now=60.0) == []
    assert [a.relpath for a in scanner.scan(now=61.0)] == ["copying.mp4"]


def test_a_leftover_sidecar_of_another_size_does_not_make_a_file_being_copied_complete(tmp_path):
    path = hand_off(tmp_path, "x.mp4", b"x" * 1000)
    scanner = Outbox(tmp_path / "outbox", quiet_seconds=5.0)
    with path.open("wb") as copy:  # a new x.mp4 copied slowly over the old one; its sidecar left behind
        copy.write(b"y" * 10)
        copy.flush()
        assert scanner.scan(now=0.0) == []
        assert scanner.scan(now=60.0) == []
    [arrival] = scanner.scan(now=61.0)
    assert (arrival.size_bytes, arrival.has_sidecar) == (10, False)


def test_reading_a_file_does_not_wake_the_uploader_a_change_does(tmp_path):
    path = hand_off(tmp_path, "a.pdf", b"x")
    outbox = Outbox(tmp_path / "outbox", quiet_seconds=5.0)
    outbox.start()
    try:
        (tmp_path / "outbox" / "b.pdf").write_bytes(b"y")
        assert outbox.watcher.changed.wait(5), "the watch never started"
        outbox.wait(5)  # takes that write's burst of events, as the daemon does
        path.read_bytes()  # as the uploader does with each file it waits on, at every scan
        assert not outbox.watcher.changed.wait(0.5)
        path.write_bytes(b"changed")
        assert outbox.watcher.changed.wait(5)
    finally:
        outbox.stop()
