"""What `tgvid status` shows for the uploader while a file goes up."""

import fcntl
import logging
import os
import signal
import threading
import time
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

from conftest import hand_off

from tests.media import write_video
from tests.waiting import wait_for
from tgvid import instance
from tgvid.sidecar import MediaKind, Sidecar
from uploader import status
from uploader.delivery import Delivery
from uploader.folder import FolderSender
from uploader.ledger import Ledger, path_in
from uploader.outbox import Outbox
from uploader.sender import Item


def test_a_file_going_up_shows_with_percent_and_speed(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="uploader.status")
    uploader_lock = instance.hold(tmp_path, "uploader")  # what the running uploader holds
    path = hand_off(tmp_path, "trip/big.mp4", b"x" * 10)
    clock = SimpleNamespace(now=100.0)
    reporter = status.ProgressReporter(tmp_path, clock=lambda: clock.now)
    item = Item(path, Sidecar(MediaKind.VIDEO, 40 * 2**20), 1, "trip")
    reporter(item, 0, 40 * 2**20)
    clock.now += 4
    reporter(item, 10 * 2**20, 40 * 2**20)
    text = status.render(status.collect(SimpleNamespace(root=tmp_path)))
    assert "1 pending, 0 sent today" in text
    assert "sending big.mp4: 25 % (10.0 of 40.0 MiB), 2.50 MiB/s, 12 s left" in text
    reporter(item, 40 * 2**20, 40 * 2**20)
    assert "big.mp4: 100 % of 40.0 MiB sent" in caplog.text
    reporter.clear()
    assert "sending" not in status.render(status.collect(SimpleNamespace(root=tmp_path)))
    uploader_lock.close()


def test_a_resumed_upload_counts_its_speed_from_the_bytes_this_run_sent(tmp_path):
    clock = SimpleNamespace(now=0.0)
    reporter = status.ProgressReporter(tmp_path, clock=lambda: clock.now)
    item = Item(hand_off(tmp_path, "a.mp4", b"x" * 4), Sidecar(MediaKind.VIDEO, 400 * 2**20), 1, "")
    reporter(item, 300 * 2**20, 400 * 2**20)  # three quarters were up before the restart
    clock.now = 10.0
    reporter(item, 320 * 2**20, 400 * 2**20)
    with instance.hold(tmp_path, "uploader"):
        text = status.render(status.collect(SimpleNamespace(root=tmp_path)))
    assert "80 % (320.0 of 400.0 MiB), 2.00 MiB/s, 40 s left" in text


def test_a_file_sent_within_a_second_is_not_reported(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="uploader.status")
    reporter = status.ProgressReporter(tmp_path, clock=lambda: 0.0)
    item = Item(hand_off(tmp_path, "a.mp4", b"x"), Sidecar(MediaKind.VIDEO, 1), 1, "")
    reporter(item, 0, 1)
    reporter(item, 1, 1)
    assert "a.mp4" not in caplog.text
    assert status.collect(SimpleNamespace(root=tmp_path))["sending"] is None


def test_the_progress_of_a_killed_uploader_is_not_shown_nor_kept(tmp_path):
    clock = SimpleNamespace(now=0.0)
    reporter = status.ProgressReporter(tmp_path, clock=lambda: clock.now)
    item = Item(hand_off(tmp_path, "a.mp4", b"x" * 4), Sidecar(MediaKind.VIDEO, 4), 1, "")
    reporter(item, 0, 4)
    clock.now = 2.0
    reporter(item, 2, 4)
    stopped = status.collect(SimpleNamespace(root=tmp_path))
    assert stopped["sending"] is None
    assert status.render(stopped).startswith("uploader (not running): 1 pending")
    with instance.hold(tmp_path, "uploader"):
        assert status.collect(SimpleNamespace(root=tmp_path))["sending"] is not None
        status.ProgressReporter(tmp_path)
        assert status.collect(SimpleNamespace(root=tmp_path))["sending"] is None


def test_a_daemon_starting_while_status_looks_still_gets_its_lock(tmp_path):
    instance.hold(tmp_path, "uploader").close()  # the lock file exists, as after any earlier run
    assert not instance.is_running(tmp_path, "uploader")
    with open(instance.lock_path(tmp_path, "uploader")) as looking:
        fcntl.flock(looking, fcntl.LOCK_SH | fcntl.LOCK_NB)  # what is_running does for an instant
        threading.Timer(0.2, looking.close).start()
        held = instance.hold(tmp_path, "uploader")
    assert instance.is_running(tmp_path, "uploader"), "the daemon holds the root"
    held.close()
    assert not instance.is_running(tmp_path, "uploader")


def parts_delivery(tmp_path, seconds: float, limit_bytes: int, clock=time.time) -> tuple[Path, Delivery, Outbox]:
    """A root with clip.mp4 (`seconds` long, a keyframe every 5 frames) in outbox/, and the delivery that sends it
    to delivered/ in parts of at most `limit_bytes`."""
    root = tmp_path / "root"
    video = write_video(tmp_path / "clip.mp4", seconds=seconds, width=160, height=120, gop_frames=5, grain=48,
                        options={"movflags": "+faststart"})
    hand_off(root, "clip.mp4", video.read_bytes(), "video", duration_seconds=seconds, width=160, height=120,
             has_audio=True)
    sender = FolderSender(root / "delivered")
    sender.max_file_bytes = limit_bytes
    settings = SimpleNamespace(album_window_seconds=0.0, delete_after_send=False, max_retries=3, oversize="split")
    return root, Delivery(root, Ledger(path_in(root)), sender, settings, lambda *_: None, clock), Outbox(
        root / "outbox", quiet_seconds=0.0)


def test_a_video_sent_in_parts_counts_as_one_file_and_shows_its_parts_sent(tmp_path):
    """Its parts are not "sent today" one by one: the video is pending with its parts sent, then one file sent."""
    root, delivery, outbox = parts_delivery(tmp_path, 4.8, 160 * 1024)  # 24 keyframes: 12 parts under 160 KiB
    delivered = root / "delivered"

    def shown() -> str:
        return status.render(status.collect(SimpleNamespace(root=root)))

    def parts_delivered() -> int:
        return sum(1 for path in delivered.glob("clip.part*.mp4"))

    with instance.hold(root, "uploader"):
        delivery.run(outbox.scan(1000.0), lambda: False)  # starts the cut
        assert "  pending clip.mp4: being cut into parts" in shown()
        stop_after_one_album = lambda: parts_delivered() >= 10  # noqa: E731
        wait_for(lambda: delivery.run(outbox.scan(1000.0), stop_after_one_album) or parts_delivered(), 60,
                 "the first album of parts")
        text = shown()
        assert "uploader: 1 pending, 0 sent today (0 in all), 0 failed" in text
        assert "  pending clip.mp4: sending in parts, 10/12 parts sent" in text
        wait_for(lambda: delivery.run(outbox.scan(1000.0), lambda: False) or (root / "sent" / "clip.mp4").exists(),
                 60, "the rest of the parts")
        delivery.close()
        assert shown() == "uploader: 0 pending, 1 sent today (1 in all), 0 failed"


def test_a_folder_whose_album_waits_for_files_still_in_the_inbox_says_so(tmp_path):
    hand_off(tmp_path, "trip/beach.mp4", b"x")
    hand_off(tmp_path, "alone.mp4", b"x")
    (tmp_path / "inbox" / "trip").mkdir(parents=True)
    (tmp_path / "inbox" / "trip" / "boat.mov").write_bytes(b"still converting")
    text = status.render(status.collect(SimpleNamespace(root=tmp_path)))
    assert text.splitlines()[1:] == ["  pending alone.mp4",
                                     "  pending trip/beach.mp4: its album waits for the files still in inbox/trip"]


def test_a_video_whose_cut_failed_shows_when_the_cut_is_tried_again_not_being_cut(tmp_path):
    """The child cutting it is killed (as the kernel's OOM killer would kill it): the video waits for its next
    attempt (uploader.delivery's backoff), and status says so, with the error, until the cut runs again."""
    clock = SimpleNamespace(now=time.time())
    root, delivery, outbox = parts_delivery(tmp_path, 2.0, 300 * 1024, lambda: clock.now)  # 2 parts

    def shown(now=None) -> list[str]:
        return status.render(status.collect(SimpleNamespace(root=root), now)).splitlines()

    error = f"cutting it into parts ended with exit code {-signal.SIGKILL}"
    with instance.hold(root, "uploader"):
        delivery.run(outbox.scan(clock.now), lambda: False)  # starts the cut
        [child] = delivery.cutting.values()
        os.kill(child.process.pid, signal.SIGKILL)
        wait_for(lambda: not child.is_alive(), 30, "the cutting child's end")
        delivery.run(outbox.scan(clock.now), lambda: False)
        [entry] = Ledger(path_in(root)).entries.values()
        at = datetime.fromtimestamp(entry.not_before).strftime("%H:%M:%S")
        assert shown(clock.now) == [
            "uploader: 1 pending, 0 sent today (0 in all), 0 failed",
            f"  pending clip.mp4: waiting to try the cut into parts again at {at} (in 5 s), after 1 failed attempt: "
            f"{error}"]
    assert shown(entry.not_before)[1] == ("  pending clip.mp4: waiting to try the cut into parts again once the "
                                          f"uploader runs, after 1 failed attempt: {error}")
    with instance.hold(root, "uploader"):
        clock.now = entry.not_before
        delivery.run(outbox.scan(clock.now), lambda: False)  # cuts again
        assert shown(clock.now)[1] == f"  pending clip.mp4: being cut into parts again, after 1 failed attempt: {error}"
        wait_for(lambda: delivery.run(outbox.scan(clock.now), lambda: False) or (root / "sent" / "clip.mp4").exists(),
                 60, "clip.mp4 sent in parts")
        delivery.close()
    assert shown() == ["uploader (not running): 0 pending, 1 sent today (1 in all), 0 failed"]
