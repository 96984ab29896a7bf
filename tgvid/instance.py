"""One daemon of each kind per root: the lock file `ROOT/<daemon>.lock` that proves a daemon is running.

The daemon holds an exclusive flock on it for its whole life; the kernel releases it when the process ends,
even by SIGKILL, so a stale lock file never blocks a restart. `tgvid status` asks whether the lock is held to
tell a running daemon from a stopped one.
"""

import fcntl
import time
from pathlib import Path

from tgvid.errors import ConfigError

HOLD_PATIENCE_SECONDS = 1.0


def lock_path(root: Path, daemon: str) -> Path:
    return root / f"{daemon}.lock"


def hold(root: Path, daemon: str):
    """Lock the root for this daemon until the returned handle closes; ConfigError when another holds it."""
    handle = lock_path(root, daemon).open("a+")
    deadline = time.monotonic() + HOLD_PATIENCE_SECONDS
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return handle
        except BlockingIOError as error:
            if time.monotonic() >= deadline:
                handle.close()
                raise ConfigError(root, f"another {daemon} is already running on this root; stop it first") from error
            time.sleep(0.05)  # `tgvid status` holds the lock shared for an instant while it looks


def is_running(root: Path, daemon: str) -> bool:
    """Whether a daemon of this kind holds the root now (no lock file: it never ran here)."""
    try:
        handle = lock_path(root, daemon).open("r")
    except FileNotFoundError:
        return False
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False
