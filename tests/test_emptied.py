"""Emptied folders: which are removed (empty, quiet, not kept; a chain in one pass) and which stay."""

import os
import time

from tgvid import arrivals, emptied
from tgvid.emptied import FolderSeen
from uploader.outbox import Outbox


def test_a_chain_of_empty_quiet_folders_goes_in_one_pass_deepest_first():
    folders = {"a": FolderSeen(0.0, False, ("a/b",)), "a/b": FolderSeen(0.0, False, ("a/b/c",)),
               "a/b/c": FolderSeen(0.0, False, ())}
    assert emptied.removable(folders, now=100.0, quiet_seconds=10.0) == ["a/b/c", "a/b", "a"]


def test_a_folder_with_anything_in_it_a_fresh_one_or_a_kept_one_stays_and_so_do_its_parents():
    folders = {"full": FolderSeen(0.0, True, ()), "fresh": FolderSeen(95.0, False, ()),
               "kept": FolderSeen(0.0, False, ()), "up": FolderSeen(0.0, False, ("up/fresh",)),
               "up/fresh": FolderSeen(99.0, False, ()), "old": FolderSeen(0.0, False, ())}
    assert emptied.removable(folders, 100.0, 10.0, keep=lambda relpath: relpath == "kept") == ["old"]


def test_a_walk_sees_dotfiles_and_dot_folders_as_content(tmp_path):
    (tmp_path / "a" / ".stfolder").mkdir(parents=True)
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "copy.part").write_bytes(b"")
    (tmp_path / "c" / "d").mkdir(parents=True)
    folders = {}
    arrivals.walk(tmp_path, folders=folders)
    assert emptied.removable(folders, time.time() + 60, 10.0) == ["c/d", "c"]


def test_an_album_folder_in_outbox_stays_while_its_inbox_folder_is_there(tmp_path):
    album = tmp_path / "outbox" / "trip"
    album.mkdir(parents=True)
    (tmp_path / "inbox" / "trip").mkdir(parents=True)
    outbox = Outbox(tmp_path / "outbox", quiet_seconds=0.0, empty_folder_seconds=10.0)
    long_ago = time.time() - 60
    os.utime(album, (long_ago, long_ago))
    outbox.scan(time.time())
    assert album.is_dir()  # the transcoder may still hand files into it
    (tmp_path / "inbox" / "trip").rmdir()
    outbox.scan(time.time())
    assert not album.exists() and (tmp_path / "outbox").is_dir()
