"""The sender interface: what the daemon hands a sender, what it gets back, how a sender fails.

A sender delivers one batch (a single file or an album) and returns one Receipt per file. The batch's caption
goes with its first file, unless the files carry their own (`Item.caption`). Every file carries
the random_id recorded in the ledger before the send; a sender must make a repeated send with the same
random_id return the first delivery instead of making a second one (Telegram does this server-side; the
local-folder sender keeps its own record). `find_sent` is the second line of defence, asked after a crash:
which of these files are already delivered; a sender that can only guess (by name and size) returns every
candidate, newest first, marked `exact=False`.

A sender raises SendFailed (tgvid.errors) naming the file: `retry=True` for passing trouble, with
`network=True` when it is not about the file at all (connection, server errors: retried for ever, never
quarantined), `retry=False` when the file or album was refused; ConfigError when nothing can be sent (no
rights in the chat, login gone); Interrupted when the daemon is stopping.

`notify` delivers a short text (uploader.notice) to the chat the `telegram.notify_chat` setting names: Telegram
posts it as a message; the local-folder sender, which has no chats, writes it as a text file into its folder.
"""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from tgvid.sidecar import Sidecar


@dataclass(frozen=True)
class Item:
    path: Path
    sidecar: Sidecar
    random_id: int
    folder: str  # relative to outbox/, "" at the top
    intent_at: float = 0.0  # Unix time the ledger first recorded the intent to send it; older messages are not it
    key: str = ""  # its ledger entry's key, where a sender records an upload under way
    caption: str | None = None  # its own caption (a video's part: "clip (1/3)"); None: the batch's caption

    @property
    def name(self) -> str:
        """The name to show: the sidecar's, when the file's own was shortened to fit (tgvid.namelength)."""
        return self.sidecar.name_for(self.path)


@dataclass(frozen=True)
class Receipt:
    random_id: int
    message_id: int
    where: str  # the chat, or the delivered file's path
    exact: bool = True  # False for a look-up by name and size, which another file with both the same may match


Progress = Callable[[Item, int, int], None]  # (item, bytes done, bytes total)


class Interrupted(Exception):
    """The daemon was asked to stop during a send; the ledger's intent lets the next start finish it."""


class Sender(Protocol):
    description: str  # where files go, for log lines; never holds a credential
    max_file_bytes: int | None  # None: no limit

    def send(self, items: list[Item], caption: str, progress: Progress) -> list[Receipt]: ...

    def find_sent(self, items: list[Item]) -> list[Receipt]: ...

    def notify(self, text: str, chat: str) -> None: ...

    def close(self) -> None: ...
