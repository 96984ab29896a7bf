"""Shared fixtures: the corpus folder beside the project, and a settings object for fast engine runs."""

import os
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
