"""The outbox: which files in `<root>/outbox/` are complete and waiting, found by scanning, woken by tgvid.watching.

A file with a sidecar beside it that gives its size is complete (the transcoder writes the sidecar, then renames
the whole file in). Any other file counts as put there by hand, also one whose sidecar cannot be read or gives
another size (a leftover, with a new copy going on over it): it is taken once its size and mtime have stayed the
same for `quiet_seconds` and no process holds it open for writing (tgvid.openfiles: a copy that pauses longer
than the quiet time is not taken half-written), then probed. Dotfiles, files in dot-folders, `.part`/`.tmp`
names and sidecars themselves are ignored.
Only regular files are taken: a symlink to one counts as that file (its content is sent, the link moved to sent/),
while a named pipe, socket or device (or a link to one) is skipped, since reading it could block for ever.
Watchdog only wakes the daemon early; the scan decides, so a missed event costs at most one poll interval.
What the scan cannot read (a folder without permission, a symlink loop) is skipped and logged once, until it
changes; everything else is still taken.
"""

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from stat import S_ISREG

from tgvid import openfiles, sidecar
from tgvid.errors import SidecarError
from tgvid.watching import FolderWatcher

log = logging.getLogger(__name__)

TEMPORARY_SUFFIXES = (".part", ".tmp")


@dataclass(frozen=True)
class Seen:
    """A file's size and mtime, and since when (Unix time) they have not changed."""

    size_bytes: int
    mtime_ns: int
    since: float


@dataclass(frozen=True)
class Arrival:
    path: Path
    relpath: str  # relative to outbox/, "/"-separated
    folder: str  # relpath's folder, "" at the top
    size_bytes: int
    mtime_ns: int
    first_seen: float
    has_sidecar: bool  # a sidecar beside it gives its size; else it is probed and given a new one


def observe(previous: Seen | None, size_bytes: int, mtime_ns: int, now: float) -> Seen:
    """The file's new Seen record: unchanged size and mtime keep `since`, any change restarts it."""
    if previous is not None and (previous.size_bytes, previous.mtime_ns) == (size_bytes, mtime_ns):
        return previous
    return Seen(size_bytes, mtime_ns, now)


def is_quiet(seen: Seen, now: float, quiet_seconds: float) -> bool:
    return now - seen.since >= quiet_seconds


def is_temporary(name: str) -> bool:
    return name.startswith(".") or name.endswith(TEMPORARY_SUFFIXES) or name.endswith(sidecar.SUFFIX)


def is_described(path: Path, size_bytes: int) -> bool:
    """Whether a sidecar beside `path` gives `size_bytes` as its size.

    One that gives another size is a leftover (the transcoder never renames a file in before it is whole), so the
    file is treated as placed by hand: taken when quiet and closed, then probed. Waiting for the sizes to match
    instead would wait for ever on a leftover of another file.
    """
    try:
        return sidecar.read(sidecar.path_for(path)).size_bytes == size_bytes
    except SidecarError:
        return False
    except SidecarError.NewerVersion:
        return True  # delivery quarantines it, saying to upgrade tgvid


class Outbox:
    def __init__(self, folder: Path, quiet_seconds: float, force_polling: bool = False):
        self.folder = Path(folder)
        self.quiet_seconds = quiet_seconds
        self.watcher = FolderWatcher(self.folder, force_polling)
        self.seen: dict[str, Seen] = {}
        self.first_seen: dict[str, float] = {}
        self.skipped: dict[str, str] = {}  # relpath → why the last scan skipped it
        self.closed: dict[str, Seen] = {}  # relpath → the Seen at which no process held it open for writing

    def start(self) -> None:
        self.watcher.start()

    def stop(self) -> None:
        self.watcher.stop()

    def wait(self, timeout_seconds: float) -> None:
        """Sleep until something changes in the outbox, or `timeout_seconds` pass."""
        self.watcher.wait(timeout_seconds)

    def scan(self, now: float) -> list[Arrival]:
        """The complete files now in the outbox, in path order."""
        arrivals = []
        present = set()
        skipped = {}

        def unreadable(error: OSError) -> None:
            skipped[Path(error.filename).relative_to(self.folder).as_posix()] = f"cannot read it: {error.strerror}"

        for directory, folders, names in os.walk(self.folder, onerror=unreadable):
            folders[:] = sorted(name for name in folders if not name.startswith("."))
            for name in sorted(names):
                if is_temporary(name):
                    continue
                path = Path(directory) / name
                relpath = path.relative_to(self.folder).as_posix()
                try:
                    stat = path.stat()
                except FileNotFoundError:
                    continue
                except OSError as error:
                    unreadable(error)
                    continue
                if not S_ISREG(stat.st_mode):
                    skipped[relpath] = "not a regular file (a pipe, socket or device)"
                    continue
                present.add(relpath)
                self.first_seen.setdefault(relpath, now)
                seen = self.seen[relpath] = observe(self.seen.get(relpath), stat.st_size, stat.st_mtime_ns, now)
                has_sidecar = is_described(path, stat.st_size)
                if has_sidecar or (is_quiet(seen, now, self.quiet_seconds) and self._closed(relpath, path, seen)):
                    folder = relpath.rpartition("/")[0]
                    arrivals.append(
                        Arrival(path, relpath, folder, stat.st_size, stat.st_mtime_ns, self.first_seen[relpath], has_sidecar)
                    )
        for gone in set(self.seen) - present:
            del self.seen[gone]
            del self.first_seen[gone]
            self.closed.pop(gone, None)
        for relpath, why in skipped.items():
            if self.skipped.get(relpath) != why:
                log.warning("outbox/%s: skipped, %s", relpath, why)
        self.skipped = skipped
        return arrivals

    def _closed(self, relpath: str, path: Path, seen: Seen) -> bool:
        """Whether no process holds the file open for writing. Walking /proc is slow, so a file found closed is
        not asked about again until its size or mtime changes."""
        if self.closed.get(relpath) != seen:
            if openfiles.held_open_for_writing(path):
                return False
            self.closed[relpath] = seen
        return True
