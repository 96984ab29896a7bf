"""The chat setting in every form, for user and bot accounts: resolved the way Telegram lets each kind of account
(dialogs for a user's private channel, access hash 0 for a bot), remembered under the root, and found again when
the remembered access hash is refused (real Telethon, fake network)."""

import asyncio

import pytest
from conftest import hand_off
from fake_telegram import FakeTelegram, Fault, request_types
from telethon import errors
from telethon.tl import functions, types
from telethon_internals import fake_client

from tgvid import sidecar
from tgvid.chatsetting import ChatKind
from tgvid.errors import AccountError, ConfigError, SendFailed
from uploader import chat
from uploader.ledger import new_random_id
from uploader.sender import Item
from uploader.telegram import TelegramSender


def started(server, setting, root, stop=lambda: False):
    client, _ = fake_client(server)
    sender = TelegramSender(client, asyncio.new_event_loop(), setting, False, stop, root=root)
    try:
        sender.start()
    except BaseException:
        sender.close()
        raise
    return sender


def send_one(sender, root, name="a.pdf"):
    path = hand_off(root, name, b"%PDF")
    try:
        return sender.send([Item(path, sidecar.read(sidecar.path_for(path)), new_random_id(), "")], "",
                           lambda *_: None)
    finally:
        sender.close()


def test_a_user_reaches_a_private_channel_by_id_through_dialogs_once(tmp_path):
    server = FakeTelegram()
    server.add_channel(1234567890, "Family videos")
    send_one(started(server, "-1001234567890", tmp_path), tmp_path)
    assert [p.message.peer_id for p in server.posted] == [types.PeerChannel(1234567890)]
    assert request_types(server.requests).count("GetDialogsRequest") == 1
    send_one(started(server, "-1001234567890", tmp_path), tmp_path, "b.pdf")  # a restart
    assert request_types(server.requests).count("GetDialogsRequest") == 1
    assert len(server.posted) == 2


def test_a_user_cannot_guess_a_channels_access_hash(tmp_path):
    """What Telethon's get_input_entity would do for a user: access hash 0, refused."""
    server = FakeTelegram()
    server.add_channel(1234567890, "Family videos")
    client, _ = fake_client(server)
    loop = asyncio.new_event_loop()
    with pytest.raises(errors.ChannelInvalidError):
        loop.run_until_complete(client(functions.channels.GetChannelsRequest([types.InputChannel(1234567890, 0)])))
    loop.close()


def test_a_bot_reaches_a_channel_by_id_with_access_hash_0_and_never_reads_dialogs(tmp_path):
    server = FakeTelegram(bot=True)
    server.add_channel(1234567890, "Family videos")
    send_one(started(server, "https://t.me/c/1234567890/7", tmp_path), tmp_path)
    assert "GetDialogsRequest" not in request_types(server.requests)
    assert [p.message.peer_id for p in server.posted] == [types.PeerChannel(1234567890)]


@pytest.mark.parametrize("bot", [False, True], ids=["user", "bot"])
def test_a_username_is_resolved_once_across_restarts(tmp_path, bot):
    server = FakeTelegram(bot=bot, resolve_limit=1)  # a second resolve would be a FLOOD_WAIT
    server.add_channel(777, "Public", username="my_channel")
    for name in ("a.pdf", "b.pdf", "c.pdf"):
        send_one(started(server, "@my_channel", tmp_path), tmp_path, name)
    assert server.resolves == 1 and len(server.posted) == 3


def test_a_basic_group_by_its_negative_id(tmp_path):
    server = FakeTelegram()
    server.add_group(4012345, "Friends")
    send_one(started(server, "-4012345", tmp_path), tmp_path)
    assert [p.message.peer_id for p in server.posted] == [types.PeerChat(4012345)]


def test_a_refused_remembered_access_hash_is_forgotten_and_the_chat_found_again(tmp_path):
    server = FakeTelegram()
    server.add_channel(1234567890, "Family videos")
    started(server, "-1001234567890", tmp_path).close()
    memory = chat.recall(tmp_path, "-1001234567890", 1)
    chat.remember(tmp_path, "-1001234567890", 1, chat.Remembered(ChatKind.CHANNEL, 1234567890, 999, "old"))
    sender = started(server, "-1001234567890", tmp_path)
    path = hand_off(tmp_path, "a.pdf", b"%PDF")
    item = Item(path, sidecar.read(sidecar.path_for(path)), new_random_id(), "")
    try:
        with pytest.raises(SendFailed, match="finding it again"):
            sender.send([item], "", lambda *_: None)
        sender.send([item], "", lambda *_: None)
    finally:
        sender.close()
    assert len(server.posted) == 1
    assert chat.recall(tmp_path, "-1001234567890", 1) == memory


def test_a_user_not_in_the_chat_is_told_to_join_it(tmp_path):
    with pytest.raises(AccountError, match="join it"):
        started(FakeTelegram(), "-1001234567890", tmp_path)


def test_a_channel_without_the_right_to_post_stops_the_uploader(tmp_path):
    server = FakeTelegram()
    server.add_channel(1234567890, "Someone's channel", can_post=False)
    sender = started(server, "-1001234567890", tmp_path)
    with pytest.raises(AccountError, match="cannot post to -1001234567890"):
        send_one(sender, tmp_path)


def test_a_malformed_chat_setting_is_a_configuration_error(tmp_path):
    with pytest.raises(ConfigError, match="not a chat"):
        started(FakeTelegram(), "my chat", tmp_path)


def test_an_unknown_username_stops_the_uploader_naming_the_setting(tmp_path):
    server = FakeTelegram()
    server.fail(functions.contacts.ResolveUsernameRequest, Fault(400, "USERNAME_NOT_OCCUPIED"))
    with pytest.raises(AccountError, match="check telegram.chat"):
        started(server, "@nobody_here", tmp_path)
