"""Pruning by age: the files in a folder kept for people (`originals/`, `sent/`) removed once they have been there
longer than a setting says (0 keeps them forever), since phones fill up.

A file's age counts from when it was put there: its change time, which a rename sets, not its modification time,
which a move keeps from the source (a film shot years ago would otherwise go at once). Each daemon prunes its
folder when it starts and then every hour (sooner when the setting is shorter than an hour).
"""

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

DAY_SECONDS = 86400.0
INTERVAL_SECONDS = 3600.0


def expired(placed_at: dict[str, float], keep_days: float, now: float) -> list[str]:
    """The names in `placed_at` (name → Unix time it was put in the folder) kept longer than `keep_days`, in name
    order; none when `keep_days` is 0."""
    if keep_days <= 0:
        return []
    return sorted(name for name, when in placed_at.items() if now - when > keep_days * DAY_SECONDS)


class Pruner:
    """Prunes `folder` by age at most every INTERVAL_SECONDS; a file whose name starts with `kept_name` (a ledger,
    and the temp files of its writes) is never pruned."""

    def __init__(self, folder: Path, keep_days: float, kept_name: str = ""):
        self.folder, self.keep_days, self.kept_name = Path(folder), keep_days, kept_name
        self.interval_seconds = min(INTERVAL_SECONDS, keep_days * DAY_SECONDS)
        self.next_at = 0.0

    def step(self, now: float) -> None:
        if self.keep_days <= 0 or now < self.next_at:
            return
        self.next_at = now + self.interval_seconds
        removed = self.prune(now)
        if removed:
            log.info("%s: removed %d file(s) kept longer than %g day(s)", self.folder, len(removed), self.keep_days)

    def prune(self, now: float) -> list[Path]:
        """Remove the expired files, then the folders that left empty; the files removed."""
        placed_at = {}
        for directory, _, names in os.walk(self.folder):
            for name in names:
                path = Path(directory) / name
                if self.kept_name and name.startswith(self.kept_name):
                    continue
                try:
                    placed_at[str(path)] = path.lstat().st_ctime
                except FileNotFoundError:
                    continue  # removed while we looked
        removed = []
        for name in expired(placed_at, self.keep_days, now):
            try:
                os.unlink(name)
            except FileNotFoundError:
                continue
            except OSError as error:
                log.warning("%s: cannot be removed (%s); left where it is", name, error.strerror)
                continue
            removed.append(Path(name))
        for folder in sorted({path.parent for path in removed}, key=lambda path: len(path.parts), reverse=True):
            while folder != self.folder and folder.is_relative_to(self.folder):
                try:
                    folder.rmdir()
                except OSError:
                    break  # not empty (or gone): its parent is not empty either
                folder = folder.parent
        return removed
