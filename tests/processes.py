"""The one harness for real daemon processes in the tests: `python daemon.py <daemon> --root ROOT`, its log, its end."""

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.waiting import wait_for

DAEMON = Path(__file__).resolve().parent.parent / "daemon.py"


class DaemonProcess:
    """`daemon.py --log-level LEVEL <daemon> --root ROOT`, started at once, its output appended to `log_path`.

    `env` is added to this process's environment (less NOTIFY_SOCKET, so that a test run under systemd does not
    talk to it); `log()` reads only what this process wrote."""

    def __init__(self, daemon: str, root: Path, log_path: Path, env: dict | None = None, log_level: str = "INFO"):
        self.daemon, self.root, self.log_path = daemon, Path(root), Path(log_path)
        self.log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        environment = {name: value for name, value in os.environ.items() if name != "NOTIFY_SOCKET"}
        environment.update(env or {})
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, str(DAEMON), "--log-level", log_level, daemon, "--root", str(self.root)],
                stdout=log, stderr=subprocess.STDOUT, env=environment)

    def log(self) -> str:
        """This process's part of the log."""
        if not self.log_path.exists():
            return ""
        with self.log_path.open(errors="backslashreplace") as log:
            log.seek(self.log_offset)
            return log.read()

    def wait_ready(self) -> "DaemonProcess":
        """Wait until the daemon has installed its signal handlers and watches its folder (or has ended)."""
        wait_for(lambda: f"{self.daemon}: watching" in self.log() or self.process.poll() is not None, 30,
                 f"the {self.daemon} start")
        return self

    def stop(self, how: int = signal.SIGTERM, timeout_seconds: float = 30.0) -> int:
        """Send `how` once the daemon is ready for it; its exit code."""
        if how != signal.SIGKILL:
            self.wait_ready()
        self.process.send_signal(how)
        return self.process.wait(timeout=timeout_seconds)

    def kill(self) -> None:
        self.stop(signal.SIGKILL)
