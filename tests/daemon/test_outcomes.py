"""What the transcoder daemon makes of a child that ends: a probe that crashed is tried again, never a verdict."""

import os

from tgvid import config as settings
from tgvid.child import Child
from transcoder.daemon import TranscoderDaemon


def test_a_probe_that_crashed_is_probed_again_later_and_not_recorded_as_rejected(tmp_path):
    (tmp_path / "work").mkdir()
    (tmp_path / "inbox").mkdir()
    (tmp_path / "inbox" / "a.mkv").write_bytes(b"whatever")
    daemon = TranscoderDaemon(settings.load(overrides={"root": str(tmp_path)}))
    crashed = Child(os._exit, 3)  # a probe child that dies without an answer, as one killed by a decoder does
    crashed.process.join(30)
    daemon.classifying["a.mkv"] = crashed
    daemon.collect_classifications(now=100.0)
    assert daemon.waiting == {}, "no job of kind REJECT is queued"
    assert daemon.failures == {"a.mkv": 1} and daemon.probe_after["a.mkv"] > 100.0
    assert (tmp_path / "inbox" / "a.mkv").exists() and not (tmp_path / "quarantine").exists()
