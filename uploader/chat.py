"""The `telegram.chat` setting: the forms it accepts, and the resolved chat remembered under the root.

Forms: `me` (Saved Messages), `@username` or a bare username, a t.me link (`https://t.me/name`, or
`https://t.me/c/<id>/…` for a private channel's message link), a user id (`12345`), a basic group id (`-12345`) and a
channel or supergroup id (`-100…`), as Telegram's Bot API and clients show them. `parse` is pure, so settings
validation can call it. An invite link (`t.me/+…`, `t.me/joinchat/…`) names no chat until the account joins it.

Resolving a chat costs calls Telegram rate-limits (contacts.resolveUsername) or pages through every dialog (a user
learns a private channel's access hash only there), so the resolved peer with its access hash is remembered in
`<root>/telegram-chat.json`, for this setting and this account; a restart neither resolves again nor risks a
FLOOD_WAIT at every start.
"""

import enum
import json
import re
from dataclasses import dataclass
from pathlib import Path

from tgvid import durable
from tgvid.config import TELEGRAM_USERNAME

MEMORY_NAME = "telegram-chat.json"
USERNAME = re.compile(TELEGRAM_USERNAME)
LINK = re.compile(r"(?:https?://)?(?:www\.)?(?:t\.me|telegram\.me|telegram\.dog)/@?(?P<rest>.+)", re.IGNORECASE)
FORMS = ("me, @username, https://t.me/username, https://t.me/c/<channel id>/…, a user id, -<group id> or "
         "-100<channel id>")


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


@dataclass(frozen=True)
class Remembered:
    """A resolved chat: its kind (user, group, channel), id and the access hash this account uses for it."""

    kind: ChatKind
    peer_id: int
    access_hash: int
    title: str


def recall(root: Path, chat: str, account_id: int) -> Remembered | None:
    """The chat remembered for setting `chat` and account `account_id`, if any (an unreadable file counts as none)."""
    try:
        memory = json.loads((Path(root) / MEMORY_NAME).read_text())
        if memory["chat"] != chat or memory["account_id"] != account_id:
            return None
        return Remembered(ChatKind(memory["kind"]), int(memory["peer_id"]), int(memory["access_hash"]),
                          str(memory["title"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def remember(root: Path, chat: str, account_id: int, peer: Remembered) -> None:
    memory = {"chat": chat, "account_id": account_id, "kind": str(peer.kind), "peer_id": peer.peer_id,
              "access_hash": peer.access_hash, "title": peer.title}
    durable.atomic_write(Path(root) / MEMORY_NAME, json.dumps(memory, indent=1).encode() + b"\n", 0o600)


def forget(root: Path) -> None:
    (Path(root) / MEMORY_NAME).unlink(missing_ok=True)
