"""Ctrl-C as a terminal sends it, to the whole process group: the command ends with exit 130, no traceback, and
one line saying the work is kept and how to resume. SIGTERM (systemd's stop) stays a clean stop, exit 0."""

import signal

from tests.media import write_video
from tests.processes import DaemonProcess, TgvidProcess, run_tgvid, segments_done
from tests.waiting import wait_for


def test_ctrl_c_during_a_transcode_keeps_the_segments_and_says_how_to_resume(tmp_path):
    source = write_video(tmp_path / "long.mkv", seconds=6, width=640, height=360, codec="mpeg4")
    job_dir, log = tmp_path / "long.work", tmp_path / "transcode.log"
    command = ("transcode", source, "--work", job_dir, "--segment-seconds", "0.5", "--preset", "medium")
    transcode = TgvidProcess(*command, log_path=log, own_group=True)
    wait_for(lambda: segments_done(job_dir) >= 2 or transcode.process.poll() is not None, 60, "two segments")
    assert transcode.ctrl_c() == 130
    text = transcode.log()
    assert "Traceback" not in text
    lines = text.splitlines()
    assert "interrupted" in lines[-1] and str(job_dir) in lines[-1] and "run the same command again" in lines[-1]
    kept = segments_done(job_dir)
    assert kept >= 2
    again = run_tgvid(*command)
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "long.tg.mp4").exists()


def test_ctrl_c_stops_the_transcoder_and_its_job_without_a_traceback(tmp_path):
    root, log = tmp_path / "root", tmp_path / "transcoder.log"
    (root / "inbox").mkdir(parents=True)
    write_video(root / "inbox" / "long.mkv", seconds=6, width=640, height=360, codec="mpeg4")
    transcoder = DaemonProcess("transcoder", root, log, own_group=True, env={
        "TGVID_TRANSCODER_QUIET_SECONDS": "0.2", "TGVID_TRANSCODER_SEGMENT_SECONDS": "0.5",
        "TGVID_TRANSCODER_PRESET": "medium"})
    wait_for(lambda: any(segments_done(job) >= 1 for job in (root / "work").glob("*/"))
             or transcoder.process.poll() is not None, 60, "a segment of the job")
    assert transcoder.ctrl_c() == 130
    text = transcoder.log()
    assert "Traceback" not in text and "KeyboardInterrupt" not in text
    assert "transcoder: interrupted; every job is kept in" in text and "when the transcoder starts again" in text
    assert (root / "inbox" / "long.mkv").exists()


def test_ctrl_c_stops_the_uploader_and_sigterm_is_a_clean_stop(tmp_path):
    root, log = tmp_path / "root", tmp_path / "uploader.log"
    interrupted = DaemonProcess("uploader", root, log, own_group=True).wait_ready()
    assert interrupted.ctrl_c() == 130
    assert DaemonProcess("uploader", root, log, own_group=True).stop(signal.SIGTERM) == 0
    text = log.read_text()
    assert "Traceback" not in text
    assert "uploader: interrupted; every file not yet sent stays in" in text
    assert "uploader: stopped; every file not yet sent stays in" in text
