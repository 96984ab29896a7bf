"""`tgvid status` reads folders and checkpoints only: it works with the daemon stopped."""

import json
import subprocess
import sys

from tests.media import write_video
from tests.processes import DAEMON
from tests.waiting import wait_for


def status(root, *extra):
    return subprocess.run([sys.executable, str(DAEMON), "status", "--root", str(root), *extra],
                          capture_output=True, text=True, timeout=60)


def test_status_of_an_empty_root_says_nothing_is_waiting(tmp_path):
    result = status(tmp_path)
    assert result.returncode == 0, result.stderr
    assert "transcoder" in result.stdout and "completed       0" in result.stdout


def test_status_after_a_run_shows_counts_queue_and_job_progress(tmp_path, daemon):
    running = daemon(segment_seconds=0.5)
    write_video(tmp_path / "inbox" / "a.mkv", codec="mpeg4", audio_codec="ac3", seconds=2)
    wait_for(lambda: (tmp_path / "outbox" / "a.mp4").exists(), 60, "the conversion")
    running.stop()
    (tmp_path / "inbox" / "later.mp4").write_bytes(b"not yet looked at")
    report = json.loads(status(tmp_path, "--json").stdout)
    transcoder = report["transcoder"]
    assert transcoder["completed"] == 1 and transcoder["success_rate"] == 1.0
    assert transcoder["average_conversion_seconds"] > 0
    assert transcoder["waiting"]["not yet looked at"] == ["later.mp4"]
    assert "uploader" in report
    text = status(tmp_path).stdout
    assert "success rate 100%" in text and "later.mp4" in text


def test_status_shows_the_running_transcode_and_later_the_paused_one(tmp_path, daemon):
    running = daemon(segment_seconds=0.5)
    write_video(tmp_path / "inbox" / "long.mkv", codec="mpeg4", seconds=12, width=640, height=480)
    wait_for(lambda: "running, " in status(tmp_path).stdout, 60, "the transcode to show as running")
    text = status(tmp_path).stdout
    assert text.startswith("transcoder\n")
    assert "  running         long.mkv (transcode)" in text
    assert "    long.mkv (job " in text and "segment " in text
    running.stop()
    text = status(tmp_path).stdout
    assert text.startswith("transcoder (not running)\n")
    assert "  running         -" in text
    assert "waiting transcodes:              1  (long.mkv)" in text
    assert "waiting its turn; resumes from its checkpoint" in text


def test_a_second_transcoder_on_the_same_root_refuses_to_start(tmp_path, daemon):
    first = daemon()
    second = subprocess.run([sys.executable, str(DAEMON), "transcoder", "--root", str(tmp_path)],
                            capture_output=True, text=True, timeout=60)
    assert second.returncode == 2
    assert "another transcoder is already running on this root" in second.stderr
    assert first.stop() == 0
