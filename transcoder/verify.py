"""Verification: the check of a joined output before it is handed on, with a reason when it fails.

The output must open, be a fast-start MP4 with one H.264 8-bit 4:2:0 video stream and the expected audio
(AAC or MP3, or none), decode from end to end without an error, hold the expected number of frames, last
as long as the source's video (within two frames), and end its audio where the source's audio ends
relative to the video. A re-encoded video must also show the source's colours: its first frames as a player
shows them (by the output's own tags), against the source's first frames as a player shows them (by the source's
tags or what players assume, turned as the output is, tone-mapped as the transcoder tone-maps HDR), compared as
the mean R'G'B' of each cell of a coarse grid (which ignores scaling), over several frames (which ignores
motion). It fails when they are far apart, or when reading the output with another matrix or range than its tags
say would bring it closer to the source: the sign of a wrong colour matrix, range or tag.

Segments are decoded where they are encoded (`transcoder.segment.verify_segment`, in the segment pool's
workers), so a re-encoded output is by default checked by its packets alone (`Mode.PACKETS`): their count, rising
decode timestamps, distinct presentation timestamps and positive durations, one set of parameter sets, a keyframe
first, and the spans; only the frames the colour check needs are decoded. `Mode.FULL` (transcoder.verify = "full")
decodes the whole file as well. A copied video is always decoded whole, since only decoding finds a damaged source.
"""

from collections import deque
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path

import av
import numpy as np

from tgvid.errors import VerifyFailed
from transcoder import colour, heartbeat, shown, tonemap
from transcoder.colour import Colour
from transcoder.picture import Filter
from transcoder.probe import mp4_top_level_boxes
from transcoder.segment import checked_seconds, decoded_frames
from transcoder.timeline import Timeline

# Audio and video ends may move by this much against the source's (an AAC frame is 21 ms at 48 kHz,
# 128 ms at 8 kHz; encoder priming and the last partial frame account for the rest).
END_SYNC_TOLERANCE_SECONDS = 0.25
# The colour check averages this many frames at the start of each (one frame more or less at the start, as
# with sources whose first frames do not decode, barely moves the mean), on a grid of this many cells a side.
# Encoding moves the cells' means by up to about 2.5 levels (of 255) in tiny or noisy sources, while a wrong
# matrix moves them by anything from under one level (pale pictures) to tens (saturated ones). So the output
# fails when it is far off, or when reading it with another matrix or range than its tags say brings it closer
# to the source by more than a margin: noise moves every reading alike, a wrong matrix does not. On the corpus,
# right outputs come within 0.05 levels of their closest other reading; BT.601 pixels tagged BT.709, 0.3 to 4.
COLOUR_FRAMES = 8
COLOUR_GRID = 8
COLOUR_TOLERANCE_LEVELS = 4.0
COLOUR_MARGIN_LEVELS = 0.25
MISLABELLINGS = (colour.BT709, colour.BT601_MATRIX)
# A presentation timestamp shown twice in a joined stream shows near its twin (at a seam, within x264's reorder
# depth): the packet check remembers this many, so its memory does not grow with the file.
RECENT_PTS = 64


class Mode(StrEnum):
    PACKETS = "packets"
    FULL = "full"


@dataclass(frozen=True)
class ColourSource:
    """The source whose colours a re-encoded output must show."""

    path: Path
    video_position: int  # among the source's video streams
    colour: Colour  # what its decoded values mean (transcoder.colour.of_source)
    turn: tuple[Filter, ...] = ()  # the orientation filters the transcoder applied (transcoder.picture)


@dataclass(frozen=True)
class Expectation:
    video_seconds: float  # the source video's span, first frame to the end of the last
    frames: int | None  # None when not known in advance (a remux copies whatever decodes)
    has_audio: bool
    audio_end_minus_video_end: float | None  # seconds, in the source; None without audio
    colour_source: ColourSource | None = None  # None: the video was copied, its colours are the source's


@dataclass(frozen=True)
class OutputFacts:
    """What the uploader's sidecar needs, read off the verified file."""

    duration_seconds: float
    width: int
    height: int
    has_audio: bool
    frames: int


def verify(path: Path, expect: Expectation, mode: Mode = Mode.FULL) -> OutputFacts:
    """Check `path` against `expect`. Raises VerifyFailed naming the first problem found. A copied video
    (`expect.colour_source` None) is decoded whole whatever `mode` says."""
    boxes = mp4_top_level_boxes(path)
    if "moov" not in boxes or "mdat" not in boxes or boxes.index("moov") > boxes.index("mdat"):
        raise VerifyFailed(path, f"moov is not before mdat (top-level boxes {boxes[:6]})")
    decode_all = mode == Mode.FULL or expect.colour_source is None
    with av.open(str(path)) as container:
        videos, audios = container.streams.video, container.streams.audio
        if len(videos) != 1:
            raise VerifyFailed(path, f"{len(videos)} video streams, expected 1")
        video = videos[0]
        video.thread_type = "AUTO"
        if video.codec_context.name != "h264" or video.codec_context.format.name not in ("yuv420p", "yuvj420p"):
            raise VerifyFailed(path, f"video is {video.codec_context.name} {video.codec_context.format.name}, "
                                     "expected H.264 yuv420p")
        if len(audios) != int(expect.has_audio):
            raise VerifyFailed(path, f"{len(audios)} audio streams, expected {int(expect.has_audio)}")
        if audios and audios[0].codec_context.name not in ("aac", "mp3", "mp3float"):
            raise VerifyFailed(path, f"audio codec {audios[0].codec_context.name}, expected AAC or MP3")
        frames, sound = Timeline(), Timeline()
        readings = {}  # how the first COLOUR_FRAMES frames look read by their tags, and read as mislabelled
        packets = _PacketCheck(path)
        try:
            for packet in container.demux(*videos, *audios):
                heartbeat.beat()
                if packet.size == 0:
                    continue
                if packet.stream.type == "audio":
                    start = float(packet.pts * packet.time_base)
                    sound.add(start, start + float(packet.duration * packet.time_base))
                    continue
                if not decode_all:
                    frames.add(packets.checked_seconds(packet))
                    if len(next(iter(readings.values()), ())) >= COLOUR_FRAMES:
                        continue
                for frame in packet.decode():
                    seconds = checked_seconds(frame, video, path)
                    if decode_all:
                        frames.add(seconds)
                    _sample_readings(frame, readings)
            if decode_all:
                for frame in video.decode(None):
                    frames.add(checked_seconds(frame, video, path))
                    _sample_readings(frame, readings)
        except av.FFmpegError as error:
            raise VerifyFailed(path, f"does not decode cleanly: {error}") from error
        width, height = video.codec_context.width, video.codec_context.height
    if not frames.count:
        raise VerifyFailed(path, "no video frame decodes")
    if expect.frames is not None and frames.count != expect.frames:
        raise VerifyFailed(path, f"{frames.count} frames, expected {expect.frames}")
    step = frames.step()
    video_span = frames.span(last_lasts_a_step=True)
    seconds = video_span[1] - video_span[0]
    if abs(seconds - expect.video_seconds) > max(2 * step, 0.05):
        raise VerifyFailed(path, f"video lasts {seconds:.3f} s, the source's {expect.video_seconds:.3f} s")
    if expect.colour_source is not None:
        _check_colours(path, readings, expect.colour_source)
    audio_span = sound.span(last_lasts_a_step=False) if sound.count else None
    if expect.audio_end_minus_video_end is not None and audio_span is not None:
        gap = audio_span[1] - video_span[1]
        if abs(gap - expect.audio_end_minus_video_end) > END_SYNC_TOLERANCE_SECONDS:
            raise VerifyFailed(path, f"audio ends {gap:+.3f} s from the video's end; in the source "
                                     f"{expect.audio_end_minus_video_end:+.3f} s")
    duration = max(video_span[1], audio_span[1] if audio_span else 0.0) - min(
        video_span[0], audio_span[0] if audio_span else video_span[0])
    return OutputFacts(duration, width, height, bool(sound.count), frames.count)


class _PacketCheck:
    """What the packets of a joined H.264 stream must show without decoding: a keyframe first, rising decode
    timestamps, no presentation timestamp twice, positive durations, no parameter sets in band (the segments'
    are one set, in the stream's header)."""

    def __init__(self, path: Path):
        self.path, self.count, self.last_dts = path, 0, None
        self.recent_pts = deque(maxlen=RECENT_PTS)

    def checked_seconds(self, packet) -> float:
        """The packet's presentation time in seconds; VerifyFailed when it breaks one of the rules above."""
        at = f"video packet {self.count + 1}"
        if packet.pts is None or packet.dts is None:
            raise VerifyFailed(self.path, f"{at} has no timestamp")
        if self.count == 0 and not packet.is_keyframe:
            raise VerifyFailed(self.path, "the video does not start with a keyframe")
        if self.last_dts is not None and packet.dts <= self.last_dts:
            raise VerifyFailed(self.path, f"{at}: decode timestamps do not rise ({self.last_dts}, then {packet.dts})")
        if packet.pts in self.recent_pts:
            raise VerifyFailed(self.path, f"{at}: presentation timestamp {packet.pts} shown twice")
        if not packet.duration or packet.duration <= 0:
            raise VerifyFailed(self.path, f"{at} has no duration")
        if packet.is_keyframe and _has_parameter_sets(bytes(packet)):
            raise VerifyFailed(self.path, f"{at} carries parameter sets of its own (segments of two encoders?)")
        self.count, self.last_dts = self.count + 1, packet.dts
        self.recent_pts.append(packet.pts)
        return float(packet.pts * packet.time_base)


def _has_parameter_sets(avcc_packet: bytes) -> bool:
    """Whether an MP4 (length-prefixed) H.264 packet holds an SPS (type 7) or PPS (type 8) NAL unit."""
    position = 0
    while position + 4 < len(avcc_packet):
        length = int.from_bytes(avcc_packet[position:position + 4], "big")
        if avcc_packet[position + 4] & 0x1F in (7, 8):
            return True
        position += 4 + length
    return False


def _sample_readings(frame, readings: dict) -> None:
    """Add `frame`'s cell means as its tags say to show it (the first key) and as each other matrix (BT.709,
    BT.601) and range would show it."""
    tagged = colour.of_frame(frame)
    if len(readings.get(tagged, ())) >= COLOUR_FRAMES:
        return
    meanings = list(dict.fromkeys([tagged, *(replace(tagged, matrix=matrix, full_range=full_range)
                                             for matrix in MISLABELLINGS for full_range in (False, True))]))
    for meaning, rgb in zip(meanings, shown.shown_rgbs(frame, meanings), strict=True):
        _add_cell_means(rgb, meaning, (), readings.setdefault(meaning, []))


def _sample_colour(frame, meaning: Colour, turn: tuple[Filter, ...], grids: list) -> None:
    """Add the COLOUR_GRID² cell means of `frame` as a player shows it (8-bit levels), turned by `turn`, while
    fewer than COLOUR_FRAMES are in."""
    if len(grids) < COLOUR_FRAMES:
        _add_cell_means(shown.shown_rgb(frame, meaning), meaning, turn, grids)


def _add_cell_means(rgb: np.ndarray, meaning: Colour, turn: tuple[Filter, ...], grids: list) -> None:
    if tonemap.is_hdr(meaning.transfer):
        rgb = tonemap.map_code_values(rgb, meaning.transfer)
    rgb = _turned(rgb, turn)
    rows = np.linspace(0, rgb.shape[0], COLOUR_GRID + 1).astype(int)
    columns = np.linspace(0, rgb.shape[1], COLOUR_GRID + 1).astype(int)
    areas = np.outer(np.diff(rows), np.diff(columns))[..., None]
    if (areas > 0).all():  # sums over each cell, one pass over the picture
        sums = np.add.reduceat(np.add.reduceat(rgb, rows[:-1], axis=0, dtype=np.float64), columns[:-1], axis=1)
    else:  # a picture smaller than the grid: empty cells, which reduceat cannot leave empty
        table = np.pad(rgb.cumsum(axis=0).cumsum(axis=1), ((1, 0), (1, 0), (0, 0)))
        sums = table[rows[1:]][:, columns[1:]] - table[rows[:-1]][:, columns[1:]] \
            - table[rows[1:]][:, columns[:-1]] + table[rows[:-1]][:, columns[:-1]]
    grids.append(255 * sums / np.maximum(areas, 1))


def _turned(rgb: np.ndarray, turn: tuple[Filter, ...]) -> np.ndarray:
    """`rgb` (height, width, 3) as FFmpeg's hflip, vflip and transpose filters in `turn` leave it."""
    for name, args in turn:
        if name == "hflip":
            rgb = rgb[:, ::-1]
        elif name == "vflip":
            rgb = rgb[::-1]
        elif name == "transpose":
            swapped = rgb.transpose(1, 0, 2)
            rgb = {"clock": swapped[:, ::-1], "cclock": swapped[::-1], "clock_flip": swapped[::-1, ::-1],
                   "cclock_flip": swapped}[args]
    return rgb


def _check_colours(path: Path, readings: dict, source: ColourSource) -> None:
    """The output's colours, read by its tags, must be within COLOUR_TOLERANCE_LEVELS of the source's, and no
    closer when read with another matrix or range than with its own by more than COLOUR_MARGIN_LEVELS."""
    expected = []
    with av.open(str(source.path)) as container:
        stream = container.streams.video[source.video_position]
        for frame in decoded_frames(container, stream, None, str(source.path)):
            _sample_colour(frame, source.colour, source.turn, expected)
            if len(expected) >= COLOUR_FRAMES:
                break
    if not readings or not expected:
        return
    wanted = np.mean(expected, axis=0)
    apart = {meaning: np.abs(np.mean(grids, axis=0) - wanted).reshape(-1, 3).mean(axis=0).max()
             for meaning, grids in readings.items()}
    tagged = next(iter(apart))
    closest = min(apart, key=apart.get)
    if apart[tagged] > COLOUR_TOLERANCE_LEVELS or apart[tagged] - apart[closest] > COLOUR_MARGIN_LEVELS:
        raise VerifyFailed(path, f"colours differ from the source's by {apart[tagged]:.1f} levels on average "
                                 f"(read as {_described(closest)}, {apart[closest]:.1f}): a wrong colour matrix, "
                                 "range or tag")


def _described(meaning: Colour) -> str:
    matrix = {colour.BT709: "BT.709"}.get(meaning.matrix, "BT.601")
    return f"{matrix} {'full' if meaning.full_range else 'limited'} range"
