"""Shared helpers for the uploader tests: real media made with PyAV, the transcoder's handoff, a real daemon process."""

import asyncio
import io
from pathlib import Path

import av
import pytest
from fake_telegram import FakeTelegram
from telethon_internals import fake_client

from tests.media import video_bytes
from tests.processes import DaemonProcess
from tgvid import durable, sidecar
from tgvid.thumbnail import jpeg_of
from uploader.telegram import TelegramSender


def hand_off(root: Path, relpath: str, data: bytes, kind: str = "document", **fields) -> Path:
    """Put a file into outbox/ as the transcoder does: the sidecar first, then an atomic rename of the media."""
    target = Path(root) / "outbox" / relpath
    target.parent.mkdir(parents=True, exist_ok=True)
    meta = sidecar.Sidecar(sidecar.MediaKind(kind), len(data), source_relpath=relpath, source_name=target.name, **fields)
    sidecar.write(sidecar.path_for(target), meta)
    durable.atomic_write(target, data)
    return target


def hand_off_video(root: Path, relpath: str, **options) -> Path:
    data = video_bytes(**options)
    with av.open(io.BytesIO(data)) as container:
        frame = next(container.decode(video=0))
    return hand_off(root, relpath, data, "video", duration_seconds=options.get("seconds", 1.0),
                    width=frame.width, height=frame.height, has_audio=options.get("audio", True),
                    thumbnail_jpeg=jpeg_of(frame))


@pytest.fixture
def uploader_processes():
    """Start `tgvid uploader` processes (tests.processes) with `(root, env, log_level)`, their log in
    root/../uploader.log; any left running are killed at the end of the test."""
    started = []

    def start(root, env=None, log_level="INFO") -> DaemonProcess:
        fast = {"TGVID_UPLOADER_QUIET_SECONDS": "0.2", "TGVID_UPLOADER_ALBUM_WINDOW_SECONDS": "0.2"}
        process = DaemonProcess("uploader", root, Path(root).parent / "uploader.log", {**fast, **(env or {})},
                                log_level)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.process.poll() is None:
            process.kill()


class Sleeps:
    """An instant asyncio.sleep stand-in that records how long it was asked to sleep."""

    def __init__(self):
        self.seconds = 0.0

    async def __call__(self, seconds):
        self.seconds += seconds


@pytest.fixture
def telegram():
    """A TelegramSender on a real TelegramClient whose network is the fake server: (sender, server, sleeps)."""
    server = FakeTelegram()
    client, _ = fake_client(server)
    sleeps = Sleeps()
    sender = TelegramSender(client, asyncio.new_event_loop(), "me", False, lambda: False, sleep=sleeps)
    sender.start()
    yield sender, server, sleeps
    sender.close()
