"""A dropped folder arrives as one album, whichever path each of its files takes through the real transcoder."""

import os
import shutil

import pytest

from tests.media import write_video
from tests.processes import DaemonProcess
from tests.waiting import wait_for
from uploader.ledger import EntryState, Ledger, path_in


@pytest.mark.slow
def test_a_folder_of_a_pass_an_audio_fix_and_a_transcode_arrives_as_one_album_in_name_order(tmp_path):
    root, trip = tmp_path / "root", tmp_path / "trip"
    trip.mkdir()
    write_video(trip / "1 ready.mp4", options={"movflags": "+faststart"}, seconds=1)  # pass
    write_video(trip / "2 camera.mkv", audio_codec="ac3", seconds=1)  # audio fix: the video is copied
    write_video(trip / "3 old.mkv", codec="mpeg4", width=640, height=360, seconds=3)  # transcode, last to finish
    # The uploader would call a folder whole after 0.2 s without news: only the inbox tells it what is still coming.
    uploader = DaemonProcess("uploader", root, tmp_path / "uploader.log",
                             {"TGVID_UPLOADER_QUIET_SECONDS": "0.2", "TGVID_UPLOADER_ALBUM_WINDOW_SECONDS": "0.2"})
    transcoder = DaemonProcess("transcoder", root, tmp_path / "transcoder.log",
                               {"TGVID_TRANSCODER_QUIET_SECONDS": "0.2", "TGVID_TRANSCODER_PRESET": "ultrafast"})
    try:
        transcoder.wait_ready()
        uploader.wait_ready()
        shutil.copytree(trip, root / "inbox" / ".trip.partial")
        os.rename(root / "inbox" / ".trip.partial", root / "inbox" / "trip")

        def sent():
            return [e for e in Ledger(path_in(root)).entries.values() if e.state is EntryState.SENT]

        wait_for(lambda: len(sent()) == 3 or "quarantined" in transcoder.log(), 90, "three files sent")
    finally:
        for process in (transcoder, uploader):
            if process.process.poll() is None:
                process.stop()
    assert "trip/3 old.mkv: queued as transcode" in transcoder.log()
    assert "trip/2 camera.mkv: queued as audio" in transcoder.log()
    entries = sorted(sent(), key=lambda e: e.relpath)
    assert [e.relpath for e in entries] == ["trip/1 ready.mp4", "trip/2 camera.mp4", "trip/3 old.mp4"]
    assert {e.album for e in entries} == {entries[0].key}, "one album, not an album of two and a lone video"
    assert "sending as album of 3 from trip" in uploader.log()
