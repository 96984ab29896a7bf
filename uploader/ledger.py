"""The ledger: the uploader's durable record of every send, its format described here only.

Exactly once rests on two writes around each send. Before a file is sent its entry is written in state
`sending` with the `random_id` the send will carry; Telegram remembers every random_id it has seen towards a
chat, so repeating a send after a crash returns the first message instead of posting a second one. After the
send the entry becomes `sent` with the message ids. Only then is the file moved to sent/ (or deleted). The
whole ledger is rewritten atomically (tgvid.durable) on each change, so it is kept short: a `sent` entry older
than `uploader.ledger_keep_days` is dropped at the next change and only counted (its file left outbox/ long ago,
unless moving it keeps failing, which keeps the entry; a new file of the same name is a new entry anyway). A sent
part of a video whose other parts are not all sent is kept too. A `failed` entry (its file went to quarantine/) is
kept while its file may come back as it went: while it is in quarantine/ under the name in `where` with the entry's
size and modification time (a move keeps both), or back in outbox/ at its relpath. Moved back, it is tried again
under its random_id, its parts already sent (a video sent in parts) not sent again. Once its file has left
quarantine/ otherwise (removed by a person, or changed there: put back changed, it would be a new entry anyway), the
entry and its parts' entries are dropped at the next change, uncounted.

While a file goes up, its entry also holds the upload: the file_id its parts carry, the part plan and the parts
Telegram has confirmed, written before the first part and then every few parts (uploader.parts), so that a
restart sends only the parts not yet confirmed, under the same file_id.

A video over the chat's limit is sent in parts (uploader.split): its entry records the cut (`split`) and each part
has an entry of its own, written together before the first part goes, so that parts are sent (and resumed) as
album items are: one random_id each, `sent` with its message id as soon as its album went. Once every part is
sent, the video's entry becomes `sent` with all their message ids and the parts' entries are dropped.

File `<root>/sent/ledger.msgpack`, format version 3 — a msgpack map
`{"version": 3, "entries": {key: entry}, "sent_forgotten": int}`; `sent_forgotten` (0 when missing) counts the
`sent` entries dropped so far.
The key is `"<size_bytes>:<mtime_ns>:<relpath>"`, so a new file that reuses a sent file's name is a new entry.
An entry is a map:

| key | type | meaning |
| --- | --- | --- |
| relpath | str | the file's path relative to outbox/, e.g. "trip/a.mp4" |
| size_bytes, mtime_ns | int | the file's size and modification time when the intent was recorded |
| random_id | int | the signed 64-bit id every send of this file carries |
| album | str | key of the album's first item when sent in an album, "" when sent alone |
| state | str | EntryState: sending, sent, failed |
| attempts | int | sends that failed so far |
| not_before | float | Unix time before which the next attempt must not start |
| last_error | str | the last failure's message, "" when none |
| message_ids | list of int | the messages the send produced (local-folder sender: the delivered file's inode) |
| where | str | the chat, or the delivered file's path; for people |
| created_at, updated_at, sent_at | float | Unix times; sent_at is 0.0 until sent |
| upload | map or nil | the upload under way (below); nil when none, and once sent |
| split | map or nil | a video sent in parts: its cut (below); nil for every other file |

An upload is a map:

| key | type | meaning |
| --- | --- | --- |
| file_id | int | the signed 64-bit id all of the file's parts carry |
| part_bytes, parts | int | the part size (never changed within one file_id) and the number of parts |
| size_bytes, mtime_ns | int | the file's size and modification time when the upload started |
| fingerprint | str | hex SHA-256 of the file's first and last part: a file changed in place starts afresh |
| started_at | float | Unix time of the first part: Telegram keeps parts minutes to hours, an old upload starts afresh |
| confirmed | list of [int, int] | the parts Telegram confirmed, as [first, end) ranges in order |

A split is a map:

| key | type | meaning |
| --- | --- | --- |
| part_keys | list of str | the ledger keys of the parts' entries, in order |
| first_packets | list of int | where each part starts: its first video packet's number (from 0, in decode order) |

A part's entry has the part's relpath as the chat shows it ("trip/a.part2of3.mp4", the file itself waits in
`<root>/split/`) with its video's `size_bytes` and `mtime_ns`, so that its key names the video it came from.

Older versions are upgraded on read (version 1 had no `upload`, version 2 no `split`); a newer version raises
LedgerError.NewerVersion naming the version.
"""

import os
import time
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path

import msgpack

from tgvid import durable
from tgvid.errors import LedgerError

FORMAT_VERSION = 3
FILE_NAME = "ledger.msgpack"


def path_in(root: Path) -> Path:
    """Where the ledger of the uploader working on `root` lives: beside the files it has sent."""
    return Path(root) / "sent" / FILE_NAME


class EntryState(StrEnum):
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


@dataclass
class UploadRecord:
    """An upload under way, as the ledger keeps it (see the table above)."""

    file_id: int
    part_bytes: int
    parts: int
    size_bytes: int
    mtime_ns: int
    fingerprint: str
    started_at: float
    confirmed: list[list[int]] = field(default_factory=list)

    def confirmed_parts(self) -> set[int]:
        return {part for first, end in self.confirmed for part in range(first, end)}

    def set_confirmed(self, parts: set[int]) -> None:
        ranges: list[list[int]] = []
        for part in sorted(parts):
            if ranges and ranges[-1][1] == part:
                ranges[-1][1] = part + 1
            else:
                ranges.append([part, part + 1])
        self.confirmed = ranges


@dataclass
class SplitRecord:
    """A video sent in parts, as the ledger keeps it (see the table above)."""

    part_keys: list[str]
    first_packets: list[int]


@dataclass
class Entry:
    relpath: str
    size_bytes: int
    mtime_ns: int
    random_id: int
    album: str = ""
    state: EntryState = EntryState.SENDING
    attempts: int = 0
    not_before: float = 0.0
    last_error: str = ""
    message_ids: list[int] = field(default_factory=list)
    where: str = ""
    created_at: float = 0.0
    updated_at: float = 0.0
    sent_at: float = 0.0
    upload: UploadRecord | None = None
    split: SplitRecord | None = None

    @property
    def key(self) -> str:
        return key_for(self.relpath, self.size_bytes, self.mtime_ns)


def key_for(relpath: str, size_bytes: int, mtime_ns: int) -> str:
    return f"{size_bytes}:{mtime_ns}:{relpath}"


def new_random_id() -> int:
    """A fresh signed 64-bit random_id, as Telegram's messages.sendMedia takes it."""
    return int.from_bytes(os.urandom(8), "big", signed=True)


class Ledger:
    """The entries of a ledger file, loaded at start; `save()` after each change makes it durable.

    `keep_sent_seconds`: how long a `sent` entry stays (None: for ever, for readers such as `tgvid status`); an entry
    whose file is still in `outbox` (its move to sent/ keeps failing) stays whatever its age: without it the file
    would be sent again. `quarantine` (None: `failed` entries stay for ever, for readers): where failed files wait
    for a person; a `failed` entry whose file is neither there nor back in `outbox` is dropped."""

    def __init__(self, path: Path, keep_sent_seconds: float | None = None, outbox: Path | None = None,
                 quarantine: Path | None = None):
        self.path = Path(path)
        self.keep_sent_seconds = keep_sent_seconds
        self.outbox = outbox
        self.quarantine = quarantine
        self.entries: dict[str, Entry] = {}
        self.sent_forgotten = 0
        if self.path.exists():
            entries, self.sent_forgotten = _load(self.path)
            self.entries = {entry.key: entry for entry in entries}

    def get(self, key: str) -> Entry | None:
        return self.entries.get(key)

    def put(self, entries: list[Entry], now: float | None = None, drop: list[str] = ()) -> None:
        """Add or replace `entries`, remove the entries keyed `drop` (uncounted), and save."""
        now = time.time() if now is None else now
        for key in drop:
            self.entries.pop(key, None)
        for entry in entries:
            entry.created_at = entry.created_at or now
            entry.updated_at = now
            self.entries[entry.key] = entry
        if self.keep_sent_seconds is not None:
            self._forget_sent_before(now - self.keep_sent_seconds)
        if self.quarantine is not None:
            self._drop_failed_gone()
        self.save()

    def save(self) -> None:
        self.write(self.snapshot())

    def snapshot(self) -> bytes:
        """The ledger as it is now, packed; `write` makes it durable (the part engine does so in a thread of its
        own, so that an fsync does not hold up the parts in flight)."""
        document = {"version": FORMAT_VERSION, "entries": {key: _dump(e) for key, e in self.entries.items()},
                    "sent_forgotten": self.sent_forgotten}
        return msgpack.packb(document, use_bin_type=True)

    def write(self, snapshot: bytes) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        durable.atomic_write(self.path, snapshot)

    def sent_count(self) -> int:
        """Files sent in all, the forgotten ones included; a video sent in parts counts once, when all are sent."""
        parts = self.part_keys()
        return self.sent_forgotten + sum(1 for key, e in self.entries.items()
                                         if e.state is EntryState.SENT and key not in parts)

    def part_keys(self) -> set[str]:
        """The keys of the entries that are parts of a video sent in parts (not files of their own)."""
        return {key for entry in self.entries.values() if entry.split for key in entry.split.part_keys}

    def _forget_sent_before(self, cutoff: float) -> None:
        parts_waiting = {key for entry in self.entries.values() if entry.split and entry.state is not EntryState.SENT
                         for key in entry.split.part_keys}
        old = [key for key, entry in self.entries.items() if entry.state is EntryState.SENT and entry.sent_at < cutoff
               and key not in parts_waiting
               and not (self.outbox is not None and (self.outbox / entry.relpath).exists())]
        for key in old:
            del self.entries[key]
        self.sent_forgotten += len(old)

    def _drop_failed_gone(self) -> None:
        """Drop the `failed` entries whose file can no longer come back (see the module's docstring), with their
        parts' entries: none of them was a file sent."""
        gone = [entry for entry in self.entries.values() if entry.state is EntryState.FAILED
                and not held_in_quarantine(entry, self.quarantine)
                and not (self.outbox is not None and _is_entry_file(self.outbox / entry.relpath, entry))]
        for entry in gone:
            for key in [entry.key, *(entry.split.part_keys if entry.split else ())]:
                self.entries.pop(key, None)


def held_in_quarantine(entry: Entry, quarantine: Path) -> bool:
    """Whether the file of `failed` `entry` is in the folder `quarantine` as it went there (the name in `where`,
    the entry's size and modification time)."""
    return _is_entry_file(Path(quarantine) / Path(entry.where).name, entry)


def _is_entry_file(path: Path, entry: Entry) -> bool:
    try:
        stat = path.stat()
    except OSError:
        return False
    return (stat.st_size, stat.st_mtime_ns) == (entry.size_bytes, entry.mtime_ns)


def _dump(entry: Entry) -> dict:
    return {**asdict(entry), "state": str(entry.state)}


def _upgraded(version: int, document: dict) -> dict:
    """`document` in the current format: version 1 entries gain `upload` (none was under way as far as they say),
    version 2 entries `split` (none was sent in parts)."""
    for raw in document["entries"].values():
        if version < 2:
            raw["upload"] = None
        if version < 3:
            raw["split"] = None
    return document


def _load(path: Path) -> tuple[list[Entry], int]:
    try:
        document = msgpack.unpackb(path.read_bytes(), raw=False, strict_map_key=False)
    except (OSError, ValueError, msgpack.UnpackException) as error:
        advice = "move it aside to start a new ledger (files still in outbox/ would be sent again)"
        raise LedgerError(path, f"{error}; {advice}") from error
    version = document.get("version") if isinstance(document, dict) else None
    if not isinstance(version, int) or version < 1:
        raise LedgerError(path, f"no valid version field (found {version!r})")
    if version > FORMAT_VERSION:
        raise LedgerError.NewerVersion(path, found=version, supported=FORMAT_VERSION)
    names = Entry.__dataclass_fields__
    try:
        entries = [
            Entry(**{**{k: v for k, v in raw.items() if k in names}, "state": EntryState(raw["state"]),
                     "upload": UploadRecord(**raw["upload"]) if raw.get("upload") else None,
                     "split": SplitRecord(**raw["split"]) if raw.get("split") else None})
            for raw in _upgraded(version, document)["entries"].values()
        ]
        return entries, int(document.get("sent_forgotten", 0))
    except (KeyError, ValueError, TypeError, AttributeError) as error:
        raise LedgerError(path, f"bad entry: {error}") from error
