"""Uploads resumed from the ledger: after a stop or a SIGKILL only the parts Telegram has not confirmed go up
again, under the same file_id; parts Telegram dropped meanwhile are saved again; a changed file or an old record
starts afresh; a ledger that cannot be written half-way (a full disk) has the file wait for room. The part
engine's pace limit, without a clock."""

import asyncio
import logging
import os
import random
from types import SimpleNamespace

import pytest
from conftest import hand_off
from fake_telegram import FakeTelegram, file_names
from telethon.tl import functions
from telethon_internals import LoopbackDataCentre, fake_client
from test_loopback_dc import environment

from tests.conftest import fill
from tests.waiting import wait_for
from tgvid import sidecar
from uploader import parts
from uploader.delivery import Delivery
from uploader.ledger import Entry, Ledger, new_random_id, path_in
from uploader.outbox import Outbox
from uploader.sender import Interrupted, Item
from uploader.telegram import TelegramSender

PART_BYTES = 16 * 1024
PARALLEL = 4


class Run:
    """One uploader run in this process: a real TelegramSender with a ledger, stopped after `stop_after` parts."""

    def __init__(self, server: FakeTelegram, ledger: Ledger, stop_after: int | None = None):
        client, _ = fake_client(server)
        self.server = server
        self.stop_after = stop_after
        self.sender = TelegramSender(client, asyncio.new_event_loop(), "me", False, self.should_stop, ledger=ledger,
                                     parallel_parts=PARALLEL, part_bytes=PART_BYTES, sleep=instant)
        self.sender.start()

    def should_stop(self) -> bool:
        return self.stop_after is not None and len(self.server.part_numbers()) >= self.stop_after

    def send(self, items: Item | list[Item]):
        try:
            return self.sender.send(items if isinstance(items, list) else [items], "", lambda *_: None)
        finally:
            self.sender.close()


async def instant(_seconds):
    pass


def recorded_item(root, ledger: Ledger, name: str, data: bytes) -> Item:
    path = hand_off(root, name, data)
    stat = path.stat()
    entry = Entry(name, stat.st_size, stat.st_mtime_ns, new_random_id())
    ledger.put([entry])
    return Item(path, sidecar.read(sidecar.path_for(path)), entry.random_id, "", entry.created_at, entry.key)


def interrupted_upload(tmp_path, data: bytes, stop_after: int):
    """A file whose upload was stopped after `stop_after` parts: (server, ledger, item, its file_id)."""
    server, ledger = FakeTelegram(), Ledger(path_in(tmp_path))
    item = recorded_item(tmp_path, ledger, "a.bin", data)
    with pytest.raises(Interrupted):
        Run(server, ledger, stop_after=stop_after).send(item)
    [file_id] = {r.file_id for r in server.requests if isinstance(r, functions.upload.SaveFilePartRequest)}
    return server, Ledger(path_in(tmp_path)), item, file_id


def test_a_stopped_upload_goes_on_with_the_same_file_id_and_only_the_missing_parts(tmp_path):
    data = os.urandom(40 * PART_BYTES + 123)
    server, ledger, item, file_id = interrupted_upload(tmp_path, data, stop_after=20)
    record = ledger.get(item.key).upload
    assert record.file_id == file_id and record.parts == 41 and len(record.confirmed_parts()) >= 20
    first_run, confirmed = len(server.part_numbers()), len(record.confirmed_parts())
    Run(server, ledger).send(item)
    [posted] = server.posted
    assert posted.media.file.id == file_id
    assert server.file_bytes(posted.media.file) == data
    assert sorted(set(server.part_numbers())) == list(range(41))
    assert len(server.part_numbers()) == first_run + 41 - confirmed
    assert ledger.get(item.key).upload is None  # sent: the record is dropped with the delivery's next write


def test_parts_telegram_dropped_before_the_restart_are_saved_again(tmp_path):
    data = os.urandom(30 * PART_BYTES)
    server, ledger, item, file_id = interrupted_upload(tmp_path, data, stop_after=25)
    server.expire_parts()  # the storage was busy: every part is gone
    Run(server, ledger).send(item)
    [posted] = server.posted
    assert posted.media.file.id == file_id
    assert server.file_bytes(posted.media.file) == data


def test_a_file_changed_in_place_after_the_stop_starts_afresh(tmp_path):
    data = os.urandom(30 * PART_BYTES)
    server, ledger, item, file_id = interrupted_upload(tmp_path, data, stop_after=10)
    before = item.path.stat()
    changed = data[:-PART_BYTES] + os.urandom(PART_BYTES)  # same size, and the mtime is put back
    item.path.write_bytes(changed)
    os.utime(item.path, ns=(before.st_atime_ns, before.st_mtime_ns))
    Run(server, ledger).send(item)
    [posted] = server.posted
    assert posted.media.file.id != file_id
    assert server.file_bytes(posted.media.file) == changed


def test_an_upload_older_than_telegram_keeps_parts_starts_afresh(tmp_path):
    data = os.urandom(30 * PART_BYTES)
    server, ledger, item, file_id = interrupted_upload(tmp_path, data, stop_after=10)
    ledger.get(item.key).upload.started_at -= parts.KEEP_SECONDS + 1
    Run(server, ledger).send(item)
    [posted] = server.posted
    assert posted.media.file.id != file_id
    assert server.file_bytes(posted.media.file) == data


def test_an_album_resumes_item_by_item(tmp_path):
    server, ledger = FakeTelegram(), Ledger(path_in(tmp_path))
    data = {name: os.urandom(20 * PART_BYTES) for name in ("a.bin", "b.bin")}
    items = [recorded_item(tmp_path, ledger, f"trip/{name}", content) for name, content in data.items()]
    items = [Item(i.path, i.sidecar, i.random_id, "trip", i.intent_at, i.key) for i in items]
    with pytest.raises(Interrupted):
        Run(server, ledger, stop_after=30).send(items)  # the first item is up, the second half-way
    first_run = server.part_numbers()
    Run(server, Ledger(path_in(tmp_path))).send(items)
    assert len(server.posted) == 2
    for posted, (name, content) in zip(server.posted, data.items(), strict=True):
        origin = server.uploaded_media[posted.message.media.document.id][0]
        assert file_names(origin) == [name] and server.file_bytes(origin.file) == content
    assert len(server.part_numbers()) - len(first_run) <= 40 - 30 + PARALLEL  # what was missing, and those in flight


def test_a_full_disk_under_the_ledger_half_way_makes_the_file_wait_for_room_not_count_a_failure(small_disk, caplog):
    root, server = small_disk, FakeTelegram()
    data = os.urandom(40 * PART_BYTES)
    hand_off(root, "a.bin", data)
    filled = []

    def progress(_item, done, _total):
        if done and not filled:
            filled.append(fill(root))  # the ledger's next record of the upload finds no room

    ledger = Ledger(path_in(root))
    client, _ = fake_client(server)
    sender = TelegramSender(client, asyncio.new_event_loop(), "me", False, lambda: False, ledger=ledger,
                            parallel_parts=PARALLEL, part_bytes=PART_BYTES, sleep=instant)
    sender.start()
    settings = SimpleNamespace(album_window_seconds=0.0, delete_after_send=False, max_retries=1)
    delivery = Delivery(root, ledger, sender, settings, progress, lambda: 1000.0)
    outbox = Outbox(root / "outbox", quiet_seconds=0.0)
    try:
        with caplog.at_level(logging.WARNING):
            delivery.run(outbox.scan(1000.0), lambda: False)
        assert "a.bin: waiting for disk space: writing ledger.msgpack" in caplog.text
        assert not server.posted and (root / "outbox" / "a.bin").exists()
        filled[0].unlink()
        delivery.run(outbox.scan(1000.0), lambda: False)
    finally:
        sender.close()
    [posted] = server.posted
    assert server.file_bytes(posted.media.file) == data
    assert (root / "sent" / "a.bin").exists() and not (root / "quarantine").exists()


def test_the_pace_limit_spreads_parts_over_the_time_their_bytes_need():
    clock = [0.0]

    async def wait(seconds):
        clock[0] += seconds

    async def upload():
        pace = parts.Pace(1024 * 1024, wait, clock=lambda: clock[0])
        await parts.send_parts(list(range(16)), 4, lambda _part: pace.take(256 * 1024))

    asyncio.run(upload())
    assert clock[0] == pytest.approx(15 / 4)  # the first part goes at once, then one every 0.25 s


@pytest.mark.slow
def test_sigkill_half_way_through_a_file_then_a_restart_sends_the_rest_once(tmp_path, uploader_processes):
    data = random.Random(9).randbytes(3 * 1024 * 1024)
    total_parts = len(data) // PART_BYTES
    root = tmp_path / "root"
    hand_off(root, "big.bin", data)
    env = {"TGVID_UPLOADER_PART_KIB": str(PART_BYTES // 1024), "TGVID_UPLOADER_PARALLEL_PARTS": str(PARALLEL)}
    with LoopbackDataCentre(FakeTelegram(), part_delay_seconds=0.02) as dc:
        first = uploader_processes(root, {**environment(dc), **env})
        wait_for(lambda: len(dc.server.part_numbers()) >= total_parts // 2 or first.process.poll() is not None,
                 deadline_seconds=60, what="half of the parts at the server")
        first.kill()
        at_kill = list(dc.server.part_numbers())
        assert len(at_kill) < total_parts, "the file was whole before the kill"
        second = uploader_processes(root, {**environment(dc), **env})
        wait_for(lambda: (root / "sent" / "big.bin").exists(), deadline_seconds=60, what="big.bin in sent/")
        assert second.stop() == 0
    [posted] = [p for p in dc.server.posted if file_names(p.message.media) == ["big.bin"]]
    assert dc.server.file_bytes(posted.media.file) == data
    received = dc.server.part_numbers()
    assert {r.file_id for r in dc.server.requests if isinstance(r, functions.upload.SaveFilePartRequest)} == {
        posted.media.file.id}
    again = len(received) - total_parts
    # Sent twice at most: the parts in flight at the kill and those confirmed since the ledger's last record.
    assert 0 <= again <= PARALLEL + parts.RECORD_EVERY_PARTS
    assert "resuming its upload" in second.log()
