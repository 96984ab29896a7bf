"""Each row of uploader.telegram_errors' table, as the person running the uploader sees it: the file sent after a
wait, sent again later, quarantined with the error's name, or the uploader stopped with exit 4 and every file kept
(real Telethon, fake network)."""

import asyncio
from types import SimpleNamespace

import pytest
from conftest import Sleeps, hand_off
from fake_telegram import FakeTelegram, Fault
from telethon import errors
from telethon.tl import functions
from telethon_internals import fake_client

from tgvid.errors import EXIT_ACCOUNT, AccountError, SendFailed
from tgvid.reaction import Quarantine, Retry, RetryPolicy, Stop, reaction
from uploader.delivery import Delivery
from uploader.ledger import EntryState, Ledger, path_in
from uploader.outbox import Outbox
from uploader.telegram import TelegramSender
from uploader.telegram_errors import TABLE, Family, failure


def deliver(root, sender, now):
    settings = SimpleNamespace(album_window_seconds=0.0, delete_after_send=False, max_retries=3)
    ledger = Ledger(path_in(root))
    Delivery(root, ledger, sender, settings, lambda *_: None, lambda: now).run(
        Outbox(root / "outbox", quiet_seconds=0.0).scan(now), lambda: False)
    return ledger


def connection_reset(_request):
    raise ConnectionResetError("connection reset")


@pytest.fixture
def setup(tmp_path):
    server = FakeTelegram()
    client, _ = fake_client(server)
    sleeps = Sleeps()
    sender = TelegramSender(client, asyncio.new_event_loop(), "me", False, lambda: False, sleep=sleeps)
    sender.start()
    hand_off(tmp_path, "a.pdf", b"%PDF-1.4")
    yield SimpleNamespace(sender=sender, server=server, sleeps=sleeps, root=tmp_path)
    sender.close()


@pytest.mark.parametrize("message", ["FLOOD_WAIT_3", "FLOOD_PREMIUM_WAIT_3", "SLOWMODE_WAIT_3"])
def test_a_wait_is_waited_out_and_the_file_sent(setup, message):
    setup.server.fail(functions.messages.SendMediaRequest, Fault(420, message))
    [entry] = deliver(setup.root, setup.sender, 1000.0).entries.values()
    assert entry.state is EntryState.SENT and setup.sleeps.seconds == 3


def test_a_lost_part_is_saved_again_and_the_file_sent(setup):
    setup.server.fail(functions.messages.SendMediaRequest, lambda request: setup.server.expire_parts())
    [entry] = deliver(setup.root, setup.sender, 1000.0).entries.values()
    assert entry.state is EntryState.SENT and len(setup.server.posted) == 1


@pytest.mark.parametrize("fault", [connection_reset, Fault(500, "RPC_CALL_FAIL")], ids=["network", "server"])
def test_passing_trouble_is_tried_again_later_and_never_quarantines(setup, fault):
    for now in (1000.0, 5000.0, 9000.0):  # max_retries is 3
        setup.server.fail(functions.messages.SendMediaRequest, fault)
        [entry] = deliver(setup.root, setup.sender, now).entries.values()
    assert (entry.state, entry.attempts) == (EntryState.SENDING, 3)
    [entry] = deliver(setup.root, setup.sender, 20000.0).entries.values()
    assert entry.state is EntryState.SENT and len(setup.server.posted) == 1


@pytest.mark.parametrize("message", ["MEDIA_INVALID", "MEDIA_EMPTY", "FILE_PARTS_INVALID"])
def test_a_refused_file_is_quarantined_with_the_errors_name(setup, message):
    setup.server.fail(functions.messages.SendMediaRequest, Fault(400, message))
    [entry] = deliver(setup.root, setup.sender, 1000.0).entries.values()
    assert entry.state is EntryState.FAILED
    reason = (setup.root / "quarantine" / "a.pdf.reason.txt").read_text()
    assert message.replace("_", "").lower() in reason.replace("_", "").lower()


@pytest.mark.parametrize(("code", "message"), [
    (401, "AUTH_KEY_UNREGISTERED"), (401, "SESSION_REVOKED"), (401, "USER_DEACTIVATED"),
    (400, "ACCESS_TOKEN_INVALID"), (403, "CHAT_WRITE_FORBIDDEN"), (400, "CHANNEL_PRIVATE"),
    (400, "USER_BANNED_IN_CHANNEL"), (400, "CHAT_ADMIN_REQUIRED"), (400, "PEER_ID_INVALID")])
def test_a_lost_login_or_a_closed_chat_stops_the_uploader_with_exit_4_and_keeps_the_file(setup, code, message):
    setup.server.fail(functions.messages.SendMediaRequest, Fault(code, message))
    with pytest.raises(AccountError) as stopped:
        deliver(setup.root, setup.sender, 1000.0)
    assert stopped.value.exit_code == EXIT_ACCOUNT == 4
    assert "\n" not in stopped.value.message and "Every file is kept" in stopped.value.message
    assert (setup.root / "outbox" / "a.pdf").exists() and not (setup.root / "quarantine").exists()


def test_an_error_no_row_names_backs_off_and_quarantines_after_max_retries_naming_it(setup):
    for now in (1000.0, 5000.0, 9000.0):
        setup.server.fail(functions.messages.SendMediaRequest, Fault(400, "SOMETHING_TELEGRAM_ADDED_LATER"))
        [entry] = deliver(setup.root, setup.sender, now).entries.values()
    assert entry.state is EntryState.FAILED
    assert "SOMETHING_TELEGRAM_ADDED_LATER" in (setup.root / "quarantine" / "a.pdf.reason.txt").read_text()


@pytest.mark.parametrize(("error", "decision"), [
    (errors.AuthKeyUnregisteredError(None), Stop()), (errors.ChatWriteForbiddenError(None), Stop()),
    (errors.MediaInvalidError(None), Quarantine()), (errors.FilePartMissingError(None, 3), Quarantine()),
    (ConnectionResetError(), Retry(5.0)), (errors.FloodWaitError(None, 3), Retry(5.0)),
    (KeyError("a bug in the uploader"), Retry(5.0))])
def test_each_family_the_table_maps_to_is_decided_by_the_one_reaction_table(error, decision):
    policy = RetryPolicy(max_retries=3, base_seconds=5.0, cap_seconds=600.0)
    assert reaction(failure(error, "a.pdf", "me"), 1, policy) == decision


def test_only_an_error_no_row_names_is_quarantined_after_max_retries():
    policy = RetryPolicy(max_retries=3, base_seconds=5.0, cap_seconds=600.0)
    assert reaction(failure(KeyError("a bug"), "a.pdf", "me"), 3, policy) == Quarantine()
    assert isinstance(reaction(failure(ConnectionResetError(), "a.pdf", "me"), 3, policy), Retry)
    assert {row.family for row in TABLE} | {Family.UNKNOWN} == set(Family)


def test_passing_trouble_at_start_is_not_taken_for_a_missing_login(tmp_path):
    server = FakeTelegram()
    client, _ = fake_client(server)
    signed_in = []

    async def sign_in(_client):
        signed_in.append(True)

    sender = TelegramSender(client, asyncio.new_event_loop(), "me", False, lambda: False, sleep=Sleeps(),
                            sign_in=sign_in)
    server.fail(functions.users.GetUsersRequest, Fault(420, "FLOOD_WAIT_3"), *[connection_reset] * 5)
    try:
        with pytest.raises(SendFailed, match="network or server trouble"):
            sender.start()
        assert not signed_in
        sender.start()
        assert sender.me is not None and not signed_in
    finally:
        sender.close()
