"""The folder watcher wakes a daemon for changes, not for the daemon's own reading of the files."""

import logging
import os
import random
import shutil
import threading
from functools import partial

import pytest

from tests.waiting import wait_for
from tgvid.arrivals import Tracker, walk
from tgvid.watching import FolderWatcher


def test_reading_a_file_does_not_wake_the_daemon_but_writing_one_does(tmp_path):
    (tmp_path / "clip.mp4").write_bytes(b"old")
    watcher = FolderWatcher(tmp_path)
    watcher.start()
    try:
        watcher.wait(0.5)  # whatever the start stirred up
        for _ in range(3):
            (tmp_path / "clip.mp4").read_bytes()  # what probing does
        assert not watcher.changed.wait(1.0)
        (tmp_path / "new.mp4").write_bytes(b"new")
        wait_for(watcher.changed.is_set, 10, "a wake for the new file")
    finally:
        watcher.stop()


def keep_writing(folder, until: threading.Event) -> None:
    number = 0
    while not until.is_set():
        (folder / f"file{number % 10}").write_bytes(b"x")
        number += 1


def test_stopping_while_files_keep_changing_logs_no_error(tmp_path, caplog):
    """watchdog's inotify emitter logs an ERROR for an event that arrives while it stops: a daemon stopped during
    a busy moment (the uploader, in most stops) showed it. The race is narrow: sixty stops make it show."""
    for _ in range(60):
        watcher = FolderWatcher(tmp_path)
        watcher.start()
        stop_writing = threading.Event()
        writer = threading.Thread(target=keep_writing, args=(tmp_path, stop_writing))
        writer.start()
        try:
            wait_for(watcher.changed.is_set, 10, "a wake for the writes")
            watcher.stop()
        finally:
            stop_writing.set()
            writer.join()
    assert [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR] == []


def listed(folder, walk):
    """What a walk of `folder` finds: each file with the stat fields the daemons use, what it could not look at,
    and what it saw of each subfolder."""
    unreadable, folders = {}, {}
    entries = walk(unreadable, folders)
    return ([(e.relpath, e.stat.st_size, e.stat.st_mtime_ns, e.stat.st_ino) for e in entries], unreadable, folders)


def change_something(folder, outside, rng: random.Random, number: int) -> None:
    """One random create, write, rename, delete or move of a file or folder below `folder` (from and to `outside`
    too), with some temporary names, dot-folders, symlinks, hard links and nesting."""
    folders = [folder] + sorted(p for p in folder.rglob("*") if p.is_dir() and not p.is_symlink())
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink())
    where = rng.choice(folders)
    name = rng.choice(["a.mp4", "b.jpg", "c.mp4.part", ".hidden", "~lock", f"n{number}.mov", "d.mkv"])
    action = rng.choice(["create", "create", "write", "rename", "delete", "mkdir", "dotdir", "move_folder",
                         "remove_folder", "move_in", "move_out", "symlink", "write_elsewhere"])
    try:
        if action == "create":
            (where / name).write_bytes(b"x" * rng.randint(0, 50))
        elif action == "write" and files:
            with rng.choice(files).open("ab") as file:
                file.write(b"more")
        elif action == "rename" and files:
            rng.choice(files).rename(rng.choice(folders) / name)
        elif action == "delete" and files:
            rng.choice(files).unlink()
        elif action in ("mkdir", "dotdir"):
            (where / (f".d{number}" if action == "dotdir" else f"d{number}")).mkdir()
        elif action == "move_folder" and len(folders) > 1:
            moved = rng.choice(folders[1:])
            target = rng.choice([f for f in folders if moved not in (f, *f.parents)])
            moved.rename(target / f"m{number}")
        elif action == "remove_folder" and len(folders) > 1:
            shutil.rmtree(rng.choice(folders[1:]))
        elif action == "move_in":
            made = outside / f"in{number}"
            (made / "deep").mkdir(parents=True)
            (made / "deep" / "e.mp4").write_bytes(b"e")
            (made / "f.jpg").write_bytes(b"f")
            made.rename(where / made.name)
        elif action == "move_out" and files:
            rng.choice(files).rename(outside / f"out{number}")
        elif action == "symlink" and files:
            (where / f"link{number}.mp4").symlink_to(rng.choice(files))
        elif action == "write_elsewhere":  # through a hard link or a symlink from outside: no event below `folder`
            target = outside / f"target{number}"
            target.write_bytes(b"t")
            (where / f"s{number}.mp4").symlink_to(target)
            if files:
                os.link(rng.choice(files), outside / f"hard{number}")
            for written in outside.glob("[th]*"):
                with written.open("ab") as file:
                    file.write(b"more")
    except OSError:
        pass  # a name taken, a folder moved into itself: the sequence goes on


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_scan_from_events_finds_what_a_full_walk_finds(tmp_path, seed):
    """The daemons list again only where inotify saw changes; after any series of changes, once the events are in,
    what they list is what a full walk lists (files and their stat, what cannot be looked at, the subfolders)."""
    folder, outside = tmp_path / "inbox", tmp_path / "elsewhere"
    folder.mkdir()
    outside.mkdir()
    (folder / "album").mkdir()
    (folder / "album" / "one.jpg").write_bytes(b"1")
    rng = random.Random(seed)
    watcher = FolderWatcher(folder)
    watcher.start()
    try:
        watcher.walk()
        first_full_walk = watcher.walked_at
        for number in range(80):
            change_something(folder, outside, rng, number)
            if number % 8 == 7:
                wait_for(lambda: listed(folder, watcher.walk) == listed(folder, partial(walk, folder)), 10,
                         f"the scan from events matching a full walk after change {number} (seed {seed})")
        assert watcher.walked_at == first_full_walk, "every scan but the first read only where events were"
    finally:
        watcher.stop()


def test_a_folder_moved_out_and_back_is_still_watched(tmp_path):
    """watchdog warns that it already has a watch for the folder come back; the warning, an error under the tests'
    settings, once killed its reading thread, and no change was seen after it."""
    folder, outside = tmp_path / "inbox", tmp_path / "elsewhere"
    (folder / "trip" / "day").mkdir(parents=True)
    outside.mkdir()
    watcher = FolderWatcher(folder)
    watcher.start()
    try:
        watcher.walk()
        for _ in range(3):
            (folder / "trip").rename(outside / "trip")
            wait_for(lambda: listed(folder, watcher.walk) == listed(folder, partial(walk, folder)), 10, "the move out")
            (outside / "trip").rename(folder / "trip")
            wait_for(lambda: listed(folder, watcher.walk) == listed(folder, partial(walk, folder)), 10, "the move back")
        (folder / "trip" / "day" / "new.jpg").write_bytes(b"1")
        wait_for(lambda: "trip/day/new.jpg" in [entry.relpath for entry in watcher.walk()], 10, "the new file")
    finally:
        watcher.stop()


def test_a_file_being_written_is_seen_growing_and_a_quiet_one_keeps_its_stat(tmp_path):
    (tmp_path / "quiet.mp4").write_bytes(b"done")
    watcher = FolderWatcher(tmp_path)
    watcher.start()
    try:
        before = {entry.relpath: entry.stat for entry in watcher.walk()}
        with (tmp_path / "copy.mp4").open("wb") as copy:
            for size in range(1, 4):
                copy.write(b"x")
                copy.flush()
                wait_for(lambda: {e.relpath: e.stat.st_size for e in watcher.walk()}.get("copy.mp4") == size, 10,  # noqa: B023
                         f"the copy seen at {size} byte(s)")
        quiet = {entry.relpath: entry.stat for entry in watcher.walk()}["quiet.mp4"]
        assert quiet is before["quiet.mp4"], "a file without events is not looked at again"
    finally:
        watcher.stop()


@pytest.mark.parametrize("started", [True, False])
def test_where_watchdog_polls_every_scan_walks_the_whole_folder(tmp_path, started):
    """With polling (force_polling, or no inotify), and before the watcher starts, the walk is the truth: a file
    that appears is found by the next scan, events or not."""
    watcher = FolderWatcher(tmp_path, force_polling=True)
    if started:
        watcher.start()
    try:
        assert watcher.walk() == []
        for number in range(3):
            (tmp_path / f"new{number}.mp4").write_bytes(b"x")
            assert watcher.take_changes().everything
            assert [entry.relpath for entry in watcher.walk()] == [f"new{n}.mp4" for n in range(number + 1)]
    finally:
        watcher.stop()


def test_a_warning_from_watchdog_makes_the_next_scan_walk_everything(tmp_path):
    """watchdog reports an inotify queue overflow (events lost) only as a warning in its log."""
    watcher = FolderWatcher(tmp_path)
    watcher.start()
    try:
        watcher.walk()
        assert not watcher.take_changes().everything
        logging.getLogger("watchdog.observers.inotify_c").warning("Inotify queue overflowed; filesystem events were lost")
        assert watcher.take_changes().everything
        assert not watcher.take_changes().everything
    finally:
        watcher.stop()


def test_a_watcher_whose_thread_ended_makes_every_scan_walk_everything(tmp_path):
    watcher = FolderWatcher(tmp_path)
    watcher.start()
    try:
        watcher.walk()
        assert not watcher.take_changes().everything
        [emitter] = watcher.observer.emitters
        emitter.stop()
        emitter.join()
        (tmp_path / "unseen.mp4").write_bytes(b"x")
        assert watcher.take_changes().everything
        assert [entry.relpath for entry in watcher.walk()] == ["unseen.mp4"]
    finally:
        watcher.stop()


def test_a_file_held_open_for_writing_is_taken_once_it_is_closed(tmp_path):
    """While a writer holds a file open, a scan from events does not ask /proc about it again (its entry is the same
    while no event came); closing it is an event, after which it is taken."""
    watcher = FolderWatcher(tmp_path)
    watcher.start()
    tracker = Tracker(quiet_seconds=0.0)

    def arrived(now: float) -> bool:
        entries = watcher.walk()
        tracker.update(entries, now)
        return bool(entries) and tracker.has_arrived(entries[0], now)

    try:
        with (tmp_path / "copy.mp4").open("wb") as copy:
            copy.write(b"half")
            copy.flush()
            wait_for(lambda: [entry.relpath for entry in watcher.walk()] == ["copy.mp4"], 10, "the copy listed")
            assert not any(arrived(now) for now in (1.0, 2.0, 3.0)), "taken while still open for writing"
        wait_for(lambda: arrived(4.0), 10, "the copy taken once closed")
    finally:
        watcher.stop()
