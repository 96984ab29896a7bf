"""The one harness for real tgvid processes in the tests: `python daemon.py ARGS…`, its log, its end."""

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.waiting import wait_for
from tgvid.errors import CheckpointError
from transcoder import checkpoint

DAEMON = Path(__file__).resolve().parent.parent / "daemon.py"


def run_tgvid(*args, timeout_seconds: float = 120, **kwargs) -> subprocess.CompletedProcess:
    """`daemon.py ARGS…` run to its end, its output captured as text (unless `kwargs` say where it goes)."""
    output = {} if {"stdout", "stderr"} & set(kwargs) else {"capture_output": True}
    return subprocess.run([sys.executable, str(DAEMON), *map(str, args)], text=True, timeout=timeout_seconds,
                          **output, **kwargs)


def segments_done(job_dir: Path) -> int:
    """How many segments a running job's checkpoint shows done; 0 before its first checkpoint is written."""
    try:
        return checkpoint.load(job_dir).segments_done()
    except CheckpointError:
        return 0


class TgvidProcess:
    """`daemon.py ARGS…`, started at once, its output appended to `log_path`.

    `env` is added to this process's environment (less NOTIFY_SOCKET, so that a test run under systemd does not
    talk to it); `own_group` starts it in a process group of its own, as a shell runs a foreground job, so that
    `ctrl_c()` reaches it the way a terminal's Ctrl-C does. `log()` reads only what this process wrote."""

    def __init__(self, *args, log_path: Path, env: dict | None = None, own_group: bool = False):
        self.log_path = Path(log_path)
        self.log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        environment = {name: value for name, value in os.environ.items() if name != "NOTIFY_SOCKET"}
        environment.update(env or {})
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen([sys.executable, str(DAEMON), *map(str, args)], stdout=log,
                                            stderr=subprocess.STDOUT, env=environment, start_new_session=own_group)

    def log(self) -> str:
        """This process's part of the log."""
        if not self.log_path.exists():
            return ""
        with self.log_path.open(errors="backslashreplace") as log:
            log.seek(self.log_offset)
            return log.read()

    def ctrl_c(self, timeout_seconds: float = 30.0) -> int:
        """SIGINT to the whole process group, as a terminal sends Ctrl-C; the exit code."""
        os.killpg(self.process.pid, signal.SIGINT)
        return self.process.wait(timeout=timeout_seconds)


class DaemonProcess(TgvidProcess):
    """`daemon.py --log-level LEVEL <daemon> --root ROOT`, with the start and stop a daemon has."""

    def __init__(self, daemon: str, root: Path, log_path: Path, env: dict | None = None, log_level: str = "INFO",
                 own_group: bool = False):
        self.daemon, self.root = daemon, Path(root)
        super().__init__("--log-level", log_level, daemon, "--root", self.root, log_path=log_path, env=env,
                         own_group=own_group)

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
