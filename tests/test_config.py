"""Settings: file, environment and flag precedence, unknown keys, and the README table."""

from pathlib import Path

import pytest

from tgvid import config
from tgvid.errors import ConfigError


def write(tmp_path, text):
    path = tmp_path / "tgvid.toml"
    path.write_text(text)
    return path


def test_defaults_without_file_or_environment():
    loaded = config.load(None, environ={})
    assert loaded.root == Path("./var")
    assert loaded.transcoder.crf == 23
    assert loaded.transcoder.keep_originals is True
    assert loaded.telegram.chat == "me"


def test_environment_overrides_file_and_flags_override_environment(tmp_path):
    path = write(tmp_path, 'root = "/from/file"\n[transcoder]\ncrf = 18\nkeep_originals = true\n')
    environ = {"TGVID_ROOT": "/from/env", "TGVID_TRANSCODER_KEEP_ORIGINALS": "false"}
    loaded = config.load(path, environ=environ, overrides={"root": "/from/flag"})
    assert loaded.root == Path("/from/flag")
    assert loaded.transcoder.crf == 18
    assert loaded.transcoder.keep_originals is False


def test_unknown_key_is_an_error_that_names_it(tmp_path):
    path = write(tmp_path, "[transcoder]\ncrf = 20\nsegment_secs = 4\n")
    with pytest.raises(ConfigError, match="transcoder.segment_secs"):
        config.load(path, environ={})


def test_unknown_section_is_an_error_that_names_it(tmp_path):
    with pytest.raises(ConfigError, match=r"\[encoder\]"):
        config.load(write(tmp_path, "[encoder]\ncrf = 20\n"), environ={})


def test_a_settings_file_that_cannot_be_read_or_parsed_is_one_plain_line_naming_it(tmp_path):
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as refused:
        config.load(missing, environ={})
    assert refused.value.message == f"{missing}: configuration error: cannot read the settings file: No such file or " \
                                    "directory"
    with pytest.raises(ConfigError) as refused:
        config.load(write(tmp_path, "[transcoder\n"), environ={})
    assert refused.value.message.endswith(": configuration error: not valid TOML: Expected ']' at the end of a table "
                                          "declaration (at line 1, column 12)")


def test_bad_value_names_the_variable():
    with pytest.raises(ConfigError, match="TGVID_TRANSCODER_CRF.*must be a whole number"):
        config.load(None, environ={"TGVID_TRANSCODER_CRF": "high"})


@pytest.mark.parametrize(("variable", "value", "allowed"), [
    ("TGVID_TRANSCODER_PRESET", "fastt", "veryfast"),
    ("TGVID_TRANSCODER_CRF", "52", "0 to 51"),
    ("TGVID_TRANSCODER_CRF", "-1", "0 to 51"),
    ("TGVID_TRANSCODER_SEGMENT_SECONDS", "0", "above 0"),
    ("TGVID_TRANSCODER_STALL_SECONDS", "-5", "above 0"),
    ("TGVID_TRANSCODER_MAX_RETRIES", "0", "1 or more"),
    ("TGVID_TRANSCODER_QUIET_SECONDS", "nan", "0 or more"),
    ("TGVID_UPLOADER_LEDGER_KEEP_DAYS", "0", "above 0"),
    ("TGVID_LOG_LEVEL", "LOUD", "DEBUG, INFO, WARNING, ERROR"),
    ("TGVID_ROOT", " ", "a path"),
    ("TGVID_TELEGRAM_CHAT", "my archive", "@username"),
    ("TGVID_TELEGRAM_CHAT", "@ab", "@username"),
    ("TGVID_TELEGRAM_CHAT", "t.me/+AbCdEf-12_x", "@username"),
    ("TGVID_TELEGRAM_CHAT", "https://t.me/joinchat/AbCdEf", "@username"),
    ("TGVID_TELEGRAM_CHAT", "https://example.com/my_archive", "t.me"),
])
def test_a_value_outside_what_is_allowed_is_refused_naming_setting_value_and_allowed(variable, value, allowed):
    with pytest.raises(ConfigError) as refused:
        config.load(None, environ={variable: value})
    message = refused.value.message
    assert variable in message and repr(value) in message and allowed in message
    assert "\n" not in message


@pytest.mark.parametrize("chat", ["me", "@my_archive", "my_archive", "123456789", "-4012345", "-1001234567890",
                                  "https://t.me/my_archive", "https://t.me/c/1234567890/15",
                                  "https://telegram.me/my_archive/"])
def test_every_form_of_chat_the_uploader_understands_is_accepted(chat):
    assert config.load(None, environ={"TGVID_TELEGRAM_CHAT": chat}).telegram.chat == chat


def test_a_refused_secret_is_not_shown():
    with pytest.raises(ConfigError) as refused:
        config.load(None, environ={"TGVID_TELEGRAM_API_HASH": "not-the-hash-but-secret"})
    assert "not-the-hash-but-secret" not in refused.value.message
    assert "telegram.api_hash" in refused.value.message and "hexadecimal" in refused.value.message


def test_every_default_is_allowed():
    for setting in config.SETTINGS:
        assert setting.type is bool or setting.allowed.test(setting.default), setting.key


def test_readme_lists_every_setting():
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    assert config.markdown_table() in readme, "README's settings table is stale: paste config.markdown_table()"
