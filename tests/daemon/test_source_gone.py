"""A source deleted while it is converted: the daemon says the source is gone, removes its job folder and counts
it; no traceback, no retry, and `tgvid status` does not show it waiting."""

from tests.media import write_video
from tests.processes import run_tgvid, segments_done
from tests.waiting import wait_for
from transcoder import history
from transcoder.daemon import job_id


def test_a_source_deleted_mid_conversion_is_said_gone_and_its_job_folder_removed(tmp_path, daemon):
    running = daemon(segment_seconds=0.5)
    source = write_video(tmp_path / "long.mkv", codec="mpeg4", seconds=12, width=640, height=480)
    source = source.rename(tmp_path / "inbox" / "long.mkv")
    job_dir = tmp_path / "work" / job_id("long.mkv")
    wait_for(lambda: segments_done(job_dir) >= 1, 60, "the first segment")
    source.unlink()
    wait_for(lambda: "the source is gone from the inbox" in running.log(), 60, "the daemon to notice")
    assert not job_dir.exists()
    assert "unexpected error" not in running.log() and "Traceback" not in running.log()
    assert "failed (attempt" not in running.log()
    wait_for(lambda: history.load(tmp_path / "work").sources_gone == 1, 30, "the count")
    shown = run_tgvid("status", "--root", tmp_path)
    assert "sources gone    1" in shown.stdout
    assert "long.mkv" not in shown.stdout


def test_a_source_deleted_while_the_daemon_is_stopped_is_not_shown_waiting(tmp_path, daemon):
    running = daemon(segment_seconds=0.5)
    source = write_video(tmp_path / "long.mkv", codec="mpeg4", seconds=12, width=640, height=480)
    source = source.rename(tmp_path / "inbox" / "long.mkv")
    job_dir = tmp_path / "work" / job_id("long.mkv")
    wait_for(lambda: segments_done(job_dir) >= 1, 60, "the first segment")
    running.stop()
    source.unlink()
    shown = run_tgvid("status", "--root", tmp_path)
    assert "its source is gone from the inbox; the transcoder removes the job" in shown.stdout
    assert "waiting its turn" not in shown.stdout
    again = daemon(segment_seconds=0.5)
    wait_for(lambda: not job_dir.exists(), 30, "the job folder to be removed")
    assert "its source" in again.log() and "is gone; removing the job folder" in again.log()
    wait_for(lambda: history.load(tmp_path / "work").sources_gone == 1, 30, "the count")
