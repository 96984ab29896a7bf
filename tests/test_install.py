"""`make install` as a service's setup runs it: a .venv with the runtime dependencies only, and nothing started."""

import shutil
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
SHIPPED = ("Makefile", "pyproject.toml", "README.md", "daemon.py", "tgvid", "transcoder", "uploader", "systemd")


def test_make_install_makes_a_runtime_only_venv_and_starts_nothing(tmp_path):
    copy = tmp_path / "tgvid"
    copy.mkdir()
    for name in SHIPPED:
        source = PROJECT / name
        if source.is_dir():
            shutil.copytree(source, copy / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, copy / name)
    result = subprocess.run(["make", "install", f"PYTHON={sys.executable}"], cwd=copy, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    venv = copy / ".venv" / "bin"
    assert subprocess.run([venv / "tgvid", "--help"], capture_output=True, timeout=60).returncode == 0
    for test_tool in ("pytest", "hypothesis", "ruff"):
        found = subprocess.run([venv / "python", "-c", f"import {test_tool}"], capture_output=True, timeout=60)
        assert found.returncode != 0, f"{test_tool} was installed: make install is for the runtime only"
    assert not (copy / "var").exists(), "make install started a daemon"
    assert not (copy / ".venv" / ".installed").exists(), "make install must not pass for the test install"
