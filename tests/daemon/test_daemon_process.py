"""The real `tgvid transcoder` process: cheap work overtakes a long transcode, bad files go to quarantine,
a SIGKILL costs at most the segment in flight, files still being written wait, folders keep their paths."""

import os
import shutil
import signal
import time
from pathlib import Path

import msgpack

from tests import checks
from tests.media import write_image, write_video
from tests.processes import run_tgvid, segments_done
from tests.waiting import wait_for
from transcoder import handoff
from transcoder.checkpoint import load
from transcoder.checkpoint import path_in as checkpoint_path
from transcoder.daemon import job_id
from transcoder.job import EngineSettings, run_job


def outbox_files(root: Path) -> set[str]:
    return {p.relative_to(root / "outbox").as_posix() for p in (root / "outbox").rglob("*")
            if p.is_file() and not p.name.endswith(".meta.msgpack")}


def drop(source: Path, inbox: Path, relpath: str) -> None:
    """Copy into the inbox under a temporary name, then rename: what a careful copier does."""
    target = inbox / relpath
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    shutil.copyfile(source, partial)
    partial.rename(target)


def wait_for_later_file(root: Path, name: str) -> None:
    """Drop a file that passes as it is and wait until it is in outbox/: a positive event that comes only after
    the daemon has looked at the inbox many times (quiet time, probe, handoff), so that what it did not do to the
    other files by then it did not do at all."""
    later = write_video(root / name, options={"movflags": "+faststart"}, seconds=1)
    drop(later, root / "inbox", name)
    wait_for(lambda: name in outbox_files(root), 60, f"{name} in outbox/")


def test_cheap_files_overtake_a_long_transcode_and_a_cut_file_is_quarantined(tmp_path, daemon):
    media = tmp_path / "media"
    media.mkdir()
    long_source = write_video(media / "long.mkv", seconds=30, width=640, height=360, codec="mpeg4",
                              audio_codec="ac3")
    ready = write_video(media / "ready.mp4", options={"movflags": "+faststart"})
    moov_at_end = write_video(media / "camera.mp4")
    photo = write_image(media / "photo.jpg")
    whole = write_video(media / "whole.mkv", seconds=10, codec="mpeg4", audio_channels=())
    cut = media / "cut.mkv"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 4])

    running = daemon(segment_seconds=0.5, preset="medium", workers=1)  # one worker: the long job stays long
    inbox = tmp_path / "inbox"
    drop(long_source, inbox, "long.mkv")
    wait_for(lambda: segments_done(tmp_path / "work" / job_id("long.mkv")) >= 2, 60, "the long transcode's first segments")
    for source, name in ((ready, "ready.mp4"), (moov_at_end, "camera.mp4"), (photo, "photo.jpg"), (cut, "cut.mkv")):
        drop(source, inbox, name)

    cheap = {"ready.mp4", "camera.mp4", "photo.jpg"}
    wait_for(lambda: cheap <= outbox_files(tmp_path), 60, "the cheap files in outbox/")
    assert "long.mp4" not in outbox_files(tmp_path), "the long transcode finished before the cheap files"
    wait_for(lambda: "cut.mkv: quarantined" in running.log(), 30, "the cut file's quarantine")
    reason = (tmp_path / "quarantine" / "cut.mkv.reason.txt").read_text()
    assert "cut off" in reason and "cut.mkv" in reason
    assert (tmp_path / "quarantine" / "cut.mkv").read_bytes() == cut.read_bytes()

    wait_for(lambda: "long.mp4" in outbox_files(tmp_path), 120, "the long transcode")
    assert "yielding at the next segment" in running.log()
    checks.assert_faithful(checks.facts(long_source), checks.facts(tmp_path / "outbox" / "long.mp4"))
    assert (tmp_path / "originals" / "long.mkv").read_bytes() == long_source.read_bytes()
    assert (tmp_path / "outbox" / "ready.mp4").read_bytes() == ready.read_bytes(), "a pass file is moved as it is"
    assert running.stop() == 0


def test_sigkill_mid_transcode_resumes_from_the_checkpoint(tmp_path, daemon):
    source = write_video(tmp_path / "long.mkv", seconds=12, width=640, height=360, codec="mpeg4", audio_codec="ac3")
    first = daemon(segment_seconds=0.5, preset="medium")
    drop(source, tmp_path / "inbox", "long.mkv")
    wait_for(lambda: segments_done(tmp_path / "work" / job_id("long.mkv")) >= 4, 60, "four segments")
    first.stop(signal.SIGKILL)
    state = load(tmp_path / "work" / job_id("long.mkv"))
    done = [s.index for s in state.segments if s.state == "done"]

    second = daemon(segment_seconds=0.5, preset="medium")
    wait_for(lambda: "long.mp4" in outbox_files(tmp_path), 120, "the resumed transcode")
    log = second.log().split("watching", 2)[-1]  # the second run's lines only
    total = len(state.segments)
    assert f"resumed from its checkpoint: {state.segments_to_do_text()}" in log
    assert not [i for i in done if f"segment {i + 1}/{total} done" in log], "finished segments were encoded again"
    checks.assert_faithful(checks.facts(source), checks.facts(tmp_path / "outbox" / "long.mp4"))
    assert (tmp_path / "originals" / "long.mkv").read_bytes() == source.read_bytes()
    assert not (tmp_path / "work" / job_id("long.mkv")).exists()


def test_a_file_still_being_written_is_not_taken_before_it_is_complete(tmp_path, daemon):
    source = write_video(tmp_path / "slow.mkv", seconds=4, codec="mpeg4", audio_codec="ac3")
    running = daemon(quiet_seconds=1.5)
    target = tmp_path / "inbox" / "slow.mkv"
    data = source.read_bytes()
    chunk = len(data) // 6 + 1
    for start in range(0, len(data), chunk):
        with open(target, "ab") as handle:  # reopened each time: the quiet time, not the open file, decides
            handle.write(data[start:start + chunk])
        time.sleep(0.8)  # a writer slower than the eye, quicker than the quiet time
    wait_for(lambda: "slow.mp4" in outbox_files(tmp_path), 60, "the finished file")
    # Taken half-written, it would have been rejected as cut off, or converted short.
    assert running.log().count("slow.mkv: queued") == 1 and not any((tmp_path / "quarantine").iterdir())
    checks.assert_faithful(checks.facts(source), checks.facts(tmp_path / "outbox" / "slow.mp4"))


def test_a_file_held_open_for_writing_waits_even_when_quiet(tmp_path, daemon):
    source = write_video(tmp_path / "held.mp4", options={"movflags": "+faststart"})
    running = daemon()
    target = tmp_path / "inbox" / "held.mp4"
    with open(target, "wb") as handle:
        handle.write(source.read_bytes())
        handle.flush()
        wait_for_later_file(tmp_path, "later.mp4")  # well past the quiet time
        assert "held.mp4: queued" not in running.log()
    wait_for(lambda: "held.mp4" in outbox_files(tmp_path), 30, "the file once closed")


def test_a_dropped_folder_keeps_its_relative_paths_and_gets_sidecars(tmp_path, daemon):
    holiday = tmp_path / "holiday"
    (holiday / "day 1").mkdir(parents=True)
    write_video(holiday / "day 1" / "beach.mkv", codec="mpeg4", audio_codec="ac3", seconds=1)
    write_video(holiday / "day 1" / "clip.mp4", options={"movflags": "+faststart"}, seconds=1)
    write_image(holiday / "sunset.jpg")
    daemon()
    shutil.copytree(holiday, tmp_path / "inbox" / ".holiday.partial")
    os.rename(tmp_path / "inbox" / ".holiday.partial", tmp_path / "inbox" / "holiday")

    expected = {"holiday/day 1/beach.mp4", "holiday/day 1/clip.mp4", "holiday/sunset.jpg"}
    wait_for(lambda: expected <= outbox_files(tmp_path), 60, "the folder in outbox/")
    meta = msgpack.unpackb((tmp_path / "outbox" / "holiday" / "day 1" / "beach.mp4.meta.msgpack").read_bytes())
    assert meta["source_relpath"] == "holiday/day 1/beach.mkv"
    assert meta["kind"] == "video" and meta["duration_seconds"] > 0.9 and meta["width"] == 320
    assert meta["thumbnail_jpeg"][:2] == b"\xff\xd8"
    photo = msgpack.unpackb((tmp_path / "outbox" / "holiday" / "sunset.jpg.meta.msgpack").read_bytes())
    assert photo["kind"] == "image"


def test_sigterm_stops_within_seconds_leaving_the_job_resumable(tmp_path, daemon):
    source = write_video(tmp_path / "long.mkv", seconds=20, width=640, height=360, codec="mpeg4", audio_channels=())
    running = daemon(segment_seconds=0.5, preset="medium")
    drop(source, tmp_path / "inbox", "long.mkv")
    wait_for(lambda: segments_done(tmp_path / "work" / job_id("long.mkv")) >= 1, 60, "a segment")
    assert running.stop(signal.SIGTERM) == 0  # how soon: bench/stop_seconds.py
    assert "resumes from its checkpoint" in running.log()
    assert not outbox_files(tmp_path)
    assert (tmp_path / "inbox" / "long.mkv").exists()


def test_a_stalled_job_is_stopped_retried_and_quarantined_with_the_reason(tmp_path, daemon):
    # A stall limit shorter than the job's heartbeat (transcoder.heartbeat, once a second): every attempt looks
    # hung and is killed.
    source = write_video(tmp_path / "slow.mkv", seconds=6, width=1280, height=720, codec="mpeg4", audio_channels=())
    running = daemon(segment_seconds=30, preset="slow", stall_seconds=0.3, max_retries=2)
    drop(source, tmp_path / "inbox", "slow.mkv")
    wait_for(lambda: "slow.mkv: quarantined" in running.log(), 120, "the quarantine")
    reason = (tmp_path / "quarantine" / "slow.mkv.reason.txt").read_text()
    assert "stalled: no progress" in reason and "2 attempt(s)" in reason
    assert "failed (attempt 1 of 2)" in running.log()
    assert (tmp_path / "quarantine" / "slow.mkv").read_bytes() == source.read_bytes()
    assert not (tmp_path / "work" / job_id("slow.mkv")).exists()


def test_odd_names_and_unreadable_entries_are_reported_once_and_hold_nothing_back(tmp_path, daemon):
    source = write_video(tmp_path / "good.mkv", codec="mpeg4", audio_codec="ac3", seconds=1)
    inbox = tmp_path / "inbox"
    running = daemon()
    os.symlink("loop.mkv", inbox / "loop.mkv")
    not_utf8 = inbox / os.fsdecode(b"caf\xe9.mkv")  # Latin-1, as old cameras and Windows archives write it
    shutil.copyfile(source, not_utf8)
    drop(source, inbox, "good.mkv")
    wait_for(lambda: "good.mp4" in outbox_files(tmp_path), 60, "the good file's conversion")
    wait_for(lambda: not not_utf8.exists(), 30, "the badly named file to leave the inbox")
    [reason] = (tmp_path / "quarantine").glob("*.reason.txt")
    assert "not valid UTF-8" in reason.read_text() and "rename it" in reason.read_text()
    wait_for_later_file(tmp_path, "later.mp4")
    assert running.process.poll() is None
    assert running.log().count("loop.mkv: cannot be looked at (Too many levels of symbolic links)") == 1


def test_damaged_or_newer_job_folders_neither_stop_the_daemon_nor_lose_a_source(tmp_path, daemon):
    inbox, work = tmp_path / "inbox", tmp_path / "work"
    inbox.mkdir()
    for name in ("marked.mkv", "newer.mkv"):
        source = write_video(inbox / name, codec="mpeg4", seconds=1, audio_channels=())
        result = run_job(source, work / job_id(name), tmp_path / "unused.mp4", EngineSettings(preset="ultrafast"),
                         should_yield=lambda: True)
        assert result.status == "yielded"
    (work / job_id("marked.mkv") / handoff.MARKER).write_bytes(b"\x93\x01")  # cut short by a failing disk
    newer = checkpoint_path(work / job_id("newer.mkv"))
    newer.write_bytes(msgpack.packb({**msgpack.unpackb(newer.read_bytes()), "version": 99}))
    status = run_tgvid("status", "--root", tmp_path)
    assert status.returncode == 0, status.stderr
    running = daemon()
    wait_for(lambda: running.log().count(": completed in") == 2, 60, "both conversions")  # sources put away
    assert {"marked.mp4", "newer.mp4"} <= outbox_files(tmp_path)
    assert "unreadable handoff marker" in running.log() and "format version 99" in running.log()
    # The output is handed on first, the source put away after: wait for the second step.
    wait_for(lambda: sorted(p.name for p in (tmp_path / "originals").iterdir()) == ["marked.mkv", "newer.mkv"], 30,
             "both sources in originals/")


def test_a_source_the_file_system_will_not_move_is_left_alone_until_it_changes(tmp_path, daemon):
    for folder in ("originals", "quarantine"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "trip").write_text("a file where the folder should be: every move into it fails")
    running = daemon()
    write_video(tmp_path / "clip.mkv", codec="mpeg4", seconds=1, audio_channels=())
    drop(tmp_path / "clip.mkv", tmp_path / "inbox", "trip/clip.mkv")
    (tmp_path / "bad.mp4").write_bytes(os.urandom(4096))
    drop(tmp_path / "bad.mp4", tmp_path / "inbox", "trip/bad.mp4")
    wait_for(lambda: "left in the inbox until it changes" in running.log() and "handing it on failed" in
             running.log(), 60, "both moves refused")
    wait_for_later_file(tmp_path, "later.mp4")
    log = running.log()
    assert log.count("left in the inbox until it changes") == 1  # bad.mp4, refused by quarantine/
    assert log.count("handing it on failed") == 1  # clip.mkv, refused by originals/: tried again quietly
    assert log.count("trip/clip.mkv: queued as") == 1 and log.count("trip/bad.mp4: started") == 0
    assert outbox_files(tmp_path) == {"trip/clip.mp4", "later.mp4"}
    assert not list((tmp_path / "quarantine").glob("*.reason.txt"))

    for folder in ("originals", "quarantine"):
        (tmp_path / folder / "trip").unlink()
    os.utime(tmp_path / "inbox" / "trip" / "bad.mp4")  # a change: the daemon tries again
    wait_for(lambda: not any((tmp_path / "inbox" / "trip").iterdir()), 60, "both files to leave the inbox")
    assert (tmp_path / "originals" / "trip" / "clip.mkv").exists()
    assert (tmp_path / "quarantine" / "trip" / "bad.mp4.reason.txt").exists()
    assert outbox_files(tmp_path) == {"trip/clip.mp4", "later.mp4"}, "the output was handed on once"


def test_each_verdict_reason_is_logged_once(tmp_path, daemon):
    running = daemon()
    (tmp_path / "media").mkdir()
    write_video(tmp_path / "media" / "clip.mkv", seconds=1, codec="mpeg4", audio_codec="ac3")
    drop(tmp_path / "media" / "clip.mkv", tmp_path / "inbox", "clip.mkv")
    wait_for(lambda: "clip.mp4" in outbox_files(tmp_path), 60, "the conversion")
    assert running.log().count("video codec mpeg4 is not H.264") == 1, running.log()
