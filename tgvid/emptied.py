"""Emptied folders: a subfolder of inbox/ or outbox/ that holds nothing any more, and has not changed for a quiet
time, is removed, so that folders left by albums do not pile up (each one costs every scan a look).

The decision is pure: `removable` takes what a walk saw of each folder (tgvid.arrivals.walk's `folders`) and
returns those to remove, deepest first. A folder counts as empty when it holds no entry at all (a dotfile or a
copy in progress keeps it) apart from subfolders that are removable themselves, so a chain of empty folders goes in
one pass. Its own modification time must be `quiet_seconds` old: a folder a person has just made, to copy files
into, stays. `keep` holds back folders the caller knows are still in use (outbox/: the transcoder may hand more
files into an album folder while its inbox folder is there). Dot-folders are never ours to remove. `remove` is the
thin I/O: rmdir(2), which refuses a folder that filled up since the walk.
"""

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class FolderSeen:
    """What a walk saw of one subfolder: its modification time, whether it holds anything that is not a
    folder (or is a dot-folder), and the relpaths of its subfolders."""

    mtime: float
    holds_files: bool
    subfolders: tuple[str, ...]


def removable(folders: dict[str, FolderSeen], now: float, quiet_seconds: float,
              keep: Callable[[str], bool] = lambda relpath: False) -> list[str]:
    """The relpaths of the folders to remove, deepest first (each before its parent)."""
    decided: dict[str, bool] = {}
    for relpath in sorted(folders, key=lambda r: r.count("/"), reverse=True):
        seen = folders[relpath]
        decided[relpath] = (not seen.holds_files and now - seen.mtime >= quiet_seconds and not keep(relpath)
                            and all(decided.get(sub, False) for sub in seen.subfolders))
    return [relpath for relpath in sorted(folders, key=lambda r: r.count("/"), reverse=True) if decided[relpath]]


def remove(folder: Path, relpaths: list[str]) -> list[str]:
    """rmdir each of `relpaths` (deepest first) below `folder`; those removed (one that filled up is left)."""
    removed = []
    for relpath in relpaths:
        try:
            os.rmdir(Path(folder) / relpath)
        except OSError:
            continue  # something arrived since the walk, or it is gone already
        removed.append(relpath)
    return removed
