"""What Telegram receives from the uploader: parts, video attributes and thumbnails, albums built item by item,
random_ids kept across retries, and the reactions to Telegram's errors (real Telethon, fake network)."""

import asyncio
import datetime
import math
import time
from types import SimpleNamespace

import pytest
from conftest import hand_off, hand_off_video
from fake_telegram import FakeTelegram, Fault, file_names, request_types
from telethon.tl import functions, types
from telethon_internals import fake_client, network_of

from tests.media import png_bytes, video_bytes
from tgvid import sidecar
from tgvid.errors import ConfigError, SendFailed
from uploader.delivery import Delivery
from uploader.ledger import EntryState, Ledger, new_random_id, path_in
from uploader.outbox import Outbox
from uploader.sender import Interrupted, Item
from uploader.telegram import LIMIT_BYTES, NETWORK_ATTEMPTS, TelegramSender


def as_item(path, folder=""):
    return Item(path, sidecar.read(sidecar.path_for(path)), new_random_id(), folder)


def no_progress(*_):
    pass


def sent_of(server, kind):
    return [r for r in server.requests if isinstance(r, kind)]


def connection_reset(_request):
    raise ConnectionResetError("connection reset before the request reached Telegram")


def deliver(root, sender, clock=lambda: 1000.0):
    settings = SimpleNamespace(album_window_seconds=0.0, delete_after_send=False, max_retries=3)
    ledger = Ledger(path_in(root))
    Delivery(root, ledger, sender, settings, no_progress, clock).run(
        Outbox(root / "outbox", quiet_seconds=0.0).scan(clock()), lambda: False)
    return ledger


def test_a_video_goes_as_a_streamable_video_with_its_thumbnail_and_size(telegram, tmp_path):
    sender, server, _ = telegram
    video = as_item(hand_off_video(tmp_path, "clip.mp4", width=320, height=240, audio=False))
    [receipt] = sender.send([video], "", no_progress)
    [send] = sent_of(server, functions.messages.SendMediaRequest)
    media = send.media
    assert send.random_id == video.random_id == receipt.random_id
    assert isinstance(media, types.InputMediaUploadedDocument) and media.mime_type == "video/mp4"
    assert not media.force_file and media.nosound_video
    attribute = next(a for a in media.attributes if isinstance(a, types.DocumentAttributeVideo))
    assert (attribute.w, attribute.h, attribute.supports_streaming) == (320, 240, True)
    assert attribute.duration == pytest.approx(1.0)
    assert types.DocumentAttributeFilename("clip.mp4") in media.attributes
    assert server.file_bytes(media.thumb) == video.sidecar.thumbnail_jpeg
    assert server.file_bytes(media.file) == video.path.read_bytes()
    assert media.file.md5_checksum


def test_a_small_file_goes_in_equal_128_kib_parts(telegram, tmp_path):
    sender, server, _ = telegram
    data = bytes(range(256)) * 1200  # 300 KiB
    sender.send([as_item(hand_off(tmp_path, "a.bin", data))], "", no_progress)
    parts = sent_of(server, functions.upload.SaveFilePartRequest)
    assert [len(p.bytes) for p in parts] == [131072, 131072, len(data) - 262144]
    assert [p.file_part for p in parts] == [0, 1, 2]


def test_a_file_over_10_mib_goes_as_big_file_parts_of_512_kib(telegram, tmp_path):
    sender, server, _ = telegram
    data = b"\x01" * (11 * 1024 * 1024)
    sender.send([as_item(hand_off(tmp_path, "big.bin", data))], "", no_progress)
    parts = sent_of(server, functions.upload.SaveBigFilePartRequest)
    assert len(parts) == math.ceil(len(data) / 524288) == 22
    assert {p.file_total_parts for p in parts} == {22}
    [send] = sent_of(server, functions.messages.SendMediaRequest)
    assert isinstance(send.media.file, types.InputFileBig)
    assert server.file_bytes(send.media.file) == data


def test_an_album_keeps_each_items_thumbnail_and_attributes(telegram, tmp_path):
    sender, server, _ = telegram
    items = [as_item(hand_off_video(tmp_path, f"trip/{name}.mp4", width=w, height=h), "trip")
             for name, w, h in (("a", 320, 240), ("b", 240, 320))]
    items.append(as_item(hand_off(tmp_path, "trip/c.png", png_bytes(), "image", width=40, height=30), "trip"))
    receipts = sender.send(items, "trip", no_progress)
    uploads = sent_of(server, functions.messages.UploadMediaRequest)
    for upload, item in zip(uploads[:2], items, strict=False):
        attribute = next(a for a in upload.media.attributes if isinstance(a, types.DocumentAttributeVideo))
        assert (attribute.w, attribute.h) == (item.sidecar.width, item.sidecar.height)
        assert attribute.supports_streaming
        assert server.file_bytes(upload.media.thumb) == item.sidecar.thumbnail_jpeg
    assert isinstance(uploads[2].media, types.InputMediaUploadedPhoto)
    [album] = sent_of(server, functions.messages.SendMultiMediaRequest)
    assert [m.random_id for m in album.multi_media] == [i.random_id for i in items]
    assert [m.message for m in album.multi_media] == ["trip", "", ""]
    assert sorted(r.random_id for r in receipts) == sorted(i.random_id for i in items)


def test_a_refused_album_falls_back_to_one_by_one_and_a_file_still_refused_is_quarantined(telegram, tmp_path):
    sender, server, _ = telegram
    for name in ("a", "b", "c"):
        hand_off_video(tmp_path, f"trip/{name}.mp4")
    server.fail(functions.messages.SendMultiMediaRequest, Fault(400, "MEDIA_INVALID"))

    def refuse_b(request):
        return Fault(400, "MEDIA_EMPTY") if file_names(request) == ["b.mp4"] else None

    server.fail(functions.messages.SendMediaRequest, refuse_b, refuse_b, refuse_b)
    ledger = deliver(tmp_path, sender)
    assert request_types(server.requests).count("SendMultiMediaRequest") == 1
    assert sorted(name for p in server.posted for name in file_names(p.message.media)) == ["a.mp4", "c.mp4"]
    reason = (tmp_path / "quarantine" / "b.mp4.reason.txt").read_text()
    assert "MediaEmptyError" in reason
    assert sorted(e.state for e in ledger.entries.values()) == [EntryState.FAILED, EntryState.SENT, EntryState.SENT]


def test_a_flood_wait_is_waited_out_and_the_same_part_sent_again(telegram, tmp_path, caplog):
    sender, server, sleeps = telegram
    server.fail(functions.upload.SaveFilePartRequest, None, Fault(420, "FLOOD_WAIT_3"))
    sender.send([as_item(hand_off(tmp_path, "a.bin", b"x" * 300_000))], "", no_progress)
    parts = [p.file_part for p in sent_of(server, functions.upload.SaveFilePartRequest)]
    assert sorted(parts) == [0, 1, 1, 2]  # parts are in flight together: the waited one comes last
    assert sleeps.seconds == 3
    assert "a.bin: Telegram asks to wait 3 s" in caplog.text


def test_a_stop_during_a_long_flood_wait_comes_within_a_second(telegram, tmp_path):
    sender, server, sleeps = telegram
    stop = []
    sender.should_stop = lambda: bool(stop)

    async def sleep_then_stop(seconds):
        await sleeps(seconds)
        stop.append(True)

    sender.sleep = sleep_then_stop
    server.fail(functions.upload.SaveFilePartRequest, Fault(420, "FLOOD_WAIT_3600"))
    with pytest.raises(Interrupted):
        sender.send([as_item(hand_off(tmp_path, "a.bin", b"x"))], "", no_progress)
    assert sleeps.seconds <= 1


def test_a_stop_while_an_answer_does_not_come_is_honoured(telegram, tmp_path):
    sender, server, _ = telegram
    stop = []
    sender.should_stop = lambda: bool(stop)
    network_of(sender.client).unanswered = 1
    sender.loop.call_later(0.2, stop.append, True)
    with pytest.raises(Interrupted):  # without the stop the send would wait for the answer for ever
        sender.send([as_item(hand_off(tmp_path, "a.bin", b"x"))], "", no_progress)
    assert stop == [True]  # the stop, not an answer or a give-up, ended the wait
    assert server.posted == []


def test_a_lost_answer_is_looked_up_and_sent_again_with_the_same_random_id(telegram, tmp_path):
    sender, server, _ = telegram
    server.dedup = False
    hand_off(tmp_path, "a.pdf", b"%PDF")
    server.lose_reply(functions.messages.SendMediaRequest)
    clock = SimpleNamespace(now=1000.0)
    ledger = deliver(tmp_path, sender, lambda: clock.now)
    [entry] = ledger.entries.values()
    assert (entry.state, entry.attempts) == (EntryState.SENDING, 1)
    clock.now += 3600
    ledger = deliver(tmp_path, sender, lambda: clock.now)
    [entry] = ledger.entries.values()
    assert entry.state is EntryState.SENT
    assert request_types(server.requests)[-1] == "GetHistoryRequest"
    assert len(server.messages_named("a.pdf")) == 1
    assert entry.message_ids == [server.posted[0].message.id]


def test_an_older_message_of_the_same_name_and_size_is_not_taken_for_a_lost_send(telegram, tmp_path):
    sender, server, _ = telegram
    server.dedup = False
    earlier = tmp_path / "someone-else"
    hand_off(earlier, "a.pdf", b"%PDF")
    deliver(earlier, sender, time.time)
    [posted_by_hand] = server.posted
    posted_by_hand.message.date -= datetime.timedelta(days=1)
    hand_off(tmp_path, "a.pdf", b"%PDF")
    server.fail(functions.messages.SendMediaRequest, connection_reset)
    [entry] = deliver(tmp_path, sender, time.time).entries.values()
    assert (entry.state, entry.attempts) == (EntryState.SENDING, 1)
    [entry] = deliver(tmp_path, sender, lambda: time.time() + 60).entries.values()
    assert entry.state is EntryState.SENT
    assert len(server.messages_named("a.pdf")) == 2
    assert entry.message_ids == [server.posted[1].message.id]


def test_a_look_up_that_fails_counts_as_not_found_and_the_stored_random_id_prevents_a_second_post(telegram, tmp_path,
                                                                                                    caplog):
    sender, server, _ = telegram
    for name in ("a.pdf", "b.pdf"):
        hand_off(tmp_path, name, name.encode())
    server.lose_reply(functions.messages.SendMediaRequest)
    server.lose_reply(functions.messages.SendMediaRequest)
    server.fail(functions.messages.GetHistoryRequest, connection_reset, Fault(400, "SOMETHING_NEW"))
    clock = SimpleNamespace(now=1000.0)
    deliver(tmp_path, sender, lambda: clock.now)
    clock.now += 3600
    ledger = deliver(tmp_path, sender, lambda: clock.now)
    assert all(e.state is EntryState.SENT for e in ledger.entries.values())
    assert sorted(name for p in server.posted for name in file_names(p.message.media)) == ["a.pdf", "b.pdf"]
    assert caplog.text.count("cannot look sent files up") == 1


def test_only_our_own_outgoing_messages_are_taken_for_a_lost_send(telegram, tmp_path):
    sender, server, _ = telegram
    server.dedup = False
    hand_off(tmp_path, "a.pdf", b"%PDF")
    server.lose_reply(functions.messages.SendMediaRequest)
    clock = SimpleNamespace(now=time.time())
    deliver(tmp_path, sender, lambda: clock.now)
    server.posted[0].message.out = False  # as if someone else had posted the same file
    clock.now += 60
    [entry] = deliver(tmp_path, sender, lambda: clock.now).entries.values()
    assert entry.state is EntryState.SENT
    assert len(server.messages_named("a.pdf")) == 2 and entry.message_ids == [server.posted[1].message.id]


def test_an_unreachable_telegram_never_sends_a_file_to_quarantine(telegram, tmp_path):
    sender, server, _ = telegram
    hand_off(tmp_path, "a.pdf", b"%PDF")
    clock = SimpleNamespace(now=1000.0)
    for _ in range(8):
        server.fail(functions.upload.SaveFilePartRequest, *[connection_reset] * NETWORK_ATTEMPTS)
        [entry] = deliver(tmp_path, sender, lambda: clock.now).entries.values()
        clock.now = entry.not_before
    assert (entry.state, entry.attempts) == (EntryState.SENDING, 8)
    assert not (tmp_path / "quarantine").exists()
    [entry] = deliver(tmp_path, sender, lambda: clock.now).entries.values()
    assert entry.state is EntryState.SENT


def test_a_retry_after_a_connection_error_carries_the_stored_random_id(telegram, tmp_path):
    sender, server, _ = telegram
    hand_off(tmp_path, "a.pdf", b"%PDF")
    server.fail(functions.messages.SendMediaRequest, connection_reset)
    clock = SimpleNamespace(now=1000.0)
    deliver(tmp_path, sender, lambda: clock.now)
    clock.now += 3600
    ledger = deliver(tmp_path, sender, lambda: clock.now)
    sends = sent_of(server, functions.messages.SendMediaRequest)
    [entry] = ledger.entries.values()
    assert len(sends) == 2 and sends[0].random_id == sends[1].random_id == entry.random_id
    assert len(server.posted) == 1


def test_the_look_up_does_not_take_the_message_of_another_file_with_the_same_name_and_size(telegram, tmp_path):
    sender, server, _ = telegram
    server.dedup = False
    hand_off(tmp_path, "party/v.bin", b"same bytes")
    clock = SimpleNamespace(now=1000.0)
    deliver(tmp_path, sender, lambda: clock.now)
    hand_off(tmp_path, "trip/v.bin", b"same bytes")
    server.fail(functions.messages.SendMediaRequest, connection_reset)
    deliver(tmp_path, sender, lambda: clock.now)
    clock.now += 3600
    ledger = deliver(tmp_path, sender, lambda: clock.now)
    assert len(server.messages_named("v.bin")) == 2
    assert len({tuple(e.message_ids) for e in ledger.entries.values()}) == 2


def test_an_album_answer_missing_an_item_leaves_that_item_to_the_look_up(telegram, tmp_path, monkeypatch):
    sender, server, _ = telegram
    hand_off(tmp_path, "docs/a.pdf", b"a")
    hand_off(tmp_path, "docs/b.pdf", b"b")
    answer = server.answer

    def answer_naming_only_the_first(request, dc):
        result = answer(request, dc)
        if isinstance(request, functions.messages.SendMultiMediaRequest):
            result.updates = result.updates[:2]  # a.pdf's UpdateMessageID and UpdateNewMessage
        return result

    monkeypatch.setattr(server, "answer", answer_naming_only_the_first)
    clock = SimpleNamespace(now=1000.0)
    ledger = deliver(tmp_path, sender, lambda: clock.now)
    states = {e.relpath: (e.state, e.attempts) for e in ledger.entries.values()}
    assert states == {"docs/a.pdf": (EntryState.SENT, 0), "docs/b.pdf": (EntryState.SENDING, 1)}
    monkeypatch.undo()
    clock.now += 3600
    ledger = deliver(tmp_path, sender, lambda: clock.now)
    assert all(e.state is EntryState.SENT for e in ledger.entries.values())
    assert len(server.messages_named("b.pdf")) == 1


def test_a_part_telegram_lost_is_saved_again_under_the_same_file_id(telegram, tmp_path):
    sender, server, _ = telegram

    def drop_part_1(request):
        del server.parts[request.media.file.id][1]

    server.fail(functions.messages.SendMediaRequest, drop_part_1)
    sender.send([as_item(hand_off(tmp_path, "a.bin", b"y" * 300_000))], "", no_progress)
    parts = sent_of(server, functions.upload.SaveFilePartRequest)
    assert [p.file_part for p in parts] == [0, 1, 2, 1]
    assert len({p.file_id for p in parts}) == 1
    assert len(server.posted) == 1


def test_a_network_drop_during_parts_is_retried_with_backoff(telegram, tmp_path):
    sender, server, sleeps = telegram
    network_of(sender.client).connection_drops = 2
    sender.send([as_item(hand_off(tmp_path, "a.bin", b"z" * 1000))], "", no_progress)
    assert len(server.posted) == 1 and sleeps.seconds == 3  # 1 s, then 2 s


def test_a_chat_we_cannot_post_to_stops_the_daemon_and_keeps_the_file(telegram, tmp_path):
    sender, server, _ = telegram
    path = hand_off(tmp_path, "a.pdf", b"%PDF")
    server.fail(functions.messages.SendMediaRequest, Fault(403, "CHAT_WRITE_FORBIDDEN"))
    with pytest.raises(ConfigError, match="cannot post to me"):
        deliver(tmp_path, sender)
    assert path.exists()


def test_a_picture_too_long_for_a_photo_goes_as_a_document(telegram, tmp_path):
    sender, server, _ = telegram
    sender.send([as_item(hand_off(tmp_path, "strip.png", png_bytes(16, 2), "image", width=2100, height=100))], "",
                no_progress)
    [send] = sent_of(server, functions.messages.SendMediaRequest)
    assert isinstance(send.media, types.InputMediaUploadedDocument) and send.media.force_file


def test_a_photo_refused_by_telegram_is_sent_again_as_a_document(telegram, tmp_path):
    sender, server, _ = telegram
    server.fail(functions.messages.SendMediaRequest, Fault(400, "PHOTO_INVALID_DIMENSIONS"))
    item = as_item(hand_off(tmp_path, "p.png", png_bytes(), "image", width=40, height=30))
    [receipt] = sender.send([item], "", no_progress)
    first, second = sent_of(server, functions.messages.SendMediaRequest)
    assert isinstance(first.media, types.InputMediaUploadedPhoto)
    assert isinstance(second.media, types.InputMediaUploadedDocument)
    assert first.random_id == second.random_id == receipt.random_id


@pytest.mark.parametrize("premium", [False, True])
def test_the_size_limit_comes_from_the_account_and_the_app_config(premium, tmp_path, caplog):
    server = FakeTelegram(max_parts=3000, premium=premium)
    client, _ = fake_client(server)
    sender = TelegramSender(client, asyncio.new_event_loop(), "me", False, lambda: False)
    assert sender.max_file_bytes == LIMIT_BYTES == 2000 * 2**20
    sender.start()
    try:
        assert sender.max_file_bytes == (6000 if premium else 3000) * 512 * 1024
    finally:
        sender.close()
    assert ("uploader.premium is false but the account is Premium" in caplog.text) == premium


def test_a_bot_gets_the_default_limit_without_asking_for_the_app_config(tmp_path):
    server = FakeTelegram(bot=True)
    client, _ = fake_client(server)
    sender = TelegramSender(client, asyncio.new_event_loop(), "me", True, lambda: False)
    sender.start()
    sender.close()
    assert sender.max_file_bytes == LIMIT_BYTES
    assert "GetAppConfigRequest" not in request_types(server.requests)


def test_send_failed_names_the_file(telegram, tmp_path):
    sender, server, _ = telegram
    server.fail(functions.messages.SendMediaRequest, Fault(400, "MEDIA_EMPTY"))
    with pytest.raises(SendFailed, match="a.pdf: send failed: MediaEmptyError"):
        sender.send([as_item(hand_off(tmp_path, "a.pdf", b"%PDF"))], "", no_progress)


def test_a_bot_whose_answer_was_lost_sends_again_with_the_same_random_id_and_never_reads_history(tmp_path):
    server = FakeTelegram(bot=True)
    client, _ = fake_client(server)
    sender = TelegramSender(client, asyncio.new_event_loop(), "me", False, lambda: False, sleep=lambda _s: None)
    hand_off(tmp_path, "a.pdf", b"%PDF")
    server.lose_reply(functions.messages.SendMediaRequest)
    clock = SimpleNamespace(now=1000.0)
    try:
        deliver(tmp_path, sender, lambda: clock.now)
        clock.now += 3600
        [entry] = deliver(tmp_path, sender, lambda: clock.now).entries.values()
    finally:
        sender.close()
    assert entry.state is EntryState.SENT
    assert "GetHistoryRequest" not in request_types(server.requests)
    assert len(server.messages_named("a.pdf")) == 1 and entry.message_ids == [server.posted[0].message.id]


def test_each_album_item_becomes_server_media_right_after_its_upload(telegram, tmp_path):
    sender, server, _ = telegram
    items = [as_item(hand_off_video(tmp_path, f"trip/{name}.mp4"), "trip") for name in ("a", "b", "c")]

    started = []

    def expire_earlier_parts(request):  # busy storage: a file's parts expire once two newer files have started
        if request.file_id not in started:
            started.append(request.file_id)
            for file_id in started[:-3]:
                server.parts.pop(file_id, None)

    server.fail(functions.upload.SaveFilePartRequest, *[expire_earlier_parts] * 100)
    receipts = sender.send(items, "trip", no_progress)
    assert len(receipts) == 3 and len(server.posted) == 3
    kinds = [name for name in request_types(server.requests) if name != "SaveFilePartRequest"]
    assert kinds[-4:] == ["UploadMediaRequest"] * 3 + ["SendMultiMediaRequest"]


def test_a_lost_thumbnail_part_is_saved_again(telegram, tmp_path):
    sender, server, _ = telegram
    item = as_item(hand_off_video(tmp_path, "clip.mp4"))

    def lose_the_thumbnail(request):
        del server.parts[request.media.thumb.id][0]

    server.fail(functions.messages.SendMediaRequest, lose_the_thumbnail)
    sender.send([item], "", no_progress)
    [posted] = server.posted
    assert server.file_bytes(posted.media.thumb) == item.sidecar.thumbnail_jpeg


def test_a_video_with_its_index_at_the_end_does_not_claim_to_stream(telegram, tmp_path):
    sender, server, _ = telegram
    path = hand_off(tmp_path, "late.mp4", video_bytes(fast_start=False), "video", duration_seconds=1.0, width=64,
                    height=48, has_audio=True)
    sender.send([as_item(path)], "", no_progress)
    [send] = sent_of(server, functions.messages.SendMediaRequest)
    attribute = next(a for a in send.media.attributes if isinstance(a, types.DocumentAttributeVideo))
    assert attribute.supports_streaming is False
