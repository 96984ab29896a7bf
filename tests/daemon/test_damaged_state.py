"""Damaged state files (a checkpoint, the counters, the ledger) never crash-loop the transcoder, never quarantine a
good source and never take `tgvid status` down: each is named, set aside or started afresh, and the rest goes on."""


import msgpack
import pytest

from tests.media import write_video
from tests.processes import run_tgvid
from tests.waiting import wait_for
from transcoder import checkpoint, history
from transcoder.daemon import job_id
from transcoder.job import EngineSettings, run_job
from uploader import ledger


def test_a_damaged_checkpoint_is_reported_then_set_aside_once_and_its_source_converted(tmp_path, daemon):
    (tmp_path / "inbox").mkdir()
    source = write_video(tmp_path / "inbox" / "clip.mkv", seconds=2, codec="mpeg4")
    job_dir = tmp_path / "work" / job_id("clip.mkv")
    asked = iter([False, True])  # two segments, then stop as if the daemon had been killed
    settings = EngineSettings(segment_seconds=0.5, crf=30, preset="ultrafast")
    assert run_job(source, job_dir, tmp_path / "unused.mp4", settings, should_yield=lambda: next(asked)).status == \
        "yielded"
    path = checkpoint.path_in(job_dir)
    path.write_bytes(path.read_bytes().replace(b"\xa4path", b"\xa4pbth"))  # one byte of a key name

    shown = run_tgvid("status", "--root", str(tmp_path))
    assert shown.returncode == 0, shown.stderr
    assert f"job {job_dir.name}: checkpoint damaged (source: unknown field 'pbth')" in shown.stdout
    inspected = run_tgvid("inspect", str(job_dir))
    assert inspected.returncode == 1
    assert "unreadable checkpoint: source: unknown field 'pbth'" in inspected.stderr
    assert "Traceback" not in shown.stderr + inspected.stderr

    running = daemon(segment_seconds=0.5)
    wait_for(lambda: (tmp_path / "outbox" / "clip.mp4").exists(), 60, "the conversion")
    assert running.log().count("set aside") == 1
    assert "unknown field 'pbth'" in running.log()
    assert not any((tmp_path / "quarantine").iterdir())


def test_counters_of_another_shape_start_afresh(tmp_path, daemon):
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / history.FILE_NAME).write_bytes(b"\x01")  # a valid msgpack value, not a map
    shown = run_tgvid("status", "--root", str(tmp_path))
    assert shown.returncode == 0, shown.stderr
    assert "completed       0" in shown.stdout
    running = daemon()
    write_video(tmp_path / "media.mkv", seconds=1, codec="mpeg4").rename(tmp_path / "inbox" / "a.mkv")
    wait_for(lambda: (tmp_path / "outbox" / "a.mp4").exists(), 60, "the conversion")
    assert "the counters start afresh" in running.log()
    wait_for(lambda: history.load(tmp_path / "work").completed == 1, 30, "the counters to count the file")


def test_an_unreadable_ledger_is_named_and_the_transcoder_still_shown(tmp_path):
    ledger_path = ledger.path_in(tmp_path)
    ledger_path.parent.mkdir(parents=True)
    ledger_path.write_bytes(b"\xc1 not msgpack")
    (tmp_path / "outbox").mkdir()
    (tmp_path / "outbox" / "a.mp4").write_bytes(b"waiting to be sent")
    shown = run_tgvid("status", "--root", str(tmp_path))
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("transcoder (not running)\n")
    assert "completed       0" in shown.stdout
    assert "uploader (not running): 1 pending; what was sent is not known:" in shown.stdout
    assert f"{ledger_path}: unreadable uploader ledger" in shown.stdout


@pytest.mark.parametrize(("stored", "named"), [
    (b"\x01", "not a map (a value of type int)"),
    (msgpack.packb(["completed", 3]), "not a map (a value of type list)"),
    (msgpack.packb({"version": 1, "completed": "many"}), "field 'completed' is a str, not int"),
    (msgpack.packb({"version": 1, "complete": 3}), "unknown field 'complete'"),
    (msgpack.packb({"version": 1, "queue": [{"relpath": "a.mkv", "kind": "pass", "arrived_at": 1.0}]}),
     "queue: missing field 'not_before'"),
    (msgpack.packb({"version": 1, "running": {"relpath": "a.mkv", "kind": "fast", "job_id": "1", "started_at": 1}}),
     "running: kind 'fast' is not a verdict"),
])
def test_counters_that_do_not_validate_start_afresh_and_say_why(tmp_path, caplog, stored, named):
    (tmp_path / history.FILE_NAME).write_bytes(stored)
    assert history.load(tmp_path) == history.History()
    assert named in caplog.text and "the counters start afresh" in caplog.text


def test_counters_of_format_1_are_kept_and_upgraded(tmp_path):
    (tmp_path / history.FILE_NAME).write_bytes(msgpack.packb({"version": 1, "completed": 4, "quarantined": 1,
                                                              "conversion_seconds": 8.0}))
    past = history.load(tmp_path)
    assert (past.completed, past.quarantined, past.rejected, past.jobs) == (4, 1, 0, {})
    assert past.average_conversion_seconds() == 2.0


def test_counters_round_trip(tmp_path):
    kept = history.History(completed=2, sources_gone=1, jobs={"a.mkv": {
        "media_seconds": 3.0, "ran_seconds": 1.5, "failed_attempts": 1, "deferrals": 2}}, queue=[
        {"relpath": "a.mkv", "kind": "remux", "arrived_at": 1.0, "not_before": 0.0}])
    history.save(tmp_path, kept)
    assert history.load(tmp_path) == kept
