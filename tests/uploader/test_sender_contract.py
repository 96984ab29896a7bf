"""One contract, both senders: a delivery per random_id, a repeat returns the first, find_sent sees what arrived."""

import re
from pathlib import Path

import pytest

from uploader.folder import FolderSender
from uploader.ledger import new_random_id
from uploader.sender import Item
from uploader.sidecar import MediaKind, Sidecar


@pytest.fixture(params=["folder", "telegram"])
def sender_and_deliveries(request, tmp_path):
    """The sender, and a function giving how many deliveries of a file name a person would see."""
    if request.param == "folder":
        sender = FolderSender(tmp_path / "delivered")
        def deliveries(name):
            stem, suffix = Path(name).stem, Path(name).suffix
            shown = re.compile(rf"{re.escape(stem)}( \(\d+\))?{re.escape(suffix)}")
            return sum(1 for p in (tmp_path / "delivered").iterdir() if shown.fullmatch(p.name))

        yield sender, deliveries
        sender.close()
    else:
        sender, server, _ = request.getfixturevalue("telegram")
        yield sender, lambda name: len(server.messages_named(name))


def item(tmp_path, name="report.pdf", data=b"%PDF-1.4 data", random_id=None):
    path = tmp_path / "outbox" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return Item(path, Sidecar(MediaKind.DOCUMENT, len(data)), random_id or new_random_id(), "")


def no_progress(*_):
    pass


def test_each_item_gets_a_receipt_with_its_random_id(sender_and_deliveries, tmp_path):
    sender, deliveries = sender_and_deliveries
    items = [item(tmp_path, "a.pdf"), item(tmp_path, "b.pdf")]
    receipts = sender.send(items, "docs", no_progress)
    assert sorted(r.random_id for r in receipts) == sorted(i.random_id for i in items)
    assert deliveries("a.pdf") == deliveries("b.pdf") == 1


def test_a_repeated_send_with_the_same_random_id_returns_the_first_delivery(sender_and_deliveries, tmp_path):
    sender, deliveries = sender_and_deliveries
    first = item(tmp_path)
    [receipt] = sender.send([first], "", no_progress)
    [again] = sender.send([first], "", no_progress)
    assert again.message_id == receipt.message_id
    assert deliveries("report.pdf") == 1


def test_find_sent_sees_what_arrived_and_nothing_else(sender_and_deliveries, tmp_path):
    sender, _ = sender_and_deliveries
    sent, unsent = item(tmp_path, "sent.pdf"), item(tmp_path, "unsent.pdf", b"other bytes")
    [receipt] = sender.send([sent], "", no_progress)
    assert [(r.random_id, r.message_id) for r in sender.find_sent([sent, unsent])] == [
        (receipt.random_id, receipt.message_id)]


def test_a_new_random_id_with_the_same_name_is_a_second_visible_delivery(sender_and_deliveries, tmp_path):
    sender, deliveries = sender_and_deliveries
    sender.send([item(tmp_path)], "", no_progress)
    sender.send([item(tmp_path)], "", no_progress)
    assert deliveries("report.pdf") == 2
