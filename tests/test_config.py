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


def test_bad_value_names_the_variable():
    with pytest.raises(ConfigError, match="TGVID_TRANSCODER_CRF.*must be a int"):
        config.load(None, environ={"TGVID_TRANSCODER_CRF": "high"})


def test_readme_lists_every_setting():
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    assert config.markdown_table() in readme, "README's settings table is stale: paste config.markdown_table()"
