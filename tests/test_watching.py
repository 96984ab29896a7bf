"""The folder watcher wakes a daemon for changes, not for the daemon's own reading of the files."""

from tests.waiting import wait_for
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
