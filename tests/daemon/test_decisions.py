"""The daemon's pure decisions: names it refuses, queue order and yielding."""

from hypothesis import given
from hypothesis import strategies as st

from tests.strategies import KINDS, waiting_items
from transcoder.inbox import name_problem
from transcoder.queue import Waiting, in_turn, next_job, should_yield, space_needed_bytes, work_class
from transcoder.verdict import Kind


def test_names_that_cannot_reach_telegram_are_told_apart():
    assert name_problem("trip/café.jpg") is None
    assert "not valid UTF-8" in name_problem(b"caf\xe9.jpg".decode(errors="surrogateescape"))
    assert "sidecars" in name_problem("photo.jpg.meta.msgpack")




@given(st.lists(waiting_items, max_size=20), st.floats(0, 100))
def test_next_job_is_the_cheapest_ready_class_then_the_oldest(waiting, now):
    chosen = next_job(waiting, now)
    ready = [w for w in waiting if w.not_before <= now]
    if not ready:
        assert chosen is None
        return
    assert chosen in ready
    cheapest = min(work_class(w.kind) for w in ready)
    assert work_class(chosen.kind) == cheapest
    assert chosen.arrived_at == min(w.arrived_at for w in ready if work_class(w.kind) == cheapest)


@given(st.lists(waiting_items, max_size=20), st.floats(0, 100))
def test_every_ready_job_has_a_turn_cheapest_class_first_then_oldest(waiting, now):
    order = in_turn(waiting, now)
    assert sorted(order, key=id) == sorted([w for w in waiting if w.not_before <= now], key=id)
    turns = [(work_class(w.kind), w.arrived_at) for w in order]
    assert turns == sorted(turns)
    assert next_job(waiting, now) == (order[0] if order else None)


@given(st.sampled_from(KINDS), st.lists(waiting_items, max_size=10), st.floats(0, 100))
def test_a_job_yields_only_to_ready_cheaper_work(running, waiting, now):
    chosen = next_job(waiting, now)  # what would run if the job gave way
    assert should_yield(running, waiting, now) == (chosen is not None and work_class(chosen.kind) < work_class(running))


def test_images_then_cheap_jobs_then_transcodes():
    waiting = [Waiting("t", Kind.TRANSCODE, 1.0), Waiting("r", Kind.REMUX, 3.0), Waiting("i", Kind.IMAGE, 5.0),
               Waiting("p", Kind.PASS, 2.0)]
    order = []
    while waiting:
        chosen = next_job(waiting, 10.0)
        order.append(chosen.relpath)
        waiting.remove(chosen)
    assert order == ["i", "p", "r", "t"]


def test_only_jobs_that_write_need_free_space_and_about_twice_the_source():
    assert space_needed_bytes(Kind.PASS, 10**9) == 0 and space_needed_bytes(Kind.IMAGE, 10**9) == 0
    for kind in (Kind.REMUX, Kind.AUDIO, Kind.TRANSCODE):
        assert 2 * 10**9 < space_needed_bytes(kind, 10**9) < 3 * 10**9
