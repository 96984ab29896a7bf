"""A file's parts on their way to Telegram: the part plan, several parts in flight, the resume record, the pace.

api/files: a file goes up in parts of one size (a multiple of 1 KiB dividing 512 KiB) under a client-chosen
file_id, and several parts may be in flight at once; sequential parts cap the speed at part size / round trip
(../shared/TELEGRAM.md, "Parallel parts"). `send_parts` keeps `parallel` part requests in flight on the one
connection (Telethon pipelines them), each worker holding one part in memory. As parts are confirmed they are
recorded in the file's ledger entry (`UploadRecord`), durably every RECORD_EVERY_PARTS parts or RECORD_SECONDS,
so a crash costs at most those and the parts in flight. A record is taken up again only when it is younger than
KEEP_SECONDS (Telegram keeps parts "between several minutes and several hours") and the file is the same (size,
mtime and fingerprint); a part Telegram dropped all the same is answered FILE_PART_X_MISSING by the send, which
saves it again (uploader.telegram).
"""

import asyncio
import hashlib
import os
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tgvid.units import MIB
from uploader.ledger import Ledger, UploadRecord

KIB = 1024
BIG_FILE_BYTES = 10 * MIB  # above this, parts go up with saveBigFilePart (Telethon's threshold)
SMALL_FILE_PART_BYTES = 128 * KIB  # Telethon's choice up to 100 MB; a small file is at most 80 of them
BIG_FILE_PART_BYTES = 512 * KIB  # the largest Telegram takes: fewest requests, 2000 MiB within 4000 parts
PART_LIMIT = 4000  # upload_max_fileparts_default: a test's small part size grows until the file fits
KEEP_SECONDS = 3600.0  # an upload record older than this starts afresh: its first parts may be gone
RECORD_EVERY_PARTS = 8
RECORD_SECONDS = 1.0


@dataclass(frozen=True)
class Upload:
    """How a file goes up: needed to save a part again under the same file_id."""

    file_id: int
    part_bytes: int
    parts: int
    big: bool
    source: Path | bytes  # the file, or the bytes of a thumbnail

    def read(self, part: int) -> bytes:
        if isinstance(self.source, bytes):
            return self.source[part * self.part_bytes:(part + 1) * self.part_bytes]
        with self.source.open("rb") as handle:
            handle.seek(part * self.part_bytes)
            return handle.read(self.part_bytes)

    def size_of(self, part: int, size_bytes: int) -> int:
        return min(self.part_bytes, size_bytes - part * self.part_bytes)


def part_bytes_for(size_bytes: int, wanted_part_bytes: int = 0) -> int:
    """The part size for a file of `size_bytes`: `wanted_part_bytes` (a power of two from 1 KiB to 512 KiB), or
    when 0 128 KiB up to 10 MB and 512 KiB above; doubled while the file would need more than PART_LIMIT parts."""
    part_bytes = wanted_part_bytes or (BIG_FILE_PART_BYTES if size_bytes > BIG_FILE_BYTES else SMALL_FILE_PART_BYTES)
    while part_bytes < BIG_FILE_PART_BYTES and -(-size_bytes // part_bytes) > PART_LIMIT:
        part_bytes *= 2
    return part_bytes


def new_file_id() -> int:
    return int.from_bytes(os.urandom(8), "big", signed=True)


def fingerprint(path: Path, size_bytes: int, part_bytes: int) -> str:
    """Hex SHA-256 of the file's first and last part: what changes when a file is rewritten in place."""
    digest = hashlib.sha256(str(size_bytes).encode())
    with path.open("rb") as handle:
        digest.update(handle.read(part_bytes))
        handle.seek(max(0, size_bytes - part_bytes))
        digest.update(handle.read(part_bytes))
    return digest.hexdigest()


def resumable(record: UploadRecord | None, path: Path, now: float) -> bool:
    """Whether `record` may be taken up again for the file at `path` as it is now."""
    if record is None or now - record.started_at > KEEP_SECONDS:
        return False
    stat = path.stat()
    return ((record.size_bytes, record.mtime_ns) == (stat.st_size, stat.st_mtime_ns)
            and record.fingerprint == fingerprint(path, stat.st_size, record.part_bytes))


def new_record(path: Path, part_bytes: int, now: float) -> UploadRecord:
    stat = path.stat()
    return UploadRecord(new_file_id(), part_bytes, max(1, -(-stat.st_size // part_bytes)), stat.st_size,
                        stat.st_mtime_ns, fingerprint(path, stat.st_size, part_bytes), now)


class Pace:
    """At most `bytes_per_second` over all parts in flight (0: no limit); `take(n)` waits for the turn of n bytes."""

    def __init__(self, bytes_per_second: float, wait: Callable[[float], Awaitable[None]], clock=time.monotonic):
        self.bytes_per_second = bytes_per_second
        self.wait = wait
        self.clock = clock
        self.next_at = 0.0

    async def take(self, size_bytes: int) -> None:
        if not self.bytes_per_second:
            return
        now = self.clock()
        start = max(now, self.next_at)
        self.next_at = start + size_bytes / self.bytes_per_second
        if start > now:
            await self.wait(start - now)


async def send_parts(parts: list[int], parallel: int, send: Callable[[int], Awaitable[None]]) -> None:
    """`send(part)` for each of `parts`, at most `parallel` at once, in order of starting. The first failure
    cancels the others and is raised."""
    queue = iter(parts)

    async def worker():
        for part in queue:  # one iterator shared by the workers: each part is taken once
            await send(part)

    workers = [asyncio.ensure_future(worker()) for _ in range(max(1, min(parallel, len(parts))))]
    try:
        done, _ = await asyncio.wait(workers, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
    for task in done:
        if task.exception() is not None:
            raise task.exception()


class Recorder:
    """Keeps an UploadRecord's confirmed parts and writes the ledger every few parts, in a thread of its own (an
    fsync takes milliseconds to a second, while parts keep going); `finish()` waits for the last write and raises
    a write's error."""

    def __init__(self, record: UploadRecord | None, ledger: Ledger | None, clock=time.monotonic):
        self.record = record if ledger is not None else None
        self.ledger = ledger
        self.clock = clock
        self.confirmed = record.confirmed_parts() if record else set()
        self.unsaved = 0
        self.saved_at = clock()
        self.writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ledger") if self.record else None
        self.writes: list[Future] = []

    def confirm(self, part: int) -> None:
        self.confirmed.add(part)
        if self.record is None:
            return
        self.unsaved += 1
        if self.unsaved >= RECORD_EVERY_PARTS or self.clock() - self.saved_at >= RECORD_SECONDS:
            self._write()

    def _write(self) -> None:
        for write in [w for w in self.writes if w.done()]:
            write.result()  # a failed write (a full disk) fails the upload
            self.writes.remove(write)
        self.record.set_confirmed(self.confirmed)
        self.writes.append(self.writer.submit(self.ledger.write, self.ledger.snapshot()))  # one thread: in order
        self.unsaved, self.saved_at = 0, self.clock()

    def finish(self) -> None:
        if self.record is None:
            return
        try:
            if self.unsaved:
                self._write()  # raises an earlier write's error (a full disk), which must not keep the thread
        finally:
            self.writer.shutdown(wait=True)
        for write in self.writes:
            write.result()
