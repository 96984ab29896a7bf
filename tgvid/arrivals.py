"""Arrivals: when a file that nobody handed over atomically has finished arriving in a watched folder.

Both daemons take files that a person or another program puts into a folder (inbox/, and outbox/ by hand) by one
rule. Names that downloads and copies in progress use are passed over until they are renamed: dotfiles, anything
in a dot-folder, names starting with `~` (office lock files), and the TEMPORARY_SUFFIXES of browsers, download
managers and copy tools. The inbox and the outbox once had two lists (the outbox only `.part` and `.tmp`); there
is one now, so the uploader too leaves a `.crdownload` or `~lock.pdf` alone rather than send it half-written.
A file that is not temporary has arrived once its size and mtime have not changed for the quiet time and no
process holds it open for writing (tgvid.openfiles).

The same rule tells the uploader which files of a dropped folder are still coming (`folders_with_files` on inbox/):
the transcoder keeps each source in its inbox folder until the output is in outbox/ (a pass-through source is that
output), and an archive's media are unpacked into an inbox folder before any of them is converted; a file that goes
to quarantine leaves the inbox too. So a folder of inbox/ that holds a file not yet handed on names an album that is
not whole yet, whichever path (pass, audio fix, transcode, unpack) its files take, and the daemons share nothing but
the folders.
"""

import os
from dataclasses import dataclass
from pathlib import Path

from tgvid import openfiles
from tgvid.emptied import FolderSeen

TEMPORARY_SUFFIXES = (".part", ".crdownload", ".tmp", ".partial", ".download", ".!qb", ".opdownload")


def is_temporary(relpath: str) -> bool:
    """A name a download or copy in progress uses (in any folder of `relpath`); taken only after it is renamed."""
    parts = Path(relpath).parts
    name = parts[-1].lower()
    return any(part.startswith(".") for part in parts) or name.endswith(TEMPORARY_SUFFIXES) or name.startswith("~")


@dataclass(frozen=True)
class Seen:
    """A file's size and mtime, and since when (Unix time) they have not changed."""

    size_bytes: int
    mtime_ns: int
    since: float


def observe(previous: Seen | None, size_bytes: int, mtime_ns: int, now: float) -> Seen:
    """The file's new Seen record: unchanged size and mtime keep `since`, any change restarts it."""
    if previous is not None and (previous.size_bytes, previous.mtime_ns) == (size_bytes, mtime_ns):
        return previous
    return Seen(size_bytes, mtime_ns, now)


def is_quiet(seen: Seen, now: float, quiet_seconds: float) -> bool:
    return now - seen.since >= quiet_seconds


@dataclass(frozen=True)
class Entry:
    """One file a walk found: where it is, and its stat (of the file a symlink points to)."""

    relpath: str  # relative to the walked folder, "/"-separated
    path: Path
    stat: os.stat_result


def walk(folder: Path, unreadable: dict[str, str] | None = None,
         folders: dict[str, FolderSeen] | None = None) -> list[Entry]:
    """Every file below `folder` whose name is not temporary, in path order, skipping dot-folders.

    What cannot even be looked at (a symlink loop, a folder without permission) is left out and, when
    `unreadable` is given, put there (relpath → the system's reason). With `folders`, what was seen of each
    subfolder goes there, for tgvid.emptied."""
    folder = Path(folder)
    found = []

    def note(error: OSError, relpath: str | None = None) -> None:
        if unreadable is not None and (relpath or error.filename) is not None:
            unreadable[relpath or Path(error.filename).relative_to(folder).as_posix()] = error.strerror or str(error)

    for directory, subfolders, names in os.walk(folder, onerror=note):
        if folders is not None and directory != str(folder):
            _see_folder(folder, Path(directory), subfolders, names, folders)
        subfolders[:] = sorted(name for name in subfolders if not name.startswith("."))
        for name in sorted(names):
            path = Path(directory) / name
            relpath = path.relative_to(folder).as_posix()
            if is_temporary(relpath):
                continue
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue  # renamed or removed since the folder was listed, or a dangling symlink
            except OSError as error:
                note(error, relpath)
                continue
            found.append(Entry(relpath, path, stat))
    return found


def folders_with_files(folder: Path) -> set[str]:
    """The folders below `folder` ("/"-separated, "" for `folder` itself) that directly hold a file whose name is not
    temporary: in inbox/, the folders whose files are not all handed on yet."""
    return {entry.relpath.rpartition("/")[0] for entry in walk(folder)}


def _see_folder(top: Path, directory: Path, subfolders: list[str], names: list[str],
                folders: dict[str, FolderSeen]) -> None:
    try:
        mtime = directory.stat().st_mtime
    except OSError:
        return  # gone since it was listed: nothing to remove
    relpath = directory.relative_to(top).as_posix()
    holds_files = bool(names) or any(name.startswith(".") for name in subfolders)
    folders[relpath] = FolderSeen(mtime, holds_files, tuple(f"{relpath}/{name}" for name in subfolders))


class Tracker:
    """What the scans of one folder have seen of each file: since when it is unchanged, and whether it is closed.

    Walking /proc for open files is slow, so a file found closed is not asked about again until it changes, and the
    files a scan finds quiet are asked about together, in one walk."""

    def __init__(self, quiet_seconds: float):
        self.quiet_seconds = quiet_seconds
        self.seen: dict[str, Seen] = {}
        self.closed: dict[str, Seen] = {}  # relpath → the Seen at which no process held it open for writing
        self.entries: list[Entry] = []  # the last update's
        self.asked: set[str] = set()  # real paths looked up in /proc since the last update
        self.written: set[str] = set()  # those of them held open for writing

    def update(self, entries: list[Entry], now: float) -> None:
        """Record this scan's entries; files no longer there are forgotten."""
        present = {entry.relpath for entry in entries}
        self.entries, self.asked, self.written = entries, set(), set()
        for entry in entries:
            self.seen[entry.relpath] = observe(self.seen.get(entry.relpath), entry.stat.st_size,
                                               entry.stat.st_mtime_ns, now)
        for gone in set(self.seen) - present:
            del self.seen[gone]
            self.closed.pop(gone, None)

    def _to_ask(self, entry: Entry, now: float) -> bool:
        seen = self.seen[entry.relpath]
        return is_quiet(seen, now, self.quiet_seconds) and self.closed.get(entry.relpath) != seen

    def has_arrived(self, entry: Entry, now: float) -> bool:
        """Whether `entry` (recorded by the last update) has been quiet long enough and nobody writes to it."""
        seen = self.seen[entry.relpath]
        if not is_quiet(seen, now, self.quiet_seconds):
            return False
        if self.closed.get(entry.relpath) != seen:
            target = os.path.realpath(entry.path)
            if target not in self.asked:
                asked = {os.path.realpath(e.path) for e in self.entries if self._to_ask(e, now)} | {target}
                self.written |= openfiles.written(asked - self.asked)
                self.asked |= asked
            if target in self.written:
                return False
            self.closed[entry.relpath] = seen
        return True
