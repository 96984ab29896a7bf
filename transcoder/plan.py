"""The segment plan: where the video is cut, with the keyframe each piece starts decoding from.

Pure code over the keyframe index (`transcoder.probe.VideoIndex`), in the video stream's time base.
Cuts land on source keyframes near every `segment_seconds`. Where keyframes are sparse (a screen
recording may have one in 40 s) the cut is made anyway: that segment decodes from the keyframe before
the cut and drops the frames before it, which costs decoding but keeps every segment near its target
length, so a crash loses at most about one segment's work and memory never depends on the source length.
"""

import bisect
from dataclasses import dataclass
from fractions import Fraction

# A keyframe is taken as the cut when it lies within this fraction of the target on either side of the
# ideal cut; otherwise the cut is forced at the ideal point. No segment is longer than 1.5 targets,
# except the last, which may reach twice the target rather than leave a sliver.
KEYFRAME_WINDOW = 0.5


@dataclass(frozen=True)
class PlannedSegment:
    index: int
    start_pts: int
    end_pts: int | None  # exclusive; None: to the end of the stream
    decode_from_pts: int  # the keyframe at or before start_pts where decoding begins


def plan_segments(keyframe_pts: tuple[int, ...], first_pts: int, end_pts: int, time_base: Fraction,
                  segment_seconds: float) -> list[PlannedSegment]:
    """Cut [first_pts, end_pts) into segments of about `segment_seconds` each.

    `keyframe_pts` must be sorted. A stream without a usable index (no keyframe at or before the
    start, or no end) is one segment decoded from the beginning.
    """
    target = max(1, int(Fraction(segment_seconds) / time_base))
    keyframes = [k for k in keyframe_pts if k >= first_pts]
    if not keyframes or end_pts is None or end_pts <= first_pts:
        return [PlannedSegment(0, first_pts, None, first_pts)]
    segments, start = [], first_pts
    while end_pts - start > target * (1 + KEYFRAME_WINDOW):
        ideal = start + target
        window = target * KEYFRAME_WINDOW
        low = bisect.bisect_left(keyframes, max(start + 1, ideal - window))
        high = bisect.bisect_right(keyframes, ideal + window)
        near = keyframes[low:high]
        cut = min(near, key=lambda k: (abs(k - ideal), k)) if near else ideal
        decode_from = _keyframe_at_or_before(keyframes, start)
        segments.append(PlannedSegment(len(segments), start, cut, decode_from))
        start = cut
    segments.append(PlannedSegment(len(segments), start, None, _keyframe_at_or_before(keyframes, start)))
    return segments


def _keyframe_at_or_before(keyframes: list[int], pts: int) -> int:
    position = bisect.bisect_right(keyframes, pts)
    return keyframes[position - 1] if position else keyframes[0]
