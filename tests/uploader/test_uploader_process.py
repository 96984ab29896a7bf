"""The real `daemon.py uploader` process with the local-folder sender: SIGKILLed anywhere, it delivers every
file exactly once and loses none; SIGTERM stops it within seconds; `status` reads what it did."""

import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import hand_off

from tests.processes import DAEMON
from tests.waiting import wait_for
from uploader import status
from uploader.ledger import EntryState, Ledger, path_in


def files_under(folder: Path) -> list[Path]:
    """The media files in `folder`: no sidecars, no ledger (nor a killed write's temp file of it), no receipts."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.endswith((".meta.msgpack", ".tmp"))
                  and ".receipts" not in p.parts and p != path_in(folder.parent))


def make_batch(root: Path, rng: random.Random) -> dict[str, bytes]:
    originals = {}
    for folder in ("", "trip", "party", "docs/2026"):
        for index in range(5):
            relpath = f"{folder}/f{index}.bin" if folder else f"top{index}.bin"
            originals[relpath] = rng.randbytes(rng.randint(1, 3 * 1024 * 1024))
            hand_off(root, relpath, originals[relpath])
    return originals


@pytest.mark.slow
def test_sigkill_at_observed_points_delivers_every_file_exactly_once(tmp_path, uploader_processes):
    rng = random.Random(4)
    root = tmp_path / "root"
    originals = make_batch(root, rng)
    sent, delivered, receipts = root / "sent", root / "delivered", root / "delivered" / ".receipts"
    observations = [
        ("files in sent/", lambda: len(files_under(sent))),
        ("receipts written", lambda: len(list(receipts.glob("*"))) if receipts.exists() else 0),
        ("files delivered", lambda: len(files_under(delivered))),
        ("ledger entries", lambda: len(Ledger(path_in(root)).entries)),
    ]
    kills = 0
    while len(files_under(sent)) < len(originals) and kills < 12:
        what, count = observations[kills % len(observations)]
        target = min(len(originals), count() + rng.randint(1, 4))
        process = uploader_processes(root)
        wait_for(lambda count=count, target=target, process=process: count() >= target or process.process.poll() is not None,
                 what=f"{target} {what}")
        process.kill()
        kills += 1
    assert kills >= 4, "the batch finished before the daemon was killed often enough to mean anything"
    final = uploader_processes(root)
    wait_for(lambda: len(files_under(sent)) == len(originals), what="every file in sent/")
    assert final.stop() == 0

    delivered_now = {p.relative_to(delivered).as_posix(): p.read_bytes() for p in files_under(delivered)}
    assert delivered_now == originals, "a file was lost, delivered twice (a numbered name) or torn"
    assert {p.relative_to(sent).as_posix() for p in files_under(sent)} == set(originals)
    assert files_under(root / "outbox") == []
    entries = Ledger(path_in(root)).entries.values()
    assert sorted(e.relpath for e in entries if e.state is EntryState.SENT) == sorted(originals)
    assert not list(receipts.glob("*.tmp"))


@pytest.mark.slow
def test_sigterm_stops_within_seconds_tells_systemd_and_status_shows_the_day(tmp_path, uploader_processes):
    root = tmp_path / "root"
    hand_off(root, "trip/a.bin", b"a")
    hand_off(root, "trip/b.bin", b"b")
    (root / "outbox" / "trip" / "waiting.bin.part").write_bytes(b"partial")
    states = []
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as systemd:
        systemd.bind(str(tmp_path / "notify"))
        systemd.setblocking(False)

        def read_states():  # as systemd does, all along: the daemon's sends block once the queue is full
            with contextlib.suppress(BlockingIOError):
                while True:
                    states.append(systemd.recv(4096).decode())
            return states

        process = uploader_processes(root, {"NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": "200000"})
        wait_for(lambda: read_states() and len(files_under(root / "sent")) == 2, what="both files in sent/")
        (root / "outbox" / "later.bin").write_bytes(b"by hand, still waiting")
        process.wait_ready()
        process.process.send_signal(signal.SIGTERM)
        wait_for(lambda: read_states()[-1] == "STOPPING=1", deadline_seconds=5, what="STOPPING=1")
        assert process.process.wait(timeout=5) == 0
    assert states[0] == "READY=1" and any(s.startswith("STATUS=") for s in states) and "WATCHDOG=1" in states
    assert "uploader: stopped; every file not yet sent stays in" in process.log()
    assert " ERROR " not in process.log()  # nor watchdog's, for the file that arrived as it stopped
    report = status.collect(SimpleNamespace(root=root))
    assert report["sent_today"] == 2 and report["failed"] == []
    assert report["pending"] == ["later.bin"]
    assert "1 pending, 2 sent today" in status.render(report)


@pytest.mark.slow
def test_a_second_uploader_on_the_same_root_refuses_to_start(tmp_path, uploader_processes):
    root = tmp_path / "root"
    first = uploader_processes(root)
    first.wait_ready()
    second = subprocess.run([sys.executable, str(DAEMON), "uploader", "--root", str(root)], capture_output=True,
                            text=True, timeout=60)
    assert second.returncode == 2
    assert "another uploader is already running on this root" in second.stderr
    assert first.stop() == 0


@pytest.mark.slow
def test_a_named_pipe_in_the_outbox_is_skipped_the_rest_is_sent_and_sigterm_still_stops_it(tmp_path, uploader_processes):
    root = tmp_path / "root"
    hand_off(root, "a.bin", b"a")
    os.mkfifo(root / "outbox" / "pipe.mp4")
    process = uploader_processes(root)
    wait_for(lambda: files_under(root / "sent"), what="a.bin in sent/")
    wait_for(lambda: "pipe.mp4: skipped, not a regular file" in process.log(), what="the pipe skipped")
    assert process.stop(timeout_seconds=5) == 0
