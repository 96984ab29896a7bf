"""Watching a folder for a daemon: watchdog's inotify observer wakes it when something changes and says where, so
that its scan reads again only what changed; where inotify is missing (some Android storage, exhausted watches) or
`force_polling` asks for it, watchdog polls, and every scan walks the whole folder.

A wake only makes the daemon scan sooner; a scan at a timeout finds what the events missed no later than the next
full walk. Opening or reading a file is no change: both daemons read the files they wait on at every scan and
would wake themselves. A burst of events (a file being written or copied in) wakes the daemon once per
SETTLE_SECONDS, not once per write.

Where the events cannot be trusted to tell, the scan walks the whole folder (tgvid.arrivals.walk, the source of
truth): at the start, with polling, after watchdog warned of anything (an inotify queue overflow drops events),
when its thread died, when the watched folder itself was replaced, and every FULL_WALK_SECONDS in any case. A
folder that watchdog failed to watch (it skips those silently: the watch limit reached, no permission when it was
made) is found in /proc/self/fdinfo, Linux's list of an inotify instance's watches, and walked at every scan.
"""

import logging
import os
import threading
import time
import warnings
from pathlib import Path

from watchdog.events import (
    EVENT_TYPE_ATTRIB,
    EVENT_TYPE_CLOSED,
    EVENT_TYPE_CREATED,
    EVENT_TYPE_DELETED,
    EVENT_TYPE_MODIFIED,
    EVENT_TYPE_MOVED,
    DirAttribEvent,
    DirCreatedEvent,
    DirDeletedEvent,
    DirModifiedEvent,
    DirMovedEvent,
    FileAttribEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.polling import PollingObserver

from tgvid import arrivals
from tgvid.emptied import FolderSeen

log = logging.getLogger(__name__)
# watchdog warns when a folder moved within the watched tree gets a watch it already has (inotify hands out the same
# watch for the same folder): the callback is the same one, replaced by itself. Said once on stderr, it would only
# puzzle whoever reads the log; where warnings are errors (the tests), it would kill watchdog's reading thread.
IGNORED_WATCHDOG_WARNING = "Callback with id .* already exists for watch"
warnings.filterwarnings("ignore", message=IGNORED_WATCHDOG_WARNING, category=RuntimeWarning)

SETTLE_SECONDS = 0.2
# The safety net under the events: what inotify never reports (a write through a hard link or a symlink's target
# elsewhere, through mmap, or by another machine on a network share) is seen within this long, at the cost of one
# full walk per period, far below what a walk per second cost (bench/idle.py).
FULL_WALK_SECONDS = 300.0
UNWATCHED_TELL_SECONDS = 10.0  # a folder just made is listed before watchdog watches it, for a moment only
# The events that are changes. Opening or reading a file is none, and is not even asked of inotify: the uploader
# reads every file it waits on at every scan, and each read would cost watchdog's thread an event or two.
CHANGES = [FileCreatedEvent, DirCreatedEvent, FileDeletedEvent, DirDeletedEvent, FileMovedEvent, DirMovedEvent,
           FileModifiedEvent, DirModifiedEvent, FileClosedEvent, FileAttribEvent, DirAttribEvent]
FILE_CHANGES = (EVENT_TYPE_MODIFIED, EVENT_TYPE_CLOSED, EVENT_TYPE_ATTRIB)  # the stat may differ, the name is the same
WATCHDOG_LOGGER = "watchdog.observers"
EMITTER_LOGGER = INOTIFY_MODULE = "watchdog.observers.inotify"  # Observer is inotify's on Linux only


class _EventsAfterStop(logging.Filter):
    """watchdog's inotify emitter logs an ERROR, "queue_events() called when the thread is inactive", for an event
    that arrives while it stops (watchdog 7.1), and drops the event: what a stopping daemon wants anyway. This
    filter holds back that one line, and only during stop()."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "called when the thread is inactive" not in record.getMessage()


class _Troubles(logging.Handler):
    """Notes that watchdog warned of something (an inotify queue overflow, watches it could not rebuild): events
    may be lost, so the next scan walks everything."""

    def __init__(self, watcher: "FolderWatcher"):
        super().__init__(logging.WARNING)
        self.watcher = watcher

    def emit(self, record: logging.LogRecord) -> None:
        self.watcher.must_walk = True


class _Record(FileSystemEventHandler):
    def __init__(self, watcher: "FolderWatcher"):
        self.watcher = watcher

    def on_any_event(self, event) -> None:
        self.watcher.note(event.event_type, event.is_directory, event.src_path, getattr(event, "dest_path", ""))


def _parent(relpath: str) -> str:
    return relpath.rpartition("/")[0]


def watched_inodes() -> set[int]:
    """The inodes every inotify instance of this process watches (Linux: /proc/self/fdinfo)."""
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") != "anon_inode:inotify":
                continue
            info = Path(f"/proc/self/fdinfo/{fd}").read_text()
        except OSError:
            continue  # closed meanwhile (the listing's own descriptor, say)
        for line in info.splitlines():
            if line.startswith("inotify wd:"):
                found.update(int(part[4:], 16) for part in line.split() if part.startswith("ino:"))
    return found


class FolderWatcher:
    """Sets `changed` when something below `folder` changes, and `walk()` lists the folder as tgvid.arrivals.walk
    does, reading again only where events were. `start()` starts watchdog's thread, so that a daemon object made
    only to scan (as tests and `tgvid status` do) leaves no thread behind; until then, every walk is a full one."""

    def __init__(self, folder: Path, force_polling: bool = False):
        self.folder = Path(folder)
        self.force_polling = force_polling
        self.changed = threading.Event()
        self.observer = None
        self.listing = arrivals.Listing(self.folder)
        self.lock = threading.Lock()
        self.must_walk = True
        self.folders: set[str] = set()
        self.trees: set[str] = set()
        self.files: set[str] = set()
        self.unwatched: dict[str, tuple[float, bool]] = {}  # folders watchdog does not watch (walked at every
        # scan) → since when (time.monotonic()), and whether that was logged
        self.walked_at = 0.0  # time.monotonic() of the last full walk
        self.root_identity: tuple[int, int] | None = None
        self.troubles = _Troubles(self)

    def start(self) -> None:
        self.observer = PollingObserver(timeout=1) if self.force_polling else Observer()
        try:
            self.observer.schedule(_Record(self), str(self.folder), recursive=True, event_filter=CHANGES)
            self.observer.start()
        except OSError as error:
            log.warning("%s: inotify unavailable (%s); polling instead", self.folder, error)
            self.observer = PollingObserver(timeout=1)
            self.observer.schedule(_Record(self), str(self.folder), recursive=True, event_filter=CHANGES)
            self.observer.start()
        self.root_identity = self._identity()
        watchdog_log = logging.getLogger(WATCHDOG_LOGGER)
        watchdog_log.setLevel(min(logging.WARNING, watchdog_log.getEffectiveLevel()))  # its warnings reach _Troubles
        watchdog_log.addHandler(self.troubles)

    def events_tell(self) -> bool:
        """Whether events say where things changed: inotify, its thread alive, the same folder watched."""
        return (self.observer is not None and type(self.observer).__module__ == INOTIFY_MODULE
                and self.observer.is_alive() and all(emitter.is_alive() for emitter in self.observer.emitters)
                and self._identity() == self.root_identity)

    def _identity(self) -> tuple[int, int] | None:
        try:
            stat = self.folder.stat()
        except OSError:
            return None
        return stat.st_dev, stat.st_ino

    def note(self, event_type: str, is_directory: bool, src_path, dest_path) -> None:
        """Record where an event says something changed (called in watchdog's thread)."""
        source, target = self._relpath(src_path), self._relpath(dest_path) if dest_path else None
        with self.lock:
            if source is None or (source == "" and event_type in (EVENT_TYPE_DELETED, EVENT_TYPE_MOVED)):
                self.must_walk = True
            elif is_directory and event_type == EVENT_TYPE_MODIFIED:
                self.folders.add(source)
            elif is_directory:
                self.folders.add(_parent(source))
                if event_type != EVENT_TYPE_DELETED:
                    self.trees.add(source)
            elif event_type in FILE_CHANGES:
                self.files.add(source)
            else:
                self.folders.add(_parent(source))
                if event_type == EVENT_TYPE_CREATED:
                    self.files.add(source)
            if target is not None:
                self.folders.add(_parent(target))
                (self.trees if is_directory else self.files).add(target)
        self.changed.set()

    def _relpath(self, path) -> str | None:
        """`path` relative to the folder, "/"-separated ("" the folder itself); None when outside it."""
        relpath = os.path.relpath(os.fsdecode(path), self.folder)
        if relpath == os.curdir:
            return ""
        return None if relpath == os.pardir or relpath.startswith(os.pardir + os.sep) else Path(relpath).as_posix()

    def take_changes(self) -> arrivals.Changes:
        """Where the folder changed since the last call, or everything when the events cannot tell."""
        events_tell = self.events_tell()
        with self.lock:
            everything = (self.must_walk or not events_tell
                          or time.monotonic() - self.walked_at >= FULL_WALK_SECONDS)
            changes = arrivals.Changes(everything, frozenset(self.folders), frozenset(self.trees | self.unwatched.keys()),
                                       frozenset(self.files))
            self.must_walk = False
            self.folders, self.trees, self.files = set(), set(), set()
        if everything:
            self.walked_at = time.monotonic()
        return changes

    def walk(self, unreadable: dict[str, str] | None = None,
             folders: dict[str, FolderSeen] | None = None) -> list[arrivals.Entry]:
        """The files below the folder as tgvid.arrivals.walk finds them (same arguments), read again only where
        events were since the last call."""
        changes = self.take_changes()
        entries = self.listing.walk(changes, unreadable, folders)
        if changes.everything and not self.events_tell():
            self.unwatched = {}
        elif self.listing.fresh:
            self.note_unwatched()
        return entries

    def note_unwatched(self) -> None:
        """Find which of the folders just listed watchdog does not watch; they are walked at every scan. One
        listed before watchdog got to it (a folder just made) is watched a moment later: only a folder left unwatched
        for UNWATCHED_TELL_SECONDS is logged."""
        watched, now = watched_inodes(), time.monotonic()
        unwatched = {relpath for relpath, inode in self.listing.fresh.items() if inode and inode not in watched}
        unwatched |= {relpath for relpath in self.unwatched.keys() - self.listing.fresh.keys()
                      if relpath in self.listing.listed}
        self.unwatched = {relpath: self.unwatched.get(relpath, (now, False)) for relpath in unwatched}
        for relpath, (since, told) in sorted(self.unwatched.items()):
            if not told and now - since >= UNWATCHED_TELL_SECONDS:
                log.warning("%s: not watched by inotify (its watch limit reached?); walked at every scan",
                            self.folder / relpath)
                self.unwatched[relpath] = (since, True)

    def wait(self, timeout_seconds: float) -> None:
        """Sleep until something changes, or `timeout_seconds` pass."""
        if self.changed.wait(timeout_seconds):
            time.sleep(min(SETTLE_SECONDS, timeout_seconds))
        self.changed.clear()

    def stop(self) -> None:
        if self.observer is None:
            return
        logging.getLogger(WATCHDOG_LOGGER).removeHandler(self.troubles)
        emitter_log, quiet = logging.getLogger(EMITTER_LOGGER), _EventsAfterStop()
        emitter_log.addFilter(quiet)
        try:
            self.observer.stop()
            self.observer.join()
        finally:
            emitter_log.removeFilter(quiet)
        self.observer = None
