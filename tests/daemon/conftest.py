"""A real transcoder daemon process on a temporary root (tests.processes), started with fast test settings."""

import errno
import os
import subprocess
from pathlib import Path

import pytest

from tests.processes import DaemonProcess


@pytest.fixture
def daemon(tmp_path):
    """Start `tgvid transcoder` on tmp_path (log in tmp_path/transcoder.log), settings as keyword arguments; any
    left running are stopped at the end of the test."""
    started = []

    def start(root: Path | None = None, **settings) -> DaemonProcess:
        """A daemon on `tmp_path`, or on `root` with its log in `tmp_path` (a full `root` cannot take it)."""
        env = {"TGVID_TRANSCODER_QUIET_SECONDS": "0.5", "TGVID_TRANSCODER_PRESET": "ultrafast",
               "TGVID_TRANSCODER_RETRY_BACKOFF_SECONDS": "0.5",
               **{f"TGVID_TRANSCODER_{k.upper()}": str(v) for k, v in settings.items()}}
        process = DaemonProcess("transcoder", root or tmp_path, tmp_path / "transcoder.log", env)
        started.append(process)
        return process.wait_ready()

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
