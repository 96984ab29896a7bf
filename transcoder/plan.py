"""The segment plan: where the video is cut, with the keyframe each piece starts decoding from.

Pure code over the keyframe index (`transcoder.probe.VideoIndex`), in the video stream's time base.
The stream is cut into equal pieces of about `segment_seconds` (as many as make each nearest that length), so
that segments encoded side by side by the pool's workers finish together. A cut moves to a source keyframe
that lies near it; where there is none (keyframes are sparse: a screen recording may have one in 40 s, x265's
default is one in 8 to 10 s) the cut is made anyway: that segment decodes from the keyframe before the cut and
drops the frames before it, which costs decoding but keeps every segment near its target length, so a crash
loses at most about one segment's work and memory never depends on the source length.
"""

import bisect
from dataclasses import dataclass
from fractions import Fraction

# A keyframe is taken as the cut when it lies within this fraction of a segment's length of the even cut;
# otherwise the cut is forced at the even point. Decoding costs a fifth or less of encoding, so a forced cut's
# extra decode is cheaper than the time a worker waits for a longer segment beside it.
KEYFRAME_WINDOW = 0.1



@dataclass(frozen=True)
class PlannedSegment:
    index: int
    start_pts: int
    end_pts: int | None  # exclusive; None: to the end of the stream
    decode_from_pts: int  # the keyframe at or before start_pts where decoding begins


def plan_segments(keyframe_pts: tuple[int, ...], first_pts: int, end_pts: int, time_base: Fraction,
                  segment_seconds: float) -> list[PlannedSegment]:
    """Cut [first_pts, end_pts) into equal segments of about `segment_seconds` each.

    `keyframe_pts` must be sorted. A stream without a usable index (no keyframe at or before the
    start, or no end) is one segment decoded from the beginning.
    """
    target = max(1, int(Fraction(segment_seconds) / time_base))
    keyframes = [k for k in keyframe_pts if k >= first_pts]
    if not keyframes or end_pts is None or end_pts <= first_pts:
        return [PlannedSegment(0, first_pts, None, first_pts)]
    count = max(1, round(Fraction(end_pts - first_pts, target)))
    length = Fraction(end_pts - first_pts, count)
    window = length * KEYFRAME_WINDOW
    starts = [first_pts]
    for number in range(1, count):
        even = first_pts + round(number * length)
        low = bisect.bisect_left(keyframes, max(starts[-1] + 1, even - window))
        high = bisect.bisect_right(keyframes, min(even + window, end_pts - 1))
        near = keyframes[low:high]
        starts.append(min(near, key=lambda k: (abs(k - even), k)) if near else max(even, starts[-1] + 1))
    ends = [*starts[1:], None]
    return [PlannedSegment(index, start, end, _keyframe_at_or_before(keyframes, start))
            for index, (start, end) in enumerate(zip(starts, ends, strict=True))]


def _keyframe_at_or_before(keyframes: list[int], pts: int) -> int:
    position = bisect.bisect_right(keyframes, pts)
    return keyframes[position - 1] if position else keyframes[0]
