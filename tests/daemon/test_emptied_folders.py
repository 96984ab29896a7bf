"""Folders emptied by the daemons go: an album's folder leaves inbox/ once its files are handed on and outbox/ once
they are sent, and a long chain of empty folders goes in one pass."""

import os
import time
from pathlib import Path

from tests.media import write_image, write_video
from tests.processes import DaemonProcess
from tests.waiting import wait_for


def test_an_albums_folders_are_removed_once_emptied_and_a_chain_of_empty_folders_too(tmp_path, daemon):
    chain = tmp_path / "inbox" / Path(*[f"level{n}" for n in range(40)])
    chain.mkdir(parents=True)
    long_ago = time.time() - 3600
    for folder in [chain, *chain.parents][:40]:
        os.utime(folder, (long_ago, long_ago))
    transcoder = daemon(empty_folder_seconds=1)
    uploader = DaemonProcess("uploader", tmp_path, tmp_path / "uploader.log",
                             {"TGVID_UPLOADER_QUIET_SECONDS": "0.2", "TGVID_UPLOADER_ALBUM_WINDOW_SECONDS": "0.2",
                              "TGVID_UPLOADER_EMPTY_FOLDER_SECONDS": "1"}).wait_ready()
    try:
        wait_for(lambda: not (tmp_path / "inbox" / "level0").exists(), 30, "the chain of empty folders to go")
        staging = tmp_path / "staging"
        staging.mkdir()
        write_image(staging / "photo.jpg")
        write_video(staging / "clip.mp4", seconds=1, options={"movflags": "faststart"})
        staging.rename(tmp_path / "inbox" / "album")
        wait_for(lambda: len(list((tmp_path / "delivered" / "album").glob("*"))) == 2 if (
            tmp_path / "delivered" / "album").is_dir() else False, 60, "the album to be delivered")
        wait_for(lambda: not (tmp_path / "inbox" / "album").exists(), 30, "the album's inbox folder to go")
        wait_for(lambda: not (tmp_path / "outbox" / "album").exists(), 30, "the album's outbox folder to go")
    finally:
        uploader.stop()
    assert (tmp_path / "inbox").is_dir() and (tmp_path / "outbox").is_dir()
    assert "removed 40 emptied folder(s) from inbox/" in transcoder.log()
    assert "removed 1 emptied folder(s) from outbox/: album" in uploader.log()
