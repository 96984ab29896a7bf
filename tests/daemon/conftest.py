"""A real transcoder daemon process on a temporary root, and ways to wait for what it does."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.waiting import wait_for

DAEMON = Path(__file__).resolve().parents[2] / "daemon.py"


class DaemonProcess:
    """`tgvid transcoder` on `root`, its log in `root/transcoder.log`."""

    def __init__(self, root: Path, **settings):
        self.root = root
        self.log_path = root / "transcoder.log"
        self.env = {**os.environ, "TGVID_TRANSCODER_QUIET_SECONDS": "0.5", "TGVID_TRANSCODER_PRESET": "ultrafast",
                    "TGVID_TRANSCODER_RETRY_BACKOFF_SECONDS": "0.5",
                    **{f"TGVID_TRANSCODER_{k.upper()}": str(v) for k, v in settings.items()}}
        self.process = None

    def start(self) -> "DaemonProcess":
        self.log_file = open(self.log_path, "a")  # noqa: SIM115 - lives as long as the process
        self.process = subprocess.Popen([sys.executable, str(DAEMON), "transcoder", "--root", str(self.root)],
                                        stdout=self.log_file, stderr=subprocess.STDOUT, env=self.env)
        wait_for(lambda: "watching" in self.log(), 30, "the daemon start")
        return self

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def stop(self, how: int = signal.SIGTERM) -> int:
        self.process.send_signal(how)
        code = self.process.wait(timeout=30)
        self.log_file.close()
        return code


@pytest.fixture
def daemon(tmp_path):
    started = []

    def start(**settings) -> DaemonProcess:
        process = DaemonProcess(tmp_path, **settings).start()
        started.append(process)
        return process

    yield start
    for process in started:
        if process.process.poll() is None:
            process.stop()
