"""`tgvid transcode` and `tgvid inspect` as a person runs them: exit codes, messages, resume after SIGKILL."""

import io
import json
import logging
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests import checks
from tests.media import write_video
from tests.processes import DAEMON
from tgvid.errors import CheckpointError
from transcoder import oneshot, status
from transcoder.checkpoint import FORMAT_VERSION, load
from transcoder.job import EngineSettings, run_job
from transcoder.pool import PoolSettings

FAST = ["--segment-seconds", "0.5", "--preset", "ultrafast", "--crf", "30"]


def tgvid(*args, timeout=300):
    return subprocess.run([sys.executable, str(DAEMON), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


def start(*args):
    return subprocess.Popen([sys.executable, str(DAEMON), *map(str, args)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def kill(process) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait()
    process.stderr.close()


def wait_for_segments(job_dir: Path, count: int, process, deadline_seconds: float = 120) -> None:
    """Wait until the checkpoint shows `count` finished segments (or fail at the deadline)."""
    deadline = time.monotonic() + deadline_seconds
    while time.monotonic() < deadline:
        try:
            if load(job_dir).segments_done() >= count:
                return
        except CheckpointError:
            pass  # not written yet: the deadline decides
        assert process.poll() is None, f"the transcode ended early: {process.stderr.read()}"
        time.sleep(0.02)
    pytest.fail(f"no {count} segments in {deadline_seconds} s")


@pytest.fixture(scope="module")
def long_source(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("long")
    return write_video(folder / "long.mkv", seconds=8, width=640, height=360, codec="mpeg4", audio_codec="ac3")


def test_transcode_writes_the_output_beside_the_source_and_cleans_up(tmp_path):
    source = write_video(tmp_path / "clip.mkv", codec="mpeg4", seconds=1)
    result = tgvid("transcode", source, *FAST)
    assert result.returncode == 0, result.stderr
    output = tmp_path / "clip.tg.mp4"
    checks.assert_faithful(checks.facts(source), checks.facts(output))
    assert "clip.tg.mp4: transcode" in result.stdout
    assert "transcode (video codec mpeg4 is not H.264" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mkv", "clip.tg.mp4"]


def test_rejected_input_exits_3_with_one_line_and_no_output(tmp_path):
    source = tmp_path / "notes.mp4"
    source.write_bytes(b"shopping list: milk, eggs\n" * 100)
    result = tgvid("transcode", source, "-o", tmp_path / "out.mp4")
    assert result.returncode == 3
    lines = [line for line in result.stderr.splitlines() if line.startswith("tgvid:")]
    assert lines == [f"tgvid: {source}: rejected: not a media file FFmpeg can open (Invalid data found when "
                     "processing input)"]
    assert not (tmp_path / "out.mp4").exists()
    assert source.read_bytes() == b"shopping list: milk, eggs\n" * 100


def test_missing_source_is_rejected_naming_it(tmp_path):
    result = tgvid("transcode", tmp_path / "nowhere.mov")
    assert result.returncode == 3
    assert "nowhere.mov: rejected: cannot read the file (No such file or directory)" in result.stderr


def test_usage_errors_exit_2(tmp_path):
    assert tgvid("transcode").returncode == 2
    assert tgvid("transcode", tmp_path / "x.mp4", "--crf", "high").returncode == 2


def test_sigkill_after_some_segments_resumes_without_reencoding_them(tmp_path, long_source):
    uninterrupted = tmp_path / "uninterrupted.mp4"
    assert tgvid("transcode", long_source, "-o", uninterrupted, *FAST).returncode == 0

    output = tmp_path / "resumed.mp4"
    job_dir = tmp_path / "resumed.mp4.work"
    process = start("transcode", long_source, "-o", output, *FAST)
    wait_for_segments(job_dir, 3, process)
    kill(process)
    state = load(job_dir)
    done = [s for s in state.segments if s.state == "done"]
    assert len(done) >= 3
    assert not output.exists()

    result = tgvid("transcode", long_source, "-o", output, *FAST)
    assert result.returncode == 0, result.stderr
    assert f"resumed from its checkpoint: {state.segments_to_do_text()}" in result.stderr
    assert not job_dir.exists()
    checks.assert_faithful(checks.facts(long_source), checks.facts(output))
    assert output.read_bytes() == uninterrupted.read_bytes(), "a resumed run must give the same file"
    total = len(state.segments)
    encoded_again = [s.index for s in done if f"segment {s.index + 1}/{total} done" in result.stderr]
    assert encoded_again == [], "segments finished before the kill were encoded again"
    assert f"segment {total}/{total} done" in result.stderr


def test_sigkill_at_random_moments_still_ends_in_a_correct_output(tmp_path, long_source):
    output = tmp_path / "out.mp4"
    chance = random.Random(20261124)
    for _ in range(4):
        process = start("transcode", long_source, "-o", output, *FAST)
        time.sleep(chance.uniform(0.2, 1.5))
        kill(process)
    result = tgvid("transcode", long_source, "-o", output, *FAST)
    assert result.returncode == 0, result.stderr
    checks.assert_faithful(checks.facts(long_source), checks.facts(output))


def test_inspect_prints_a_checkpoint_as_text_and_json(tmp_path, long_source):
    output = tmp_path / "out.mp4"
    job_dir = tmp_path / "out.mp4.work"
    process = start("transcode", long_source, "-o", output, *FAST)
    wait_for_segments(job_dir, 2, process)
    kill(process)

    text = tgvid("inspect", job_dir)
    assert text.returncode == 0
    assert "verdict  transcode: video codec mpeg4 is not H.264" in text.stdout
    assert "segments " in text.stdout and " done" in text.stdout and "pending" in text.stdout
    assert re.search(r"done .* s on local pid \d+", text.stdout), "where each segment was encoded"
    assert re.search(r"; \d+\.\d s of wall time encoding them", text.stdout), "the job's time, the kill's run included"
    as_json = json.loads(tgvid("inspect", job_dir / "checkpoint.msgpack", "--json").stdout)
    assert as_json["version"] == FORMAT_VERSION and as_json["encoding_wall_seconds"] > 0
    assert as_json["verdict"]["kind"] == "transcode"
    assert sum(s["state"] == "done" for s in as_json["segments"]) >= 2
    assert all(s["encoded_on"].startswith("local pid ") for s in as_json["segments"] if s["state"] == "done")


def test_inspect_on_a_folder_without_a_checkpoint_says_so(tmp_path):
    result = tgvid("inspect", tmp_path)
    assert result.returncode == 1
    assert "no checkpoint here" in result.stderr


def test_inspect_on_a_video_says_it_wants_a_job_folder(tmp_path, capsys):
    import daemon as daemon_cli

    video = write_video(tmp_path / "clip.mp4", seconds=0.2)
    assert daemon_cli.main(["inspect", str(video)]) == 1
    assert capsys.readouterr().err == f"tgvid: {video}: not a job folder: tgvid inspect reads work/<job> (`tgvid " \
                                      "status` shows each job's id)\n"


def test_a_file_name_that_is_not_utf8_converts(tmp_path):
    made = write_video(tmp_path / "made.mkv", codec="mpeg4", seconds=1)
    source = tmp_path / os.fsdecode(b"caf\xe9.mkv")  # Latin-1, as old cameras and Windows archives write it
    made.rename(source)
    result = tgvid("transcode", source, "--work", tmp_path / "job", *FAST)
    assert result.returncode == 0, result.stderr
    assert "caf\\udce9.tg.mp4" in result.stdout
    checks.assert_streamable(checks.facts(tmp_path / os.fsdecode(b"caf\xe9.tg.mp4")))


def test_the_progress_bar_shows_the_eta_that_status_shows(tmp_path, monkeypatch):
    """Both count the job's wall time, so two workers side by side do not make the bar's ETA twice too long."""
    source = write_video(tmp_path / "clip.mkv", seconds=3, codec="mpeg4")
    job_dir, shown = tmp_path / "job", io.StringIO()
    asked = iter([False, False, False] + [True] * 100)
    result = run_job(source, job_dir, tmp_path / "out.mp4", EngineSettings(segment_seconds=0.5, preset="ultrafast"),
                     should_yield=lambda: next(asked), segment_pool=PoolSettings(workers=2))
    assert result.status == "yielded"
    monkeypatch.setattr(logging.getLogger(), "handlers", [])  # the bar filters the handlers it finds: none here
    oneshot.ProgressBar(shown, "clip.mkv")(load(job_dir))
    eta = status.job_progress(job_dir)["eta_seconds"]
    assert eta is not None and f"3/6 segments  50 %  ETA {eta // 60}:{eta % 60:02d}" in shown.getvalue()
