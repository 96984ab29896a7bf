"""Which sender the uploader starts with: the local folder only when no Telegram setting is given at all, and a
half-made Telegram configuration refused with the missing settings named."""

import logging
from types import SimpleNamespace

import pytest

from tgvid.errors import ConfigError
from uploader.daemon import make_sender
from uploader.folder import FolderSender


def config(root, **telegram):
    values = {"api_id": 0, "api_hash": "", "bot_token": "", "session": "", "session_file": "telegram.session",
              "chat": "me", **telegram}
    uploader = SimpleNamespace(premium=False, parallel_parts=8, part_kib=0, max_upload_mib_per_second=0.0)
    return SimpleNamespace(root=root, telegram=SimpleNamespace(**values), uploader=uploader)


def test_no_telegram_setting_at_all_delivers_into_the_local_folder_and_says_so(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    sender = make_sender(config(tmp_path), lambda: False)
    assert isinstance(sender, FolderSender)
    assert "using the local-folder sender: no Telegram setting is given" in caplog.text


@pytest.mark.parametrize(("settings", "missing"), [
    ({"api_id": 1, "api_hash": "0123"}, "a login (telegram.bot_token, telegram.session, or run `tgvid login`)"),
    ({"bot_token": "1:x"}, "telegram.api_id and telegram.api_hash"),
    ({"api_hash": "0123", "bot_token": "1:x"}, "telegram.api_id missing"),
    ({"chat": "@mychannel"}, "telegram.api_id and telegram.api_hash and a login"),
])
def test_half_a_telegram_configuration_refuses_to_start_naming_what_is_missing(tmp_path, settings, missing):
    with pytest.raises(ConfigError, match="missing") as refused:
        make_sender(config(tmp_path, **settings), lambda: False)
    assert missing in refused.value.message
    assert "1:x" not in refused.value.message and "0123" not in refused.value.message
    assert not (tmp_path / "delivered").exists()
