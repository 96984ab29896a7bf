"""The outbox: which files in `<root>/outbox/` are complete, waiting to be sent (a scan decides; tgvid.watching wakes it).

A file with a sidecar beside it that gives its size is complete (the transcoder writes the sidecar, then renames
the whole file in). Any other file counts as put there by hand, also one whose sidecar cannot be read or gives
another size (a leftover, with a new copy going on over it): it is taken once it has arrived by tgvid.arrivals'
rule (quiet for `quiet_seconds`, not open for writing, not a temporary name: a copy that pauses longer than the
quiet time is not taken half-written), then probed. Sidecars themselves are not files to send.
Only regular files are taken: a symlink to one counts as that file (its content is sent, the link moved to sent/),
while a named pipe, socket or device (or a link to one) is skipped, since reading it could block for ever.
Watchdog wakes the daemon early and tells the scan where to look again (tgvid.watching); the scan decides.
What the scan cannot read (a folder without permission, a symlink loop) is skipped and logged once, until it
changes; everything else is still taken.
"""

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from stat import S_ISREG

from tgvid import arrivals, emptied, sidecar
from tgvid.errors import SidecarError
from tgvid.watching import FolderWatcher

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Arrival:
    path: Path
    relpath: str  # relative to outbox/, "/"-separated
    folder: str  # relpath's folder, "" at the top
    size_bytes: int
    mtime_ns: int
    first_seen: float
    has_sidecar: bool  # a sidecar beside it gives its size; else it is probed and given a new one
    sidecar_stat: tuple[int, int, int] | None  # its sidecar's (inode, size, mtime_ns) as the scan listed it, if any


def pending(folder: Path, skipped: dict[str, str] | None = None,
            folders: dict[str, emptied.FolderSeen] | None = None,
            watcher: FolderWatcher | None = None,
            sidecars: dict[str, os.stat_result] | None = None) -> list[arrivals.Entry]:
    """The files in outbox/ the uploader has yet to send, arrived or not, in path order (sidecars left out).

    What cannot be read, or is not a regular file, is left out and, when `skipped` is given, put there with why;
    `folders` gets what was seen of each subfolder (tgvid.arrivals.walk), `sidecars` the stat of each sidecar. A
    `watcher` of the folder reads again only where it changed."""
    unreadable: dict[str, str] = {}
    entries = (watcher.walk(unreadable, folders) if watcher is not None
               else arrivals.walk(folder, unreadable, folders))
    if skipped is not None:
        skipped.update((relpath, f"cannot read it: {why}") for relpath, why in unreadable.items())
    files = []
    for entry in entries:
        if entry.relpath.endswith(sidecar.SUFFIX):
            if sidecars is not None:
                sidecars[entry.relpath] = entry.stat
            continue
        if not S_ISREG(entry.stat.st_mode):
            if skipped is not None:
                skipped[entry.relpath] = "not a regular file (a pipe, socket or device)"
            continue
        files.append(entry)
    return files


def is_described(path: Path, size_bytes: int) -> bool:
    """Whether a sidecar beside `path` gives `size_bytes` as its size.

    One that gives another size is a leftover (the transcoder never renames a file in before it is whole), so the
    file is treated as placed by hand: taken when quiet and closed, then probed. Waiting for the sizes to match
    instead would wait for ever on a leftover of another file.
    """
    try:
        return sidecar.read(sidecar.path_for(path)).size_bytes == size_bytes
    except SidecarError.NewerVersion:
        return True  # delivery quarantines it, saying to upgrade tgvid
    except SidecarError:
        return False


def identity(stat: os.stat_result | None) -> tuple[int, int, int] | None:
    """A sidecar's (inode, size, mtime_ns): a sidecar is replaced whole (a new inode), so an unchanged one is the same
    file with the same content."""
    return None if stat is None else (stat.st_ino, stat.st_size, stat.st_mtime_ns)


class Outbox:
    def __init__(self, folder: Path, quiet_seconds: float, force_polling: bool = False,
                 empty_folder_seconds: float = 300.0):
        self.folder = Path(folder)
        self.empty_folder_seconds = empty_folder_seconds
        self.watcher = FolderWatcher(self.folder, force_polling)
        self.arrivals = arrivals.Tracker(quiet_seconds)
        self.first_seen: dict[str, float] = {}
        self.skipped: dict[str, str] = {}  # relpath → why the last scan skipped it
        self.described: dict[str, tuple[tuple, bool]] = {}  # relpath → (the stats it was decided on, is_described)

    def start(self) -> None:
        self.watcher.start()

    def stop(self) -> None:
        self.watcher.stop()

    def wait(self, timeout_seconds: float) -> None:
        """Sleep until something changes in the outbox, or `timeout_seconds` pass."""
        self.watcher.wait(timeout_seconds)

    def has_files(self) -> bool:
        """Whether the last scan saw any file still to send, arrived or not."""
        return bool(self.arrivals.seen)

    def scan(self, now: float) -> list[Arrival]:
        """The complete files now in the outbox, in path order."""
        skipped: dict[str, str] = {}
        folders: dict[str, emptied.FolderSeen] = {}
        sidecars: dict[str, os.stat_result] = {}
        entries = pending(self.folder, skipped, folders, self.watcher, sidecars)
        self.arrivals.update(entries, now)
        found = []
        for entry in entries:
            first_seen = self.first_seen.setdefault(entry.relpath, now)
            has_sidecar = self.is_described(entry, sidecars.get(entry.relpath + sidecar.SUFFIX))
            if (has_sidecar or self.arrivals.has_arrived(entry, now)) and entry.path.exists():
                # (a file moved away by this daemon a moment ago may still be listed: its event is on its way)
                found.append(Arrival(entry.path, entry.relpath, entry.relpath.rpartition("/")[0], entry.stat.st_size,
                                     entry.stat.st_mtime_ns, first_seen, has_sidecar,
                                     identity(sidecars.get(entry.relpath + sidecar.SUFFIX))))
        for gone in self.first_seen.keys() - self.arrivals.seen.keys():
            del self.first_seen[gone]
        self.described = {entry.relpath: self.described[entry.relpath] for entry in entries}
        for relpath, why in skipped.items():
            if self.skipped.get(relpath) != why:
                log.warning("outbox/%s: skipped, %s", relpath, why)
        self.skipped = skipped
        self.remove_emptied(folders, now)
        return found

    def is_described(self, entry: arrivals.Entry, sidecar_stat: os.stat_result | None) -> bool:
        """is_described, read again only when the file or its sidecar changed (a sidecar is replaced whole, so a
        new one has a new inode): a scan of files waiting to be sent reads no sidecars."""
        stats = (entry.stat.st_size, entry.stat.st_mtime_ns, identity(sidecar_stat))
        known = self.described.get(entry.relpath)
        if known is None or known[0] != stats or sidecar_stat is None:
            self.described[entry.relpath] = stats, is_described(entry.path, entry.stat.st_size)
        return self.described[entry.relpath][1]

    def remove_emptied(self, folders: dict[str, emptied.FolderSeen], now: float) -> None:
        """Remove the album folders that are empty and quiet, but none whose inbox/ folder is still there: the
        transcoder may still hand files into it."""
        inbox = self.folder.parent / "inbox"
        chosen = emptied.removable(folders, now, self.empty_folder_seconds, keep=lambda relpath: (inbox / relpath).exists())
        removed = emptied.remove(self.folder, chosen)
        if removed:
            log.info("uploader: removed %d emptied folder(s) from outbox/: %s", len(removed), ", ".join(removed[:5]))
