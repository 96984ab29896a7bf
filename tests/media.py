"""Test media made on the fly with PyAV, for the whole suite: small videos with known content, timing, orientation
and audio, stills, and the same in memory (`video_bytes`, `png_bytes`) for the uploader's tests.

Each picture has a bright marker in the top-left corner of what a viewer should see and a frame counter in
its brightness, so a test can check orientation and frame order after any number of rewrites.
"""

import tempfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

MARKER_PIXELS = 0.25  # the marker covers this fraction of each side, top-left of the shown picture


@dataclass(frozen=True)
class Orientation:
    """A display matrix as PyAV sets it: turn `degrees` counter-clockwise, then mirror."""

    degrees: int = 0
    hflip: bool = False
    vflip: bool = False

    def coded_from_shown(self, shown: np.ndarray) -> np.ndarray:
        """The coded picture a player turns into `shown` (undo the mirror, then the turn)."""
        picture = shown
        if self.vflip:
            picture = picture[::-1]
        if self.hflip:
            picture = picture[:, ::-1]
        return np.ascontiguousarray(np.rot90(picture, k=-self.degrees // 90))


ALL_ORIENTATIONS = tuple(Orientation(d, h, False) for d in (0, 90, 180, 270) for h in (False, True))


def shown_picture(width: int, height: int, index: int) -> np.ndarray:
    """An RGB picture as a viewer should see it: grey ramp, moving bar, bright marker top-left."""
    picture = np.zeros((height, width, 3), np.uint8)
    picture[:] = np.linspace(40, 120, width, dtype=np.uint8)[None, :, None]
    bar = (index * 7) % max(1, width - 8)
    picture[height // 2:, bar:bar + 8] = (30, 200, 60)
    picture[: max(2, int(height * MARKER_PIXELS)), : max(2, int(width * MARKER_PIXELS))] = 250
    return picture


def write_video(path: Path, *, seconds: float = 2.0, fps: int = 25, width: int = 320, height: int = 240,
                codec: str = "libx264", pix_fmt: str = "yuv420p", container: str | None = None,
                gop_frames: int | None = None, bframes: int | None = None,
                orientation: Orientation = Orientation(), frame_times: list[float] | None = None,
                start_seconds: float = 0.0, audio_channels: tuple[int, ...] = (2,), audio_codec: str = "aac",
                audio_rate: int = 48000, audio_start_seconds: float | None = None,
                audio_seconds: float | None = None, options: dict | None = None,
                sample_aspect: Fraction | None = None, grain: int = 0) -> Path:
    """Write a test video. `width`×`height` is the SHOWN size; the coded size is turned by `orientation`.

    `frame_times` (seconds) gives variable frame timing instead of `fps`. `audio_channels` holds one entry per
    audio track (empty: no audio). The timestamps start at `start_seconds` (audio at `audio_start_seconds`).
    `grain` adds that much random noise to each picture (the same on every run): a big video in a few frames.
    """
    # MPEG-4 Part 2 takes at most 65535 ticks a second; MPEG-2 only its standard frame rates.
    time_base = {"mpeg4": Fraction(1, 1000), "mpeg2video": Fraction(1, fps)}.get(codec, Fraction(1, 90000))
    times = frame_times if frame_times is not None else [i / fps for i in range(round(seconds * fps))]
    noise = np.random.default_rng(0)
    with av.open(str(path), "w", format=container, options=options or {}) as output:
        video = output.add_stream(codec, rate=fps)
        coded = orientation.coded_from_shown(shown_picture(width, height, 0))
        video.height, video.width = coded.shape[:2]
        video.pix_fmt = pix_fmt
        video.time_base = time_base
        video.codec_context.time_base = time_base
        if sample_aspect is not None:
            video.codec_context.sample_aspect_ratio = sample_aspect
        encoder_options = {}
        if gop_frames is not None:
            video.codec_context.gop_size = gop_frames
            if codec == "libx264":
                encoder_options["x264-params"] = f"keyint={gop_frames}:min-keyint={gop_frames}:scenecut=0"
        if bframes is not None:
            video.codec_context.max_b_frames = bframes
        if codec == "libx264":
            encoder_options.setdefault("preset", "ultrafast" if bframes is None else "veryfast")
        video.options = encoder_options
        if orientation != Orientation():
            video.set_display_rotation(orientation.degrees, hflip=orientation.hflip, vflip=orientation.vflip)
        audios = []
        for channels in audio_channels:
            audio = output.add_stream(audio_codec, rate=audio_rate)
            audio.layout = {1: "mono", 2: "stereo", 6: "5.1"}[channels]
            audios.append(audio)
        for index, seconds_at in enumerate(times):
            picture = orientation.coded_from_shown(shown_picture(width, height, index))
            if grain:
                picture = np.clip(picture + noise.integers(-grain, grain + 1, picture.shape), 0, 255).astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            frame.pts = round((start_seconds + seconds_at) / time_base)
            frame.time_base = time_base
            output.mux(video.encode(frame))
        output.mux(video.encode(None))
        audio_length = audio_seconds if audio_seconds is not None else (times[-1] + 1 / fps if times else 0)
        audio_start = start_seconds if audio_start_seconds is None else audio_start_seconds
        for audio in audios:
            _write_tone(output, audio, audio_start, audio_length)
    return Path(path)


def _write_tone(output, stream, start_seconds: float, seconds: float) -> None:
    rate = stream.codec_context.sample_rate
    channels = stream.codec_context.channels
    chunk = 1024
    total = round(seconds * rate)
    fmt = stream.codec_context.format.name
    for first in range(0, total, chunk):
        count = min(chunk, total - first)
        t = (np.arange(first, first + count) / rate).astype(np.float32)
        tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        if fmt.startswith("s16"):
            tone = (tone * 32767).astype(np.int16)
        samples = np.tile(tone, (channels, 1)) if fmt.endswith("p") else np.repeat(tone, channels)[None, :]
        frame = av.AudioFrame.from_ndarray(samples, format=fmt, layout=stream.layout.name)
        frame.sample_rate = rate
        frame.pts = round(start_seconds * rate) + first
        frame.time_base = Fraction(1, rate)
        output.mux(stream.encode(frame))
    output.mux(stream.encode(None))


def write_image(path: Path, width: int = 64, height: int = 48) -> Path:
    """A JPEG still, whatever the name says."""
    with av.open(str(path), "w", format="image2", options={"update": "1"}) as output:
        stream = output.add_stream("mjpeg", rate=1)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuvj420p"
        frame = av.VideoFrame.from_ndarray(shown_picture(width, height, 0), format="rgb24").reformat(format="yuvj420p")
        frame.pts = 0
        output.mux(stream.encode(frame))
        output.mux(stream.encode(None))
    return Path(path)


def video_bytes(seconds: float = 1.0, width: int = 64, height: int = 48, audio: bool = True,
                container_format: str = "mp4", fast_start: bool = True) -> bytes:
    """A small H.264 (+ mono AAC) video's bytes, MP4 unless told otherwise; an MP4 has its index first (as the
    transcoder writes it) unless `fast_start` is False."""
    options = {"movflags": "+faststart"} if fast_start and container_format == "mp4" else {}
    with tempfile.TemporaryDirectory() as folder:
        return write_video(Path(folder) / "video", seconds=seconds, width=width, height=height,
                           audio_channels=(1,) if audio else (), container=container_format,
                           options=options).read_bytes()


def png_bytes(width: int = 40, height: int = 30) -> bytes:
    """A PNG still's bytes."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "still.png"
        with av.open(str(path), "w", format="image2", options={"update": "1"}) as output:
            stream = output.add_stream("png", rate=1)
            stream.width, stream.height, stream.pix_fmt = width, height, "rgb24"
            frame = av.VideoFrame.from_ndarray(shown_picture(width, height, 0), format="rgb24")
            frame.pts = 0
            output.mux(stream.encode(frame))
            output.mux(stream.encode(None))
        return path.read_bytes()


# Colour cards: known patches, written as YUV with a chosen matrix and range and tagged (or not) to say so.
CARD_PATCHES = (
    (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0),
    (0, 255, 255), (255, 0, 255), (200, 150, 120), (40, 90, 160),
    (0, 0, 0), (64, 64, 64), (128, 128, 128), (255, 255, 255),
)
CARD_COLUMNS, CARD_ROWS = 4, 3
# Kr and Kb of each YUV matrix (ITU-R BT.601 and BT.709); what a tag names and what the pixels hold.
LUMA_WEIGHTS = {"bt601": (0.299, 0.114), "bt709": (0.2126, 0.0722)}
AV_COLORSPACE = {"bt601": 6, "bt709": 1, None: 2}  # AVColorSpace: SMPTE 170M, BT.709, unspecified
AV_PRIMARIES = {"bt601": 6, "bt709": 1, None: 2}
AV_TRANSFER = {"bt601": 6, "bt709": 1, None: 2}


def card_picture(width: int, height: int, patches=CARD_PATCHES) -> np.ndarray:
    """The RGB card: `patches` in a CARD_COLUMNS × CARD_ROWS grid, row by row."""
    picture = np.zeros((height, width, 3), np.uint8)
    for number, colour in enumerate(patches):
        row, column = divmod(number, CARD_COLUMNS)
        picture[row * height // CARD_ROWS:(row + 1) * height // CARD_ROWS,
                column * width // CARD_COLUMNS:(column + 1) * width // CARD_COLUMNS] = colour
    return picture


def patch_centres(picture: np.ndarray) -> np.ndarray:
    """The mean colour of the middle half of each card patch of `picture` (H×W×C): (patches, C)."""
    height, width = picture.shape[:2]
    means = []
    for number in range(len(CARD_PATCHES)):
        row, column = divmod(number, CARD_COLUMNS)
        top, bottom = row * height // CARD_ROWS, (row + 1) * height // CARD_ROWS
        left, right = column * width // CARD_COLUMNS, (column + 1) * width // CARD_COLUMNS
        quarter_h, quarter_w = (bottom - top) // 4, (right - left) // 4
        means.append(picture[top + quarter_h:bottom - quarter_h, left + quarter_w:right - quarter_w]
                     .reshape(-1, picture.shape[2]).mean(axis=0))
    return np.array(means)


def rgb_to_yuv420(picture: np.ndarray, matrix: str, full_range: bool) -> np.ndarray:
    """8-bit R'G'B' to a yuv420p array (PyAV's layout: Y rows, then U, then V) by the textbook equations."""
    kr, kb = LUMA_WEIGHTS[matrix]
    rgb = picture.astype(np.float64) / 255
    luma = rgb @ np.array([kr, 1 - kr - kb, kb])
    blue_diff = (rgb[..., 2] - luma) / (2 * (1 - kb))
    red_diff = (rgb[..., 0] - luma) / (2 * (1 - kr))
    if full_range:
        planes = 255 * luma, 128 + 255 * blue_diff, 128 + 255 * red_diff
    else:
        planes = 16 + 219 * luma, 128 + 224 * blue_diff, 128 + 224 * red_diff
    y, u, v = (np.clip(np.round(p), 0, 255).astype(np.uint8) for p in planes)
    height, width = y.shape
    u = u.reshape(height // 2, 2, width // 2, 2).mean(axis=(1, 3)).round().astype(np.uint8)
    v = v.reshape(height // 2, 2, width // 2, 2).mean(axis=(1, 3)).round().astype(np.uint8)
    return np.concatenate([y, u.reshape(-1, width), v.reshape(-1, width)])


def write_colour_card(path: Path, *, matrix: str = "bt601", tagged: bool = True, full_range: bool = False,
                      width: int = 320, height: int = 240, frames: int = 3, fps: int = 25,
                      tag_as: str | None = None, codec: str = "libx265", patches=CARD_PATCHES) -> Path:
    """A fast-start MP4 of the colour card, its YUV made with `matrix` and range, tagged so when `tagged` (or
    tagged `tag_as`, whatever the pixels are). HEVC by default, as phones record, so that it is transcoded.
    Full range is written as phones write it: the VUI's full-range flag set. (Nearly) lossless, so that the
    source's own coding does not change the patches being compared.
    """
    tag = tag_as or (matrix if tagged else None)
    yuv = rgb_to_yuv420(card_picture(width, height, patches), matrix, full_range)
    with av.open(str(path), "w", format="mp4", options={"movflags": "faststart"}) as output:
        video = output.add_stream(codec, rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        context = video.codec_context
        context.colorspace, context.color_primaries, context.color_trc = (
            AV_COLORSPACE[tag], AV_PRIMARIES[tag], AV_TRANSFER[tag])
        context.color_range = 2 if full_range else (1 if tagged else 0)
        video.options = {"preset": "ultrafast", "x265-params": "lossless=1:log-level=error"} \
            if codec == "libx265" else {"preset": "ultrafast", "qp": "1"}
        for index in range(frames):
            frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
            frame.colorspace, frame.color_range = context.colorspace, context.color_range
            frame.pts = index
            output.mux(video.encode(frame))
        output.mux(video.encode(None))
    return Path(path)
