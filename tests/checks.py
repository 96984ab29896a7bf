"""What a viewer would notice, read off a file with PyAV: independent of the code under test.

`facts(path)` decodes the whole file; `assert_streamable` checks Telegram's needs (TELEGRAM.md), and
`assert_faithful` compares an output with its source: orientation, duration, frame count, audio sync.
"""

import struct
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from tests.media import MARKER_PIXELS


@dataclass(frozen=True)
class Facts:
    format_name: str
    video_codec: str | None
    pix_fmt: str | None
    profile: str | None
    width: int
    height: int
    has_display_matrix: bool
    frames: int
    video_start: float | None
    video_end: float | None  # last frame's time plus the typical step
    audio_streams: int
    audio_codec: str | None
    audio_channels: int
    audio_rate: int
    audio_start: float | None
    audio_end: float | None
    decode_errors: int
    top_level_boxes: tuple[str, ...]
    first_picture: np.ndarray | None  # RGB of the first frame, as coded (tests check the marker on it)


def boxes(path: Path) -> tuple[str, ...]:
    found = []
    with open(path, "rb") as handle:
        while True:
            header = handle.read(8)
            if len(header) < 8:
                break
            size, kind = struct.unpack(">I4s", header)
            found.append(kind.decode("latin-1"))
            if size == 1:
                size = struct.unpack(">Q", handle.read(8))[0] - 8
            elif size == 0:
                break
            handle.seek(size - 8, 1)
    return tuple(found)


def facts(path: Path) -> Facts:
    path = Path(path)
    with av.open(str(path)) as container:
        video = container.streams.video[0] if container.streams.video else None
        audio = container.streams.audio[0] if container.streams.audio else None
        times, errors, first, matrix = [], 0, None, False
        audio_spans = []
        streams = [s for s in (video, audio) if s is not None]
        for packet in container.demux(streams):
            if packet.stream is audio:
                if packet.size and packet.pts is not None and not packet.is_discard:
                    start = float(packet.pts * packet.time_base)
                    audio_spans.append((start, start + float((packet.duration or 0) * packet.time_base)))
                continue
            try:
                decoded = packet.decode()
            except av.FFmpegError:
                errors += 1
                continue
            for frame in decoded:
                errors += int(frame.is_corrupt)
                # A raw elementary stream has no timestamps: players assume 25 frames a second.
                times.append(float(frame.pts * video.time_base) if frame.pts is not None else len(times) / 25)
                if first is None:
                    first = frame.to_ndarray(format="rgb24")
                    matrix = frame.rotation != 0
        times.sort()
        gaps = sorted(b - a for a, b in zip(times, times[1:], strict=False) if b > a)
        step = gaps[len(gaps) // 2] if gaps else 0.0
        context = video.codec_context if video else None
        return Facts(
            format_name=container.format.name,
            video_codec=context.name if context else None,
            pix_fmt=context.format.name if context and context.format else None,
            profile=context.profile if context else None,
            width=context.width if context else 0,
            height=context.height if context else 0,
            has_display_matrix=matrix,
            frames=len(times),
            video_start=times[0] if times else None,
            video_end=times[-1] + step if times else None,
            audio_streams=len(container.streams.audio),
            audio_codec=audio.codec_context.name if audio else None,
            audio_channels=audio.codec_context.channels if audio else 0,
            audio_rate=audio.codec_context.sample_rate if audio else 0,
            audio_start=min(s for s, _ in audio_spans) if audio_spans else None,
            audio_end=max(e for _, e in audio_spans) if audio_spans else None,
            decode_errors=errors,
            top_level_boxes=boxes(path) if container.format.name.startswith("mov") else (),
            first_picture=first,
        )


def assert_streamable(output: Facts) -> None:
    """Telegram plays and streams it: fast-start MP4, H.264 8-bit 4:2:0, even size, AAC/MP3 or no audio."""
    assert output.format_name.startswith("mov"), output.format_name
    assert output.top_level_boxes.index("moov") < output.top_level_boxes.index("mdat"), output.top_level_boxes
    assert output.video_codec == "h264"
    assert output.pix_fmt in ("yuv420p", "yuvj420p")
    assert output.profile in ("Baseline", "Constrained Baseline", "Main", "High")
    assert output.width % 2 == 0 and output.height % 2 == 0
    assert not output.has_display_matrix, "the turn must be in the pixels, not in a display matrix"
    assert output.audio_streams <= 1
    assert output.audio_codec in (None, "aac", "mp3", "mp3float")
    assert output.decode_errors == 0
    assert output.frames > 0


def assert_marker_top_left(output: Facts) -> None:
    """The bright marker of tests.media pictures is where a viewer expects it: top-left."""
    picture = output.first_picture
    height, width = picture.shape[:2]
    corner = picture[: int(height * MARKER_PIXELS * 0.8), : int(width * MARKER_PIXELS * 0.8)].mean()
    others = [picture[:int(height * 0.2), -int(width * 0.2):].mean(), picture[-int(height * 0.2):, :int(width * 0.2)].mean()]
    assert corner > 200 and max(others) < 180, f"marker not top-left (corner {corner:.0f}, others {others})"


def assert_faithful(source: Facts, output: Facts, *, frames_tolerance: int = 0) -> None:
    """Same duration, frame count and audio/video sync as the source."""
    assert_streamable(output)
    step = (source.video_end - source.video_start) / max(1, source.frames)
    source_seconds = source.video_end - source.video_start
    output_seconds = output.video_end - output.video_start
    assert abs(output_seconds - source_seconds) <= 2 * step + 0.01, (source_seconds, output_seconds)
    assert abs(output.frames - source.frames) <= frames_tolerance, (source.frames, output.frames)
    if source.audio_start is not None:
        assert output.audio_start is not None, "audio dropped"
        source_offset = source.video_start - source.audio_start
        output_offset = output.video_start - output.audio_start
        # An AAC encoder's priming frame (1024 samples) may show as audio before the first real sample: it
        # decodes to silence and leaves the sync of the real samples as it was.
        priming_seconds = 1024 / output.audio_rate
        assert abs(output_offset - source_offset) < max(0.05, priming_seconds + 0.01), (
            "a/v start offset", source_offset, output_offset)
        source_tail = source.audio_end - source.video_end
        output_tail = output.audio_end - output.video_end
        # Likewise the last AAC frame is padded to 1024 samples.
        assert abs(output_tail - source_tail) < max(0.1, 1.5 * priming_seconds), (
            "a/v end offset", source_tail, output_tail)


# Kr and Kb of the matrices players know (ITU-T H.273): AVColorSpace → weights.
PLAYER_LUMA_WEIGHTS = {1: (0.2126, 0.0722), 5: (0.299, 0.114), 6: (0.299, 0.114)}
BT709_TO_XYZ = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
D65_WHITE = BT709_TO_XYZ.sum(axis=1)


def shown_rgb(frame: av.VideoFrame) -> np.ndarray:
    """R'G'B' (0–255 floats) of an 8-bit 4:2:0 frame as a player shows it: by its tags, else by mpv's rule (BT.709
    for pictures 1280 wide or more or taller than 576 lines, else BT.601; limited range unless stated full)."""
    assert frame.format.name in ("yuv420p", "yuvj420p"), frame.format.name
    luma, blue, red = (np.frombuffer(p, np.uint8).reshape(p.height, p.line_size)[:, :p.width].astype(float)
                       for p in frame.planes)
    blue, red = (np.repeat(np.repeat(c, 2, axis=0), 2, axis=1)[:luma.shape[0], :luma.shape[1]] for c in (blue, red))
    hd = frame.width >= 1280 or frame.height > 576
    kr, kb = PLAYER_LUMA_WEIGHTS.get(int(frame.colorspace), PLAYER_LUMA_WEIGHTS[1 if hd else 6])
    if int(frame.color_range) == 2 or frame.format.name == "yuvj420p":
        luma, blue, red = luma / 255, (blue - 128) / 255, (red - 128) / 255
    else:
        luma, blue, red = (luma - 16) / 219, (blue - 128) / 224, (red - 128) / 224
    r, b = luma + 2 * (1 - kr) * red, luma + 2 * (1 - kb) * blue
    g = (luma - kr * r - kb * b) / (1 - kr - kb)
    return 255 * np.clip(np.stack([r, g, b], axis=-1), 0, 1)


def delta_e(rgb_a: np.ndarray, rgb_b: np.ndarray) -> np.ndarray:
    """CIE 1976 ΔE between R'G'B' colours (..., 3), 0–255, read as BT.709 primaries with the sRGB curve."""
    def lab(rgb):
        encoded = np.asarray(rgb, float) / 255
        linear = np.where(encoded <= 0.04045, encoded / 12.92, ((encoded + 0.055) / 1.055) ** 2.4)
        xyz = linear @ BT709_TO_XYZ.T / D65_WHITE
        f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
        return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], -1)
    return np.linalg.norm(lab(rgb_a) - lab(rgb_b), axis=-1)


def grid_means(rgb: np.ndarray, cells: int = 8) -> np.ndarray:
    """The mean colour of each cell of a cells × cells grid over `rgb` (height, width, 3)."""
    rows = np.array_split(np.arange(rgb.shape[0]), cells)
    columns = np.array_split(np.arange(rgb.shape[1]), cells)
    return np.array([[rgb[r[0]:r[-1] + 1, c[0]:c[-1] + 1].reshape(-1, 3).mean(axis=0) for c in columns]
                     for r in rows])
