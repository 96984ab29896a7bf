"""Probing a file that a person put into the outbox by hand: what it is, its size, duration and thumbnail.

The result is a Sidecar, as the transcoder would have written it. Video (an MP4/MOV file): duration, width and
height from the first video stream and a JPEG thumbnail of its first frame, at most 320 px on each side; other
containers (MKV, WebM, AVI) never stream in Telegram, so they go as documents. Image (a single picture in an image
container): a photo. Anything PyAV cannot open, or without a video stream: a document.
"""

from fractions import Fraction
from pathlib import Path

import av

from uploader.sidecar import MediaKind, Sidecar

THUMBNAIL_MAX_PIXELS = 320
IMAGE_FORMATS = ("image2", "png_pipe", "jpeg_pipe", "webp_pipe", "bmp_pipe", "tiff_pipe")


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
            if formats & set(IMAGE_FORMATS):
                return Sidecar(MediaKind.IMAGE, size_bytes, 0.0, width, height, False, relpath, path.name)
            if "mp4" not in formats:
                return document
            duration_seconds = _duration_seconds(container, stream)
            has_audio = bool(container.streams.audio)
            frame = next(container.decode(stream), None)
            thumbnail = thumbnail_jpeg(frame) if frame is not None else None
    except (av.FFmpegError, UnicodeDecodeError):
        return document
    return Sidecar(MediaKind.VIDEO, size_bytes, duration_seconds, width, height, has_audio, relpath, path.name, thumbnail)


def _duration_seconds(container, stream) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return float(Fraction(container.duration, av.time_base))
    return 0.0


def thumbnail_jpeg(frame: av.VideoFrame) -> bytes:
    """The frame scaled to fit 320×320 (same aspect, even sides) and encoded as a baseline JPEG."""
    scale = min(1.0, THUMBNAIL_MAX_PIXELS / max(frame.width, frame.height))
    width = max(2, int(frame.width * scale) // 2 * 2)
    height = max(2, int(frame.height * scale) // 2 * 2)
    encoder = av.CodecContext.create("mjpeg", "w")
    encoder.width, encoder.height = width, height
    encoder.pix_fmt = "yuvj420p"
    encoder.time_base = Fraction(1, 25)
    packets = encoder.encode(frame.reformat(width=width, height=height, format="yuvj420p"))
    packets += encoder.encode(None)
    return b"".join(bytes(packet) for packet in packets)
