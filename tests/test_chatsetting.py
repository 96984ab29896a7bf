"""The forms the telegram.chat setting accepts, and what each names."""

import pytest

from tgvid import chatsetting
from tgvid.chatsetting import ChatKind, ChatRef


@pytest.mark.parametrize(("text", "expected"), [
    ("me", ChatRef(ChatKind.SELF)),
    ("@my_channel", ChatRef(ChatKind.USERNAME, username="my_channel")),
    ("my_channel", ChatRef(ChatKind.USERNAME, username="my_channel")),
    ("https://t.me/my_channel", ChatRef(ChatKind.USERNAME, username="my_channel")),
    ("t.me/my_channel/42", ChatRef(ChatKind.USERNAME, username="my_channel")),
    ("https://t.me/c/1234567890/15", ChatRef(ChatKind.CHANNEL, peer_id=1234567890)),
    ("123456789", ChatRef(ChatKind.USER, peer_id=123456789)),
    ("-4012345", ChatRef(ChatKind.GROUP, peer_id=4012345)),
    ("-1001234567890", ChatRef(ChatKind.CHANNEL, peer_id=1234567890)),
])
def test_every_form_of_the_chat_setting_is_understood(text, expected):
    assert chatsetting.parse(text) == expected


@pytest.mark.parametrize("text", ["https://t.me/+AbCdEf123", "https://t.me/joinchat/AbCdEf", "@ab", "my chat"])
def test_a_chat_setting_that_names_no_chat_is_refused_saying_why(text):
    with pytest.raises(ValueError, match="invite link|not a chat"):
        chatsetting.parse(text)
