"""The `telegram.chat` setting's forms: which chat a value names, one pure rule for the settings check and the uploader.

Forms: `me` (Saved Messages), `@username` or a bare username, a t.me link (`https://t.me/name`, or
`https://t.me/c/<id>/…` for a private channel's message link), a user id (`12345`), a basic group id (`-12345`) and a
channel or supergroup id (`-100…`), as Telegram's Bot API and clients show them. An invite link (`t.me/+…`,
`t.me/joinchat/…`) names no chat until the account joins it, so it is refused. Only the form is checked here; whether
the chat exists and takes posts is asked of Telegram.
"""

import enum
import re
from dataclasses import dataclass

# What Telethon resolves as a username (telethon.utils.parse_username): 3 to 32 letters, digits and single
# underscores, from a letter.
USERNAME = re.compile(r"[A-Za-z](?:(?!__)\w){1,30}[A-Za-z0-9]")
LINK = re.compile(r"(?:https?://)?(?:www\.)?(?:t\.me|telegram\.me|telegram\.dog)/@?(?P<rest>.+)", re.IGNORECASE)
FORMS = ("me, @username, a t.me link to a username or a t.me/c/… message link, a user id, -… for a group or -100… "
         "for a channel (not an invite link)")


class ChatKind(enum.StrEnum):
    SELF = "self"
    USERNAME = "username"
    USER = "user"
    GROUP = "group"  # a basic group: no access hash needed
    CHANNEL = "channel"  # a channel or supergroup


@dataclass(frozen=True)
class ChatRef:
    kind: ChatKind
    username: str = ""
    peer_id: int = 0


def parse(text: str) -> ChatRef:
    """The chat `text` names; ValueError saying which forms are accepted when it names none."""
    text = text.strip()
    if text.lower() in ("me", "self"):
        return ChatRef(ChatKind.SELF)
    link = LINK.fullmatch(text)
    if link:
        rest = link.group("rest").split("?")[0].strip("/")
        parts = rest.split("/")
        if rest.startswith("+") or parts[0].lower() == "joinchat":
            raise ValueError("an invite link names no chat until the account has joined: join it, then give the "
                             "chat's @username or its -100… id")
        if parts[0] == "c" and len(parts) >= 2 and parts[1].isdigit():
            return ChatRef(ChatKind.CHANNEL, peer_id=int(parts[1]))
        text = parts[0]
    if text.startswith("-100") and text[4:].isdigit() and len(text) > 4:
        return ChatRef(ChatKind.CHANNEL, peer_id=int(text[4:]))
    if text.startswith("-") and text[1:].isdigit():
        return ChatRef(ChatKind.GROUP, peer_id=int(text[1:]))
    if text.isdigit():
        return ChatRef(ChatKind.USER, peer_id=int(text))
    name = text.removeprefix("@")
    if USERNAME.fullmatch(name):
        return ChatRef(ChatKind.USERNAME, username=name)
    raise ValueError(f"not a chat: {text!r}; use one of: {FORMS}")


def names_a_chat(text: str) -> bool:
    """Whether `text` is one of the forms (the settings check)."""
    try:
        parse(text)
    except ValueError:
        return False
    return True
