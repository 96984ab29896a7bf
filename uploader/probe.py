"""Probing a file a person put into the outbox by hand: its kind, size, duration, thumbnail, as a sidecar.

The result is a Sidecar, as the transcoder would have written it. Video (an MP4/MOV file): duration, width and
height from the first video stream and a JPEG thumbnail of a representative frame (tgvid.thumbnail); other
containers (MKV, WebM, AVI) never stream in Telegram, so they go as documents. Image (a single picture in an image
container): a photo. Anything PyAV cannot open, or without a video stream: a document.

The uploader probes in a child process (`probe_in_child`): a file that hangs or crashes FFmpeg's decoders costs
that child, not the uploader, and goes as a document.
"""

import logging
import signal
from fractions import Fraction
from pathlib import Path

import av

from tgvid.child import Child
from tgvid.formats import IMAGE_FORMATS
from tgvid.sidecar import MediaKind, Sidecar
from tgvid.thumbnail import thumbnail_of

log = logging.getLogger(__name__)

PROBE_TIMEOUT_SECONDS = 60.0


class ProbeInterrupted(Exception):
    """The probing child was stopped by SIGTERM or SIGINT, as the uploader is when it stops: no answer, try later."""


def probe_in_child(path: Path, relpath: str, timeout_seconds: float = PROBE_TIMEOUT_SECONDS) -> Sidecar:
    """`probe` in a process of its own; a document's sidecar when it does not answer within `timeout_seconds` or
    crashes. ProbeInterrupted when it was stopped by a signal meant for the whole uploader."""
    child = Child(probe, path, relpath, deadline_seconds=timeout_seconds)
    try:
        answer = child.wait()
        if answer is not None:
            return answer
        if child.is_alive():
            why = "did not finish in time"
        elif child.exitcode in (-signal.SIGTERM, -signal.SIGINT):
            raise ProbeInterrupted(relpath)
        else:
            why = f"ended with exit code {child.exitcode}"
    finally:
        child.stop()
    log.warning("%s: probing %s; it goes as a document", relpath, why)
    return Sidecar(MediaKind.DOCUMENT, path.stat().st_size, source_relpath=relpath, source_name=path.name)


def probe(path: Path, relpath: str) -> Sidecar:
    size_bytes = path.stat().st_size
    document = Sidecar(MediaKind.DOCUMENT, size_bytes, source_relpath=relpath, source_name=path.name)
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                return document
            stream = container.streams.video[0]
            width, height = stream.codec_context.width, stream.codec_context.height
            formats = set(container.format.name.split(","))
            if formats & IMAGE_FORMATS:
                return Sidecar(MediaKind.IMAGE, size_bytes, 0.0, width, height, False, relpath, path.name)
            if "mp4" not in formats:
                return document
            duration_seconds = _duration_seconds(container, stream)
            has_audio = bool(container.streams.audio)
        thumbnail = thumbnail_of(path)
    except (av.FFmpegError, UnicodeDecodeError):
        return document
    return Sidecar(MediaKind.VIDEO, size_bytes, duration_seconds, width, height, has_audio, relpath, path.name, thumbnail)


def _duration_seconds(container, stream) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return float(Fraction(container.duration, av.time_base))
    return 0.0
