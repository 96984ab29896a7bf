"""A job shows it is alive while it works between checkpoints, so the daemon's stall watch kills only hung jobs."""

import os
import sys
from pathlib import Path

from tests.media import write_video
from transcoder import heartbeat
from transcoder.job import run_job


def test_a_beat_touches_the_watched_checkpoint_and_nothing_else(tmp_path):
    checkpoint = tmp_path / "checkpoint.msgpack"
    checkpoint.write_bytes(b"")
    os.utime(checkpoint, (0, 0))
    heartbeat.beat()
    assert checkpoint.stat().st_mtime == 0, "not watched: no touch"
    heartbeat.watch(checkpoint)
    try:
        heartbeat.beat()
    finally:
        heartbeat.watch(None)
    assert checkpoint.stat().st_mtime > 0


def test_every_long_loop_of_a_job_beats(tmp_path, fast, monkeypatch):
    loops = set()
    beat = heartbeat.beat

    def noting_the_loop():
        loops.add(Path(sys._getframe(1).f_code.co_filename).stem)
        beat()

    monkeypatch.setattr(heartbeat, "beat", noting_the_loop)
    source = write_video(tmp_path / "clip.mkv", seconds=1, codec="mpeg4", audio_codec="ac3")
    run_job(source, tmp_path / "job", tmp_path / "out.mp4", fast)
    assert {"segment", "audio", "join", "verify"} <= loops
