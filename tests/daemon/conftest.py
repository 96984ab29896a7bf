"""A real transcoder daemon process on a temporary root (tests.processes), started with fast test settings."""

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
