"""The segment pool: segments encoded in parallel by local workers or on a real Dask cluster (processes on the
loopback), each checkpointed with where it was encoded; a worker killed mid-file costs only its segment."""

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest

from tests import checks
from tests.media import write_video
from tgvid.errors import VerifyFailed
from transcoder import checkpoint, pool
from transcoder.job import EngineSettings, run_job
from transcoder.pool import PoolSettings
from transcoder.segment import SegmentSource, SegmentWork

distributed = pytest.importorskip("distributed", reason="the cluster extra is not installed: pip install -e '.[test]'")

SETTINGS = EngineSettings(segment_seconds=0.5, crf=30, preset="ultrafast")


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("pool")
    # HEVC (x265 makes open GOPs) in Matroska: after a seek, the first packets have no decode timestamps (the
    # carrier's NUT needs them) and come before the keyframe in time.
    return write_video(folder / "clip.mkv", seconds=2.5, width=160, height=120, codec="libx265", gop_frames=12)


@contextlib.contextmanager
def local_cluster():
    """Two single-threaded Dask worker processes and their scheduler, on the loopback."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=":0", silence_logs=logging.ERROR) as started:
        # distributed's own thread pools (for callbacks and for work off its event loop) start with the first
        # client that needs them and live as long as the process: started here, the tests do not count them.
        with distributed.Client(started, set_as_default=False) as client:
            warm = client.submit(int, 1, pure=False)
            warm.add_done_callback(lambda future: None)
            warm.result()
        yield started


@pytest.fixture(scope="module")
def cluster():
    with local_cluster() as started:
        yield started


def test_a_memory_budget_lowers_the_worker_count():
    one_mib = pool.worker_memory_mib(1920, 1080)
    assert pool.local_workers(PoolSettings(workers=4, max_memory_mib=2 * one_mib), 1920, 1080, 30)[0] == 2
    assert pool.local_workers(PoolSettings(workers=4, max_memory_mib=1), 1920, 1080, 30)[0] == 1
    assert pool.local_workers(PoolSettings(workers=4, max_memory_mib=100 * one_mib), 1920, 1080, 3)[0] == 3


def test_a_worker_starts_without_numpy():
    # A worker imports what a segment needs, and the command it was started from (multiprocessing's spawn runs the
    # main module again): numpy alone took half of its start (bench/README.md).
    imported = subprocess.run([sys.executable, "-c", "import sys, daemon, transcoder.pool; print(sorted(sys.modules))"],
                              capture_output=True, text=True, check=True, cwd=Path(__file__).parents[1]).stdout
    assert "'numpy'" not in imported and "'av'" in imported


def test_local_workers_encode_the_segments_and_the_checkpoint_says_where(tmp_path, source):
    result = run_job(source, tmp_path / "job", tmp_path / "out.mp4", SETTINGS, segment_pool=PoolSettings(workers=2))
    assert result.status == "done"
    checks.assert_faithful(checks.facts(source), checks.facts(tmp_path / "out.mp4"))
    segments = checkpoint.load(tmp_path / "job").segments
    assert len(segments) >= 4
    assert all(s.encoded_on.startswith("local pid ") and s.encode_seconds > 0 for s in segments)
    assert not any(s.encoded_on == f"local pid {os.getpid()}" for s in segments), "encoded by the workers"


def test_the_audio_is_encoded_while_the_workers_encode_the_last_segments(tmp_path, caplog):
    source = write_video(tmp_path / "clip.mkv", seconds=1.2, width=160, height=120, codec="mpeg4", gop_frames=12,
                         audio_codec="ac3")
    caplog.set_level(logging.INFO, logger="transcoder.job")
    result = run_job(source, tmp_path / "job", tmp_path / "out.mp4", SETTINGS, segment_pool=PoolSettings(workers=2))
    assert result.status == "done" and result.has_audio
    checks.assert_faithful(checks.facts(source), checks.facts(tmp_path / "out.mp4"))
    said = [record.getMessage() for record in caplog.records if record.name == "transcoder.job"]
    audio = next(n for n, message in enumerate(said) if message.endswith(": audio encoded"))
    segments_done = [n for n, message in enumerate(said) if " done (" in message]
    assert len(segments_done) == 2 and audio < segments_done[0], said  # both segments were in the pool meanwhile


def test_a_segment_that_decodes_into_fewer_frames_than_encoded_fails_its_check(tmp_path, source):
    run_job(source, tmp_path / "job", tmp_path / "out.mp4", SETTINGS, should_yield=iter([False, True, True]).__next__)
    first = checkpoint.load(tmp_path / "job").segments[0]
    with pytest.raises(VerifyFailed, match=f"decodes into {first.frames} frames; {first.frames + 1} were encoded"):
        pool.verify_segment(tmp_path / "job" / first.file, first.frames + 1)


def test_segments_run_on_the_dask_cluster_and_come_back_as_files(tmp_path, source, cluster):
    result = run_job(source, tmp_path / "job", tmp_path / "out.mp4", SETTINGS,
                     segment_pool=PoolSettings(cluster=cluster.scheduler_address))
    assert result.status == "done"
    checks.assert_faithful(checks.facts(source), checks.facts(tmp_path / "out.mp4"))
    workers = set(cluster.scheduler_info["workers"])
    assert {s.encoded_on for s in checkpoint.load(tmp_path / "job").segments} <= workers


def test_a_dask_worker_killed_mid_file_costs_only_its_segment(tmp_path, source):
    killed = []
    # A cluster of its own: the worker its nanny starts again belongs to no other test.
    with local_cluster() as cluster, distributed.Client(cluster, set_as_default=False) as client:
        pids = client.run(os.getpid)

        def kill_a_worker_after_the_first_segment(state) -> None:
            if not killed and state.segments_done() >= 1:
                victim = next(iter(pids.values()))
                os.kill(victim, signal.SIGKILL)
                killed.append(victim)

        result = run_job(source, tmp_path / "job", tmp_path / "out.mp4", SETTINGS,
                         segment_pool=PoolSettings(cluster=cluster.scheduler_address),
                         on_progress=kill_a_worker_after_the_first_segment)
    assert killed and result.status == "done"
    checks.assert_faithful(checks.facts(source), checks.facts(tmp_path / "out.mp4"))


def test_a_worker_of_another_build_refuses_the_segment_with_the_reason(source, cluster):
    task = pool.SegmentTask(0, SegmentSource(source, 0, Fraction(1, 1000), True), SegmentWork(0, None, None), None, 1,
                            Path("unused.mp4"), "clip.mkv", 1, "tgvid 0.0.1, PyAV 1.0, x264 - core 1")
    with distributed.Client(cluster.scheduler_address, set_as_default=False) as client:
        refused = client.submit(pool.encode_remote, task, b"", pure=False)
        with pytest.raises(pool.WrongBuild, match="segments of different builds may not join") as caught:
            refused.result()
    assert "tgvid 0.0.1" in str(caught.value) and pool.build() in str(caught.value)


def test_an_unreachable_cluster_falls_back_to_the_local_workers(tmp_path, source, caplog):
    with socket_that_refuses() as address:
        result = run_job(source, tmp_path / "job", tmp_path / "out.mp4", SETTINGS,
                         segment_pool=PoolSettings(workers=2, cluster=address))
    assert result.status == "done"
    assert f"the Dask cluster at {address} cannot be reached" in caplog.text
    assert all(s.encoded_on.startswith("local pid ") for s in checkpoint.load(tmp_path / "job").segments)


@contextlib.contextmanager
def socket_that_refuses():
    """A loopback address on which nothing listens (bound, so no other test takes the port meanwhile)."""
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        yield f"tcp://127.0.0.1:{bound.getsockname()[1]}"

