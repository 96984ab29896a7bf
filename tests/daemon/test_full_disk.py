"""A full disk pauses work and never wedges it: a handoff that failed is tried again once there is space, each
condition is logged once, and work that fits goes ahead of work waiting for space. The disk is a small tmpfs
(tests/daemon/conftest.py `small_disk`), filled to the last byte."""

import os
import shutil
import subprocess

import pytest

from tests.daemon.conftest import fill
from tests.media import write_image, write_video
from tests.waiting import wait_for


def drop(made, inbox) -> None:
    """Copy a file made elsewhere into `inbox` (another file system) under a temporary name, then rename it."""
    partial = inbox / (made.name + ".part")
    shutil.copyfile(made, partial)
    partial.rename(inbox / made.name)


def test_a_handoff_that_failed_on_a_full_disk_is_tried_again_once_there_is_space(tmp_path, small_disk, daemon):
    root = small_disk
    (root / "inbox").mkdir()
    running = daemon(root)
    made = write_video(tmp_path / "pass.mp4", seconds=1, options={"movflags": "faststart"})  # handed on as it is
    shutil.copyfile(made, root / "pass.mp4")
    filler = fill(root)
    (root / "pass.mp4").rename(root / "inbox" / "pass.mp4")
    wait_for(lambda: "handing it on failed" in running.log(), 60, "the handoff to fail")
    wait_for(lambda: running.log().count("pass.mp4: started (pass)") >= 3, 60, "a few more tries on the full disk")
    filler.unlink()
    wait_for(lambda: (root / "outbox" / "pass.mp4").exists(), 60, "the handoff to be tried again")
    wait_for(lambda: "handed on to outbox/pass.mp4 after" in running.log(), 30, "the log to say so")
    assert running.log().count("handing it on failed") == 1
    assert running.log().count("No space left on device") <= 2  # the handoff's, and the counters' write
    assert not (root / "inbox" / "pass.mp4").exists()


def test_a_handoff_refused_by_a_read_only_outbox_is_tried_again_once_it_is_writable(tmp_path, daemon):
    outbox = tmp_path / "outbox"
    outbox.mkdir()
    if os.geteuid() != 0:
        pytest.skip("a read-only outbox/ that root cannot write to needs a read-only mount, which needs root")
    subprocess.run(["mount", "--bind", str(outbox), str(outbox)], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(outbox)], check=True)
        running = daemon()
        made = write_video(tmp_path / "pass.mp4", seconds=1, options={"movflags": "faststart"})
        made.rename(tmp_path / "inbox" / "pass.mp4")
        wait_for(lambda: "handing it on failed" in running.log(), 60, "the handoff to fail")
    finally:
        subprocess.run(["umount", str(outbox)], check=True)  # writable again
    wait_for(lambda: (outbox / "pass.mp4").exists(), 60, "the handoff to be tried again")
    wait_for(lambda: "handed on to outbox/pass.mp4 after" in running.log(), 30, "the log to say so")
    assert running.log().count("Read-only file system") == 1


def test_files_that_need_no_space_go_ahead_of_a_remux_waiting_for_space(tmp_path, small_disk, daemon):
    root = small_disk  # 24 MiB: a remux wants 64 MiB and twice its source free, pass files and images none
    (root / "inbox").mkdir()
    running = daemon(root)
    drop(write_video(tmp_path / "first.mkv", seconds=1), root / "inbox")
    wait_for(lambda: "first.mkv: waiting for disk space" in running.log(), 60, "the remux to wait for space")
    for number in range(3):
        made = write_video(tmp_path / f"pass{number}.mp4", seconds=1, options={"movflags": "faststart"})
        drop(made, root / "inbox")
    drop(write_image(tmp_path / "photo.jpg"), root / "inbox")
    for name in ("pass0.mp4", "pass1.mp4", "pass2.mp4", "photo.jpg"):
        wait_for(lambda name=name: (root / "outbox" / name).exists(), 60, f"{name} to be handed on")
    assert (root / "inbox" / "first.mkv").exists()
    assert running.log().count("waiting for disk space") == 1
