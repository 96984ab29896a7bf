"""Arrivals: when a file that nobody handed over atomically has finished arriving in a watched folder.

Both daemons take files that a person or another program puts into a folder (inbox/, and outbox/ by hand) by one
rule. Names that downloads and copies in progress use are passed over until they are renamed: dotfiles, anything
in a dot-folder, names starting with `~` (office lock files), and the TEMPORARY_SUFFIXES of browsers, download
managers and copy tools. The inbox and the outbox once had two lists (the outbox only `.part` and `.tmp`); there
is one now, so the uploader too leaves a `.crdownload` or `~lock.pdf` alone rather than send it half-written.
A file that is not temporary has arrived once its size and mtime have not changed for the quiet time and no
process holds it open for writing (tgvid.openfiles).

The same rule tells the uploader which files of a dropped folder are still coming (`holding_files` on inbox/):
the transcoder keeps each source in its inbox folder until the output is in outbox/ (a pass-through source is that
output), and an archive's media are unpacked into an inbox folder before any of them is converted; a file that goes
to quarantine leaves the inbox too. So a folder of inbox/ that holds a file not yet handed on names an album that is
not whole yet, whichever path (pass, audio fix, transcode, unpack) its files take, and the daemons share nothing but
the folders.

The files are found by `walk`, which reads the whole folder, or by a `Listing` that keeps its last walk and reads
again only where tgvid.watching saw events; both list a folder by the same code, so they find the same.
"""

import os
from dataclasses import dataclass, field
from pathlib import Path
from stat import S_ISDIR

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
    """Every file below `folder` whose name is not temporary, in path order (each folder's files by name, then its
    subfolders by name, each in full), skipping dot-folders and not following symlinked folders.

    What cannot even be looked at (a symlink loop, a folder without permission) is left out and, when
    `unreadable` is given, put there (relpath → the system's reason). With `folders`, what was seen of each
    subfolder goes there, for tgvid.emptied."""
    return Listing(folder).walk(EVERYTHING, unreadable, folders)


def holding_files(folder: Path, relpaths: set[str]) -> set[str]:
    """Those of `relpaths` (folders below `folder`, "/"-separated, "" for `folder` itself) that directly hold a file
    whose name is not temporary, as `walk(folder)` lists files (in inbox/: the folders whose files are not all handed
    on yet), found without walking the rest: each is looked at alone, and only until its first file. A folder the walk would
    not reach is not named: one in or below a dot-folder, a symlinked one, or one below a folder it cannot list."""
    return {relpath for relpath in relpaths if _reached(folder, relpath) and _holds_a_file(folder, relpath)}


def _reached(top: Path, relpath: str) -> bool:
    """Whether the walk of `top` reaches its folder `relpath`: every folder on the way is listable, and every one
    below `top` a real folder (not a symlink) whose name does not start with a dot."""
    directory = top
    for name in relpath.split("/") if relpath else ():
        try:
            with os.scandir(directory):  # listable: opened, not read
                pass
        except OSError:
            return False
        directory = directory / name
        try:
            mode = directory.lstat().st_mode
        except OSError:
            return False
        if name.startswith(".") or not S_ISDIR(mode):
            return False
    return True


def _holds_a_file(top: Path, relpath: str) -> bool:
    """Whether the folder `relpath` directly holds a file that _list_folder would list: not a folder, not a
    temporary name, and its stat (through a symlink) readable."""
    directory = top / relpath if relpath else top
    try:
        with os.scandir(directory) as listing:
            for item in listing:
                try:
                    if item.is_dir():
                        continue
                except OSError:
                    pass  # listed as a file, as _list_folder does
                if is_temporary(f"{relpath}/{item.name}".lstrip("/")):
                    continue
                try:
                    os.stat(item.path)
                except OSError:
                    continue  # gone, a dangling symlink, or unreadable: not listed
                return True
    except OSError:
        return False
    return False


@dataclass(frozen=True)
class Changes:
    """Where a watched folder changed since the last scan (tgvid.watching), as relpaths below it ("" is the folder
    itself), or `everything` when the events cannot tell."""

    everything: bool = False
    folders: frozenset[str] = frozenset()  # entries came or went in them: listed again
    trees: frozenset[str] = frozenset()  # created, moved in, or their permissions changed: walked again in full
    files: frozenset[str] = frozenset()  # created, written, closed or changed: their stat is read again


EVERYTHING = Changes(everything=True)


@dataclass
class _Listed:
    """What one listing of a folder found."""

    inode: int = 0
    error: tuple[str, str] | None = None  # (relpath, the system's reason): it could not be listed
    seen: FolderSeen | None = None
    names: frozenset[str] = frozenset()  # its entries that are not folders
    files: dict[str, Entry] = field(default_factory=dict)  # by name, in name order: the non-temporary ones
    unreadable: dict[str, str] = field(default_factory=dict)  # relpath → why its stat failed
    volatile: frozenset[str] = frozenset()  # names whose stat may change with no event here: symlinks, hard links
    descend: tuple[str, ...] = ()  # relpaths of its subfolders to walk: not dot-folders, not symlinks


class Listing:
    """The files below `folder` as `walk` finds them, kept from scan to scan: `walk(changes)` lists again only the
    folders and files that `changes` names (and every file a symlink or a second hard link may change unseen),
    reusing the last listing of the rest. A folder first reached is listed in full."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.listed: dict[str, _Listed] = {}  # folder relpath ("" the top) → its last listing
        self.fresh: dict[str, int] = {}  # the folders the last walk listed anew → their inode

    def walk(self, changes: Changes, unreadable: dict[str, str] | None = None,
             folders: dict[str, FolderSeen] | None = None) -> list[Entry]:
        """What `walk` would find now, given that nothing changed below the folder since the last call but
        `changes`."""
        if changes.everything:
            self.listed = {}
        for tree in changes.trees:
            for relpath in [r for r in self.listed if not tree or r == tree or r.startswith(f"{tree}/")]:
                del self.listed[relpath]
        relisted = {relpath: self.listed.pop(relpath) for relpath in changes.folders if relpath in self.listed}
        restat: dict[str, set[str]] = {}  # folder → the names of its files to stat again
        for relpath in changes.files:
            folder, _, name = relpath.rpartition("/")
            restat.setdefault(folder, set()).add(name)
        for folder, listed in self.listed.items():
            if listed.volatile:
                restat.setdefault(folder, set()).update(listed.volatile)
        for folder, names in restat.items():
            listed = self.listed.get(folder)
            if listed is not None and not all(self._stat_again(listed, folder, name) for name in names):
                relisted[folder] = self.listed.pop(folder)
        self.fresh = {}
        reached: dict[str, _Listed] = {}
        found: list[Entry] = []
        stack = [""]
        while stack:
            relpath = stack.pop()
            listed = self.listed.get(relpath)
            if listed is None:
                listed = _list_folder(self.folder, relpath, relisted.get(relpath), restat.get(relpath, set()))
                self.fresh[relpath] = listed.inode
            reached[relpath] = listed
            if listed.error is not None:
                if unreadable is not None:
                    unreadable[listed.error[0]] = listed.error[1]
                continue
            if folders is not None and listed.seen is not None:
                folders[relpath] = listed.seen
            found.extend(listed.files.values())
            if unreadable is not None:
                unreadable.update(listed.unreadable)
            stack.extend(reversed(listed.descend))
        self.listed = reached
        return found

    @staticmethod
    def _stat_again(listed: _Listed, folder: str, name: str) -> bool:
        """Read one file's stat again; False when its folder must be listed again instead (the name is new to the
        listing, could not be looked at, its stat now fails, or it just got a second hard link)."""
        entry = listed.files.get(name)
        if entry is None:
            return is_temporary(f"{folder}/{name}" if folder else name)
        try:
            stat = entry.path.stat()
        except OSError:
            return False
        listed.files[name] = Entry(entry.relpath, entry.path, stat)
        return stat.st_nlink == 1 or name in listed.volatile  # a new hard link: volatile from now on


def _list_folder(top: Path, relpath: str, previous: _Listed | None, restat: set[str]) -> _Listed:
    """List one folder as os.walk would, and stat its files; a file `previous` had, and not in `restat` nor
    volatile, keeps its stat."""
    directory = top / relpath if relpath else top
    dirs, names, links = [], [], set()
    try:
        with os.scandir(directory) as listing:
            for item in listing:
                try:
                    is_dir = item.is_dir()
                except OSError:
                    is_dir = False
                (dirs if is_dir else names).append(item.name)
                if _is_symlink(item):
                    links.add(item.name)
    except OSError as error:
        where = error.filename if error.filename is not None else directory
        return _Listed(error=(Path(where).relative_to(top).as_posix(), error.strerror or str(error)))
    try:
        stat = directory.stat()
    except OSError:
        stat = None  # gone since it was listed: its next listing tells
    listed = _Listed(inode=stat.st_ino if stat else 0, names=frozenset(names),
                     descend=tuple(f"{relpath}/{name}".lstrip("/") for name in sorted(dirs)
                                   if not name.startswith(".") and name not in links))
    if relpath and stat is not None:
        holds_files = bool(names) or any(name.startswith(".") for name in dirs)
        listed.seen = FolderSeen(stat.st_mtime, holds_files, tuple(f"{relpath}/{name}" for name in sorted(dirs)))
    volatile = set()
    for name in sorted(names):
        file_relpath = f"{relpath}/{name}".lstrip("/")
        if is_temporary(file_relpath):
            continue
        kept = previous.files.get(name) if previous is not None else None
        if kept is not None and name not in restat and name not in previous.volatile:
            listed.files[name] = kept
            continue
        path = directory / name
        try:
            file_stat = path.stat()
        except FileNotFoundError:
            continue  # renamed or removed since the folder was listed, or a dangling symlink
        except OSError as error:
            listed.unreadable[file_relpath] = error.strerror or str(error)
            continue
        listed.files[name] = Entry(file_relpath, path, file_stat)
        if name in links or file_stat.st_nlink > 1:
            volatile.add(name)
    listed.volatile = frozenset(volatile)
    return listed


def _is_symlink(item: os.DirEntry) -> bool:
    try:
        return item.is_symlink()
    except OSError:
        return False  # as os.path.islink, which os.walk asks


class Tracker:
    """What the scans of one folder have seen of each file: since when it is unchanged, and whether it is closed.

    Walking /proc for open files is slow, so a file found closed is not asked about again until it changes, and the
    files a scan finds quiet are asked about together, in one walk. A file found held open for writing is not asked
    about again while the scans give the very same Entry: a Listing keeps an entry only while no event came for its
    file, and closing a file written to is an event (inotify's IN_CLOSE_WRITE, also when the writer dies), while a
    full walk makes every entry anew."""

    def __init__(self, quiet_seconds: float):
        self.quiet_seconds = quiet_seconds
        self.seen: dict[str, Seen] = {}
        self.closed: dict[str, Seen] = {}  # relpath → the Seen at which no process held it open for writing
        self.entries: list[Entry] = []  # the last update's
        self.asked: set[str] = set()  # real paths looked up in /proc since the last update
        self.written: set[str] = set()  # those of them held open for writing
        self.held: dict[str, Entry] = {}  # relpath → the entry of a file found held open for writing

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
            self.held.pop(gone, None)

    def _to_ask(self, entry: Entry, now: float) -> bool:
        seen = self.seen[entry.relpath]
        return (is_quiet(seen, now, self.quiet_seconds) and self.closed.get(entry.relpath) != seen
                and self.held.get(entry.relpath) is not entry)

    def has_arrived(self, entry: Entry, now: float) -> bool:
        """Whether `entry` (recorded by the last update) has been quiet long enough and nobody writes to it."""
        seen = self.seen[entry.relpath]
        if not is_quiet(seen, now, self.quiet_seconds):
            return False
        if self.closed.get(entry.relpath) != seen:
            if self.held.get(entry.relpath) is entry:
                return False
            target = os.path.realpath(entry.path)
            if target not in self.asked:
                asked = {os.path.realpath(e.path) for e in self.entries if self._to_ask(e, now)} | {target}
                self.written |= openfiles.written(asked - self.asked)
                self.asked |= asked
            if target in self.written:
                self.held[entry.relpath] = entry
                return False
            self.held.pop(entry.relpath, None)
            self.closed[entry.relpath] = seen
        return True
