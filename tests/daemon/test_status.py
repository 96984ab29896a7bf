"""`tgvid status` reads folders and checkpoints only: it works with the daemon stopped."""

import json
import os
import re
import signal
import subprocess
import sys

from prometheus_client.parser import text_string_to_metric_families

from tests.media import write_video
from tests.processes import DAEMON, segments_done
from tests.waiting import wait_for
from tgvid.shownname import shortened
from tgvid.sidecar import MediaKind, Sidecar
from transcoder import checkpoint, history
from uploader.folder import FolderSender
from uploader.sender import Item


def status(root, *extra):
    return subprocess.run([sys.executable, str(DAEMON), "status", "--root", str(root), *extra],
                          capture_output=True, text=True, timeout=60)


def inspect(job_dir):
    return subprocess.run([sys.executable, str(DAEMON), "inspect", str(job_dir)], capture_output=True, text=True,
                          timeout=60).stdout


def test_status_of_an_empty_root_says_nothing_is_waiting(tmp_path):
    result = status(tmp_path)
    assert result.returncode == 0, result.stderr
    assert "transcoder" in result.stdout and "completed       0" in result.stdout
    assert "free on the root's file system" in result.stdout


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


def test_status_shows_the_running_transcode_with_its_phase_and_later_the_paused_one(tmp_path, daemon):
    running = daemon(segment_seconds=0.5, preset="medium")
    # Long enough that two workers are still encoding it when the daemon is stopped, several status calls later.
    write_video(tmp_path / "inbox" / "long.mkv", codec="mpeg4", seconds=40, width=640, height=480)
    in_flight = r"encoding segments? (\d+)(?:, \d+)*(?:/| of )(\d+)"  # one segment, or several side by side
    shown = wait_for(lambda: re.search(rf"running: {in_flight}, ", status(tmp_path).stdout), 60,
                     "the transcode to show the segment it encodes")
    assert int(shown[2]) > 1 and int(shown[1]) <= int(shown[2])
    text = status(tmp_path).stdout
    assert text.startswith("transcoder\n")
    assert re.search(rf"  running         long.mkv \(transcode\): (probing|{in_flight})", text), text
    assert "    long.mkv (job " in text
    assert "queue ETA" in text
    job_dir = next(entry for entry in (tmp_path / "work").iterdir() if entry.is_dir())
    checkpoint_written = checkpoint.path_in(job_dir).stat().st_mtime
    last_activity = json.loads(status(tmp_path, "--json").stdout)["transcoder"]["last_activity_at"]
    assert last_activity >= checkpoint_written, "the last checkpoint (or heartbeat) is the last sign of life"
    wait_for(lambda: re.search(r"#\d+ .* encoding", inspect(job_dir)), 60, "inspect to show a segment as encoding")
    wait_for(lambda: segments_done(job_dir) >= 1, 60, "a segment done, which gives the job its speed")
    running.stop()
    text = status(tmp_path).stdout
    assert text.startswith("transcoder (not running)\n")
    assert "  running         -" in text
    assert "waiting transcodes:              1  (long.mkv)" in text
    assert re.search(r"queue ETA       \d+:\d\d  \(0:\d\d of media to convert at [\d.]+x real time\)", text), text
    assert re.search(rf"waiting its turn at {in_flight}; resumes from its checkpoint", text), text
    assert "      encoded on local pid " in text, "where the done segments were encoded, and their seconds"


def test_a_second_transcoder_on_the_same_root_refuses_to_start(tmp_path, daemon):
    first = daemon()
    second = subprocess.run([sys.executable, str(DAEMON), "transcoder", "--root", str(tmp_path)],
                            capture_output=True, text=True, timeout=60)
    assert second.returncode == 2
    assert "another transcoder is already running on this root" in second.stderr
    assert first.stop() == 0


def test_rejected_inputs_are_counted_apart_from_failed_conversions(tmp_path, daemon):
    running = daemon()
    (tmp_path / "inbox" / "notes.mp4").write_bytes(b"no video in here")
    write_video(tmp_path / "inbox" / "fine.mp4", seconds=1)
    wait_for(lambda: (tmp_path / "outbox" / "fine.mp4").exists() and (tmp_path / "quarantine" / "notes.mp4").exists(),
             60, "the file handed on and the bad input in quarantine")
    running.stop()
    transcoder = json.loads(status(tmp_path, "--json").stdout)["transcoder"]
    assert (transcoder["completed"], transcoder["quarantined"], transcoder["rejected"]) == (1, 1, 1)
    assert transcoder["success_rate"] == 1.0
    assert "quarantined     1  (1 rejected input(s), 0 failed conversion(s)" in status(tmp_path).stdout


def test_a_transcode_stopped_and_resumed_counts_every_stretch_it_ran(tmp_path, daemon):
    first = daemon(segment_seconds=0.5, preset="medium")
    write_video(tmp_path / "inbox" / "long.mkv", codec="mpeg4", seconds=6, width=640, height=360)
    wait_for(lambda: "segment 2/" in first.log(), 60, "two segments")
    assert first.stop() == 0
    jobs = json.loads(status(tmp_path, "--json").stdout)["transcoder"]["jobs"]
    first_stretch = next(job for job in jobs if job["source"] == "long.mkv")["ran_seconds"]
    assert first_stretch > 0
    second = daemon(segment_seconds=0.5, preset="medium")
    wait_for(lambda: (tmp_path / "outbox" / "long.mp4").exists(), 120, "the transcode to finish")
    second.stop()
    transcoder = json.loads(status(tmp_path, "--json").stdout)["transcoder"]
    assert transcoder["completed"] == 1
    assert transcoder["conversion_seconds"] > first_stretch


def test_watch_redraws_every_second_until_ctrl_c_ends_it_with_130(tmp_path):
    output, errors = tmp_path / "watch.out", tmp_path / "watch.err"
    with output.open("wb") as sink, errors.open("wb") as error_sink:
        watching = subprocess.Popen([sys.executable, str(DAEMON), "status", "--watch", "--root", str(tmp_path)],
                                    stdout=sink, stderr=error_sink, start_new_session=True)
    wait_for(lambda: output.read_text().count("every 1 s: tgvid status") >= 2, 30, "two redraws")
    assert output.read_text().count("\x1b[H\x1b[2J") >= 2, "each redraw clears the screen first"
    os.killpg(watching.pid, signal.SIGINT)  # Ctrl-C, as a terminal sends it to the foreground group
    assert watching.wait(timeout=30) == 130
    assert "Traceback" not in errors.read_text() and "interrupted" in errors.read_text()


def test_prometheus_text_holds_the_counters_and_gauges(tmp_path):
    (tmp_path / "work").mkdir()
    history.save(tmp_path / "work", history.History(completed=3, quarantined=2, rejected=1, failed=4,
                                                    conversion_seconds=12.5, media_seconds=30.0))
    (tmp_path / "inbox").mkdir()
    (tmp_path / "inbox" / "new.mp4").write_bytes(b"x" * 1000)
    result = status(tmp_path, "--prometheus")
    assert result.returncode == 0, result.stderr
    samples = {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
               for family in text_string_to_metric_families(result.stdout) for sample in family.samples}
    assert samples[("tgvid_transcoder_completed_total", ())] == 3
    assert samples[("tgvid_transcoder_rejected_total", ())] == 1
    assert samples[("tgvid_transcoder_conversion_seconds_total", ())] == 12.5
    assert samples[("tgvid_transcoder_up", ())] == 0
    assert samples[("tgvid_transcoder_waiting", (("class", "not yet looked at"),))] == 1
    assert samples[("tgvid_folder_bytes", (("folder", "inbox"),))] == 1000
    assert samples[("tgvid_free_bytes", ())] > 0


def test_a_delivered_file_counts_once_in_the_disk_line_though_its_receipt_is_another_name_of_it(tmp_path):
    sent = tmp_path / "outbox" / "notes.pdf"
    sent.parent.mkdir()
    sent.write_bytes(b"x" * 3000)
    FolderSender(tmp_path / "delivered").send([Item(sent, Sidecar(MediaKind.DOCUMENT, 3000), 7, "")], "",
                                              lambda *progress: None)
    assert (tmp_path / "delivered" / "notes.pdf").stat().st_nlink == 2, "shown under its name and its receipt"
    report = json.loads(status(tmp_path, "--json").stdout)
    assert report["transcoder"]["disk"]["folders_bytes"]["delivered"] == 3000
    assert "delivered 2.9 KiB" in status(tmp_path).stdout


def test_a_240_character_name_is_shortened_on_the_status_lines_and_whole_in_json(tmp_path):
    name = ("a holiday at the sea with the whole family and the dog " * 5)[:236] + ".mp4"
    for folder in ("inbox", "outbox"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / name).write_bytes(b"not yet looked at, not yet sent")
    text = status(tmp_path).stdout
    shown = shortened(name)
    assert shown.startswith("a holiday at the sea") and shown.endswith(".mp4") and len(shown) < 80
    lines = text.splitlines()
    assert f"  waiting not yet looked at:       1  ({shown})" in lines and f"  pending {shown}" in lines
    assert name not in text
    report = json.loads(status(tmp_path, "--json").stdout)
    assert report["transcoder"]["waiting"]["not yet looked at"] == [name] and report["uploader"]["pending"] == [name]


def test_originals_older_than_the_setting_are_removed(tmp_path, daemon):
    running = daemon(originals_keep_days=0.00001)  # under a second
    write_video(tmp_path / "inbox" / "fine.mp4", seconds=1)
    wait_for(lambda: "originals: removed 1 file(s)" in running.log(), 60, "the source pruned from originals/")
    assert (tmp_path / "outbox" / "fine.mp4").exists()
    assert list((tmp_path / "originals").iterdir()) == []
