"""Shared fixtures: the corpus folder beside the project, a settings object for fast engine runs, and a small disk
to fill up."""

import errno
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

from transcoder.job import EngineSettings

CORPUS = Path(__file__).resolve().parent.parent.parent / "shared" / "corpus"


@pytest.fixture(scope="session")
def corpus() -> Path:
    if not CORPUS.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"the corpus is missing at {CORPUS}: CI must have ../shared beside the project")
        pytest.skip(f"no corpus at {CORPUS}")
    return CORPUS


@pytest.fixture
def fast() -> EngineSettings:
    """Short segments (so even a 2 s clip has several) and the fastest x264 preset."""
    return EngineSettings(segment_seconds=0.5, crf=28, preset="ultrafast")


@pytest.fixture(autouse=True)
def no_leaked_threads():
    """A test that leaves a thread running (a watcher, a client loop) fails: the next test would inherit it."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        leaked = [t for t in threading.enumerate() if t not in before and t.is_alive()]
        if not leaked:
            return
        time.sleep(0.05)
    pytest.fail(f"threads left running: {[t.name for t in leaked]}")


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
