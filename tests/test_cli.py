"""The command line as a person meets it: help, version, usage errors and their exit codes."""

import os
import subprocess
import sys

from tests.processes import DAEMON, run_tgvid


def test_version_names_ffmpeg_libraries():
    result = run_tgvid("--version")
    assert result.returncode == 0
    assert "libavcodec" in result.stdout


def test_unknown_command_is_a_usage_error():
    result = run_tgvid("frobnicate")
    assert result.returncode == 2
    assert "invalid choice" in result.stderr


def test_help_lists_every_command():
    result = run_tgvid("--help")
    for name in ("transcoder", "uploader", "transcode", "status", "inspect", "login", "check"):
        assert name in result.stdout


def test_help_says_what_tgvid_does_in_whole_sentences_and_how_to_see_its_version():
    result = run_tgvid("--help", env={**os.environ, "COLUMNS": "200"})
    assert "inspect a checkpoint, log in, check the Telegram set-up.\n" in result.stdout
    assert "--version" in result.stdout
    assert "--root DIR" in run_tgvid("status", "--help").stdout


def test_the_log_level_setting_applies_and_the_flag_overrides_it(tmp_path):
    from tests.media import write_video

    source = write_video(tmp_path / "clip.mp4", seconds=1)
    quiet = run_tgvid("transcode", source, env={**os.environ, "TGVID_LOG_LEVEL": "WARNING"})
    assert quiet.returncode == 0 and "INFO" not in quiet.stderr
    loud = run_tgvid("--log-level", "INFO", "transcode", source, env={**os.environ, "TGVID_LOG_LEVEL": "WARNING"})
    assert loud.returncode == 0 and "INFO transcoder.job" in loud.stderr


def test_a_bad_flag_value_is_one_line_naming_it_and_what_is_allowed(tmp_path):
    from tests.media import write_video

    source = write_video(tmp_path / "clip.mp4", seconds=1)
    result = run_tgvid("transcode", source, "--preset", "fastt")
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert "preset" in result.stderr and "'fastt'" in result.stderr and "veryfast" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]


def test_a_daemon_with_a_bad_setting_refuses_to_start_with_one_line(tmp_path):
    for daemon, variable, value in (("transcoder", "TGVID_TRANSCODER_PRESET", "fastt"),
                                    ("uploader", "TGVID_TELEGRAM_CHAT", "my archive"),
                                    ("status", "TGVID_LOG_LEVEL", "LOUD")):
        result = run_tgvid(daemon, "--root", tmp_path, env={**os.environ, variable: value})
        assert result.returncode == 2, result.stderr
        assert len(result.stderr.splitlines()) == 1, result.stderr
        assert variable in result.stderr and repr(value) in result.stderr
    assert list(tmp_path.iterdir()) == [], "nothing started"


def test_global_options_are_accepted_after_the_command_too(tmp_path):
    before = run_tgvid("--log-level", "WARNING", "status", "--root", tmp_path)
    after = run_tgvid("status", "--root", tmp_path, "--log-level", "WARNING")
    assert before.returncode == after.returncode == 0, after.stderr
    assert before.stdout == after.stdout
    assert run_tgvid("status", "--root", tmp_path, "--log-level", "LOUD").returncode == 2


def test_every_argument_has_help_text():
    import argparse

    sys.path.insert(0, str(DAEMON.parent))
    import daemon

    parsers = [daemon.build_parser()]
    for parser in parsers:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                parsers.extend(action.choices.values())
            else:
                assert action.help, f"{parser.prog} {action.option_strings or action.dest} has no help text"
    assert len(parsers) > 5


def test_status_of_a_root_that_does_not_exist_is_a_usage_error(tmp_path):
    result = run_tgvid("status", "--root", tmp_path / "no-such-folder")
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1 and "no-such-folder" in result.stderr
    assert not (tmp_path / "no-such-folder").exists()


def test_a_root_that_is_a_file_or_cannot_be_made_is_one_line_and_exit_2(tmp_path):
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    for command, root in (("transcoder", a_file), ("uploader", a_file / "below"), ("status", a_file),
                          ("login", a_file)):
        result = run_tgvid(command, "--root", root)
        assert result.returncode == 2, result.stderr
        assert len(result.stderr.splitlines()) == 1 and str(root) in result.stderr, result.stderr
        assert "Traceback" not in result.stderr


def test_a_closed_pipe_ends_status_quietly(tmp_path):
    reading, writing = os.pipe()
    os.close(reading)  # the reader is gone before status writes, as `tgvid status | head -1` can leave it
    result = run_tgvid("status", "--root", tmp_path, stdout=writing, stderr=subprocess.PIPE)
    os.close(writing)
    assert result.stderr == ""
    assert result.returncode == 141  # 128 + SIGPIPE, as a shell reports a tool ended by a closed pipe
