"""Waking a daemon when something changes in the folder it watches: watchdog's inotify observer, or polling where
inotify is missing (some Android storage, exhausted watches) or `force_polling` asks for it.

A wake only makes the daemon scan sooner; the scan decides what is there, so a missed event costs at most one
poll interval. Opening or reading a file is no change: both daemons read the files they wait on at every scan and
would wake themselves. A burst of events (a file being written or copied in) wakes the daemon once per
SETTLE_SECONDS, not once per write.
"""

import logging
import threading
import time
from pathlib import Path

from watchdog.events import EVENT_TYPE_CLOSED_NO_WRITE, EVENT_TYPE_OPENED, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.polling import PollingObserver

log = logging.getLogger(__name__)

SETTLE_SECONDS = 0.2
READ_ONLY_EVENTS = (EVENT_TYPE_OPENED, EVENT_TYPE_CLOSED_NO_WRITE)
EMITTER_LOGGER = "watchdog.observers.inotify"


class _EventsAfterStop(logging.Filter):
    """watchdog's inotify emitter logs an ERROR, "queue_events() called when the thread is inactive", for an event
    that arrives while it stops (watchdog 7.1), and drops the event: what a stopping daemon wants anyway. This
    filter holds back that one line, and only during stop()."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "called when the thread is inactive" not in record.getMessage()


class _Wake(FileSystemEventHandler):
    def __init__(self, event: threading.Event):
        self.event = event

    def on_any_event(self, event) -> None:
        if event.event_type not in READ_ONLY_EVENTS:
            self.event.set()


class FolderWatcher:
    """Sets `changed` when something below `folder` changes. `start()` starts watchdog's thread, so that a daemon
    object made only to scan (as tests and `tgvid status` do) leaves no thread behind."""

    def __init__(self, folder: Path, force_polling: bool = False):
        self.folder = Path(folder)
        self.force_polling = force_polling
        self.changed = threading.Event()
        self.observer = None

    def start(self) -> None:
        self.observer = PollingObserver(timeout=1) if self.force_polling else Observer()
        try:
            self.observer.schedule(_Wake(self.changed), str(self.folder), recursive=True)
            self.observer.start()
        except OSError as error:
            log.warning("%s: inotify unavailable (%s); polling instead", self.folder, error)
            self.observer = PollingObserver(timeout=1)
            self.observer.schedule(_Wake(self.changed), str(self.folder), recursive=True)
            self.observer.start()

    def wait(self, timeout_seconds: float) -> None:
        """Sleep until something changes, or `timeout_seconds` pass."""
        if self.changed.wait(timeout_seconds):
            time.sleep(min(SETTLE_SECONDS, timeout_seconds))
        self.changed.clear()

    def stop(self) -> None:
        if self.observer is None:
            return
        emitter_log, quiet = logging.getLogger(EMITTER_LOGGER), _EventsAfterStop()
        emitter_log.addFilter(quiet)
        try:
            self.observer.stop()
            self.observer.join()
        finally:
            emitter_log.removeFilter(quiet)
