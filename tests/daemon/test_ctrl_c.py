"""Ctrl-C as a terminal sends it, to the whole process group: the command ends with exit 130, no traceback, and
one line saying the work is kept and how to resume. SIGTERM (systemd's stop) stays a clean stop, exit 0."""

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.media import write_video
from tests.processes import DAEMON
from tests.waiting import wait_for
from tgvid.errors import CheckpointError
from transcoder.checkpoint import load


def start_in_own_group(*args, log: Path, env: dict | None = None) -> subprocess.Popen:
    """A tgvid command in a process group of its own, as a shell runs a foreground job; output into `log`."""
    with log.open("ab") as output:
        return subprocess.Popen([sys.executable, str(DAEMON), *map(str, args)], stdout=output,
                                stderr=subprocess.STDOUT, start_new_session=True, env={**os.environ, **(env or {})})


def press_ctrl_c(process: subprocess.Popen) -> int:
    os.killpg(process.pid, signal.SIGINT)
    return process.wait(timeout=30)


def segments_done(job_dir: Path) -> int:
    try:
        return load(job_dir).segments_done()
    except CheckpointError:
        return 0  # not written yet


def test_ctrl_c_during_a_transcode_keeps_the_segments_and_says_how_to_resume(tmp_path):
    source = write_video(tmp_path / "long.mkv", seconds=6, width=640, height=360, codec="mpeg4")
    job_dir, log = tmp_path / "long.work", tmp_path / "transcode.log"
    command = ("transcode", source, "--work", job_dir, "--segment-seconds", "0.5", "--preset", "medium")
    process = start_in_own_group(*command, log=log)
    wait_for(lambda: segments_done(job_dir) >= 2 or process.poll() is not None, 60, "two segments")
    assert press_ctrl_c(process) == 130
    lines = log.read_text().splitlines()
    assert "Traceback" not in log.read_text()
    assert "interrupted" in lines[-1] and str(job_dir) in lines[-1] and "run the same command again" in lines[-1]
    kept = segments_done(job_dir)
    assert kept >= 2
    again = subprocess.run([sys.executable, str(DAEMON), *map(str, command)], capture_output=True, text=True,
                           timeout=120)
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "long.tg.mp4").exists()


def test_ctrl_c_stops_the_transcoder_and_its_job_without_a_traceback(tmp_path):
    root, log = tmp_path / "root", tmp_path / "transcoder.log"
    (root / "inbox").mkdir(parents=True)
    write_video(root / "inbox" / "long.mkv", seconds=6, width=640, height=360, codec="mpeg4")
    process = start_in_own_group("transcoder", "--root", root, log=log, env={
        "TGVID_TRANSCODER_QUIET_SECONDS": "0.2", "TGVID_TRANSCODER_SEGMENT_SECONDS": "0.5",
        "TGVID_TRANSCODER_PRESET": "medium"})
    wait_for(lambda: any(segments_done(job) >= 1 for job in (root / "work").glob("*/")) or process.poll() is not None,
             60, "a segment of the job")
    assert press_ctrl_c(process) == 130
    text = log.read_text()
    assert "Traceback" not in text and "KeyboardInterrupt" not in text
    assert "transcoder: interrupted; every job is kept in" in text and "when `tgvid transcoder` starts again" in text
    assert (root / "inbox" / "long.mkv").exists()


def test_ctrl_c_stops_the_uploader_and_sigterm_is_a_clean_stop(tmp_path):
    root, log = tmp_path / "root", tmp_path / "uploader.log"
    for starts, (how, code) in enumerate(((signal.SIGINT, 130), (signal.SIGTERM, 0)), start=1):
        process = start_in_own_group("uploader", "--root", root, log=log)
        wait_for(lambda n=starts: log.exists() and log.read_text().count("uploader: watching") == n, 30,
                 "the uploader start")
        os.killpg(process.pid, how)
        assert process.wait(timeout=30) == code
    text = log.read_text()
    assert "Traceback" not in text
    assert "uploader: interrupted; every file not yet sent stays in" in text
    assert "uploader: stopped; every file not yet sent stays in" in text
