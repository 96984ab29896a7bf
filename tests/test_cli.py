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


def test_the_log_level_setting_applies_and_the_flag_overrides_it(tmp_path):
    import os

    from tests.media import write_video

    source = write_video(tmp_path / "clip.mp4", seconds=1)
    quiet = tgvid("transcode", source, env={**os.environ, "TGVID_LOG_LEVEL": "WARNING"})
    assert quiet.returncode == 0 and "INFO" not in quiet.stderr
    loud = tgvid("--log-level", "INFO", "transcode", source, env={**os.environ, "TGVID_LOG_LEVEL": "WARNING"})
    assert loud.returncode == 0 and "INFO transcoder.job" in loud.stderr
