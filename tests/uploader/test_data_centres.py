"""Logging in from the wrong data centre, as most accounts outside Europe do: Telegram answers PHONE_MIGRATE_X /
USER_MIGRATE_X, Telethon switches, and the login goes on there (real Telethon, fake network in two data centres)."""

import asyncio
from types import SimpleNamespace

import pytest
from conftest import hand_off
from fake_telegram import FakeTelegram, request_types
from telethon import errors
from telethon_internals import fake_client

from tgvid import sidecar
from uploader import telegram
from uploader.ledger import new_random_id
from uploader.sender import Item

PHONE = "+15550123456"


def settings(root, bot_token="123:secret"):
    return SimpleNamespace(root=root, telegram=SimpleNamespace(
        api_id=1, api_hash="x", bot_token=bot_token, session="", session_file="telegram.session", chat="me"),
        uploader=SimpleNamespace(premium=False, parallel_parts=8, part_kib=0, max_upload_mib_per_second=0.0))


@pytest.mark.parametrize("password", ["", "hunter2"], ids=["code", "code-and-2fa"])
def test_a_user_login_follows_phone_migrate_to_the_accounts_data_centre(password):
    server = FakeTelegram(authorized=False, home_dc=4, password=password)
    client, network = fake_client(server, request_retries=telegram.MIGRATIONS)  # as `tgvid login` makes it
    loop = asyncio.new_event_loop()

    async def log_in():
        await client.start(phone=lambda: PHONE, code_callback=lambda: "12345", password=lambda: password)
        return await client.get_me()

    try:
        me = loop.run_until_complete(log_in())
    finally:
        telegram.close_client(client, loop)
    assert me.first_name == "Fake" and server.authorized
    assert network.dc == 4 and client.session.dc_id == 4
    assert request_types(server.requests).count("SendCodeRequest") == 2  # refused in DC 2, answered in DC 4


def test_without_retries_the_login_stops_at_the_migrate_answer():
    server = FakeTelegram(authorized=False, home_dc=4)
    client, _ = fake_client(server, request_retries=0)  # what `tgvid login` did before
    loop = asyncio.new_event_loop()
    try:
        with pytest.raises(errors.PhoneMigrateError):
            loop.run_until_complete(client.send_code_request(PHONE))
    finally:
        telegram.close_client(client, loop)


def test_a_bot_homed_in_another_data_centre_signs_in_there_and_sends(tmp_path):
    server = FakeTelegram(authorized=False, home_dc=5)
    client, network = fake_client(server)
    sender = telegram.TelegramSender(client, asyncio.new_event_loop(), "me", False, lambda: False,
                                     sign_in=telegram.bot_sign_in(settings(tmp_path)))
    path = hand_off(tmp_path, "a.pdf", b"%PDF")
    try:
        sender.start()
        sender.send([Item(path, sidecar.read(sidecar.path_for(path)), new_random_id(), "")], "", lambda *_: None)
    finally:
        sender.close()
    assert sender.me.bot and network.dc == 5
    assert request_types(server.requests).count("ImportBotAuthorizationRequest") == 2
    assert len(server.posted) == 1
    assert (tmp_path / "telegram.session").read_text().startswith("1")  # the login, now naming DC 5, is kept
