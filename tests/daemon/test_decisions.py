"""The daemon's pure decisions: temporary names, quiet files, queue order, yielding and backoff."""

from hypothesis import given
from hypothesis import strategies as st

from transcoder.inbox import Sighting, is_quiet, is_temporary, name_problem, stable_since
from transcoder.queue import (
    Waiting,
    backoff_seconds,
    in_turn,
    next_job,
    should_yield,
    space_needed_bytes,
    work_class,
)
from transcoder.verdict import Kind

KINDS = [Kind.IMAGE, Kind.PASS, Kind.REMUX, Kind.AUDIO, Kind.TRANSCODE]


def test_temporary_download_names_are_ignored():
    for name in ("film.mkv.part", "film.mkv.crdownload", "film.tmp", ".film.mkv", "trip/.sync/a.mp4", "~lock.mp4"):
        assert is_temporary(name), name
    for name in ("film.mkv", "trip/a.mp4", "part.mp4", "a.tmp.mp4"):
        assert not is_temporary(name), name


def test_names_that_cannot_reach_telegram_are_told_apart():
    assert name_problem("trip/café.jpg") is None
    assert "not valid UTF-8" in name_problem(b"caf\xe9.jpg".decode(errors="surrogateescape"))
    assert "sidecars" in name_problem("photo.jpg.meta.msgpack")


def test_a_file_is_quiet_only_after_it_stopped_changing_for_the_quiet_time():
    first = Sighting("a.mp4", 100, 1)
    since = stable_since(None, first, now=10.0)
    assert not is_quiet(since, 12.0, quiet_seconds=5)
    since = stable_since((first, since), first, now=14.0)
    assert since == 10.0 and not is_quiet(since, 14.0, 5) and is_quiet(since, 15.0, 5)
    grown = Sighting("a.mp4", 200, 2)
    assert stable_since((first, since), grown, now=16.0) == 16.0


waiting_items = st.builds(Waiting, relpath=st.text(min_size=1, max_size=5), kind=st.sampled_from(KINDS),
                          arrived_at=st.floats(0, 100), not_before=st.floats(0, 100))


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
    expected = any(work_class(w.kind) < work_class(running) and w.not_before <= now for w in waiting)
    assert should_yield(running, waiting, now) == expected


def test_images_then_cheap_jobs_then_transcodes():
    waiting = [Waiting("t", Kind.TRANSCODE, 1.0), Waiting("r", Kind.REMUX, 3.0), Waiting("i", Kind.IMAGE, 5.0),
               Waiting("p", Kind.PASS, 2.0)]
    order = []
    while waiting:
        chosen = next_job(waiting, 10.0)
        order.append(chosen.relpath)
        waiting.remove(chosen)
    assert order == ["i", "p", "r", "t"]


@given(st.integers(1, 40), st.floats(0.1, 120))
def test_backoff_doubles_and_is_capped(failures, base):
    delay = backoff_seconds(failures, base)
    assert delay <= 3600
    if failures > 1 and delay < 3600:
        assert delay == 2 * backoff_seconds(failures - 1, base)


def test_only_jobs_that_write_need_free_space_and_about_twice_the_source():
    assert space_needed_bytes(Kind.PASS, 10**9) == 0 and space_needed_bytes(Kind.IMAGE, 10**9) == 0
    for kind in (Kind.REMUX, Kind.AUDIO, Kind.TRANSCODE):
        assert 2 * 10**9 < space_needed_bytes(kind, 10**9) < 3 * 10**9
