"""Probing a file a person put into the outbox by hand: its kind, size, duration, thumbnail, as a sidecar.

The result is a Sidecar, as the transcoder would have written it. Video (an MP4/MOV file): duration, the width and
height a viewer sees (the display matrix's rotation applied: a phone's portrait video is coded sideways) and a JPEG
thumbnail of a representative frame turned the same way (tgvid.thumbnail); other
containers (MKV, WebM, AVI) never stream in Telegram, so they go as documents. Image (a single picture in an image
container): a photo. Anything PyAV cannot open, or without a video stream: a document. `streams_from_start` tells
whether an MP4 has its index (`moov`) before its media (`mdat`), which a video needs to stream in Telegram.

The uploader probes in its probe workers (`probe_in_child`, tgvid.workers): a file that hangs or crashes FFmpeg's
decoders costs a worker, not the uploader, and goes as a document.
"""

import logging
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from tgvid.formats import IMAGE_FORMATS
from tgvid.sidecar import MediaKind, Sidecar
from tgvid.thumbnail import jpeg_of, representative_frame
from tgvid.workers import Workers

log = logging.getLogger(__name__)

PROBE_TIMEOUT_SECONDS = 60.0


class ProbeInterrupted(Exception):
    """The probing child was stopped by SIGTERM or SIGINT, as the uploader is when it stops: no answer, try later."""


def probe_in_child(path: Path, relpath: str, workers: Workers) -> Sidecar:
    """`probe` in one of the uploader's probe workers; a document's sidecar when it does not answer within the
    workers' deadline or crashes its worker. ProbeInterrupted when the worker was stopped by a signal meant for the
    whole uploader."""
    answer = workers.run(probe, path, relpath)
    if isinstance(answer, Sidecar):
        return answer
    if answer.interrupted:
        raise ProbeInterrupted(relpath)
    log.warning("%s: probing %s; it goes as a document", relpath, answer.why)
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
        frame = representative_frame(path)
    except (av.FFmpegError, UnicodeDecodeError):
        return document
    thumbnail = None
    if frame is not None:
        quarter_turns = round((frame.rotation or 0) / 90) % 4  # counter-clockwise, as av_display_rotation_get
        if quarter_turns % 2:
            width, height = height, width
        shown = np.ascontiguousarray(np.rot90(frame.to_ndarray(format="rgb24"), k=quarter_turns))
        thumbnail = jpeg_of(av.VideoFrame.from_ndarray(shown, format="rgb24"))
    return Sidecar(MediaKind.VIDEO, size_bytes, duration_seconds, width, height, has_audio, relpath, path.name, thumbnail)


def streams_from_start(path: Path) -> bool:
    """Whether the MP4 at `path` has its `moov` box before its `mdat` (fast start), read from the top-level box
    headers only; False when it does not or cannot be read as MP4 boxes."""
    with path.open("rb") as handle:
        while header := handle.read(8):
            if len(header) < 8:
                return False
            size, kind = int.from_bytes(header[:4], "big"), header[4:]
            if kind == b"moov":
                return True
            if kind == b"mdat":
                return False
            if size == 1:  # a 64-bit size follows
                size = int.from_bytes(handle.read(8), "big") - 8
            elif size < 8:
                return False  # 0: the box runs to the end of the file
            handle.seek(size - 8, 1)
    return False


def _duration_seconds(container, stream) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return float(Fraction(container.duration, av.time_base))
    return 0.0
