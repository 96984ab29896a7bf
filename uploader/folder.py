"""The local-folder sender: delivers into a folder (default `<root>/delivered/`) the way a chat would.

Like a chat it never overwrites: a second delivery of the same name gets a numbered suffix ("a (2).mp4"), so a
duplicate send is visible. Like Telegram it remembers every random_id it has delivered, so a send repeated
after a crash returns the first delivery. The record is the delivery itself: the file is first copied to
`.receipts/<random_id as 16 hex digits>` (atomically), then hard-linked under its shown name in
`<folder>/<subfolder>/`. The link's inode is the "message id". A repeat finds the receipt, looks for its inode
among the shown names and links it only if it is not there yet. The folder must support hard links.

A notification (`notify`) is a text file, `notices/<UTC time>.txt` in the folder, written atomically; the chat
setting is not used (empty turns notifications off before they get here).

The copy goes in steps of CHUNK_BYTES, asking the daemon's `should_stop` after each (which also tells systemd's
watchdog that the daemon is alive), so a long copy to a slow card neither holds up a stop nor gets the daemon
killed as hung. A stop raises Interrupted and leaves no receipt: the partial copy is scratch, and the ledger's
intent has the next start copy the file again. A full folder raises NoSpace (the uploader waits for room; the file
is not to blame) and leaves no receipt either.
"""

import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from tgvid import durable
from tgvid.errors import NoSpace
from tgvid.freename import free_name, numbered
from tgvid.units import MIB
from uploader.sender import Interrupted, Item, Progress, Receipt

RECEIPTS = ".receipts"
NOTICES = "notices"
SHORTEST_STEM_CHARACTERS = 40  # of a shown name's stem, left by tgvid.namelength's cut even when it is numbered
CHUNK_BYTES = MIB


class FolderSender:
    def __init__(self, folder: Path, should_stop: Callable[[], bool] = lambda: False,
                 max_file_bytes: int | None = None):
        self.folder = Path(folder)
        self.should_stop = should_stop
        self.max_file_bytes = max_file_bytes  # None: no limit; else a larger video is sent in parts, as to a chat
        self.receipts = self.folder / RECEIPTS
        self.receipts.mkdir(parents=True, exist_ok=True)
        for scratch in self.receipts.glob(f"*{durable.TEMP_SUFFIX}"):
            scratch.unlink()
        self.description = f"folder {self.folder}"

    def send(self, items: list[Item], caption: str, progress: Progress) -> list[Receipt]:
        return [self._deliver(item, progress) for item in items]

    def find_sent(self, items: list[Item]) -> list[Receipt]:
        found = []
        for item in items:
            receipt = self._receipt_path(item)
            shown = self._shown_path(item, receipt) if receipt.exists() else None
            if shown is not None:
                found.append(self._receipt(item, shown))
        return found

    def notify(self, text: str, chat: str) -> None:
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H-%M-%SZ")
        notices = self.folder / NOTICES
        notices.mkdir(parents=True, exist_ok=True)
        durable.atomic_write(free_name(notices / f"{stamp}.txt"), f"{text}\n".encode())

    def close(self) -> None:
        pass

    def _deliver(self, item: Item, progress: Progress) -> Receipt:
        receipt = self._receipt_path(item)
        if not receipt.exists():
            self._copy(item, receipt, progress)
        shown = self._shown_path(item, receipt) or self._link(item, receipt)
        return self._receipt(item, shown)

    def _receipt_path(self, item: Item) -> Path:
        return self.receipts / f"{item.random_id & 0xFFFF_FFFF_FFFF_FFFF:016x}"

    def _receipt(self, item: Item, shown: Path) -> Receipt:
        return Receipt(item.random_id, shown.stat().st_ino, str(shown))

    def _copy(self, item: Item, receipt: Path, progress: Progress) -> None:
        try:
            durable.atomic_write(receipt, self._chunks(item, progress))
        except OSError as error:
            if not durable.is_full(error):
                raise
            raise NoSpace(item.path, f"writing its copy into {self.folder} failed: {error.strerror}",
                          folder=str(self.folder)) from error

    def _chunks(self, item: Item, progress: Progress):
        total = item.path.stat().st_size
        done = 0
        with item.path.open("rb") as source:
            while chunk := source.read(CHUNK_BYTES):
                yield chunk
                done += len(chunk)
                progress(item, done, total)
                if self.should_stop():
                    raise Interrupted(f"{item.name}: stopped after copying {done} of {total} bytes")

    def _shown_path(self, item: Item, receipt: Path) -> Path | None:
        """The shown name already linked to `receipt`, if any."""
        target_folder = self.folder / item.folder
        if not target_folder.is_dir():
            return None
        inode = receipt.stat().st_ino
        stem, suffix = os.path.splitext(item.name)
        stem = stem[:SHORTEST_STEM_CHARACTERS]  # a long name's numbered forms are cut shorter (tgvid.namelength)
        for candidate in target_folder.iterdir():
            if candidate.name.startswith(stem) and candidate.name.endswith(suffix) and candidate.stat().st_ino == inode:
                return candidate
        return None

    def _link(self, item: Item, receipt: Path) -> Path:
        target_folder = self.folder / item.folder
        target_folder.mkdir(parents=True, exist_ok=True)
        for shown in numbered(target_folder / item.name):
            try:
                os.link(receipt, shown)
            except FileExistsError:
                continue
            durable.sync_dir(target_folder)
            return shown
