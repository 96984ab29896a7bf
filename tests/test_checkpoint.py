"""Checkpoints: the format round-trips, damage is named, and a job trusts only what its checkpoint proves."""

import re
import time
from types import SimpleNamespace

import msgpack
import pytest

from tests import checks
from tests.media import write_video
from tgvid.errors import CheckpointError
from transcoder import checkpoint, status
from transcoder.job import EngineSettings, run_job
from transcoder.pool import PoolSettings

SETTINGS = EngineSettings(segment_seconds=0.5, crf=30, preset="ultrafast")


@pytest.fixture
def job(tmp_path):
    """A finished segment plan in tmp_path/job, stopped before the join by yielding after two segments."""
    source = write_video(tmp_path / "clip.mkv", seconds=3, codec="mpeg4", audio_codec="ac3")
    asked = iter([False, False] + [True] * 100)
    result = run_job(source, tmp_path / "job", tmp_path / "out.mp4", SETTINGS, should_yield=lambda: next(asked))
    assert result.status == "yielded"
    return source, tmp_path / "job"


def test_round_trip_keeps_every_field(job):
    _, job_dir = job
    state = checkpoint.load(job_dir)
    checkpoint.save(job_dir, state)
    again = checkpoint.load(job_dir)
    assert again.to_dict() | {"updated_at": 0} == state.to_dict() | {"updated_at": 0}
    assert again.segments_done() == 2


def test_torn_checkpoint_is_a_named_error(job):
    _, job_dir = job
    path = checkpoint.path_in(job_dir)
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(CheckpointError, match="checkpoint.msgpack: unreadable checkpoint"):
        checkpoint.load(job_dir)


def test_newer_format_names_the_version_it_needs(job):
    _, job_dir = job
    path = checkpoint.path_in(job_dir)
    data = msgpack.unpackb(path.read_bytes())
    path.write_bytes(msgpack.packb(data | {"version": 7}))
    supported = checkpoint.FORMAT_VERSION
    with pytest.raises(CheckpointError.NewerVersion, match=f"format version 7, this one reads up to {supported}"):
        checkpoint.load(job_dir)


def rewrite_as_version(job_dir, version: int) -> None:
    """Rewrite a real job's checkpoint as format `version` wrote it: without the fields added since."""
    path = checkpoint.path_in(job_dir)
    data = msgpack.unpackb(path.read_bytes())
    del data["encoding_wall_seconds"]  # added in 4
    if version < 3:
        for segment in data["segments"]:
            del segment["encoded_on"]  # added in 3
    path.write_bytes(msgpack.packb(data | {"version": version}))


def test_a_version_1_checkpoint_is_read_and_resumed(tmp_path, job):
    source, job_dir = job
    rewrite_as_version(job_dir, 1)
    upgraded = checkpoint.load(job_dir)
    assert upgraded.version == checkpoint.FORMAT_VERSION and upgraded.segments_done() == 2
    assert run_job(source, job_dir, tmp_path / "out.mp4", SETTINGS).status == "done"


def test_a_version_2_checkpoint_shows_its_done_segments_encoded_on_unknown_and_resumes(tmp_path, job):
    source, job_dir = job
    state = checkpoint.load(job_dir)
    state.segments[2].state = checkpoint.UnitState.ENCODING  # format 2 wrote a segment in flight so too
    checkpoint.save(job_dir, state)
    rewrite_as_version(job_dir, 2)
    upgraded = checkpoint.load(job_dir)
    assert upgraded.version == checkpoint.FORMAT_VERSION
    assert [s.encoded_on for s in upgraded.segments[:3]] == ["unknown", "unknown", ""]
    assert re.search(r"#0 .* done .* s on unknown\n", checkpoint.describe(job_dir))
    root = tmp_path / "root"
    (root / "work").mkdir(parents=True)
    job_dir = job_dir.rename(root / "work" / job_dir.name)  # where the daemon keeps its jobs, for `tgvid status`
    assert "      encoded on unknown: 2 segment(s)" in status.render(status.collect(SimpleNamespace(root=root)))
    assert run_job(source, job_dir, tmp_path / "out.mp4", SETTINGS).status == "done"
    assert all(s.encoded_on.startswith("local pid ") for s in checkpoint.load(job_dir).segments[2:])


def test_a_version_3_checkpoint_takes_its_segments_summed_for_its_wall_time_and_resumes(tmp_path, job):
    source, job_dir = job
    rewrite_as_version(job_dir, 3)
    upgraded = checkpoint.load(job_dir)
    summed = sum(s.encode_seconds for s in upgraded.segments[:2])
    assert upgraded.version == checkpoint.FORMAT_VERSION and upgraded.encoding_wall_seconds == pytest.approx(summed)
    media_seconds = upgraded.segments[1].end_seconds - upgraded.segments[0].start_seconds
    assert status.job_progress(job_dir)["speed_x_realtime"] == round(media_seconds / summed, 2), "not from zero"
    assert f"; {summed:.1f} s of wall time encoding them" in checkpoint.describe(job_dir)
    assert run_job(source, job_dir, tmp_path / "out.mp4", SETTINGS).status == "done"
    assert checkpoint.load(job_dir).encoding_wall_seconds > upgraded.encoding_wall_seconds


def assert_speed_is_media_over_wall_time(job_dir, media_seconds: float, ran_seconds: float) -> float:
    """The job's speed is `media_seconds` over the wall time its checkpoint records, which lies between its longest
    worker's seconds (each worker encodes its segments one after another) and `ran_seconds`, the runs' wall time
    measured around them; returns the recorded wall time."""
    state = checkpoint.load(job_dir)
    by_worker: dict = {}
    for segment in state.segments:
        if segment.state == checkpoint.UnitState.DONE:
            by_worker[segment.encoded_on] = by_worker.get(segment.encoded_on, 0.0) + segment.encode_seconds
    assert max(by_worker.values()) <= state.encoding_wall_seconds <= ran_seconds
    speed = media_seconds / state.encoding_wall_seconds
    progress = status.job_progress(job_dir)
    assert progress["speed_x_realtime"] == round(speed, 2)
    assert progress["eta_seconds"] == round(progress["remaining_media_seconds"] / speed)
    return state.encoding_wall_seconds


def test_the_speed_is_the_media_done_over_the_jobs_wall_time_across_its_runs_not_its_workers_seconds(tmp_path):
    """With two workers side by side, the sum of their seconds is twice the job's time: a speed over it would be one
    worker's and the ETA twice too long. Time the job is stopped does not count; a resumed job goes on from its
    recorded time."""
    source = write_video(tmp_path / "clip.mkv", seconds=3, codec="mpeg4")
    job_dir, two_workers = tmp_path / "job", PoolSettings(workers=2)
    asked = iter([False, False] + [True] * 100)
    started = time.monotonic()
    assert run_job(source, job_dir, tmp_path / "out.mp4", SETTINGS, should_yield=lambda: next(asked),
                   segment_pool=two_workers).status == "yielded"
    first_run_seconds = time.monotonic() - started
    segments = checkpoint.load(job_dir).segments
    assert [s.state for s in segments[:3]] == ["done", "done", "pending"]
    first_wall_seconds = assert_speed_is_media_over_wall_time(
        job_dir, segments[1].end_seconds - segments[0].start_seconds, first_run_seconds)
    time.sleep(1)  # the job stopped for a second, which its wall time must not count
    started = time.monotonic()
    assert run_job(source, job_dir, tmp_path / "out.mp4", SETTINGS, segment_pool=two_workers).status == "done"
    second_run_seconds = time.monotonic() - started
    state = checkpoint.load(job_dir)
    wall_seconds = assert_speed_is_media_over_wall_time(job_dir, state.duration_seconds,
                                                        first_run_seconds + second_run_seconds)
    assert wall_seconds > first_wall_seconds, "the resumed job went on from its recorded time"


def test_the_segment_in_flight_shows_as_encoding_and_is_redone_after_a_crash(tmp_path, job):
    source, job_dir = job
    state = checkpoint.load(job_dir)
    state.segments[2].state = checkpoint.UnitState.ENCODING  # as a job killed while encoding it leaves it
    checkpoint.save(job_dir, state)
    text = checkpoint.describe(job_dir)
    assert re.search(r"#2 .* encoding", text) and re.search(r"#3 .* pending", text)
    assert checkpoint.phase(checkpoint.load(job_dir)) == f"encoding segment 3/{len(state.segments)}"
    state.segments[3].state = checkpoint.UnitState.ENCODING  # and the next one, on a second worker
    assert checkpoint.phase(state) == f"encoding segments 3, 4 of {len(state.segments)}"
    checkpoint.save(job_dir, state)
    assert run_job(source, job_dir, tmp_path / "out.mp4", SETTINGS).status == "done"
    checks.assert_faithful(checks.facts(source), checks.facts(tmp_path / "out.mp4"))


def test_the_phase_names_the_audio_the_join_the_verification_and_the_handoff(job):
    _, job_dir = job
    state = checkpoint.load(job_dir)
    for segment in state.segments:
        segment.state = checkpoint.UnitState.DONE
    state.segments[-1].state = state.audio.state = checkpoint.UnitState.ENCODING
    total = len(state.segments)  # the clip's AC-3 is re-encoded while the last segment is
    assert checkpoint.phase(state) == f"encoding segment {total}/{total} and the audio"
    state.segments[-1].state = checkpoint.UnitState.DONE
    assert checkpoint.phase(state) == "audio"
    state.audio.state = checkpoint.UnitState.DONE
    assert checkpoint.phase(state) == "joining"
    for job_state, shown in (("joining", "joining"), ("verifying", "verifying"), ("done", "handing off")):
        state.state = checkpoint.JobState(job_state)
        assert checkpoint.phase(state) == shown


def test_torn_checkpoint_restarts_the_job_and_still_finishes(tmp_path, job):
    source, job_dir = job
    checkpoint.path_in(job_dir).write_bytes(b"\x93garbage")
    result = run_job(source, job_dir, tmp_path / "out.mp4", SETTINGS)
    assert result.status == "done"
    checks.assert_faithful(checks.facts(source), checks.facts(tmp_path / "out.mp4"))


def test_a_damaged_segment_file_is_encoded_again(tmp_path, job):
    source, job_dir = job
    state = checkpoint.load(job_dir)
    damaged = job_dir / state.segments[0].file
    damaged.write_bytes(damaged.read_bytes()[:100])
    (job_dir / "segment-0009.mp4-dead.tmp").write_bytes(b"half a segment")
    result = run_job(source, job_dir, tmp_path / "out.mp4", SETTINGS)
    assert result.status == "done"
    assert checkpoint.load(job_dir).segments[0].attempts == 2
    assert not (job_dir / "segment-0009.mp4-dead.tmp").exists()
    checks.assert_faithful(checks.facts(source), checks.facts(tmp_path / "out.mp4"))


def test_changed_settings_start_a_fresh_plan(tmp_path, job):
    source, job_dir = job
    other = EngineSettings(segment_seconds=1.0, crf=30, preset="ultrafast")
    run_job(source, job_dir, tmp_path / "out.mp4", other)
    state = checkpoint.load(job_dir)
    assert state.settings["segment_seconds"] == 1.0
    assert all(s.attempts == 1 for s in state.segments)


def test_a_changed_source_starts_a_fresh_plan(tmp_path, job):
    source, job_dir = job
    write_video(source, seconds=2, codec="mpeg4", audio_codec="ac3", width=160, height=120)
    run_job(source, job_dir, tmp_path / "out.mp4", SETTINGS)
    assert checks.facts(tmp_path / "out.mp4").width == 160


def damage(job_dir, old: bytes, new: bytes) -> None:
    """Change one name or value in the stored bytes, as one damaged byte on disk would."""
    path = checkpoint.path_in(job_dir)
    data = path.read_bytes()
    assert data.count(old) == 1, f"{old!r} is not in the checkpoint once"
    path.write_bytes(data.replace(old, new))


@pytest.mark.parametrize(("old", "new", "named"), [
    (b"\xa4path", b"\xa4pbth", "source: unknown field 'pbth'"),
    (b"\xabfingerprint", b"\xabfingerprinu", "source: unknown field 'fingerprinu'"),
    (b"audio_copy", b"audio_cppy", "verdict: unknown field 'audio_cppy'"),
    (b"\xa5state\xa8encoding", b"\xa5state\xa8encodinG", "state 'encodinG' is not one of"),
    (b"\xa9time_base\x92\x01", b"\xa9time_base\x92\xc0", "time_base [None, "),
])
def test_a_damaged_field_is_a_named_checkpoint_error(job, old, new, named):
    _, job_dir = job
    damage(job_dir, old, new)
    with pytest.raises(CheckpointError, match=re.escape(named)):
        checkpoint.load(job_dir)


@pytest.mark.parametrize(("name", "value", "named"), [
    ("encode_seconds", "slow", "segment 1: field 'encode_seconds' is a str, not float"),
    ("encoded_on", 7, "segment 1: field 'encoded_on' is a int, not str"),
])
def test_a_damaged_segment_field_is_named_with_its_segment(job, name, value, named):
    _, job_dir = job
    path = checkpoint.path_in(job_dir)
    data = msgpack.unpackb(path.read_bytes())
    data["segments"][1][name] = value
    path.write_bytes(msgpack.packb(data))
    with pytest.raises(CheckpointError, match=named):
        checkpoint.load(job_dir)


def test_a_damaged_fingerprint_key_sets_the_checkpoint_aside_and_the_job_finishes(tmp_path, job, caplog):
    source, job_dir = job
    damage(job_dir, b"\xabfingerprint", b"\xabfingerprinu")
    damaged_bytes = checkpoint.path_in(job_dir).read_bytes()
    result = run_job(source, job_dir, tmp_path / "out.mp4", SETTINGS)
    assert result.status == "done"
    checks.assert_faithful(checks.facts(source), checks.facts(tmp_path / "out.mp4"))
    assert (job_dir / checkpoint.SET_ASIDE_NAME).read_bytes() == damaged_bytes
    assert all(s.attempts == 1 for s in checkpoint.load(job_dir).segments)  # afresh, not resumed
    warnings = [r.getMessage() for r in caplog.records if "set aside" in r.getMessage()]
    assert len(warnings) == 1 and "unknown field 'fingerprinu'" in warnings[0]


def test_the_resume_line_names_the_segments_that_are_redone(tmp_path, job, caplog):
    source, job_dir = job
    state = checkpoint.load(job_dir)
    assert [s.state for s in state.segments[:3]] == ["done", "done", "pending"] and len(state.segments) == 6
    state.segments[0].state = checkpoint.UnitState.PENDING  # as a parameter-set mismatch leaves it
    checkpoint.save(job_dir, state)
    damaged = job_dir / state.segments[1].file
    damaged.write_bytes(damaged.read_bytes()[:100])
    caplog.set_level("INFO", logger="transcoder.job")
    assert run_job(source, job_dir, tmp_path / "out.mp4", SETTINGS).status == "done"
    assert "resumed from its checkpoint: 1/6 segments done; to do: 1, 3-6" in caplog.text
    assert "segment 2/6: its file is missing or damaged; encoding it again" in caplog.text
    done_lines = [line for line in caplog.text.splitlines() if " done (" in line]
    # Segments run in parallel: they complete in any order.
    assert sorted(line.split("segment ")[1].split("/")[0] for line in done_lines) == ["1", "2", "3", "4", "5", "6"]
