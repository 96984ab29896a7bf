"""The inbox: which files in it are complete and ready to take (tgvid.watching wakes the daemon to look).

A file is taken once its size and mtime have not changed for `quiet_seconds` and no process holds it open
for writing (tgvid.openfiles). Names of downloads in progress (`.part`, `.crdownload`, `.tmp`, dotfiles) are
passed over until they are renamed. A close-after-write only wakes the daemon early; the quiet time still applies.
"""

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from tgvid import filenames, sidecar

log = logging.getLogger(__name__)

TEMPORARY_SUFFIXES = (".part", ".crdownload", ".tmp", ".partial", ".download", ".!qb", ".opdownload")


@dataclass(frozen=True)
class Sighting:
    """What a scan saw of one file: enough to tell whether it has stopped changing."""

    relpath: str
    size_bytes: int
    mtime_ns: int


def is_temporary(relpath: str) -> bool:
    """A name a download or copy in progress uses; the file is taken only after it is renamed."""
    parts = Path(relpath).parts
    name = parts[-1].lower()
    return any(part.startswith(".") for part in parts) or name.endswith(TEMPORARY_SUFFIXES) or name.startswith("~")


def name_problem(relpath: str) -> str | None:
    """Why a file of this name cannot be carried to Telegram, or None when it can."""
    if not filenames.is_utf8(relpath):
        return "the file name is not valid UTF-8, which Telegram needs"
    if relpath.endswith(sidecar.SUFFIX):
        return f"names ending in {sidecar.SUFFIX} are tgvid's own sidecars: the uploader would pass it over"
    return None


def stable_since(previous: tuple[Sighting, float] | None, current: Sighting, now: float) -> float:
    """When `current` was first seen unchanged: `now` if it is new or changed, else the earlier time."""
    if previous is None or previous[0] != current:
        return now
    return previous[1]


def is_quiet(first_seen_unchanged: float, now: float, quiet_seconds: float) -> bool:
    return now - first_seen_unchanged >= quiet_seconds


def scan(inbox: Path, unreadable: dict[str, str] | None = None) -> list[Sighting]:
    """Every regular file below `inbox` whose name is not a temporary one, with its size and mtime.

    What cannot even be looked at (a symlink loop, a folder without permission) is left out and, when
    `unreadable` is given, put there with the reason."""
    found = []

    def folder_error(error: OSError) -> None:
        if unreadable is not None and error.filename is not None:
            unreadable[Path(error.filename).relative_to(inbox).as_posix()] = error.strerror or str(error)

    for folder, folders, files in os.walk(inbox, onerror=folder_error):
        folders[:] = [f for f in folders if not f.startswith(".")]
        for name in files:
            path = Path(folder) / name
            relpath = path.relative_to(inbox).as_posix()
            if is_temporary(relpath):
                continue
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue  # renamed or removed since the folder was listed, or a dangling symlink
            except OSError as error:
                if unreadable is not None:
                    unreadable[relpath] = error.strerror or str(error)
                continue
            found.append(Sighting(relpath, stat.st_size, stat.st_mtime_ns))
    return found
