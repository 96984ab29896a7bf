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


def test_a_bad_flag_value_is_one_line_naming_it_and_what_is_allowed(tmp_path):
    from tests.media import write_video

    source = write_video(tmp_path / "clip.mp4", seconds=1)
    result = tgvid("transcode", source, "--preset", "fastt")
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert "preset" in result.stderr and "'fastt'" in result.stderr and "veryfast" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]


def test_a_daemon_with_a_bad_setting_refuses_to_start_with_one_line(tmp_path):
    import os

    for daemon, variable, value in (("transcoder", "TGVID_TRANSCODER_PRESET", "fastt"),
                                    ("uploader", "TGVID_TELEGRAM_CHAT", "my archive"),
                                    ("status", "TGVID_LOG_LEVEL", "LOUD")):
        result = tgvid(daemon, "--root", tmp_path, env={**os.environ, variable: value})
        assert result.returncode == 2, result.stderr
        assert len(result.stderr.splitlines()) == 1, result.stderr
        assert variable in result.stderr and repr(value) in result.stderr
    assert list(tmp_path.iterdir()) == [], "nothing started"
