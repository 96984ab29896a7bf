"""The service files: systemd accepts the units, the termux-services scripts exec the daemon, and the
daemon speaks systemd's notify protocol."""

import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.media import write_video
from tests.processes import DAEMON
from tests.waiting import wait_for
from tgvid import instance, sd_notify
from tgvid.wakelock import WakeLock

SYSTEMD = Path(__file__).resolve().parents[2] / "systemd"
UNITS = sorted(SYSTEMD.glob("*.service")) + sorted((SYSTEMD / "user").glob("*.service"))


SYSTEM_UNITS = sorted(SYSTEMD.glob("*.service"))
MAX_EXPOSURE = 3.0  # systemd-analyze security's scale: 0 is sealed, 10 is no sandbox; below 3 it says SAFE or OK


def systemd_analyze() -> str:
    """The systemd-analyze program; a skip where it is missing, a failure in CI (make test installs it as root)."""
    program = shutil.which("systemd-analyze")
    if program is None:
        if os.environ.get("CI"):
            pytest.fail("systemd-analyze is missing: make test installs Debian's systemd as root (Makefile)")
        pytest.skip("systemd-analyze is not installed here (apt-get install systemd)")
    return program


def checkable_copy(unit: Path, folder: Path) -> Path:
    """The unit as systemd would load it on this machine: verify checks that the program and the files exist."""
    text = unit.read_text()
    for program in ("/opt/tgvid/.venv/bin/tgvid", "%h/tgvid/.venv/bin/tgvid"):
        text = text.replace(program, sys.executable)
    text = text.replace("User=tgvid", "User=root").replace("Group=tgvid", "Group=root")
    text = text.replace("EnvironmentFile=/etc/", "EnvironmentFile=-/etc/")
    copy = folder / unit.name
    copy.write_text(text)
    return copy


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_systemd_accepts_the_unit(tmp_path, unit):
    program = systemd_analyze()
    result = subprocess.run([program, "verify", str(checkable_copy(unit, tmp_path))], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr


@pytest.mark.parametrize("unit", SYSTEM_UNITS, ids=lambda p: p.name)
def test_the_system_units_are_sandboxed_to_an_exposure_of_at_most_3(tmp_path, unit):
    program = systemd_analyze()
    result = subprocess.run([program, "security", "--offline=true", str(checkable_copy(unit, tmp_path))],
                            capture_output=True, text=True, timeout=60)
    verdict = re.search(r"Overall exposure level for \S+: ([0-9.]+)", result.stdout)
    assert verdict, result.stdout + result.stderr
    assert float(verdict.group(1)) <= MAX_EXPOSURE, "\n".join(
        line for line in result.stdout.splitlines() if line.startswith("✗"))


@pytest.mark.parametrize("unit", SYSTEM_UNITS, ids=lambda p: p.name)
def test_every_line_of_a_system_unit_says_why_it_is_there(unit):
    """STYLE.md: unit files comment each line that is not obvious; the sandboxing lines all are."""
    lines = unit.read_text().splitlines()
    obvious = re.compile(r"\[|$|#|(Description|Documentation|After|Wants|WantedBy|User|Group|ExecStart|Restart|"
                         r"RestartSec|NotifyAccess|Nice)=")
    for number, line in enumerate(lines):
        if not obvious.match(line):
            above = next(lines[i] for i in range(number - 1, -1, -1) if not re.match(r"[A-Z]\w*=", lines[i]))
            assert above.startswith("#"), f"{unit.name}: no comment above {line!r}"


@pytest.mark.parametrize("script", sorted(SYSTEMD.glob("termux/*/run")) + sorted(SYSTEMD.glob("termux/*/log/run")),
                         ids=lambda p: str(p.relative_to(SYSTEMD)))
def test_termux_run_scripts_are_valid_and_exec_in_the_foreground(script):
    assert os.access(script, os.X_OK)
    assert subprocess.run(["sh", "-n", str(script)], capture_output=True).returncode == 0
    last = [line for line in script.read_text().splitlines() if line.strip()][-1]
    assert last.startswith("exec "), "no shell may stay between the supervisor and the daemon's signals"


def test_a_status_naming_an_odd_file_reaches_systemd_as_one_line(tmp_path, monkeypatch):
    address = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(str(address))
        monkeypatch.setenv("NOTIFY_SOCKET", str(address))
        sd_notify.status("working on a\nWATCHDOG=trigger\nb\udcff.mkv")
        assert listener.recv(4096) == b"STATUS=working on a?WATCHDOG=trigger?b?.mkv"


def test_the_daemon_tells_systemd_ready_status_and_stopping(tmp_path):
    address = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(str(address))
        listener.settimeout(30)
        env = {**os.environ, "NOTIFY_SOCKET": str(address), "WATCHDOG_USEC": "2000000"}
        process = subprocess.Popen([sys.executable, str(DAEMON), "transcoder", "--root", str(tmp_path / "root")],
                                   env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        messages = []

        def heard(text):
            while not any(text in m for m in messages):
                messages.append(listener.recv(4096).decode())
            return True

        try:
            wait_for(lambda: heard("READY=1"), 30, "READY=1")
            wait_for(lambda: heard("STATUS=idle"), 30, "a STATUS line")
            wait_for(lambda: heard("WATCHDOG=1"), 30, "a watchdog ping")
        finally:
            process.terminate()
            assert process.wait(timeout=30) == 0
        wait_for(lambda: heard("STOPPING=1"), 30, "STOPPING=1")


def test_on_termux_the_transcoder_holds_the_wake_lock_while_it_has_files_to_convert(tmp_path, daemon, monkeypatch):
    calls = fake_termux_wake_lock(tmp_path, monkeypatch)
    running = daemon()
    assert not calls.exists(), "idle: no lock"
    write_video(tmp_path / "inbox" / "clip.mkv", codec="mpeg4", audio_codec="ac3", seconds=1)
    wait_for(lambda: calls.exists() and calls.read_text().split() == ["termux-wake-lock"], 30, "the lock")
    wait_for(lambda: (tmp_path / "outbox" / "clip.mp4").exists(), 60, "the conversion")
    wait_for(lambda: calls.read_text().split() == ["termux-wake-lock", "termux-wake-unlock"],
             10, "unlock when nothing is left to convert (no uploader runs to want it)")
    running.stop()


def fake_termux_wake_lock(tmp_path, monkeypatch):
    """termux-wake-lock and -unlock on PATH that write their names, one a line, into the file returned."""
    bin_dir = tmp_path / "termux-bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls.txt"
    for name in ("termux-wake-lock", "termux-wake-unlock"):
        script = bin_dir / name
        script.write_text(f"#!/bin/sh\necho {name} >> {calls}\n")
        script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return calls


def test_on_termux_the_wake_lock_is_released_only_when_neither_running_daemon_has_work(tmp_path, monkeypatch):
    calls = fake_termux_wake_lock(tmp_path, monkeypatch)
    root = tmp_path / "root"
    root.mkdir()
    held = [instance.hold(root, "transcoder"), instance.hold(root, "uploader")]  # both daemons run
    transcoder, uploader = WakeLock(root, "transcoder"), WakeLock(root, "uploader")
    transcoder.hold_while(True)
    uploader.hold_while(True)
    transcoder.hold_while(False)
    assert calls.read_text().split() == ["termux-wake-lock"] * 2, "the uploader still sends: keep the lock"
    uploader.hold_while(False)
    assert calls.read_text().split()[-1] == "termux-wake-unlock"
    transcoder.hold_while(True)
    uploader.hold_while(True)
    held[0].close()  # the transcoder is killed while busy: its busy file is left behind
    uploader.hold_while(False)
    assert calls.read_text().split()[-1] == "termux-wake-unlock", "a daemon that no longer runs holds nothing"
    held[1].close()
