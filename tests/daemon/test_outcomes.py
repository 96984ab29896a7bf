"""What the transcoder daemon makes of a first look that ends without an answer: a probe that crashed its worker is
tried again, never a verdict."""

import os

from tests.waiting import wait_for
from tgvid import config as settings
from transcoder.daemon import TranscoderDaemon


def test_a_probe_that_crashed_is_probed_again_later_and_not_recorded_as_rejected(tmp_path):
    (tmp_path / "work").mkdir()
    (tmp_path / "inbox").mkdir()
    (tmp_path / "inbox" / "a.mkv").write_bytes(b"whatever")
    daemon = TranscoderDaemon(settings.load(overrides={"root": str(tmp_path)}))
    try:
        daemon.classifying.add("a.mkv")
        daemon.workers.submit("a.mkv", os._exit, 3)  # a worker that dies without an answer, as one a decoder kills
        wait_for(lambda: daemon.collect_classifications(now=100.0) or not daemon.classifying, 30, "the worker's end")
    finally:
        daemon.workers.stop()
    assert daemon.waiting == {}, "no job of kind REJECT is queued"
    assert daemon.failures == {"a.mkv": 1} and daemon.probe_after["a.mkv"] > 100.0
    assert (tmp_path / "inbox" / "a.mkv").exists() and not (tmp_path / "quarantine").exists()
