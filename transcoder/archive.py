"""Archives in the inbox, as pure rules over their listing: which names are archives, where an entry lands, what
is left out, and when an archive is hostile (an entry leaving its folder, a password, a bomb).

No file access here: transcoder.archive_reader lists and reads archives, transcoder.unpack runs the job.
An archive `trip/holiday.zip` becomes the folder `trip/holiday/` beside it, keeping the archive's inner folders.
Only videos and pictures (by their name's extension, as a phone's gallery decides) and archives nested one level
deep are unpacked; everything else is left out and listed in the log, and the archive itself is kept in
originals/, so nothing is lost.
"""

import posixpath
from dataclasses import dataclass
from enum import StrEnum

# Longest suffix first: `.tar.gz` must win over `.gz`.
FORMATS = {".tar.gz": "tar.gz", ".tgz": "tar.gz", ".tar.bz2": "tar.bz2", ".tbz2": "tar.bz2", ".tbz": "tar.bz2",
           ".tar.xz": "tar.xz", ".txz": "tar.xz", ".tar.zst": "tar.zst", ".tzst": "tar.zst", ".tar": "tar",
           ".zip": "zip", ".7z": "7z", ".rar": "rar"}
MEDIA_EXTENSIONS = frozenset((
    ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".wmv", ".asf", ".flv", ".f4v", ".3gp", ".3g2", ".ts", ".mts",
    ".m2ts", ".mpg", ".mpeg", ".vob", ".ogv", ".mxf", ".dv",
    ".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".heic", ".heif", ".avif"))
LEFT_OUT_FOLDERS = ("__MACOSX",)  # macOS puts resource forks there, named like the pictures they belong to


class EntryKind(StrEnum):
    FILE = "file"
    FOLDER = "folder"
    LINK = "link"
    OTHER = "other"  # devices, pipes: never unpacked


@dataclass(frozen=True)
class Entry:
    """One member of an archive's index, as the archive declares it."""

    name: str  # the path in the archive, as stored
    size_bytes: int  # unpacked size
    kind: EntryKind = EntryKind.FILE
    link_target: str = ""  # for links: where it points, as stored
    encrypted: bool = False
    escapes: str = ""  # why the library's own safety filter says it leaves the folder (tar's `data` filter)


@dataclass(frozen=True)
class Listing:
    format: str  # a value of FORMATS
    packed_bytes: int  # the archive file's size
    entries: tuple[Entry, ...]

    @property
    def unpacked_bytes(self) -> int:
        return sum(e.size_bytes for e in self.entries if e.kind == EntryKind.FILE)


@dataclass(frozen=True)
class Limits:
    """Past these an archive is a bomb (settings `transcoder.archive_max_*`)."""

    max_unpacked_bytes: int
    max_ratio: float
    max_entries: int

    @classmethod
    def from_config(cls, section) -> "Limits":
        return cls(section.archive_max_unpacked_bytes, section.archive_max_ratio, section.archive_max_entries)


@dataclass(frozen=True)
class Planned:
    """What becomes of one entry: `path` (in the archive's folder) when unpacked, `left_out` saying why when not."""

    entry: Entry
    path: str = ""
    left_out: str = ""
    is_archive: bool = False


def format_of(name: str) -> str | None:
    """The archive format its name says (`holiday.tar.gz` → "tar.gz"), None for anything else."""
    lower = name.lower()
    return next((fmt for suffix, fmt in FORMATS.items() if lower.endswith(suffix)), None)


def folder_name(name: str) -> str:
    """The folder an archive unpacks into: its name without the archive suffix (`a/holiday.tar.gz` → `a/holiday`)."""
    lower = name.lower()
    suffix = next(s for s in FORMATS if lower.endswith(s))
    return name[: -len(suffix)] or name


def inside_path(name: str) -> str | None:
    """`name` as a relative path that stays inside the archive's folder ("" for the folder itself, as in `./`), or
    None when it leaves it (absolute, a drive letter, `..` above the top). Backslashes count as separators: Windows
    tools store them."""
    parts = name.replace("\\", "/").split("/")
    if name.startswith(("/", "\\")) or (parts and len(parts[0]) == 2 and parts[0][1] == ":"):
        return None
    kept: list[str] = []
    for part in parts:
        if part in ("", "."):
            continue
        if part == "..":
            if not kept:
                return None
            kept.pop()
        else:
            kept.append(part)
    return "/".join(kept)


def link_stays_inside(entry: Entry) -> bool:
    """Whether a link's target, read from the link's own folder, stays inside the archive's folder."""
    if entry.link_target.startswith(("/", "\\")):
        return False
    own = inside_path(entry.name)
    folder = posixpath.dirname(own) if own else ""
    return inside_path(posixpath.join(folder, entry.link_target.replace("\\", "/")) if folder else
                       entry.link_target) is not None


def hostility(listing: Listing, limits: Limits) -> str | None:
    """Why this archive must not be unpacked (the first reason found), or None when it may be."""
    encrypted = next((e for e in listing.entries if e.encrypted), None)
    if encrypted is not None:
        return (f"encrypted (entry {encrypted.name!r} needs a password): unpack it yourself and drop the files "
                "into inbox/")
    for entry in listing.entries:
        if entry.escapes:
            return f"entry {entry.name!r} would be written outside the archive's folder ({entry.escapes})"
        if inside_path(entry.name) is None:
            return f"entry {entry.name!r} would be written outside the archive's folder"
        if entry.kind == EntryKind.LINK and not link_stays_inside(entry):
            return f"link {entry.name!r} points outside the archive's folder (to {entry.link_target!r})"
    if len(listing.entries) > limits.max_entries:
        return (f"a bomb? {len(listing.entries)} entries, more than transcoder.archive_max_entries "
                f"({limits.max_entries})")
    if listing.unpacked_bytes > limits.max_unpacked_bytes:
        return (f"a bomb? it unpacks to {listing.unpacked_bytes} bytes, more than "
                f"transcoder.archive_max_unpacked_bytes ({limits.max_unpacked_bytes})")
    if listing.unpacked_bytes > limits.max_ratio * max(1, listing.packed_bytes):
        return (f"a bomb? it unpacks to {listing.unpacked_bytes / max(1, listing.packed_bytes):.0f} times its "
                f"size, more than transcoder.archive_max_ratio ({limits.max_ratio:g})")
    return None


def plan(listing: Listing, prefix: str = "", nested: bool = False) -> list[Planned]:
    """What becomes of each entry of a safe listing (see `hostility`), in archive order. `prefix` is the folder
    the archive unpacks into, relative to the outer archive's folder ("" for the outer archive itself); `nested`
    archives leave out archives inside them (one level deep only)."""
    planned, taken, folders = [], set(), set()
    for entry in listing.entries:
        path = inside_path(entry.name)
        if entry.kind == EntryKind.FOLDER or not path:
            continue  # folders are made as their files need them
        name = posixpath.basename(path)
        path = posixpath.join(prefix, path) if prefix else path
        is_archive = format_of(name) is not None
        if entry.kind == EntryKind.LINK:
            reason = "a link"
        elif entry.kind != EntryKind.FILE:
            reason = "not a regular file"
        elif any(part.startswith(".") or part in LEFT_OUT_FOLDERS for part in path.split("/")):
            reason = "hidden, or macOS metadata"
        elif is_archive and nested:
            reason = "an archive inside an archive inside the archive (only one level is unpacked)"
        elif not is_archive and posixpath.splitext(name)[1].lower() not in MEDIA_EXTENSIONS:
            reason = "not a video or picture"
        elif _collides(path, is_archive, taken, folders):
            reason = "another entry has the same path"
        else:
            claimed = (path, folder_name(path)) if is_archive else (path,)
            taken.update(claimed)
            folders.update(parent for one in claimed for parent in _parents(one))
            planned.append(Planned(entry, path, is_archive=is_archive))
            continue
        planned.append(Planned(entry, left_out=reason))
    return planned


def _parents(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[:end]) for end in range(1, len(parts))]


def _collides(path: str, is_archive: bool, taken: set[str], folders: set[str]) -> bool:
    """Whether `path` (and, for an archive, the folder it unpacks into) clashes with a file or folder already
    planned: the same path twice, or a file where a folder must be."""
    claimed = (path, folder_name(path)) if is_archive else (path,)
    return any(one in taken or one in folders or any(parent in taken for parent in _parents(one)) for one in claimed)
