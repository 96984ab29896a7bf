"""The ledger survives a restart exactly as written, and refuses to guess at damaged or newer files."""

from pathlib import Path

import msgpack
import pytest

from tgvid import durable
from tgvid.errors import LedgerError
from uploader.ledger import FORMAT_VERSION, Entry, EntryState, Ledger, SplitRecord, UploadRecord, new_random_id


def test_entries_survive_a_reload(tmp_path):
    ledger = Ledger(tmp_path / "ledger.msgpack")
    entry = Entry("trip/a.mp4", 10, 123, new_random_id(), album="10:123:trip/a.mp4")
    ledger.put([entry], now=50.0)
    entry.state, entry.message_ids, entry.sent_at = EntryState.SENT, [77], 60.0
    ledger.put([entry], now=60.0)
    again = Ledger(tmp_path / "ledger.msgpack")
    assert again.get(entry.key) == entry
    assert again.get(entry.key).state is EntryState.SENT


def test_an_upload_under_way_survives_a_reload_with_its_confirmed_parts_as_ranges(tmp_path):
    ledger = Ledger(tmp_path / "ledger.msgpack")
    upload = UploadRecord(-5, 512 * 1024, 10, 5_000_000, 123, "ab" * 32, 40.0)
    upload.set_confirmed({0, 1, 2, 5, 7, 8})
    assert upload.confirmed == [[0, 3], [5, 6], [7, 9]]
    ledger.put([Entry("big.mp4", 5_000_000, 123, new_random_id(), upload=upload)], now=50.0)
    [again] = Ledger(tmp_path / "ledger.msgpack").entries.values()
    assert again.upload == upload and again.upload.confirmed_parts() == {0, 1, 2, 5, 7, 8}


def test_a_version_1_ledger_is_read_with_no_upload_under_way(tmp_path):
    path = tmp_path / "ledger.msgpack"
    old = {"relpath": "a.mp4", "size_bytes": 1, "mtime_ns": 2, "random_id": 3, "state": "sending"}
    path.write_bytes(msgpack.packb({"version": 1, "entries": {"1:2:a.mp4": old}, "sent_forgotten": 4}))
    ledger = Ledger(path)
    assert ledger.get("1:2:a.mp4").random_id == 3 and ledger.get("1:2:a.mp4").upload is None
    ledger.save()
    assert msgpack.unpackb(path.read_bytes())["version"] == FORMAT_VERSION == 3


def test_a_version_2_ledger_is_read_with_nothing_sent_in_parts(tmp_path):
    path = tmp_path / "ledger.msgpack"
    old = {"relpath": "a.mp4", "size_bytes": 1, "mtime_ns": 2, "random_id": 3, "state": "sending", "upload": None}
    path.write_bytes(msgpack.packb({"version": 2, "entries": {"1:2:a.mp4": old}}))
    assert Ledger(path).get("1:2:a.mp4").split is None


def test_a_video_sent_in_parts_survives_a_reload_and_its_parts_entries_go_with_it(tmp_path):
    ledger = Ledger(tmp_path / "ledger.msgpack")
    parts = [Entry(f"big.part{n}of2.mp4", 9, 1, new_random_id()) for n in (1, 2)]
    video = Entry("big.mp4", 9, 1, new_random_id(), split=SplitRecord([p.key for p in parts], [0, 250]))
    ledger.put([video, *parts], now=1.0)
    assert Ledger(tmp_path / "ledger.msgpack").get(video.key).split == video.split
    parts[0].state, parts[0].sent_at = EntryState.SENT, 2.0
    keeping = Ledger(tmp_path / "ledger.msgpack", keep_sent_seconds=1.0)
    keeping.put([parts[0]], now=100.0)
    assert parts[0].key in keeping.entries  # the video's other part is not sent yet
    video.state = EntryState.SENT
    ledger.put([video], now=2.0, drop=video.split.part_keys)
    assert list(Ledger(tmp_path / "ledger.msgpack").entries) == [video.key]
    assert ledger.sent_count() == 1


def test_sent_entries_older_than_the_keep_time_are_forgotten_but_counted(tmp_path):
    day = 86400.0
    ledger = Ledger(tmp_path / "ledger.msgpack", keep_sent_seconds=30 * day)
    old = Entry("old.mp4", 1, 1, new_random_id(), state=EntryState.SENT, message_ids=[1], sent_at=0.0)
    failed = Entry("bad.mp4", 2, 2, new_random_id(), state=EntryState.FAILED)
    ledger.put([old, failed], now=0.0)
    recent = Entry("new.mp4", 3, 3, new_random_id(), state=EntryState.SENT, message_ids=[2], sent_at=29 * day)
    ledger.put([recent], now=29 * day)
    assert ledger.sent_count() == 2 and old.key in ledger.entries
    sending = Entry("next.mp4", 4, 4, new_random_id())
    ledger.put([sending], now=31 * day)
    again = Ledger(tmp_path / "ledger.msgpack")
    assert set(again.entries) == {failed.key, recent.key, sending.key}
    assert again.sent_count() == 2


def test_a_sent_entry_whose_file_is_still_in_the_outbox_is_kept_whatever_its_age(tmp_path):
    outbox = tmp_path / "outbox"
    (outbox / "trip").mkdir(parents=True)
    (outbox / "trip" / "stuck.pdf").write_bytes(b"%PDF")  # its move to sent/ keeps failing
    ledger = Ledger(tmp_path / "ledger.msgpack", keep_sent_seconds=86400.0, outbox=outbox)
    stuck = Entry("trip/stuck.pdf", 4, 1, new_random_id(), state=EntryState.SENT, message_ids=[1], sent_at=0.0)
    moved = Entry("trip/moved.pdf", 4, 2, new_random_id(), state=EntryState.SENT, message_ids=[2], sent_at=0.0)
    ledger.put([stuck, moved], now=0.0)
    ledger.put([Entry("next.pdf", 1, 3, new_random_id())], now=10 * 86400.0)
    assert stuck.key in ledger.entries and moved.key not in ledger.entries


def quarantined(root, relpath: str, data: bytes) -> Entry:
    """A file the uploader sent to quarantine/, and its `failed` entry, as delivery writes them."""
    held = root / "quarantine" / Path(relpath).name
    held.parent.mkdir(parents=True, exist_ok=True)
    held.write_bytes(data)
    stat = held.stat()
    return Entry(relpath, stat.st_size, stat.st_mtime_ns, new_random_id(), state=EntryState.FAILED, where=str(held))


def test_a_failed_entry_stays_while_its_file_is_in_quarantine_or_back_in_the_outbox_and_goes_with_it(tmp_path):
    root = tmp_path
    ledger = Ledger(root / "ledger.msgpack", outbox=root / "outbox", quarantine=root / "quarantine")
    waiting = quarantined(root, "trip/waiting.pdf", b"waits for a person")
    removed = quarantined(root, "removed.pdf", b"deleted by a person")
    changed = quarantined(root, "changed.pdf", b"edited where it is")
    back = quarantined(root, "trip/back.pdf", b"moved back")
    parts = [Entry(f"big.part{n}of2.mp4", 9, 1, new_random_id(), state=EntryState.SENT, sent_at=1.0) for n in (1, 2)]
    in_parts = quarantined(root, "big.mp4", b"a video quarantined half sent")
    in_parts.split = SplitRecord([part.key for part in parts], [0, 250])
    ledger.put([waiting, removed, changed, back, in_parts, *parts], now=1.0)
    (root / "outbox" / "trip").mkdir(parents=True)
    (root / "quarantine" / "back.pdf").rename(root / "outbox" / "trip" / "back.pdf")
    (root / "quarantine" / "removed.pdf").unlink()
    (root / "quarantine" / "changed.pdf").write_bytes(b"another file now")
    (root / "quarantine" / "big.mp4").unlink()
    following = Entry("next.pdf", 1, 1, new_random_id())
    ledger.put([following], now=2.0)
    assert set(Ledger(root / "ledger.msgpack").entries) == {waiting.key, back.key, following.key}
    assert ledger.sent_count() == 0, "a quarantined video's parts were never a file sent"


def test_reading_the_ledger_leaves_a_writer_s_temp_file_alone(tmp_path):
    path = tmp_path / "ledger.msgpack"
    Ledger(path).put([Entry("a.mp4", 1, 1, new_random_id())], now=1.0)
    in_flight = durable.temp_path_for(path)
    in_flight.write_bytes(b"being written by the daemon")
    Ledger(path)
    assert in_flight.exists()


def test_random_ids_are_signed_64_bit():
    ids = {new_random_id() for _ in range(200)}
    assert len(ids) == 200
    assert all(-(2**63) <= value < 2**63 for value in ids)


def test_newer_version_is_refused(tmp_path):
    path = tmp_path / "ledger.msgpack"
    path.write_bytes(msgpack.packb({"version": FORMAT_VERSION + 1, "entries": {}}))
    with pytest.raises(LedgerError.NewerVersion, match=f"format version {FORMAT_VERSION + 1}"):
        Ledger(path)


def test_damaged_ledger_says_what_to_do(tmp_path):
    path = tmp_path / "ledger.msgpack"
    path.write_bytes(b"\xc1")
    with pytest.raises(LedgerError, match="move it aside"):
        Ledger(path)
