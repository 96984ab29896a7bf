"""Files placed in the outbox by hand are recognised from their content, with real media made by PyAV."""

import io
import os
import signal
import threading
import time

import av
import pytest

from tests.media import Orientation, png_bytes, video_bytes, write_video
from tgvid.sidecar import MediaKind
from tgvid.workers import Workers
from uploader.probe import PROBE_TIMEOUT_SECONDS, ProbeInterrupted, probe, probe_in_child, streams_from_start


def test_a_video_gets_duration_size_audio_and_a_small_jpeg_thumbnail(tmp_path):
    path = tmp_path / "clip.mp4"
    path.write_bytes(video_bytes(seconds=2.0, width=640, height=360))
    meta = probe(path, "clip.mp4")
    assert meta.kind is MediaKind.VIDEO
    assert (meta.width, meta.height, meta.has_audio) == (640, 360, True)
    assert abs(meta.duration_seconds - 2.0) < 0.1
    assert meta.thumbnail_jpeg.startswith(b"\xff\xd8") and len(meta.thumbnail_jpeg) < 200_000
    with av.open(io.BytesIO(meta.thumbnail_jpeg)) as container:
        thumb = next(container.decode(video=0))
    assert (thumb.width, thumb.height) == (320, 180)


def test_a_silent_video_says_so(tmp_path):
    path = tmp_path / "silent.mp4"
    path.write_bytes(video_bytes(audio=False))
    assert probe(path, "silent.mp4").has_audio is False


def test_a_matroska_video_goes_as_a_document_since_it_would_never_stream(tmp_path):
    path = tmp_path / "clip.mkv"
    path.write_bytes(video_bytes(container_format="matroska"))
    assert probe(path, "clip.mkv").kind is MediaKind.DOCUMENT


def test_a_picture_is_an_image(tmp_path):
    path = tmp_path / "p.png"
    path.write_bytes(png_bytes(40, 30))
    meta = probe(path, "p.png")
    assert (meta.kind, meta.width, meta.height) == (MediaKind.IMAGE, 40, 30)


def test_anything_else_is_a_document(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_bytes(b"not media at all\n" * 10)
    meta = probe(path, "x/notes.txt")
    assert (meta.kind, meta.size_bytes, meta.source_relpath) == (MediaKind.DOCUMENT, 170, "x/notes.txt")


def test_probing_in_a_child_gives_the_same_answer_and_a_probe_that_does_not_finish_makes_a_document(tmp_path, caplog):
    path = tmp_path / "clip.mp4"
    path.write_bytes(video_bytes(seconds=1.0))
    workers = Workers(1, PROBE_TIMEOUT_SECONDS)
    try:
        assert probe_in_child(path, "clip.mp4", workers) == probe(path, "clip.mp4")
        workers.deadline_seconds = 0.0
        slow = probe_in_child(path, "clip.mp4", workers)
        assert slow.kind is MediaKind.DOCUMENT and slow.size_bytes == path.stat().st_size
        assert "clip.mp4: probing did not finish in 0 s; its worker was replaced; it goes as a document" in caplog.text
        workers.deadline_seconds = PROBE_TIMEOUT_SECONDS
        assert probe_in_child(path, "clip.mp4", workers) == probe(path, "clip.mp4")  # by the worker in its place
    finally:
        workers.stop()


def test_a_probe_stopped_with_the_uploader_gives_no_answer_rather_than_a_wrong_one(tmp_path):
    path = tmp_path / "clip.mp4"
    path.write_bytes(video_bytes(seconds=1.0))
    workers = Workers(1, PROBE_TIMEOUT_SECONDS)

    def stop_the_worker():  # what systemd's SIGTERM to the whole service, or Ctrl-C, does
        while not workers.workers:
            time.sleep(0.01)
        os.kill(workers.workers[0].process.pid, signal.SIGTERM)

    stopper = threading.Thread(target=stop_the_worker)
    stopper.start()
    try:
        with pytest.raises(ProbeInterrupted):
            probe_in_child(path, "clip.mp4", workers)
    finally:
        stopper.join()
        workers.stop()


@pytest.mark.parametrize("degrees", [90, 270])
def test_a_turned_video_gets_its_shown_size_and_a_thumbnail_the_right_way_up(tmp_path, degrees):
    path = write_video(tmp_path / "portrait.mp4", seconds=1.0, width=96, height=160,
                       orientation=Orientation(degrees), audio_channels=())
    meta = probe(path, "portrait.mp4")
    assert (meta.width, meta.height) == (96, 160)
    with av.open(io.BytesIO(meta.thumbnail_jpeg)) as container:
        thumb = next(container.decode(video=0)).to_ndarray(format="gray")
    height, width = thumb.shape
    assert width < height
    marker = thumb[: height // 5, : width // 5].mean()  # tests.media draws a bright marker top-left of the shown picture
    assert marker > thumb[-height // 5:, -width // 5:].mean() + 60


def test_only_a_video_with_its_index_first_claims_to_stream(tmp_path):
    first, last = tmp_path / "first.mp4", tmp_path / "last.mp4"
    first.write_bytes(video_bytes())
    last.write_bytes(video_bytes(fast_start=False))
    assert streams_from_start(first) and not streams_from_start(last)
