"""Durable, atomic file writes: the one way tgvid puts state on disk.

Every checkpoint, ledger, sidecar and reason file goes through `atomic_write`: the bytes go to
`<name>-<random>.tmp` in the target's folder, are flushed and fdatasync'ed, the temp file is
`os.replace`d over the target and the folder is fsync'ed. A reader sees the old file or the new one,
never a torn one. On any failure the temp file is removed.

POSIX promises little about power loss (a rename may be persisted before the data on some file
systems), so data whose loss matters more than its tearing (segment files) also carries its size and
checksum in the checkpoint, which is checked on read.
"""

import errno
import glob
import os
import secrets
from collections.abc import Iterable
from pathlib import Path

from tgvid.namelength import NAME_MAX_BYTES, fitting

TEMP_SUFFIX = ".tmp"
TEMP_TAIL_BYTES = len("-xxxxxxxx" + TEMP_SUFFIX)


def _temp_prefix(target: Path) -> str:
    """What a temp name of `target` starts with: its name, shortened if the name and the tail would not fit."""
    return fitting(target.name, "", NAME_MAX_BYTES - TEMP_TAIL_BYTES)


def temp_path_for(target: Path) -> Path:
    """A fresh temp name beside `target`, on the same file system, so that a rename is atomic."""
    return target.with_name(f"{_temp_prefix(target)}-{secrets.token_hex(4)}{TEMP_SUFFIX}")


def sync_dir(folder: Path) -> None:
    """fsync a folder so that a rename inside it survives a crash.

    EINVAL is the one error ignored: some file systems (and Termux's shared storage) cannot fsync a folder.
    """
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    except OSError as error:
        if error.errno != errno.EINVAL:
            raise
    finally:
        os.close(fd)


def atomic_write(target: Path, data: bytes | Iterable[bytes], mode: int = 0o666) -> None:
    """Replace `target` with `data` (bytes, or an iterable of chunks for large files) atomically and durably.

    `mode` is passed to open(2), so the umask applies: 0o666 for ordinary state, 0o600 for secrets.
    """
    target = Path(target)
    temp = temp_path_for(target)
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            for chunk in [data] if isinstance(data, bytes | bytearray) else data:
                handle.write(chunk)
            handle.flush()
            os.fdatasync(handle.fileno())
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    sync_dir(target.parent)


def is_full(error: OSError) -> bool:
    """Whether `error` says the file system (or the user's quota on it) has no room: nobody's fault, it passes."""
    return error.errno in (errno.ENOSPC, errno.EDQUOT)


def remove_temps(target: Path) -> None:
    """Remove the temp files that writes of `target` left when the process was killed mid-write.

    Call it at start, while nothing else writes `target`.
    """
    target = Path(target)
    for temp in target.parent.glob(f"{glob.escape(_temp_prefix(target))}-*{TEMP_SUFFIX}"):
        temp.unlink(missing_ok=True)


def atomic_rename(source: Path, target: Path) -> None:
    """Move a finished file into place (same file system) and make the move durable in both folders."""
    os.replace(source, target)
    sync_dir(Path(target).parent)
    if Path(source).parent != Path(target).parent:
        sync_dir(Path(source).parent)


def fsync_file(path: Path) -> None:
    """Flush a file that another library wrote (a muxed segment) before its checksum is recorded."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
