"""The local-folder sender copies in steps: between them it asks the daemon whether to stop (the daemon's answer
also beats systemd's watchdog), so a long copy to a slow card can be stopped and never looks hung."""

import os
from pathlib import Path

import pytest

from tgvid.sidecar import MediaKind, Sidecar
from uploader.folder import CHUNK_BYTES, RECEIPTS, FolderSender
from uploader.ledger import new_random_id
from uploader.sender import Interrupted, Item


def big_item(tmp_path, chunks: int) -> Item:
    path = tmp_path / "outbox" / "big.mp4"
    path.parent.mkdir(parents=True)
    path.write_bytes(os.urandom(chunks * CHUNK_BYTES + 10))
    return Item(path, Sidecar(MediaKind.VIDEO, path.stat().st_size), new_random_id(), "")


def copied_bytes(delivered) -> int:
    return sum(p.stat().st_size for p in (delivered / RECEIPTS).iterdir())


def test_a_long_copy_asks_whether_to_stop_after_every_step(tmp_path):
    item = big_item(tmp_path, chunks=5)
    delivered = tmp_path / "delivered"
    seen_while_copying = []

    def should_stop() -> bool:
        seen_while_copying.append(copied_bytes(delivered))
        return False

    [receipt] = FolderSender(delivered, should_stop).send([item], "", lambda *_: None)
    assert len(seen_while_copying) == 6  # after each of the six steps (the last holds 10 bytes, still buffered)
    assert seen_while_copying[:5] == [n * CHUNK_BYTES for n in range(1, 6)]
    assert Path(receipt.where).read_bytes() == item.path.read_bytes()


def test_a_stop_during_a_copy_ends_it_at_the_next_step_and_delivers_nothing(tmp_path):
    item = big_item(tmp_path, chunks=5)
    delivered = tmp_path / "delivered"
    asked = []

    def should_stop() -> bool:
        asked.append(True)
        return len(asked) == 2  # SIGTERM arrives during the second step

    with pytest.raises(Interrupted, match="big.mp4: stopped after copying 2097152 of"):
        FolderSender(delivered, should_stop).send([item], "", lambda *_: None)
    assert len(asked) == 2
    assert [p.name for p in delivered.iterdir()] == [RECEIPTS]  # nothing shown, so nothing counts as delivered
    assert copied_bytes(delivered) == 0  # the partial copy was scratch
    [receipt] = FolderSender(delivered).send([item], "", lambda *_: None)  # the next start copies it again
    assert Path(receipt.where).read_bytes() == item.path.read_bytes()
    assert sorted(p.name for p in delivered.iterdir()) == [RECEIPTS, "big.mp4"]
