"""Shared helpers for the uploader tests: real media made with PyAV, the transcoder's handoff, a real daemon process."""

import asyncio
import io
import os
import signal
import subprocess
import sys
import tempfile
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from fake_telegram import FakeTelegram
from telethon_internals import fake_client

from tests.waiting import wait_for
from tgvid import durable, sidecar
from tgvid.thumbnail import jpeg_of
from uploader.telegram import TelegramSender

DAEMON = Path(__file__).parent.parent.parent / "daemon.py"


def video_bytes(seconds: float = 1.0, width: int = 64, height: int = 48, audio: bool = True,
                container_format: str = "mp4", fast_start: bool = True) -> bytes:
    """A small H.264 (+ AAC) video, MP4 unless told otherwise, frames drawn with numpy; an MP4 has its index first
    (as the transcoder writes it) unless `fast_start` is False. Written to a file: fast start rewrites it."""
    options = {"movflags": "+faststart"} if fast_start and container_format == "mp4" else {}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "video"
        _write_video(path, seconds, width, height, audio, container_format, options)
        return path.read_bytes()


def _write_video(path: Path, seconds: float, width: int, height: int, audio: bool, container_format: str,
                 options: dict) -> None:
    with av.open(str(path), "w", format=container_format, options=options) as container:
        video = container.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        sound = container.add_stream("aac", rate=48000) if audio else None
        for index in range(int(seconds * 25)):
            pixels = np.full((height, width, 3), index * 8 % 256, dtype=np.uint8)
            container.mux(video.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")))
        container.mux(video.encode(None))
        if sound is not None:
            samples_per_frame = 1024
            for index in range(int(seconds * 48000 / samples_per_frame)):
                frame = av.AudioFrame.from_ndarray(np.zeros((1, samples_per_frame), dtype=np.float32), format="fltp",
                                                   layout="mono")
                frame.sample_rate, frame.pts, frame.time_base = 48000, index * samples_per_frame, Fraction(1, 48000)
                container.mux(sound.encode(frame))
            container.mux(sound.encode(None))


def png_bytes(width: int = 40, height: int = 30) -> bytes:
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="image2pipe") as container:
        stream = container.add_stream("png", rate=1)
        stream.width, stream.height, stream.pix_fmt = width, height, "rgb24"
        frame = av.VideoFrame.from_ndarray(np.zeros((height, width, 3), dtype=np.uint8), format="rgb24")
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return buffer.getvalue()


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


class UploaderProcess:
    """`python daemon.py uploader --root ROOT` as a real process, its log appended to ROOT/../uploader.log."""

    def __init__(self, root: Path, env: dict | None = None, log_level: str = "INFO"):
        self.root = Path(root)
        self.log_path = self.root.parent / "uploader.log"
        self.log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        environment = {name: value for name, value in os.environ.items() if name != "NOTIFY_SOCKET"}
        environment.update({"TGVID_UPLOADER_QUIET_SECONDS": "0.2", "TGVID_UPLOADER_ALBUM_WINDOW_SECONDS": "0.2"})
        environment.update(env or {})
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, str(DAEMON), "--log-level", log_level, "uploader", "--root", str(root)],
                stdout=log, stderr=subprocess.STDOUT, env=environment)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def wait_ready(self) -> None:
        """Wait until the daemon has installed its signal handlers and is watching the outbox."""
        wait_for(lambda: "uploader: watching" in self.log() or self.process.poll() is not None, what="daemon start")

    def stop(self, timeout_seconds: float = 10.0) -> int:
        self.wait_ready()
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout_seconds)

    def log(self) -> str:
        """This process's part of the log."""
        with self.log_path.open() as log:
            log.seek(self.log_offset)
            return log.read()


@pytest.fixture
def uploader_processes():
    """Start UploaderProcess(root, env) objects; any left running are killed at the end of the test."""
    started = []

    def start(root, env=None, log_level="INFO"):
        process = UploaderProcess(root, env, log_level)
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
