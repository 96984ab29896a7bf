"""A bug in tgvid is not the file's fault: set aside with a reason that says so, taken back at the next start."""

import errno
import logging

from tgvid import config as settings
from tgvid.errors import InternalError, TranscodeFailed, tgvid_version
from transcoder import daemon as transcoder_daemon
from transcoder.daemon import TranscoderDaemon
from transcoder.verdict import Kind


def buggy_job():
    raise KeyError("segment_index")  # what a slip in tgvid's own code raises, not a media error


def test_a_bug_is_logged_set_aside_with_the_version_and_tried_again_at_the_next_start(tmp_path, caplog):
    for name in ("inbox", "work"):
        (tmp_path / name).mkdir()
    source = tmp_path / "inbox" / "trip" / "clip.mov"
    source.parent.mkdir()
    source.write_bytes(b"a video")
    config = settings.load(environ={}, overrides={"root": str(tmp_path)})
    daemon = TranscoderDaemon(config)
    with caplog.at_level(logging.ERROR):
        error = transcoder_daemon._at_process_boundary(str(source), "job 1 trip/clip.mov", buggy_job)
        daemon.react("trip/clip.mov", Kind.TRANSCODE, error, now=100.0)
    assert isinstance(error, InternalError)
    assert "Traceback" in caplog.text and "KeyError" in caplog.text

    reason = (tmp_path / "quarantine" / "trip" / "clip.mov.reason.txt").read_text()
    assert f"internal error in tgvid {tgvid_version()}" in reason and "bug in tgvid" in reason
    assert "Fix the file" not in reason
    assert daemon.history.quarantined == 0 and daemon.history.failed == 0, "not counted as a bad input"
    assert daemon.history.success_rate() is None
    assert "trip/clip.mov" not in daemon.waiting, "not tried again while this daemon runs"

    TranscoderDaemon(config).recover()  # the next start, maybe of a fixed version
    assert source.read_bytes() == b"a video"
    assert not (tmp_path / "quarantine" / "trip" / "clip.mov").exists()
    assert not (tmp_path / "quarantine" / "trip" / "clip.mov.reason.txt").exists()


def test_a_file_quarantined_for_itself_stays_in_quarantine_at_the_next_start(tmp_path):
    for name in ("inbox", "work"):
        (tmp_path / name).mkdir()
    (tmp_path / "inbox" / "bad.mkv").write_bytes(b"junk")
    config = settings.load(environ={}, overrides={"root": str(tmp_path)})
    TranscoderDaemon(config).quarantine("bad.mkv", "probing the file", "rejected: no video stream")
    TranscoderDaemon(config).recover()
    assert (tmp_path / "quarantine" / "bad.mkv").exists() and not (tmp_path / "inbox" / "bad.mkv").exists()


def test_what_the_system_raised_in_a_job_is_a_failure_that_may_pass_not_a_bug(tmp_path, caplog):
    source = tmp_path / "clip.mov"
    source.write_bytes(b"a video")

    def flaky_card():
        raise OSError(errno.EIO, "Input/output error", str(source))

    with caplog.at_level(logging.ERROR):
        error = transcoder_daemon._at_process_boundary(str(source), "job 1 clip.mov", flaky_card)
    assert isinstance(error, TranscodeFailed) and "Input/output error" in error.message
    assert "Traceback" not in caplog.text
