"""Thumbnails: a representative picture of a video as a JPEG Telegram accepts (at most 320 px a side, < 200 KB).

"Representative" means not the black or flat first frame many recordings open with: a few candidate frames
spread over the video are decoded and the one with the most detail (the widest spread of brightness) wins.
"""

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

MAX_SIDE_PIXELS = 320
MAX_BYTES = 200 * 1024
CANDIDATE_POSITIONS = (0.1, 0.3, 0.5)  # fractions of the duration
JPEG_QUALITIES = (3, 6, 10, 16)  # mjpeg qscale, best first; a worse one is tried while the file is too big


def jpeg_of(frame: av.VideoFrame) -> bytes:
    """`frame` scaled to fit MAX_SIDE_PIXELS (same aspect, even sides) as a baseline JPEG under MAX_BYTES."""
    scale = min(1.0, MAX_SIDE_PIXELS / max(frame.width, frame.height))
    width = max(2, int(frame.width * scale) // 2 * 2)
    height = max(2, int(frame.height * scale) // 2 * 2)
    small = frame.reformat(width=width, height=height, format="yuvj420p")
    for quality in JPEG_QUALITIES:
        encoder = av.CodecContext.create("mjpeg", "w")
        encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuvj420p"
        encoder.time_base = Fraction(1, 25)
        encoder.qmin = encoder.qmax = quality
        encoded = b"".join(bytes(p) for p in encoder.encode(small) + encoder.encode(None))
        if len(encoded) < MAX_BYTES:
            return encoded
    return encoded


def _detail(frame: av.VideoFrame) -> float:
    luma = frame.to_ndarray(format="gray")
    return float(np.std(luma))


def representative_frame(path: Path) -> av.VideoFrame | None:
    """The most detailed of a few frames spread over the video (the first frame for a single picture)."""
    best, best_detail = None, -1.0
    with av.open(str(path)) as container:
        if not container.streams.video:
            return None
        stream = container.streams.video[0]
        duration = float(container.duration / av.time_base) if container.duration else 0.0
        for position in CANDIDATE_POSITIONS if duration > 0 else (0.0,):
            target_seconds = position * duration
            if position:
                container.seek(int(target_seconds * av.time_base), backward=True)
            try:
                frame = _first_frame_from(container, stream, target_seconds)
            except av.FFmpegError:
                continue
            if frame is not None and _detail(frame) > best_detail:
                best, best_detail = frame, _detail(frame)
    return best


def _first_frame_from(container, stream, target_seconds: float) -> av.VideoFrame | None:
    """The first frame at or after `target_seconds`: a seek lands on the keyframe before it."""
    frame = None
    for frame in container.decode(stream):
        if frame.time is None or frame.time >= target_seconds:
            return frame
    return frame


def thumbnail_of(path: Path) -> bytes | None:
    """A JPEG thumbnail of the video or picture at `path`, or None when no frame decodes."""
    frame = representative_frame(path)
    return jpeg_of(frame) if frame is not None else None
