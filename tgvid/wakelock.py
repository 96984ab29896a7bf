"""Termux's wake lock, held while there is work so that Android does not suspend a daemon mid-job.

Termux has one lock for all its processes, so one daemon holds it: the transcoder, while it converts and while
outbox/ holds files the uploader has yet to send.

Where `termux-wake-lock` is not on PATH (any machine but a phone in Termux) this does nothing. The commands
are Termux's own (termux-api); a failure to run them is logged and never stops the daemon.
"""

import logging
import shutil
import subprocess

log = logging.getLogger(__name__)


class WakeLock:
    def __init__(self):
        self.lock, self.unlock = shutil.which("termux-wake-lock"), shutil.which("termux-wake-unlock")
        self.held = False

    @property
    def available(self) -> bool:
        """Whether there is a wake lock here at all (Termux): elsewhere nobody needs to work out when to hold it."""
        return self.lock is not None and self.unlock is not None

    def hold_while(self, busy: bool) -> None:
        """Take the lock when work starts and release it when the daemon falls idle."""
        if not self.available or busy == self.held:
            return
        try:
            subprocess.run([self.lock if busy else self.unlock], timeout=30, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.held = busy
        except (OSError, subprocess.SubprocessError) as error:
            log.warning("termux wake lock: %s", error)
