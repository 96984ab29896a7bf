"""A real transcoder daemon process on a temporary root, and ways to wait for what it does."""

import errno
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

    def __init__(self, root: Path, log_dir: Path | None = None, **settings):
        self.root = root
        self.log_path = (log_dir or root) / "transcoder.log"
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

    def start(root: Path | None = None, **settings) -> DaemonProcess:
        """A daemon on `tmp_path`, or on `root` with its log in `tmp_path` (a full `root` cannot take it)."""
        process = DaemonProcess(root or tmp_path, tmp_path if root else None, **settings).start()
        started.append(process)
        return process

    yield start
    for process in started:
        if process.process.poll() is None:
            process.stop()


@pytest.fixture
def small_disk(tmp_path):
    """A file system of 24 MiB (tmpfs) at tmp_path/disk, to fill up; needs root (to mount), skipped otherwise.
    Request it before `daemon`, so that the daemons stop before it is unmounted."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small file system needs root")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(disk)], capture_output=True)
    if mounted.returncode:
        pytest.skip(f"cannot mount a tmpfs: {mounted.stderr.decode(errors='replace').strip()}")
    yield disk
    subprocess.run(["umount", "--lazy", str(disk)], check=True)


def fill(disk: Path) -> Path:
    """Fill `disk` up to the last byte with one file; remove that file to give the space back."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        for size in (1 << 16, 4096, 1):
            try:
                while True:
                    os.write(fd, bytes(size))
            except OSError as error:
                if error.errno != errno.ENOSPC:
                    raise
    finally:
        os.close(fd)
    return filler
