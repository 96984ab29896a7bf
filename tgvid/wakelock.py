"""Termux's wake lock, held while either daemon has work so that Android suspends neither mid-job.

Termux has one lock for all its processes: either daemon's `termux-wake-unlock` would release the other's. So each
daemon says whether it has work by a file both can see, `ROOT/<daemon>.busy` (present while busy), and takes or
releases the lock only under an flock on `ROOT/wakelock.lock`: it releases it only when no running daemon (one that
holds its tgvid.instance lock) is busy. A daemon killed while busy leaves its file behind; since it no longer runs,
the file keeps nothing held, and the lock goes at the other daemon's next change (or at its own restart's).

Where `termux-wake-lock` is not on PATH (any machine but a phone in Termux) this does nothing. The commands
are Termux's own (termux-api); a failure to run them is logged and never stops the daemon.
"""

import fcntl
import logging
import shutil
import subprocess
from pathlib import Path

from tgvid import instance

log = logging.getLogger(__name__)

DAEMONS = ("transcoder", "uploader")


def busy_path(root: Path, daemon: str) -> Path:
    return Path(root) / f"{daemon}.busy"


class WakeLock:
    """`daemon`'s share of Termux's wake lock on `root`."""

    def __init__(self, root: Path, daemon: str):
        self.root, self.daemon = Path(root), daemon
        self.lock, self.unlock = shutil.which("termux-wake-lock"), shutil.which("termux-wake-unlock")
        self.busy = False

    @property
    def available(self) -> bool:
        """Whether there is a wake lock here at all (Termux): elsewhere nobody needs to work out when to hold it."""
        return self.lock is not None and self.unlock is not None

    def hold_while(self, busy: bool) -> None:
        """Take the lock when this daemon's work starts; release it when neither daemon has work left."""
        if not self.available or busy == self.busy:
            return
        try:
            with (self.root / "wakelock.lock").open("a") as guard:
                fcntl.flock(guard, fcntl.LOCK_EX)
                own = busy_path(self.root, self.daemon)
                if busy:
                    own.touch()
                else:
                    own.unlink(missing_ok=True)
                others_busy = any(busy_path(self.root, other).exists() and instance.is_running(self.root, other)
                                  for other in DAEMONS if other != self.daemon)
                if busy or not others_busy:
                    subprocess.run([self.lock if busy else self.unlock], timeout=30, check=True,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.busy = busy
        except (OSError, subprocess.SubprocessError) as error:
            log.warning("termux wake lock: %s", error)
