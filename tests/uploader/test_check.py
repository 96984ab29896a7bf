"""`tgvid check`: exit 0 and what sending would use when it would work, exit 1 and why when not (real Telethon,
fake network)."""

from types import SimpleNamespace

from fake_telegram import FakeTelegram
from telethon_internals import fake_client

from uploader import daemon, telegram


def config(root, chat="me", folder_max_file_mib=0.0, **telegram_settings):
    values = {"api_id": 1, "api_hash": "x", "bot_token": "", "session": "1fake", "session_file": "telegram.session",
              "chat": chat, **telegram_settings}
    uploader = SimpleNamespace(premium=False, folder_max_file_mib=folder_max_file_mib)
    return SimpleNamespace(root=root, telegram=SimpleNamespace(**values), uploader=uploader)


def test_a_channel_the_account_may_post_to_checks_out(tmp_path, capsys):
    server = FakeTelegram(premium=True)
    server.add_channel(1234567890, "Family videos")
    assert telegram.check(config(tmp_path, "-1001234567890"), fake_client(server)[0]) == 0
    out = capsys.readouterr().out
    assert "account: Fake (Premium user, data centre 2)" in out
    assert "chat: Family videos (-1001234567890)" in out
    assert "file limit: 4000 MiB" in out and "sending would work" in out


def test_a_channel_without_the_right_to_post_fails_the_check_saying_why(tmp_path, capsys):
    server = FakeTelegram(bot=True)
    server.add_channel(1234567890, "Someone's channel", can_post=False)
    assert telegram.check(config(tmp_path, "-1001234567890"), fake_client(server)[0]) == 1
    assert "cannot send: a channel needs the account to be an admin with the right to post" in capsys.readouterr().out


def test_a_session_without_a_login_fails_the_check_asking_for_tgvid_login(tmp_path, capsys):
    assert telegram.check(config(tmp_path), fake_client(FakeTelegram(authorized=False))[0]) == 1
    assert "run `tgvid login`" in capsys.readouterr().out


def test_half_a_configuration_fails_the_check_and_none_at_all_passes_it(tmp_path, capsys):
    assert daemon.check(config(tmp_path, api_id=0, session="")) == 1
    assert "but telegram.api_id and a login (telegram.bot_token, telegram.session, or run `tgvid login`) are " \
           "missing" in capsys.readouterr().out
    assert daemon.check(config(tmp_path, api_id=0, api_hash="", session="")) == 0
    assert "delivers into" in capsys.readouterr().out
    assert daemon.check(config(tmp_path, folder_max_file_mib=1.5, api_id=0, api_hash="", session="")) == 0
    assert capsys.readouterr().out.endswith("delivered (a video over 1.5 MiB in parts)\n")
