"""The benchmark's PyAV legs still run against the engine as it is now (the ffmpeg leg needs Debian's ffmpeg, and
the tables need minutes: `make bench` is where they are measured)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests import checks
from tests.media import write_video

BENCH = Path(__file__).resolve().parent.parent / "bench" / "segmented_vs_single.py"


@pytest.mark.parametrize("leg", ["segmented", "single-pass"])
def test_a_pyav_leg_of_the_benchmark_runs_and_reports(tmp_path, leg):
    source = write_video(tmp_path / "source.mkv", seconds=1, codec="mpeg4", audio_channels=())
    output = tmp_path / f"{leg}.mp4"
    child = subprocess.run([sys.executable, str(BENCH), "--leg", leg, str(source), str(output)],
                           capture_output=True, text=True, timeout=300)
    assert child.returncode == 0, child.stderr
    report = json.loads(child.stdout.strip().splitlines()[-1])
    assert report["cpu_seconds"] > 0 and report["peak_rss_kib"] > 0 and report["encode_cpu_seconds"] > 0
    assert checks.facts(output).frames == checks.facts(source).frames


def test_the_parallel_benchmark_leg_runs_and_says_where_segments_went(tmp_path):
    source = write_video(tmp_path / "source.mkv", seconds=1, codec="mpeg4")
    output = tmp_path / "parallel.mp4"
    child = subprocess.run([sys.executable, str(BENCH.with_name("parallel_vs_ffmpeg.py")), "--leg", "parallel",
                            str(source), str(output)], capture_output=True, text=True, timeout=300)
    assert child.returncode == 0, child.stderr
    report = json.loads(child.stdout.strip().splitlines()[-1])
    assert report["cpu_seconds"] > 0 and report["where"].startswith("local; ")
    assert checks.facts(output).frames == checks.facts(source).frames
