"""A full disk pauses work and never wedges it: a handoff that failed is tried again once there is space, each
condition is logged once, and work that fits goes ahead of work waiting for space; the uploader waits for room
rather than blame the file. The disk is a small tmpfs (tests/conftest.py `small_disk`), filled to the last
byte."""

import os
import shutil
import subprocess

import pytest

from tests.conftest import fill
from tests.media import write_image, write_video
from tests.processes import DaemonProcess
from tests.waiting import wait_for
from tgvid import sidecar


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


def uploader(root, tmp_path) -> DaemonProcess:
    """The real uploader on `root` (local-folder sender), giving up on a file after one failed attempt."""
    env = {"TGVID_UPLOADER_QUIET_SECONDS": "0.2", "TGVID_UPLOADER_MAX_RETRIES": "1"}
    return DaemonProcess("uploader", root, tmp_path / "uploader.log", env).wait_ready()


def test_a_full_delivery_folder_makes_the_uploader_wait_for_space_not_quarantine(tmp_path, small_disk):
    root = tmp_path / "root"
    (root / "outbox").mkdir(parents=True)
    (root / "delivered").symlink_to(small_disk)
    filler = fill(small_disk)
    running = uploader(root, tmp_path)
    try:
        (root / "outbox" / "notes.bin").write_bytes(os.urandom(100_000))  # placed by hand: probed, goes as a document
        wait_for(lambda: "notes.bin: waiting for disk space: writing its copy into" in running.log(), 30,
                 "the uploader to wait for space in delivered/")
        filler.unlink()
        wait_for(lambda: (small_disk / "notes.bin").exists(), 30, "the delivery once there is room")
        wait_for(lambda: "notes.bin: moved to sent/notes.bin" in running.log(), 30, "the file to be finished")
    finally:
        running.stop()
    assert running.log().count("waiting for disk space") == 1
    assert "cannot read" not in running.log()
    assert not (root / "quarantine").exists() or not any((root / "quarantine").iterdir())


def test_a_full_root_makes_the_uploader_wait_for_space_to_write_its_sidecar_and_ledger(tmp_path, small_disk):
    root = small_disk
    (root / "outbox").mkdir()
    meta = sidecar.Sidecar(sidecar.MediaKind.DOCUMENT, 1000, source_relpath="handed.bin", source_name="handed.bin")
    sidecar.write(root / "handed.bin.meta.msgpack", meta)
    (root / "handed.bin").write_bytes(bytes(1000))
    (root / "by-hand.bin").write_bytes(bytes(2000))
    running = uploader(root, tmp_path)
    try:
        filler = fill(root)
        (root / "handed.bin.meta.msgpack").rename(root / "outbox" / "handed.bin.meta.msgpack")  # as the transcoder
        (root / "handed.bin").rename(root / "outbox" / "handed.bin")
        (root / "by-hand.bin").rename(root / "outbox" / "by-hand.bin")
        wait_for(lambda: "handed.bin: waiting for disk space: writing the ledger's intent failed" in running.log(), 30,
                 "the handed-on file to wait for room for the ledger")
        wait_for(lambda: "by-hand.bin: waiting for disk space: writing its sidecar" in running.log(), 30,
                 "the file placed by hand to wait for room for its sidecar")
        filler.unlink()
        for name in ("handed.bin", "by-hand.bin"):
            wait_for(lambda name=name: (root / "sent" / name).exists(), 30, f"{name} to be delivered and moved to sent/")
    finally:
        running.stop()
    assert running.log().count("waiting for disk space") == 2
    assert not any((root / "quarantine").iterdir())
    assert sorted(p.name for p in (root / "delivered").iterdir() if p.name != ".receipts") == ["by-hand.bin", "handed.bin"]
