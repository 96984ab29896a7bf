"""Delivery: each ready outbox file through intent → lookup → send → record → move, exactly once.

For each batch (uploader.album): the ledger entries, each with the random_id its send carries, are written
before the send; files that already had an intent (a crash or failure came between) are first looked up with
the sender's `find_sent`; then the batch is sent, the message ids recorded, and only then the files moved to
sent/ (or deleted). An album the sender refuses is sent again one file at a time. A file that is refused
alone, fails too often, is too big, has a sidecar from a newer tgvid or a name that is not UTF-8 (Telegram takes
only UTF-8 names; the ledger and sidecars hold text) goes to quarantine/ with a reason file. A file that cannot be
read (or an OSError while it is sent) is a passing failure like the sender's: tried again with backoff, and
quarantined after `max_retries` if it can be moved. A full disk (writing the copy, the sidecar or the ledger) is
not the file's fault: the file waits for room, uncounted, and is tried again as soon as the folder that was full
has more free space (at the latest after tgvid.reaction's WaitForSpace delay); the condition is logged once.

A video over the sender's size limit is, with `uploader.oversize = "split"`, cut into parts (uploader.split) by a
child process in `<root>/split/<id>/` while other files go on being sent: the run that finds the cut finished
records the parts in the ledger (one entry each, with its random_id), then sends them in order as albums of up to
ten, each part captioned "NAME (1/3)". A part's entry is `sent` as soon as its album went, and its file removed;
after a crash the parts already sent are skipped, those whose intent was recorded are first looked up, and a part
whose file is gone is cut again at the recorded place. Once every part is sent, the video follows the usual path.
The parts of a video that left outbox/ (taken away, or changed: a new file) are removed.
"""

import hashlib
import logging
import shutil
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from tgvid import durable, namelength, quarantine, sidecar
from tgvid.arrivals import holding_files
from tgvid.backoff import backoff_seconds
from tgvid.child import ANSWER_AFTER_END_SECONDS, Child
from tgvid.errors import NoSpace, SendFailed, SidecarError, TgvidError
from tgvid.filenames import is_utf8, printable
from tgvid.freename import free_name
from tgvid.reaction import Retry, RetryPolicy, WaitForSpace, reaction
from tgvid.sidecar import MediaKind
from tgvid.units import MIB
from tgvid.workers import Workers
from uploader import album, split
from uploader.ledger import Entry, EntryState, Ledger, SplitRecord, key_for, new_random_id
from uploader.outbox import Arrival
from uploader.probe import PROBE_TIMEOUT_SECONDS, ProbeInterrupted, probe_in_child
from uploader.sender import Item, Progress, Receipt, Sender

log = logging.getLogger(__name__)

SENT_AS = {"video": "video", "image": "photo", "document": "document"}  # album kind → the log's word for it

RETRY_BASE_SECONDS = 5.0  # a failed send waits this long, doubling, at most RETRY_CAP_SECONDS
RETRY_CAP_SECONDS = 600.0
SPLIT_FOLDER = "split"  # <root>/split/<id>/: the parts of videos over the limit, until each is sent
CUT_BASE_SECONDS = 120.0  # a cut may take this long, plus a second for each CUT_MIN_BYTES_PER_SECOND of the video
CUT_MIN_BYTES_PER_SECOND = 2 * MIB  # read, written and rewritten (fast start): slow storage does 20 MiB/s


@dataclass(frozen=True)
class SpaceWait:
    """A file that waits for room in `folder`, which had `free_bytes` when its write failed."""

    reason: str
    folder: str
    free_bytes: int
    not_before: float


def free_bytes(folder: str) -> int:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return 0  # gone or unreadable: only the delay ends the wait


@contextmanager
def writing(media: Path, what: str, folder: Path) -> Iterator[None]:
    """Turn a full disk while writing `what` (into `folder`) for the file `media` into NoSpace; other write
    errors become a passing SendFailed that names the write."""
    try:
        yield
    except FileNotFoundError:
        raise
    except OSError as error:
        if durable.is_full(error):
            raise NoSpace(media, f"writing {what} failed: {error.strerror}", folder=str(folder)) from error
        raise SendFailed(media, f"writing {what} failed: {error.strerror or error}", retry=True) from error


def split_folder(root: Path, key: str) -> Path:
    """Where the parts of the video with ledger key `key` are cut to, and wait until each is sent."""
    return Path(root) / SPLIT_FOLDER / hashlib.sha256(key.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Described:
    """What a file's sidecar said, read when the sidecar had `sidecar_stat` (inode, size, mtime_ns), and the album
    kind that follows."""

    sidecar_stat: tuple[int, int, int] | None
    meta: sidecar.Sidecar
    kind: str


def check_readable(path: Path) -> None:
    """Raise the OSError that reading `path` would: an unreadable file then fails alone, not in its album's send."""
    with path.open("rb") as handle:
        handle.read(1)


class Delivery:
    def __init__(self, root: Path, ledger: Ledger, sender: Sender, settings, progress: Progress,
                 clock: Callable[[], float] = time.time, workers: Workers | None = None):
        self.root = Path(root)
        self.ledger = ledger
        self.sender = sender
        self.settings = settings  # the [uploader] section
        self.progress = progress
        self.clock = clock
        self.workers = workers or Workers(1, PROBE_TIMEOUT_SECONDS)  # probes files placed by hand
        self.retry_policy = RetryPolicy(settings.max_retries, RETRY_BASE_SECONDS, RETRY_CAP_SECONDS)
        self.ready: dict[str, tuple[Arrival, sidecar.Sidecar]] = {}
        # Sent files the file system would not let us move to sent/: (failed tries, not before). They are
        # delivered, so this never leads to quarantine; it only spaces the tries out.
        self.unmoved: dict[str, tuple[int, float]] = {}
        self.waiting_for_inbox: set[str] = set()  # outbox folders whose album waits for files still in inbox/
        self.space_waits: dict[str, SpaceWait] = {}  # by ledger key, in memory: the ledger may be what cannot grow
        self.oversize: list[tuple[Arrival, sidecar.Sidecar]] = []  # this run's videos to send in parts
        self.cutting: dict[str, Child] = {}  # ledger key → the child cutting that video into parts
        # Ledger key → what was read of the file, for those found readable with their sidecar read: a file that
        # waits (its album not whole, a backoff) is not opened again at each run.
        self.described: dict[str, Described] = {}

    def close(self) -> None:
        """Stop the children still cutting videos (the next start cuts again what has no recorded cut)."""
        for child in self.cutting.values():
            child.stop()
        self.cutting.clear()

    def run(self, arrivals: list[Arrival], should_stop: Callable[[], bool]) -> None:
        """Send what is ready among `arrivals`; return early once `should_stop()` turns true."""
        now = self.clock()
        candidates = []
        self.ready = {}
        self.oversize = []
        present = {key_for(arrival.relpath, arrival.size_bytes, arrival.mtime_ns) for arrival in arrivals}
        self.described = {key: known for key, known in self.described.items() if key in present}
        for arrival in arrivals:
            try:
                candidate = self._candidate(arrival, now)
            except OSError as error:  # gone or unreadable since the scan: the next scan sees it as it is then
                log.error("%s: %s; trying again at the next scan", arrival.relpath, error)
                continue
            if candidate is not None:
                candidates.append(candidate)
        still_coming = self._still_coming(candidates)
        wanted = {key_for(arrival.relpath, arrival.size_bytes, arrival.mtime_ns) for arrival, _ in self.oversize}
        for key in set(self.cutting) - wanted:  # its video left outbox/ (or waits): its parts are cut again if needed
            self.cutting.pop(key).stop()
        self._remove_parts_of_gone_videos(arrivals)
        for batch in album.group(candidates, now, self.settings.album_window_seconds, still_coming):
            if should_stop():
                return
            try:
                self._send_batch(batch)
            except NoSpace as error:
                for key in batch.keys:
                    self._wait_for_space(self.ready[key][0], key, error)
            except OSError as error:
                log.error("%s: %s; trying again at the next scan", self.ready[batch.keys[0]][0].relpath, error)
        for arrival, meta in self.oversize:
            if should_stop():
                return
            try:
                self._send_in_parts(arrival, meta, should_stop)
            except NoSpace as error:
                self._wait_for_space(arrival, key_for(arrival.relpath, arrival.size_bytes, arrival.mtime_ns), error)
            except OSError as error:
                log.error("%s: %s; trying again at the next scan", arrival.relpath, error)

    def _remove_parts_of_gone_videos(self, arrivals: list[Arrival]) -> None:
        """Remove the folders of parts whose video is no longer in outbox/ (taken away, or changed: a new file):
        nothing else would, and they hold about the video's size. One that comes back has its parts cut again."""
        try:
            folders = [folder for folder in (self.root / SPLIT_FOLDER).iterdir() if folder.is_dir()]
        except OSError:
            return  # none yet
        if not folders:
            return  # (the usual case: no hashing of every waiting file's key)
        present = {split_folder(self.root, key_for(a.relpath, a.size_bytes, a.mtime_ns)).name for a in arrivals
                   if is_utf8(a.relpath)}  # (no other name is ever cut)
        for folder in [folder for folder in folders if folder.name not in present]:
            log.info("uploader: removing %s, the parts of a video no longer in outbox/", folder.relative_to(self.root))
            shutil.rmtree(folder, ignore_errors=True)

    def _still_coming(self, candidates: list[album.Candidate]) -> frozenset[str]:
        """The folders of `candidates` with files still in their inbox folder, not yet handed on: their album waits
        for them (told once a folder)."""
        folders = {c.folder for c in candidates if c.folder and not c.album}
        coming = frozenset(holding_files(self.root / "inbox", folders))
        for folder in sorted(coming - self.waiting_for_inbox):
            log.info("%s: the album waits for the folder's files still in inbox/%s", folder, folder)
        self.waiting_for_inbox = set(coming)
        return coming

    def _candidate(self, arrival: Arrival, now: float) -> album.Candidate | None:
        if not is_utf8(arrival.relpath):
            self._quarantine(arrival, None, "not sent: its name (or its folder's) is not valid UTF-8, which Telegram "
                             "requires; rename it and move it back into outbox/")
            return None
        key = key_for(arrival.relpath, arrival.size_bytes, arrival.mtime_ns)
        entry = self.ledger.get(key)
        if entry is not None and entry.state is EntryState.SENT:
            self._finish_again(arrival, entry, key, now)
            return None
        if entry is not None and entry.state is EntryState.FAILED:
            log.info("%s: back from quarantine, trying again", arrival.relpath)
            entry.state, entry.attempts, entry.not_before = EntryState.SENDING, 0, 0.0
        if entry is not None and now < entry.not_before:
            return None
        if not self._has_room(key, now):
            return None
        try:
            described = self._described(arrival, key)
            if described is None:
                check_readable(arrival.path)
                if not arrival.has_sidecar and namelength.size_bytes(arrival.path.name) > namelength.PLACED_MAX_BYTES:
                    self._shorten(arrival)
                    return None  # the next scan finds it under its new name, with its sidecar
                meta = self._sidecar(arrival)
                described = Described(arrival.sidecar_stat, meta, album.album_kind(meta, arrival.path.name))
                if arrival.has_sidecar and arrival.sidecar_stat is not None:
                    self.described[key] = described
        except ProbeInterrupted:
            return None  # the uploader is stopping: no sidecar, no attempt counted
        except NoSpace as error:
            self._wait_for_space(arrival, key, error)
            return None
        except SendFailed as error:
            entry = entry or Entry(arrival.relpath, arrival.size_bytes, arrival.mtime_ns, new_random_id())
            self._attempt_failed(arrival, entry, error)
            return None
        except TgvidError as error:
            self._quarantine(arrival, entry, f"reading its sidecar: {error.message}")
            return None
        except FileNotFoundError:
            raise  # gone since the scan: nothing to count
        except OSError as error:
            entry = entry or Entry(arrival.relpath, arrival.size_bytes, arrival.mtime_ns, new_random_id())
            unreadable = SendFailed(arrival.path, f"cannot read it: {error.strerror or error}", retry=True)
            self._attempt_failed(arrival, entry, unreadable)
            return None
        meta = described.meta
        if arrival.size_bytes == 0:
            self._quarantine(arrival, entry, "not sent: the file is empty, and Telegram takes no empty file")
            return None
        limit = self.sender.max_file_bytes
        over = limit is not None and arrival.size_bytes > limit
        if (entry is not None and entry.split is not None) or (
                over and meta.kind is MediaKind.VIDEO and self.settings.oversize == "split"):
            self.oversize.append((arrival, meta))  # a video once begun in parts goes on in parts
            return None
        if over:
            why = ("only a video can be sent in parts" if meta.kind is not MediaKind.VIDEO else
                   'uploader.oversize is "quarantine"; set it to "split" to send it in parts')
            self._quarantine(arrival, entry, f"not sent: {arrival.size_bytes / MIB:.1f} MiB is over the account's "
                             f"limit of {limit / MIB:g} MiB, and {why} (README: Uploader)")
            return None
        self.ready[key] = (arrival, meta)
        return album.Candidate(key, arrival.relpath, arrival.folder, described.kind, arrival.first_seen,
                               entry.album if entry else "")

    def _described(self, arrival: Arrival, key: str) -> Described | None:
        """What an earlier run read, if neither the file (its key: relpath, size, mtime) nor its sidecar (inode, size,
        mtime) changed since; None when it must be read. The file is not opened again either: one that became
        unreadable meanwhile fails when it is sent, a passing failure like any other."""
        known = self.described.get(key)
        if known is None or not arrival.has_sidecar or known.sidecar_stat != arrival.sidecar_stat:
            return None
        return known

    def _sidecar(self, arrival: Arrival) -> sidecar.Sidecar:
        path = sidecar.path_for(arrival.path)
        if arrival.has_sidecar:
            try:
                return sidecar.read(path)
            except SidecarError.NewerVersion:
                raise  # quarantined, saying to upgrade tgvid: probing would lose what the newer one wrote
            except SidecarError as error:
                log.warning("%s: %s; probing the file instead", arrival.relpath, error.message)
        elif path.exists():
            log.warning("%s: its sidecar is unreadable or gives another size (a leftover); probing the file instead",
                        arrival.relpath)
        meta = probe_in_child(arrival.path, arrival.relpath, self.workers)
        with writing(arrival.path, f"its sidecar {path.name}", path.parent):
            sidecar.write(path, meta)
        log.info("%s: placed by hand, probed as %s", arrival.relpath, meta.kind)
        return meta

    def _shorten(self, arrival: Arrival) -> None:
        """Give a file placed by hand under a name too long for its sidecar a shorter one, its own name kept in the
        sidecar (written first, as the transcoder does) as the name to show."""
        meta = probe_in_child(arrival.path, arrival.relpath, self.workers)
        placed = free_name(arrival.path, sidecar_too=True)
        with writing(arrival.path, f"the sidecar of its shorter name {placed.name}", placed.parent):
            sidecar.write(sidecar.path_for(placed), replace(meta, shown_name=arrival.path.name))
        durable.atomic_rename(arrival.path, placed)
        log.info("%s: placed by hand, probed as %s; its name leaves no room for a sidecar, so it is now %s (and is "
                 "sent under its own name)", arrival.relpath, meta.kind, placed.name)

    def _send_batch(self, batch: album.Batch) -> None:
        now = self.clock()
        entries, resumed = [], []
        for key in batch.keys:
            arrival = self.ready[key][0]
            entry = self.ledger.get(key)
            if entry is None:
                entry = Entry(arrival.relpath, arrival.size_bytes, arrival.mtime_ns, new_random_id(), batch.album)
            else:
                resumed.append(entry)
            entries.append(entry)
        with writing(self.ready[batch.keys[0]][0].path, "the ledger's intent", self.ledger.path.parent):
            self.ledger.put(entries, now)
        items = {entry.key: self._item(entry) for entry in entries}
        try:
            if resumed:
                found = self._found(self._sending(self.sender.find_sent, [items[entry.key] for entry in resumed]))
                for receipt in found:
                    entry = next(e for e in entries if e.random_id == receipt.random_id)
                    log.info("%s: already delivered by an earlier attempt (%s), not sending again", entry.relpath,
                             receipt.where)
                    self._record(entry, receipt)
                    entries.remove(entry)
            if not entries:
                return
            lone = items[entries[0].key]
            what = (f"album of {len(entries)} from {batch.folder}" if len(entries) > 1
                    else SENT_AS[album.album_kind(lone.sidecar, lone.name)])
            log.info("%s: sending as %s to %s", entries[0].relpath, what, self.sender.description)
            receipts = self._sending(self.sender.send, [items[e.key] for e in entries], batch.caption, self.progress)
        except SendFailed as error:
            if error.retry or len(entries) == 1:
                self._failed(entries, error)
                return
            log.warning("%s: album refused (%s); sending its %d files one by one", entries[0].relpath, error.reason,
                        len(entries))
            for entry in entries:
                self._send_alone(entry, items[entry.key], batch.caption)
            return
        self._record_all(entries, receipts)

    def _has_room(self, key: str, now: float) -> bool:
        """Whether a file may be tried: it does not wait for space, or its folder has gained some, or the wait is up."""
        wait = self.space_waits.get(key)
        return wait is None or now >= wait.not_before or free_bytes(wait.folder) > wait.free_bytes

    def _wait_for_space(self, arrival: Arrival, key: str, error: NoSpace) -> None:
        """Have a file wait for room, uncounted (tgvid.reaction), logging the condition once."""
        action: WaitForSpace = reaction(error, 0, self.retry_policy)
        told = self.space_waits.get(key)
        if told is None or told.reason != error.reason:
            log.warning("%s: waiting for disk space: %s; it is tried again once there is room (at the latest in %.0f s, "
                        "not counted as a failure)", arrival.relpath, error.reason, action.delay_seconds)
        self.space_waits[key] = SpaceWait(error.reason, error.folder, free_bytes(error.folder),
                                          self.clock() + action.delay_seconds)

    def _found(self, receipts: list[Receipt]) -> list[Receipt]:
        """One receipt per file: exact ones as they are; a guess only if no other sent file owns its message
        (two files of the same name and size, in two folders, would otherwise take each other's message)."""
        owned = {m for e in self.ledger.entries.values() if e.state is EntryState.SENT for m in e.message_ids}
        chosen = {}
        for receipt in receipts:
            if receipt.random_id not in chosen and (receipt.exact or receipt.message_id not in owned):
                chosen[receipt.random_id] = receipt
                owned.add(receipt.message_id)
        return list(chosen.values())

    def _sending(self, call, items: list[Item], *args):
        """`call(items, *args)` on the sender, an OSError in it (a file unreadable halfway) made a passing
        SendFailed, so that it is counted and backed off like any other. A full disk is NoSpace: the folder
        sender's copy says so itself; the Telegram sender's record of an upload in the ledger, or a link in the
        delivery folder, end here as the system's OSError."""
        try:
            return call(items, *args)
        except FileNotFoundError:
            raise  # gone since the scan: nothing to count
        except OSError as error:
            if durable.is_full(error):
                written = Path(error.filename) if error.filename else self.ledger.path
                raise NoSpace(items[0].path, f"writing {written.name} while sending it failed: {error.strerror}",
                              folder=str(written.parent)) from error
            raise SendFailed(items[0].path, str(error), retry=True) from error

    def _send_alone(self, entry: Entry, item: Item, caption: str) -> None:
        try:
            receipts = self._sending(self.sender.send, [item], caption, self.progress)
        except SendFailed as error:
            self._failed([entry], error)
            return
        self._record_all([entry], receipts)

    def _item(self, entry: Entry) -> Item:
        arrival, meta = self.ready[entry.key]
        return Item(arrival.path, meta, entry.random_id, arrival.folder, entry.created_at, entry.key)

    def _record_all(self, entries: list[Entry], receipts: list[Receipt]) -> None:
        by_random_id = {receipt.random_id: receipt for receipt in receipts}
        for entry in entries:
            if entry.random_id in by_random_id:
                self._record(entry, by_random_id[entry.random_id])
            else:
                unnamed = "the answer named no message for it; it is looked up before the next attempt"
                self._failed([entry], SendFailed(entry.relpath, unnamed, retry=True))

    def _record(self, entry: Entry, receipt: Receipt) -> None:
        entry.state = EntryState.SENT
        entry.message_ids = [receipt.message_id]
        entry.where = receipt.where
        entry.sent_at = self.clock()
        entry.last_error = ""
        with writing(self.ready[entry.key][0].path, "the ledger's record of its message", self.ledger.path.parent):
            self.ledger.put([entry], entry.sent_at)
        log.info("%s: delivered as message %d (%s)", entry.relpath, receipt.message_id, receipt.where)
        if self.space_waits.pop(entry.key, None) is not None:
            log.info("%s: there was room again", entry.relpath)
        self._finish(self.ready[entry.key][0], entry)

    def _failed(self, entries: list[Entry], error: SendFailed) -> None:
        for entry in entries:
            self._attempt_failed(self.ready[entry.key][0], entry, error)

    def _attempt_failed(self, arrival: Arrival, entry: Entry, error: SendFailed) -> None:
        now = self.clock()
        entry.attempts += 1
        entry.last_error = error.reason  # the file is the entry's; `tgvid status` shows it once
        entry.not_before = now + backoff_seconds(entry.attempts, RETRY_BASE_SECONDS, RETRY_CAP_SECONDS)
        if isinstance(reaction(error, entry.attempts, self.retry_policy), Retry):
            limit = "" if error.fields.get("network", False) else f" of {self.settings.max_retries}"
            log.warning("%s: %s; attempt %d%s, next in %.0f s", entry.relpath, error.reason, entry.attempts, limit,
                        entry.not_before - now)
            self.ledger.put([entry], now)
            return
        tried = f"sending to {self.sender.description}, {entry.attempts} attempt(s)"
        try:
            self._quarantine(arrival, entry, f"{tried}; last error: {error.message}")
        except OSError as move_error:
            log.error("%s: %s; cannot move it to quarantine (%s), trying again in %.0f s", entry.relpath, error.reason,
                      move_error, entry.not_before - now)
            self.ledger.put([entry], now)

    def _send_in_parts(self, arrival: Arrival, meta: sidecar.Sidecar, should_stop: Callable[[], bool]) -> None:
        """Cut the video (in a child, over as many runs as that takes), record its parts, send them album by album."""
        key = key_for(arrival.relpath, arrival.size_bytes, arrival.mtime_ns)
        entry = self.ledger.get(key) or Entry(arrival.relpath, arrival.size_bytes, arrival.mtime_ns, new_random_id())
        scratch = split_folder(self.root, key)
        shown_name = meta.name_for(arrival.path)
        fresh = entry.split is None  # parts recorded in this run: none of them can have been sent yet
        if fresh:
            outcome = self._cut(arrival, entry, scratch, shown_name)
            if outcome is None:
                return
            parts = self._part_entries(arrival, outcome)
            entry.split = SplitRecord([part.key for part in parts], list(outcome.first_packets))
            with writing(arrival.path, "the ledger's record of its parts", self.ledger.path.parent):
                self.ledger.put([entry, *parts], self.clock())
            log.info("%s: cut into %d parts at keyframes (at most %g MiB each); sending them", arrival.relpath,
                     len(parts), self.sender.max_file_bytes / MIB)
        parts = [self.ledger.get(part_key) for part_key in entry.split.part_keys]
        missing = frozenset(number for number, part in enumerate(parts)
                            if part.state is not EntryState.SENT and not self._part_ready(scratch, number, len(parts)))
        if missing and self._cut(arrival, entry, scratch, shown_name, missing) is None:
            return
        for first in range(0, len(parts), album.MAX_ALBUM_ITEMS):
            if should_stop():
                return
            waiting = [part for part in parts[first:first + album.MAX_ALBUM_ITEMS] if part.state is not EntryState.SENT]
            if waiting and not self._send_parts(arrival, entry, waiting, scratch, shown_name, fresh):
                return
        entry.state, entry.sent_at, entry.last_error = EntryState.SENT, self.clock(), ""
        entry.message_ids = [message_id for part in parts for message_id in part.message_ids]
        entry.where = parts[-1].where
        with writing(arrival.path, "the ledger's record of its messages", self.ledger.path.parent):
            self.ledger.put([entry], entry.sent_at, drop=entry.split.part_keys)
        self.space_waits.pop(key, None)
        shutil.rmtree(scratch, ignore_errors=True)
        log.info("%s: delivered in %d parts as messages %s (%s)", arrival.relpath, len(parts),
                 ", ".join(map(str, entry.message_ids)), entry.where)
        self._finish(arrival, entry)

    def _cut(self, arrival: Arrival, entry: Entry, scratch: Path, shown_name: str,
             only: frozenset[int] = frozenset()) -> split.Outcome | None:
        """The cut's outcome once the child has finished it; None while it runs, and when it failed (recorded as
        an attempt, or the video quarantined). The first call starts the child: all parts, or those in `only` at
        the recorded cuts. NoSpace when the disk has no room for the parts."""
        child = self.cutting.get(entry.key)
        if child is None:
            if not only:
                shutil.rmtree(scratch, ignore_errors=True)  # an earlier cut's parts, not recorded: none was sent
                free = free_bytes(str(self.root))
                if free < arrival.size_bytes + split.PART_OVERHEAD_BYTES:
                    raise NoSpace(arrival.path, f"cutting it into parts needs about {arrival.size_bytes / MIB:.0f} MiB "
                                  f"in {self.root / SPLIT_FOLDER}, {free / MIB:.0f} MiB are free", folder=str(self.root))
            scratch.mkdir(parents=True, exist_ok=True)
            for temp in scratch.glob(f"*{durable.TEMP_SUFFIX}"):  # left by a cut that was killed
                temp.unlink()
            recorded = tuple(entry.split.first_packets) if entry.split else ()
            self.cutting[entry.key] = Child(split.cut, arrival.path, scratch, shown_name, arrival.folder,
                                            self.sender.max_file_bytes or 0, recorded, only, deadline_seconds=(
                                                CUT_BASE_SECONDS + arrival.size_bytes / CUT_MIN_BYTES_PER_SECOND))
            if only:
                log.info("%s: %d part(s) not yet sent are gone; cutting them again at the recorded places",
                         arrival.relpath, len(only))
            else:
                log.info("%s: %.1f MiB is over the limit of %g MiB; cutting it into parts at keyframes",
                         arrival.relpath, arrival.size_bytes / MIB, self.sender.max_file_bytes / MIB)
            return None
        outcome = child.answer()
        if outcome is None and child.is_alive() and not child.is_overdue():
            return None
        if outcome is None and not child.is_alive():
            outcome = child.answer(ANSWER_AFTER_END_SECONDS)
        overdue = child.is_alive()
        child.stop()
        del self.cutting[entry.key]
        if outcome is None:
            if not overdue and child.exitcode in (-signal.SIGTERM, -signal.SIGINT):
                return None  # stopped with the uploader: not the video's fault
            why = "did not finish in time" if overdue else f"ended with exit code {child.exitcode}"
            self._attempt_failed(arrival, entry, SendFailed(arrival.path, f"cutting it into parts {why}"))
        elif outcome.refusal:
            self._quarantine(arrival, entry, f"not sent: {arrival.size_bytes / MIB:.1f} MiB is over the account's "
                             f"limit, and {outcome.refusal}")
        elif outcome.full:
            raise NoSpace(arrival.path, outcome.trouble, folder=str(scratch))
        elif outcome.trouble:
            self._attempt_failed(arrival, entry, SendFailed(arrival.path, outcome.trouble))
        else:
            return outcome
        return None

    def _part_entries(self, arrival: Arrival, outcome: split.Outcome) -> list[Entry]:
        """A ledger entry for each part: its name as the chat shows it, its video's size and mtime (tgvid.ledger)."""
        parts = [Entry(f"{arrival.folder}/{name}" if arrival.folder else name, arrival.size_bytes, arrival.mtime_ns,
                       new_random_id()) for name in outcome.names]
        for first in range(0, len(parts), album.MAX_ALBUM_ITEMS):
            members = parts[first:first + album.MAX_ALBUM_ITEMS]
            for part in members if len(members) > 1 else ():
                part.album = members[0].key
        return parts

    @staticmethod
    def _part_ready(scratch: Path, number: int, count: int) -> bool:
        """Whether part `number` (from 0) and a readable sidecar are in `scratch`; a part without both is cut again."""
        path = scratch / split.part_file(number + 1, count)
        try:
            return path.exists() and sidecar.read(sidecar.path_for(path)).size_bytes == path.stat().st_size
        except SidecarError:
            return False

    def _send_parts(self, arrival: Arrival, entry: Entry, parts: list[Entry], scratch: Path, shown_name: str,
                    fresh: bool) -> bool:
        """Send `parts` (one album's worth, not yet sent) as an album, one by one if it is refused; whether all went.
        A failure is the video's: counted against it, and it alone is quarantined."""
        count = len(entry.split.part_keys)
        stem = Path(shown_name).stem
        items = {}
        for part in parts:
            number = entry.split.part_keys.index(part.key) + 1
            path = scratch / split.part_file(number, count)
            items[part.key] = Item(path, sidecar.read(sidecar.path_for(path)), part.random_id, arrival.folder,
                                   part.created_at, part.key, caption=f"{stem} ({number}/{count})")
        try:
            if not fresh:
                for receipt in self._found(self._sending(self.sender.find_sent, list(items.values()))):
                    part = next(p for p in parts if p.random_id == receipt.random_id)
                    log.info("%s: already delivered by an earlier attempt (%s), not sending again", part.relpath,
                             receipt.where)
                    self._part_sent(part, receipt, items.pop(part.key).path)
            if not items:
                return True
            log.info("%s: sending %s to %s", arrival.relpath, ", ".join(i.caption for i in items.values()),
                     self.sender.description)
            try:
                self._parts_sent(parts, items, self._sending(self.sender.send, list(items.values()), "",
                                                             self.progress))
            except SendFailed as error:
                if error.retry or len(items) == 1:
                    raise
                log.warning("%s: album of parts refused (%s); sending them one by one", arrival.relpath, error.reason)
                for item in list(items.values()):
                    self._parts_sent(parts, items, self._sending(self.sender.send, [item], "", self.progress))
        except SendFailed as error:
            self._attempt_failed(arrival, entry, error)
            return False
        if any(part.state is not EntryState.SENT for part in parts):
            unnamed = "the answer named no message for a part; it is looked up before the next attempt"
            self._attempt_failed(arrival, entry, SendFailed(arrival.relpath, unnamed))
            return False
        return True

    def _parts_sent(self, parts: list[Entry], items: dict[str, Item], receipts: list[Receipt]) -> None:
        """Record the parts among `items` that `receipts` name (and take them out of `items`)."""
        by_random_id = {receipt.random_id: receipt for receipt in receipts}
        for part in parts:
            if part.key in items and part.random_id in by_random_id:
                self._part_sent(part, by_random_id[part.random_id], items.pop(part.key).path)

    def _part_sent(self, part: Entry, receipt: Receipt, path: Path) -> None:
        """Record a part as sent, then remove its file: it is never needed again."""
        part.state, part.message_ids, part.where = EntryState.SENT, [receipt.message_id], receipt.where
        part.sent_at, part.upload = self.clock(), None
        with writing(path, "the ledger's record of its message", self.ledger.path.parent):
            self.ledger.put([part], part.sent_at)
        log.info("%s: delivered as message %d (%s)", part.relpath, receipt.message_id, receipt.where)
        sidecar.path_for(path).unlink(missing_ok=True)
        path.unlink(missing_ok=True)

    def _finish(self, arrival: Arrival, entry: Entry) -> None:
        """Move (or delete) a file whose message ids are in the ledger: the sidecar first, so that a file
        found without one after a crash is still recognised by its ledger entry."""
        meta = sidecar.path_for(arrival.path)
        if self.settings.delete_after_send:
            meta.unlink(missing_ok=True)
            arrival.path.unlink()
            log.info("%s: deleted after sending", arrival.relpath)
            return
        target = free_name(self.root / "sent" / arrival.relpath)
        target.parent.mkdir(parents=True, exist_ok=True)
        if meta.exists():
            durable.atomic_rename(meta, sidecar.path_for(target))
        durable.atomic_rename(arrival.path, target)
        log.info("%s: moved to %s", arrival.relpath, target.relative_to(self.root))

    def _finish_again(self, arrival: Arrival, entry: Entry, key: str, now: float) -> None:
        """Finish a file that was sent before but is still in outbox/ (a crash, or a move that failed)."""
        tries, not_before = self.unmoved.get(key, (0, 0.0))
        if now < not_before:
            return
        try:
            self._finish(arrival, entry)
        except FileNotFoundError:
            raise
        except OSError as error:
            delay = backoff_seconds(tries + 1, RETRY_BASE_SECONDS, RETRY_CAP_SECONDS)
            self.unmoved[key] = (tries + 1, now + delay)
            log.error("%s: sent, but %s failed (%s); trying again in %.0f s", arrival.relpath,
                      "deleting it" if self.settings.delete_after_send else "moving it to sent/", error, delay)
            return
        self.unmoved.pop(key, None)

    def _quarantine(self, arrival: Arrival, entry: Entry | None, reason: str) -> None:
        relpath = printable(arrival.relpath)
        text = quarantine.reason_text(f"outbox/{arrival.relpath}", self.clock(), "the uploader",
                                      f"sending it to {self.sender.description}", reason,
                                      "Fix it, then move it (with its .meta.msgpack) back into outbox/ to send it again.")
        target = quarantine.put(arrival.path, self.root / "quarantine" / arrival.path.name, text)
        log.error("%s: quarantined as %s: %s", relpath, printable(str(target.relative_to(self.root))), reason)
        if entry is None:
            entry = Entry(relpath, arrival.size_bytes, arrival.mtime_ns, new_random_id())
        entry.state = EntryState.FAILED
        entry.last_error = reason
        entry.where = printable(str(target))
        self.ledger.put([entry], self.clock())
        shutil.rmtree(split_folder(self.root, entry.key), ignore_errors=True)  # parts not sent: cut again if it comes back
