"""When a file has finished arriving: one rule for names in progress, quiet time and open files, for both daemons."""

import os

from tgvid.arrivals import Seen, Tracker, holding_files, is_quiet, is_temporary, observe, walk


def test_names_of_downloads_and_copies_in_progress_are_temporary():
    for name in ("film.mkv.part", "film.mkv.crdownload", "film.tmp", "c.mp4-1234.tmp", "FILM.PARTIAL", "a.download",
                 "a.mp4.!qb", "a.opdownload", ".film.mkv", "trip/.sync/a.mp4", "~lock.mp4", "trip/~$notes.docx"):
        assert is_temporary(name), name
    for name in ("film.mkv", "trip/a.mp4", "part.mp4", "a.tmp.mp4", "trip~/a.mp4"):
        assert not is_temporary(name), name


def test_a_change_restarts_the_quiet_time():
    seen = observe(None, 10, 1, now=0.0)
    assert observe(seen, 10, 1, now=3.0) == Seen(10, 1, 0.0)
    grown = observe(seen, 20, 2, now=3.0)
    assert grown.since == 3.0
    assert not is_quiet(grown, now=5.0, quiet_seconds=5.0)
    assert is_quiet(grown, now=8.0, quiet_seconds=5.0)


def test_the_walk_skips_temporary_names_and_dot_folders_and_reports_what_it_cannot_look_at(tmp_path):
    for name in ("b.mp4", "a/c.mp4", "a/c.mp4.crdownload", ".sync/d.mp4", "~e.mp4"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    os.symlink("loop.mp4", tmp_path / "loop.mp4")
    unreadable = {}
    assert [entry.relpath for entry in walk(tmp_path, unreadable)] == ["b.mp4", "a/c.mp4"]
    assert list(unreadable) == ["loop.mp4"]


def test_a_file_arrives_once_quiet_and_closed_and_a_gone_file_is_forgotten(tmp_path):
    path = tmp_path / "a.mp4"
    tracker = Tracker(quiet_seconds=5.0)
    with path.open("wb") as copy:
        copy.write(b"half")
        copy.flush()
        tracker.update(walk(tmp_path), now=0.0)
        [entry] = walk(tmp_path)
        tracker.update([entry], now=10.0)
        assert not tracker.has_arrived(entry, now=10.0), "still open for writing"
    [entry] = walk(tmp_path)  # the next scan's: a full walk, or one after the event the closing made
    tracker.update([entry], now=11.0)
    assert tracker.has_arrived(entry, now=11.0)
    path.unlink()
    tracker.update(walk(tmp_path), now=12.0)
    assert tracker.seen == {} and tracker.closed == {}


def test_the_folders_asked_about_that_hold_a_file_are_those_the_whole_walk_finds(tmp_path):
    for name in ("top.mp4", "a/x.mp4", "b/x.mp4.part", "c/sub/x.mp4", ".d/x.mp4", "e/.hidden.mp4", "h/~lock.mp4",
                 "i/.sync/x.mp4"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    os.symlink("a", tmp_path / "f")  # a symlinked folder: not followed
    (tmp_path / "g").mkdir()
    os.symlink("gone.mp4", tmp_path / "g" / "dangling.mp4")
    (tmp_path / "j").mkdir()
    os.symlink(tmp_path / "a" / "x.mp4", tmp_path / "j" / "link.mp4")
    (tmp_path / "k").mkdir()
    os.mkfifo(tmp_path / "k" / "pipe")
    asked = {"", "a", "b", "c", "c/sub", ".d", "e", "f", "g", "h", "i", "i/.sync", "j", "k", "missing", "a/missing"}
    walked = {entry.relpath.rpartition("/")[0] for entry in walk(tmp_path)}  # the folders of what a scan lists
    assert holding_files(tmp_path, asked) == walked & asked == {"", "a", "c/sub", "j", "k"}
    assert holding_files(tmp_path, {"c"}) == set(), "a folder holding only a folder holds no file"
