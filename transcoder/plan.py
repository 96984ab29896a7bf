"""The segment plan: where the video is cut, with the keyframe each piece starts decoding from.

Pure code over the keyframe index (`transcoder.probe.VideoIndex`), in the video stream's time base.
The stream is cut into equal pieces of about `segment_seconds` (as many as make each nearest that length). A cut
moves to a source keyframe that lies near it; where there is none (keyframes are sparse: a screen recording may
have one in 40 s, x265's default is one in 8 to 10 s) the cut is made anyway: that segment decodes from the
keyframe before the cut and drops the frames before it, which costs decoding but keeps every segment near its
target length, so a crash loses at most about one segment's work and memory never depends on the source length.

How near is near depends on how many segments each of the pool's workers gets. With two or fewer, the job is
mostly its last wave, which ends when its longest segment does: the cuts stay within a tenth of a segment of even
(a 20 s x265 video becomes 10 s + 10 s, not 8.3 s + 11.7 s with one worker idle for the difference). With more, a
worker that finishes early takes the next segment, and only the last wave can leave one idle: a keyframe within
half a segment is taken, which spares decoding at every cut (a forced cut decodes up to a whole keyframe interval
of the source again: a tenth more CPU time for a source with a keyframe every 10 s).
"""

import bisect
from dataclasses import dataclass
from fractions import Fraction

# A keyframe is taken as the cut when it lies within this fraction of a segment's length of the even cut;
# otherwise the cut is forced at the even point. See the module docstring.
KEYFRAME_WINDOW_FEW_SEGMENTS = 0.1  # two segments or fewer for each worker
KEYFRAME_WINDOW_MANY_SEGMENTS = 0.5
FEW_SEGMENTS_PER_WORKER = 2


@dataclass(frozen=True)
class PlannedSegment:
    index: int
    start_pts: int
    end_pts: int | None  # exclusive; None: to the end of the stream
    decode_from_pts: int  # the keyframe at or before start_pts where decoding begins


def plan_segments(keyframe_pts: tuple[int, ...], first_pts: int, end_pts: int, time_base: Fraction,
                  segment_seconds: float, workers: int = 1) -> list[PlannedSegment]:
    """Cut [first_pts, end_pts) into equal segments of about `segment_seconds` each, for `workers` encoding them
    side by side.

    `keyframe_pts` must be sorted. A stream without a usable index (no keyframe at or before the
    start, or no end) is one segment decoded from the beginning.
    """
    target = max(1, int(Fraction(segment_seconds) / time_base))
    keyframes = [k for k in keyframe_pts if k >= first_pts]
    if not keyframes or end_pts is None or end_pts <= first_pts:
        return [PlannedSegment(0, first_pts, None, first_pts)]
    count = max(1, round(Fraction(end_pts - first_pts, target)))
    length = Fraction(end_pts - first_pts, count)
    few = count <= FEW_SEGMENTS_PER_WORKER * workers
    window = length * (KEYFRAME_WINDOW_FEW_SEGMENTS if few else KEYFRAME_WINDOW_MANY_SEGMENTS)
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
