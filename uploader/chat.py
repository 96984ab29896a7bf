"""The resolved chat, remembered under the root (the setting's forms are tgvid.chatsetting's).

Resolving a chat costs calls Telegram rate-limits (contacts.resolveUsername) or pages through every dialog (a user
learns a private channel's access hash only there), so the resolved peer with its access hash is remembered in
`<root>/telegram-chat.json`, for this setting and this account; a restart neither resolves again nor risks a
FLOOD_WAIT at every start.
"""

import json
from dataclasses import dataclass
from pathlib import Path

from tgvid import durable
from tgvid.chatsetting import ChatKind

MEMORY_NAME = "telegram-chat.json"


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
