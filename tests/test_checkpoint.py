"""Checkpoints: the format round-trips, damage is named, and a job trusts only what its checkpoint proves."""

import msgpack
import pytest

from tests import checks
from tests.media import write_video
from tgvid.errors import CheckpointError
from transcoder import checkpoint
from transcoder.job import EngineSettings, run_job

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
    with pytest.raises(CheckpointError.NewerVersion, match="format version 7, this one reads up to 1"):
        checkpoint.load(job_dir)


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
