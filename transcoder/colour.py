"""Colour: what a picture's pixel values mean, the source's and the output's, and how a player shows them.

Four numbers say it (ITU-T H.273, FFmpeg's AVColorSpace, AVColorRange, AVColorPrimaries and
AVColorTransferCharacteristic): the matrix that turns R'G'B' into Y'CbCr, the range (limited: luma 16–235, or full:
0–255), the primaries and the transfer. FFmpeg's options take these numbers as they are.

A source that does not state them means what players take it to mean. We follow mpv (video/csputils.c,
`mp_csp_guess_colorspace` and `mp_csp_guess_primaries`): a picture 1280 wide or more, or taller than 576 lines,
was made for HD and uses BT.709; a smaller one uses BT.601, with the 625-line (PAL) primaries at 576 lines and the
525-line (NTSC) ones at 480 or 486, else BT.709's. An unstated range is limited, except in FFmpeg's `yuvj` formats,
which are full range by definition. An unstated transfer is BT.709's (the same curve as BT.601's).

The output is always BT.709 matrix and limited range: what every player decodes right. Its primaries and transfer
are the source's (the scaler converts the matrix and range, not the primaries); a tone-mapped HDR source becomes
BT.709 throughout (`transcoder.tonemap` converts the primaries and the transfer).

`transcoder.shown` turns a decoded frame into the R'G'B' a player shows, by these numbers: the verification compares
the source's with the output's.
"""

from dataclasses import dataclass

from transcoder.probe import VideoInfo

BT709 = 1  # matrix, primaries and transfer: ITU-R BT.709
UNSTATED = frozenset({0, 2, 3})  # primaries and transfer: reserved (0, 3) or unspecified (2)
BT601_625_PRIMARIES, BT601_525_PRIMARIES = 5, 6  # BT.470 B/G (PAL), SMPTE 170M (NTSC)
BT601_MATRIX = 6  # SMPTE 170M; the same matrix as BT.470 B/G (5)
LIMITED_RANGE, FULL_RANGE = 1, 2
# Kr and Kb of the matrices FFmpeg's scaler converts from (AVColorSpace: BT.709, FCC, BT.601 under two names,
# SMPTE 240M, BT.2020 non-constant luminance), as ITU-T H.273 gives them.
LUMA_WEIGHTS = {1: (0.2126, 0.0722), 4: (0.30, 0.11), 5: (0.299, 0.114), 6: (0.299, 0.114), 7: (0.212, 0.087),
                9: (0.2627, 0.0593)}
HD_MIN_WIDTH, SD_MAX_HEIGHT = 1280, 576


@dataclass(frozen=True)
class Colour:
    """What a picture's values mean, as ITU-T H.273 numbers."""

    matrix: int
    full_range: bool
    primaries: int
    transfer: int

    @property
    def range_name(self) -> str:
        """The range as FFmpeg's scaler names it."""
        return "pc" if self.full_range else "tv"

    @property
    def range_number(self) -> int:
        """The range as AVColorRange (what frames and encoders take)."""
        return FULL_RANGE if self.full_range else LIMITED_RANGE


OUTPUT_SDR = Colour(BT709, False, BT709, BT709)


def is_hd(width: int, height: int) -> bool:
    return width >= HD_MIN_WIDTH or height > SD_MAX_HEIGHT


def guessed_primaries(width: int, height: int) -> int:
    if is_hd(width, height):
        return BT709
    return {576: BT601_625_PRIMARIES, 480: BT601_525_PRIMARIES, 486: BT601_525_PRIMARIES}.get(height, BT709)


def stated_or_assumed(matrix: int, color_range: int, primaries: int, transfer: int, pix_fmt: str | None,
                      width: int, height: int) -> Colour:
    """What pictures with these tags mean: what they state, else what players assume (see the module docstring)."""
    if matrix not in LUMA_WEIGHTS:
        matrix = BT709 if is_hd(width, height) else BT601_MATRIX
    full_range = color_range == FULL_RANGE or (pix_fmt or "").startswith("yuvj")
    primaries = guessed_primaries(width, height) if primaries in UNSTATED else primaries
    transfer = BT709 if transfer in UNSTATED else transfer
    return Colour(matrix, full_range, primaries, transfer)


def of_source(video: VideoInfo) -> Colour:
    return stated_or_assumed(video.colorspace, video.color_range, video.color_primaries, video.color_trc,
                             video.pix_fmt, video.width, video.height)


def of_frame(frame) -> Colour:
    """What a decoded frame's values mean, by its own tags (as a player reads them)."""
    return stated_or_assumed(int(frame.colorspace), int(frame.color_range), int(frame.color_primaries),
                             int(frame.color_trc), frame.format.name, frame.width, frame.height)


def of_output(source: Colour, tone_mapped: bool) -> Colour:
    """What the output's pixels mean: BT.709 limited range; the source's primaries and transfer unless tone-mapped."""
    if tone_mapped:
        return OUTPUT_SDR
    return Colour(BT709, False, source.primaries, source.transfer)


def scale_arguments(source: Colour, output: Colour) -> str:
    """The colour options of FFmpeg's `scale` from `source` to `output`, every one explicit: left out, the scaler
    reads some from the frame and assumes others (BT.601 for its output matrix, in some FFmpeg versions).
    Callers keep the primaries and the transfer the same on both sides: they only tag the frames."""
    return (f"in_color_matrix={source.matrix}:out_color_matrix={output.matrix}"
            f":in_range={source.range_name}:out_range={output.range_name}"
            f":in_primaries={source.primaries}:out_primaries={output.primaries}"
            f":in_transfer={source.transfer}:out_transfer={output.transfer}")
