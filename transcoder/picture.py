"""The picture: how the coded frames become what a viewer should see, as a chain of FFmpeg filters.

Pure code over `transcoder.probe.VideoInfo`. It decides the orientation fix (the display matrix baked into
the pixels, as FFmpeg's own autorotate does), square pixels, even dimensions, the optional height limit,
deinterlacing and the colour conversion (what the source's values mean is `transcoder.colour`'s). Tone mapping
of HDR sources is `transcoder.tonemap`'s; its filters are placed in the chain here.
"""

import math
from dataclasses import dataclass

from transcoder import colour
from transcoder.colour import Colour
from transcoder.probe import VideoInfo

Filter = tuple[str, str]  # (filter name, its arguments), as av.filter.Graph.add takes them


@dataclass(frozen=True)
class Picture:
    width: int  # the output's coded size: shown orientation, square pixels, even
    height: int
    filters: tuple[Filter, ...]  # from decoded frames to yuv420p frames of that size
    source_colour: Colour  # what the decoded frames' values mean (stated or assumed)
    colour: Colour  # what the output's values mean: its tags


def orientation_filters(matrix) -> tuple[Filter, ...]:
    """Filters that turn the coded picture the way FFmpeg's display matrix says it is shown.

    Follows fftools' autorotate: the angle from atan2(m[1], m[0]), a mirror read from the sign of m[3]
    (quarter turns) or of m[0]/m[4] (half turn, no turn). Angles other than quarter turns snap to the nearest.
    """
    if matrix is None:
        return ()
    theta = round(math.degrees(math.atan2(matrix[1], matrix[0])) / 90) * 90 % 360
    if theta == 90:
        return (("transpose", "cclock_flip" if matrix[3] > 0 else "clock"),)
    if theta == 270:
        return (("transpose", "clock_flip" if matrix[3] < 0 else "cclock"),)
    if theta == 180:
        return tuple(f for f, flipped in ((("hflip", ""), matrix[0] < 0), (("vflip", ""), matrix[4] < 0)) if flipped)
    return (("vflip", ""),) if matrix[4] < 0 else ()


def describe_orientation(filters: tuple[Filter, ...]) -> str:
    if filters == (("hflip", ""), ("vflip", "")):
        return "turned 180°"
    words = {"clock": "turned 90° clockwise", "cclock": "turned 90° counter-clockwise",
             "clock_flip": "turned 90° clockwise and mirrored", "cclock_flip": "turned 90° counter-clockwise and mirrored",
             "hflip": "mirrored", "vflip": "flipped upside down"}
    return ", ".join(words[args or name] for name, args in filters)


def even(value: float) -> int:
    return max(2, int(round(value / 2)) * 2)


def output_size(video: VideoInfo, quarter_turn: bool, max_height: int) -> tuple[int, int]:
    """The shown size with square pixels, limited to `max_height` (0: no limit), rounded to even numbers."""
    width = video.width * float(video.sample_aspect or 1)
    height = float(video.height)
    if quarter_turn:
        width, height = height, width
    if max_height and height > max_height:
        width, height = width * max_height / height, float(max_height)
    return even(width), even(height)


def plan_picture(video: VideoInfo, max_height: int = 0, tone_map: tuple[Filter, ...] = ()) -> Picture:
    """The output size and the filters from decoded frames to it. `tone_map` (transcoder.tonemap) goes after
    deinterlacing and before the turn; it already leaves BT.709 8-bit frames behind."""
    turn = orientation_filters(video.display_matrix)
    quarter_turn = any(name == "transpose" for name, _ in turn)
    width, height = output_size(video, quarter_turn, max_height)
    chain = []
    if video.interlaced:
        # bwdif in "send_frame" mode: one output frame per input frame, so frame count and timing stay.
        chain.append(("bwdif", "mode=send_frame:parity=auto:deint=all"))
    chain += tone_map
    chain += turn
    # The scaler also fixes the sample aspect, the range (full-range phone video becomes limited range) and
    # the matrix (to BT.709), told explicitly what its input is and what its output must be. accurate_rnd
    # rounds the range and matrix arithmetic to nearest (without it, BT.601 mid-grey (128,128,128) came out
    # (125,128,127)); full_chroma_int interpolates chroma at full resolution before converting it.
    source = colour.of_source(video)
    output = colour.of_output(source, tone_mapped=bool(tone_map))
    scaled = colour.OUTPUT_SDR if tone_map else source  # tone mapping leaves BT.709 limited-range frames
    chain.append(("scale", f"{width}:{height}:flags=bicubic+accurate_rnd+full_chroma_int:"
                            f"{colour.scale_arguments(scaled, output)}"))
    chain.append(("setsar", "1"))
    chain.append(("format", "yuv420p"))
    return Picture(width, height, tuple(chain), source, output)
