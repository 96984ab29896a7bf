"""The command line as a person meets it: help, version, usage errors and their exit codes."""

import subprocess
import sys
from pathlib import Path

DAEMON = Path(__file__).parent.parent / "daemon.py"


def tgvid(*args, **kwargs):
    return subprocess.run([sys.executable, str(DAEMON), *args], capture_output=True, text=True, timeout=120, **kwargs)


def test_version_names_ffmpeg_libraries():
    result = tgvid("--version")
    assert result.returncode == 0
    assert "libavcodec" in result.stdout


def test_unknown_command_is_a_usage_error():
    result = tgvid("frobnicate")
    assert result.returncode == 2
    assert "invalid choice" in result.stderr


def test_help_lists_every_command():
    result = tgvid("--help")
    for name in ("transcoder", "uploader", "transcode", "status", "inspect", "login"):
        assert name in result.stdout
