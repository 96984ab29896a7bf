"""The segment plan as pure logic: contiguous, bounded, on keyframes where there are keyframes."""

from fractions import Fraction

from hypothesis import given

from tests.strategies import streams
from transcoder.job import segments_of
from transcoder.plan import plan_segments

TIME_BASE = Fraction(1, 1000)


@given(streams())
def test_segments_cover_the_stream_without_gap_or_overlap(stream):
    keyframes, first, end, target = stream
    plan = plan_segments(keyframes, first, end, TIME_BASE, target)
    assert plan[0].start_pts == first
    assert plan[-1].end_pts is None
    for earlier, later in zip(plan, plan[1:], strict=False):
        assert earlier.end_pts == later.start_pts
    assert [s.index for s in plan] == list(range(len(plan)))


@given(streams())
def test_no_segment_is_much_longer_than_the_target(stream):
    keyframes, first, end, target = stream
    ticks = target / TIME_BASE
    plan = plan_segments(keyframes, first, end, TIME_BASE, target)
    for segment in plan:
        stop = end if segment.end_pts is None else segment.end_pts
        assert stop - segment.start_pts <= 2.5 * ticks + 1


@given(streams())
def test_decoding_starts_at_a_keyframe_at_or_before_the_cut(stream):
    keyframes, first, end, target = stream
    for segment in plan_segments(keyframes, first, end, TIME_BASE, target):
        assert segment.decode_from_pts in keyframes
        assert segment.decode_from_pts <= segment.start_pts


def test_cuts_land_on_keyframes_near_the_target():
    keyframes = tuple(range(0, 60_000, 2_000))  # a keyframe every 2 s
    plan = plan_segments(keyframes, 0, 60_000, TIME_BASE, 10.0)
    assert [s.start_pts for s in plan] == list(range(0, 60_000, 10_000))
    assert all(s.decode_from_pts == s.start_pts for s in plan)


def test_segments_come_out_even_so_that_workers_side_by_side_finish_together():
    keyframes = (0, 8_333, 16_667)  # x265's default: a keyframe in 250 frames at 30 fps
    plan = plan_segments(keyframes, 0, 20_000, TIME_BASE, 10.0)
    assert [(s.start_pts, s.end_pts, s.decode_from_pts) for s in plan] == [(0, 10_000, 0), (10_000, None, 8_333)]
    plan = plan_segments(tuple(range(0, 25_000, 2_000)), 0, 25_000, TIME_BASE, 10.0)
    assert [s.start_pts for s in plan] == [0, 12_000]  # two of 12.5 s, not 10 s and 15 s; 12 s is a keyframe


def test_with_many_segments_for_each_worker_cuts_stay_on_keyframes_farther_from_even():
    keyframes = tuple(round(n * 8_333.3) for n in range(8))  # one every 8.3 s, over 60 s
    one_worker = plan_segments(keyframes, 0, 60_000, TIME_BASE, 10.0, workers=1)
    assert len(one_worker) == 6 and all(s.decode_from_pts == s.start_pts for s in one_worker)  # no frame decoded twice
    four_workers = plan_segments(keyframes, 0, 60_000, TIME_BASE, 10.0, workers=4)
    assert [s.start_pts for s in four_workers] == list(range(0, 60_000, 10_000))  # one wave: even


def test_sparse_keyframes_still_give_bounded_segments():
    plan = plan_segments((0,), 0, 40_000, TIME_BASE, 10.0)  # a screen recording: one keyframe in 40 s
    assert len(plan) == 4
    assert all(s.decode_from_pts == 0 for s in plan)


def test_a_stream_without_an_index_is_one_segment():
    assert len(plan_segments((), 0, 0, TIME_BASE, 10.0)) == 1


@given(streams())
def test_the_checkpoint_segments_follow_the_plan_with_their_packet_counts(stream):
    keyframes, first, end, target = stream
    plan = plan_segments(keyframes, first, end, TIME_BASE, target)
    segments = segments_of(plan, list(range(len(plan))), TIME_BASE)
    assert [(s.start_pts, s.end_pts, s.planned_frames) for s in segments] == [
        (p.start_pts, p.end_pts, n) for n, p in enumerate(plan)]
    assert segments[0].start_seconds == float(first * TIME_BASE)
