"""A video over the chat's size limit arrives as an album of playable parts, cut at keyframes, each frame once; or is
quarantined with a reason that says why. Through the real TelegramSender against the fake, whose app config sets the
limit to 512 KiB (upload_max_fileparts_default × 512 KiB)."""

import asyncio
import io
import math
import shutil
from pathlib import Path
from types import SimpleNamespace

import av
import pytest
from conftest import hand_off
from fake_telegram import FakeTelegram, Fault, file_names
from hypothesis import given
from hypothesis import strategies as st
from telethon.tl import functions, types
from telethon_internals import LoopbackDataCentre, fake_client
from test_loopback_dc import environment

from tests.conftest import fill
from tests.media import Orientation, write_video
from tests.waiting import wait_for
from tgvid import sidecar
from tgvid.thumbnail import jpeg_of
from uploader import split
from uploader.delivery import Delivery
from uploader.ledger import EntryState, Ledger, path_in
from uploader.outbox import Outbox
from uploader.probe import streams_from_start
from uploader.sender import Interrupted
from uploader.telegram import TelegramSender

LIMIT_PARTS = 1  # upload_max_fileparts_default: 512 KiB per file
LIMIT_BYTES = LIMIT_PARTS * 512 * 1024
FRAMES = 200
FPS = 25


@pytest.fixture(scope="module")
def big_video(tmp_path_factory) -> Path:
    """8 s of noisy 320×240 video with stereo audio, a keyframe every 5 frames: about 11 times the limit."""
    return write_video(tmp_path_factory.mktemp("media") / "clip.mp4", seconds=FRAMES / FPS, fps=FPS, gop_frames=5,
                       grain=48, options={"movflags": "+faststart"})


def hand_off_file(root: Path, relpath: str, source: Path, **fields) -> Path:
    with av.open(str(source)) as container:
        frame = next(container.decode(video=0))
        duration = float(container.streams.video[0].duration * container.streams.video[0].time_base)
    return hand_off(root, relpath, source.read_bytes(), "video", duration_seconds=duration, width=frame.width,
                    height=frame.height, has_audio=True, thumbnail_jpeg=jpeg_of(frame), **fields)


def telegram_delivery(root: Path, server: FakeTelegram, should_stop=lambda: False,
                      **settings) -> tuple[Delivery, Ledger]:
    ledger = Ledger(path_in(root))
    client, _ = fake_client(server)
    sender = TelegramSender(client, asyncio.new_event_loop(), "me", False, should_stop, ledger=ledger, root=root)
    sender.start()
    values = {"album_window_seconds": 0.0, "delete_after_send": False, "max_retries": 3, "oversize": "split",
              **settings}
    return Delivery(root, ledger, sender, SimpleNamespace(**values), lambda *_: None), ledger


def run_until(delivery: Delivery, root: Path, done, what: str) -> None:
    outbox = Outbox(root / "outbox", quiet_seconds=0.0)
    try:
        wait_for(lambda: delivery.run(outbox.scan(1000.0), lambda: False) or done(), 60, what)
    finally:
        delivery.close()
        delivery.sender.close()


def video_facts(data: bytes) -> tuple[int, int, float]:
    """(decoded video frames, audio packets, video duration in seconds) of an MP4's bytes."""
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        duration = float(stream.duration * stream.time_base)
        frames = sum(1 for _ in container.decode(video=0))
    with av.open(io.BytesIO(data)) as container:
        audio_packets = sum(1 for packet in container.demux(audio=0) if packet.size)
    return frames, audio_packets, duration


def test_a_video_over_the_limit_goes_as_albums_of_playable_parts_with_every_frame_once(tmp_path, big_video):
    root = tmp_path / "root"
    hand_off_file(root, "trip/clip.mp4", big_video)
    server = FakeTelegram(max_parts=LIMIT_PARTS)
    delivery, ledger = telegram_delivery(root, server)
    assert delivery.sender.max_file_bytes == LIMIT_BYTES
    run_until(delivery, root, lambda: (root / "sent" / "trip" / "clip.mp4").exists(), "clip.mp4 in sent/")

    count = len(server.posted)
    assert count >= math.ceil(big_video.stat().st_size / LIMIT_BYTES) and count > 10
    names = [name for posted in server.posted for name in file_names(posted.message.media)]
    assert names == [f"clip.part{number}of{count}.mp4" for number in range(1, count + 1)]
    assert [posted.message.message for posted in server.posted] == [f"clip ({n}/{count})" for n in range(1, count + 1)]
    albums = [r for r in server.requests if isinstance(r, functions.messages.SendMultiMediaRequest)]
    assert [len(album.multi_media) for album in albums] == [10, count - 10]

    source_frames, source_audio, source_seconds = video_facts(big_video.read_bytes())
    frames = audio = seconds = 0.0
    for posted in server.posted:
        data = server.file_bytes(posted.media.file)
        assert len(data) <= LIMIT_BYTES
        part = tmp_path / "part.mp4"
        part.write_bytes(data)
        assert streams_from_start(part)
        part_frames, part_audio, part_seconds = video_facts(data)
        [attribute] = [a for a in posted.media.attributes if isinstance(a, types.DocumentAttributeVideo)]
        assert attribute.supports_streaming and (attribute.w, attribute.h) == (320, 240)
        assert attribute.duration == pytest.approx(part_seconds)
        assert posted.media.thumb is not None and server.file_bytes(posted.media.thumb)[:2] == b"\xff\xd8"
        frames, audio, seconds = frames + part_frames, audio + part_audio, seconds + part_seconds
    assert (frames, audio) == (source_frames, source_audio)
    assert seconds == pytest.approx(source_seconds, abs=1 / FPS)

    [entry] = ledger.entries.values()  # the parts' entries went with the video's
    assert entry.state is EntryState.SENT and len(entry.message_ids) == count
    assert not any((root / "split").iterdir())


def test_parts_gone_from_the_split_folder_after_a_stop_are_cut_again_at_the_same_places(tmp_path, big_video, caplog):
    caplog.set_level("INFO", logger="uploader.delivery")
    root = tmp_path / "root"
    hand_off_file(root, "clip.mp4", big_video)
    server = FakeTelegram(max_parts=LIMIT_PARTS)
    delivery, _ = telegram_delivery(root, server, should_stop=lambda: len(server.posted) >= 10)
    with pytest.raises(Interrupted):
        run_until(delivery, root, lambda: False, "the stop after the first album")
    assert len(server.posted) == 10
    shutil.rmtree(root / "split")  # a person cleared the folder while the uploader was stopped
    delivery, _ = telegram_delivery(root, server)
    run_until(delivery, root, lambda: (root / "sent" / "clip.mp4").exists(), "clip.mp4 in sent/")
    assert "part(s) not yet sent are gone; cutting them again at the recorded places" in caplog.text
    names = [name for posted in server.posted for name in file_names(posted.message.media)]
    count = len(names)
    assert names == [f"clip.part{number}of{count}.mp4" for number in range(1, count + 1)]
    facts = [video_facts(server.file_bytes(posted.media.file)) for posted in server.posted]
    source_frames, source_audio, _ = video_facts(big_video.read_bytes())
    assert (sum(f[0] for f in facts), sum(f[1] for f in facts)) == (source_frames, source_audio)


def test_a_video_deleted_from_outbox_half_way_leaves_no_parts_behind(tmp_path, big_video):
    root = tmp_path / "root"
    video = hand_off_file(root, "clip.mp4", big_video)
    server = FakeTelegram(max_parts=LIMIT_PARTS)
    delivery, _ = telegram_delivery(root, server, should_stop=lambda: len(server.posted) >= 10)
    with pytest.raises(Interrupted):
        run_until(delivery, root, lambda: False, "the stop after the first album")
    assert any((root / "split").glob("*/*.mp4"))
    sidecar.path_for(video).unlink()
    video.unlink()  # a person took it back: it is not to be sent after all
    delivery, _ = telegram_delivery(root, server)
    try:
        delivery.run(Outbox(root / "outbox", quiet_seconds=0.0).scan(1000.0), lambda: False)
    finally:
        delivery.close()
        delivery.sender.close()
    assert not any((root / "split").iterdir()), "its parts (most of the video's size) stayed on the disk for ever"


def test_a_cut_killed_half_way_starts_again_and_no_half_written_part_is_sent(tmp_path, big_video):
    root = tmp_path / "root"
    hand_off_file(root, "clip.mp4", big_video)
    server = FakeTelegram(max_parts=LIMIT_PARTS)
    delivery, _ = telegram_delivery(root, server)
    delivery.run(Outbox(root / "outbox", quiet_seconds=0.0).scan(1000.0), lambda: False)  # starts the cut
    wait_for(lambda: any((root / "split").glob("*/*.tmp")), 30, "the first part being written")
    delivery.close()  # SIGKILLs the cutting child, as a crash of the uploader would (PR_SET_PDEATHSIG)
    delivery.sender.close()
    delivery, _ = telegram_delivery(root, server)
    run_until(delivery, root, lambda: (root / "sent" / "clip.mp4").exists(), "clip.mp4 in sent/")
    names = [name for posted in server.posted for name in file_names(posted.message.media)]
    assert names == [f"clip.part{number}of{len(names)}.mp4" for number in range(1, len(names) + 1)]
    facts = [video_facts(server.file_bytes(posted.media.file)) for posted in server.posted]
    assert sum(f[0] for f in facts) == FRAMES


def test_an_album_of_parts_telegram_refuses_goes_part_by_part(tmp_path, big_video):
    root = tmp_path / "root"
    hand_off_file(root, "clip.mp4", big_video)
    server = FakeTelegram(max_parts=LIMIT_PARTS)
    server.fail(functions.messages.SendMultiMediaRequest, Fault(400, "MEDIA_INVALID"))
    delivery, _ = telegram_delivery(root, server)
    run_until(delivery, root, lambda: (root / "sent" / "clip.mp4").exists(), "clip.mp4 in sent/")
    names = [name for posted in server.posted for name in file_names(posted.message.media)]
    count = len(names)
    assert names == [f"clip.part{number}of{count}.mp4" for number in range(1, count + 1)]
    singles = [r for r in server.requests if isinstance(r, functions.messages.SendMediaRequest)]
    assert [single.message for single in singles] == [f"clip ({n}/{count})" for n in range(1, 11)]


def test_parts_of_a_video_whose_name_was_shortened_carry_its_own_name(tmp_path, big_video):
    root = tmp_path / "root"
    shown = "Sommerfest am See, der ganze Abend mit allen Reden.mp4"  # the transcoder shortened the file's name
    hand_off_file(root, "Sommerfest am See….mp4", big_video, shown_name=shown)
    server = FakeTelegram(max_parts=LIMIT_PARTS)
    delivery, _ = telegram_delivery(root, server)
    run_until(delivery, root, lambda: not (root / "outbox" / "Sommerfest am See….mp4").exists(), "the video sent")
    count = len(server.posted)
    stem = Path(shown).stem
    assert [name for p in server.posted for name in file_names(p.message.media)] == [
        f"{stem}.part{number}of{count}.mp4" for number in range(1, count + 1)]
    assert [p.message.message for p in server.posted] == [f"{stem} ({n}/{count})" for n in range(1, count + 1)]


def test_a_video_the_disk_has_no_room_to_cut_waits_for_room_uncounted(small_disk, big_video, caplog):
    root = small_disk
    hand_off_file(root, "clip.mp4", big_video)
    filler = fill(root)
    server = FakeTelegram(max_parts=LIMIT_PARTS)
    delivery, ledger = telegram_delivery(root, server)
    delivery.run(Outbox(root / "outbox", quiet_seconds=0.0).scan(1000.0), lambda: False)
    assert "clip.mp4: waiting for disk space: cutting it into parts needs about 5 MiB" in caplog.text
    assert not (root / "quarantine" / "clip.mp4").exists() and all(e.attempts == 0 for e in ledger.entries.values())
    filler.unlink()
    run_until(delivery, root, lambda: (root / "sent" / "clip.mp4").exists(), "clip.mp4 in sent/ once there is room")
    assert len(server.posted) > 10


def test_a_disk_that_fills_up_while_the_video_is_cut_has_it_wait_for_room_not_quarantined(tmp_path, small_disk,
                                                                                           big_video, caplog):
    """The check before the cut passes; the parts' writes (by FFmpeg's muxer) then hit the full disk, as when the
    transcoder fills it meanwhile. Here the split folder is a small file system of its own, full from the start."""
    root = tmp_path / "root"
    hand_off_file(root, "clip.mp4", big_video)
    (root / "split").symlink_to(small_disk)
    filler = fill(small_disk)
    server = FakeTelegram(max_parts=LIMIT_PARTS)
    delivery, ledger = telegram_delivery(root, server)
    outbox = Outbox(root / "outbox", quiet_seconds=0.0)
    wait_for(lambda: delivery.run(outbox.scan(1000.0), lambda: False) or "waiting for disk space" in caplog.text
             or (root / "quarantine" / "clip.mp4").exists(), 60, "the cut ending on the full disk")
    assert not (root / "quarantine" / "clip.mp4").exists() and all(e.attempts == 0 for e in ledger.entries.values())
    filler.unlink()
    run_until(delivery, root, lambda: (root / "sent" / "clip.mp4").exists(), "clip.mp4 in sent/ once there is room")
    assert len(server.posted) > 10


def test_with_oversize_quarantine_a_video_over_the_limit_is_quarantined_saying_so(tmp_path, big_video):
    root = tmp_path / "root"
    hand_off_file(root, "clip.mp4", big_video)
    server = FakeTelegram(max_parts=LIMIT_PARTS)
    delivery, _ = telegram_delivery(root, server, oversize="quarantine")
    run_until(delivery, root, lambda: (root / "quarantine" / "clip.mp4").exists(), "clip.mp4 in quarantine/")
    reason = (root / "quarantine" / "clip.mp4.reason.txt").read_text()
    assert "over the account's limit of 0.5 MiB" in reason and 'uploader.oversize is "quarantine"' in reason
    assert server.posted == []


def test_a_video_whose_one_keyframe_stretch_is_over_the_limit_is_quarantined_saying_so(tmp_path):
    root = tmp_path / "root"
    source = write_video(tmp_path / "long-gop.mp4", seconds=2.0, gop_frames=1000, grain=48, audio_channels=())
    assert source.stat().st_size > LIMIT_BYTES
    hand_off_file(root, "long-gop.mp4", source)
    server = FakeTelegram(max_parts=LIMIT_PARTS)
    delivery, _ = telegram_delivery(root, server)
    run_until(delivery, root, lambda: (root / "quarantine" / "long-gop.mp4").exists(), "long-gop.mp4 in quarantine/")
    reason = (root / "quarantine" / "long-gop.mp4.reason.txt").read_text()
    assert "cannot be cut at keyframes under the limit" in reason and "no keyframe" in reason
    assert server.posted == [] and not any((root / "split").iterdir())


def test_the_plan_evens_the_parts_out():
    assert split.plan([4, 4, 4, 4, 4], 12) == [0, 3]  # 12 + 8 rather than 8 + 12 or three parts
    assert split.plan([3, 3, 3, 3, 3, 3, 3, 3], 12) == [0, 4]
    assert split.plan([5, 1, 1, 1, 1, 1, 5], 10) == [0, 4]
    assert split.plan([11], 10) is None


def fewest_parts(costs: list[int], budget: int) -> int:
    """The fewest runs of `costs` in order, each adding up to at most `budget`, by trying every cut."""
    fewest = [0] + [len(costs) + 1] * len(costs)
    for end in range(1, len(costs) + 1):
        for start in range(end):
            if sum(costs[start:end]) <= budget:
                fewest[end] = min(fewest[end], fewest[start] + 1)
    return fewest[-1]


@given(st.lists(st.integers(1, 100), min_size=1, max_size=40), st.integers(1, 400))
def test_the_plan_takes_the_fewest_parts_each_under_the_budget(costs, budget):
    starts = split.plan(costs, budget)
    if max(costs) > budget:
        assert starts is None
        return
    assert starts[0] == 0 and starts == sorted(set(starts))
    assert len(starts) == fewest_parts(costs, budget)
    assert all(sum(costs[a:b]) <= budget for a, b in zip(starts, [*starts[1:], len(costs)], strict=True))


def test_a_part_that_comes_out_over_the_limit_has_the_video_cut_again_smaller(tmp_path, big_video, monkeypatch):
    planned = split.plan
    monkeypatch.setattr(split, "plan", lambda costs, budget: planned(costs, budget * 3 // 2))  # it misjudges sizes
    costs = [stretch.cost_bytes for stretch in split.stretches(big_video)]
    misjudged = split.plan(costs, LIMIT_BYTES - split.PART_OVERHEAD_BYTES)
    (tmp_path / "split").mkdir()
    outcome = split.cut(big_video, tmp_path / "split", "clip.mp4", "", LIMIT_BYTES)
    count = len(outcome.names)
    files = [split.part_file(number, count) for number in range(1, count + 1)]
    sizes = [(tmp_path / "split" / name).stat().st_size for name in files]
    assert max(sizes) <= LIMIT_BYTES and count > len(misjudged)
    assert sorted(path.name for path in (tmp_path / "split").iterdir()) == sorted(
        [*files, *(f"{name}.meta.msgpack" for name in files)])  # no scratch left behind


def test_parts_keep_the_shown_orientation_and_b_frames_and_play_in_order(tmp_path):
    source = write_video(tmp_path / "phone.mp4", seconds=2.0, width=240, height=320, gop_frames=10, bframes=2,
                         grain=48, orientation=Orientation(90), options={"movflags": "+faststart"})
    (tmp_path / "split").mkdir()
    outcome = split.cut(source, tmp_path / "split", "phone.mp4", "trip", LIMIT_BYTES)
    count = len(outcome.names)
    assert count >= 2 and outcome.first_packets[0] == 0
    counted = 0
    for number, name in enumerate(outcome.names, 1):
        path = tmp_path / "split" / split.part_file(number, count)
        meta = sidecar.read(sidecar.path_for(path))
        assert name == f"phone.part{number}of{count}.mp4" and meta.name_for(path) == name
        assert (meta.width, meta.height, meta.source_relpath) == (240, 320, f"trip/{name}")
        with av.open(str(path)) as container:
            frames = list(container.decode(video=0))
        assert all(frame.rotation == 90 for frame in frames)
        assert frames[0].pts == 0 and [f.pts for f in frames] == sorted(f.pts for f in frames)
        counted += len(frames)
    assert counted == 50


@pytest.mark.slow
def test_sigkill_after_the_first_album_then_a_restart_sends_only_the_parts_not_yet_sent(tmp_path, big_video,
                                                                                       uploader_processes):
    root = tmp_path / "root"
    hand_off_file(root, "clip.mp4", big_video)
    env = {"TGVID_UPLOADER_PARALLEL_PARTS": "1"}  # 128 KiB parts, one at a time: 0.2 s a file
    with LoopbackDataCentre(FakeTelegram(max_parts=LIMIT_PARTS), part_delay_seconds=0.05) as dc:
        first = uploader_processes(root, {**environment(dc), **env})
        wait_for(lambda: len(dc.server.posted) >= 10 or first.process.poll() is not None, 60, "the first album")
        first.kill()
        at_kill = len(dc.server.posted)
        second = uploader_processes(root, {**environment(dc), **env})
        wait_for(lambda: (root / "sent" / "clip.mp4").exists(), 60, "clip.mp4 in sent/")
        assert second.stop() == 0
    names = [name for posted in dc.server.posted for name in file_names(posted.message.media)]
    count = len(names)
    assert 10 <= at_kill < count, "the kill came after every part was sent"
    assert names == [f"clip.part{number}of{count}.mp4" for number in range(1, count + 1)]  # each once, in order
    assert not (root / "outbox" / "clip.mp4").exists() and not any((root / "split").iterdir())
