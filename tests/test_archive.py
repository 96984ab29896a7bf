"""Archive rules as pure logic over listings: names, where entries land, what is left out, what is hostile."""

import pytest

from transcoder.archive import Entry, EntryKind, Limits, Listing, folder_name, format_of, hostility, inside_path, plan

LIMITS = Limits(max_unpacked_bytes=1000, max_ratio=10.0, max_entries=5)


def listing(*entries: Entry, packed_bytes: int = 500) -> Listing:
    return Listing("zip", packed_bytes, entries)


@pytest.mark.parametrize("name, fmt, folder", [
    ("holiday.zip", "zip", "holiday"), ("a/Holiday.TAR.GZ", "tar.gz", "a/Holiday"), ("b.tgz", "tar.gz", "b"),
    ("c.tar", "tar", "c"), ("d.tar.bz2", "tar.bz2", "d"), ("e.tar.xz", "tar.xz", "e"), ("f.tar.zst", "tar.zst", "f"),
    ("g.7z", "7z", "g"), ("h.rar", "rar", "h"),
])
def test_archive_names_and_the_folder_each_unpacks_into(name, fmt, folder):
    assert format_of(name) == fmt
    assert folder_name(name) == folder


@pytest.mark.parametrize("name", ["clip.mp4", "notes.gz", "photo.jpg", "zipfile"])
def test_other_names_are_not_archives(name):
    assert format_of(name) is None


@pytest.mark.parametrize("name, inside", [
    ("a/b.mp4", "a/b.mp4"), ("./a/./b.mp4", "a/b.mp4"), ("a/../b.mp4", "b.mp4"), ("a\\b.mp4", "a/b.mp4"),
    ("./", ""), ("../b.mp4", None), ("a/../../b.mp4", None), ("/etc/passwd", None), ("C:/x.mp4", None),
    ("..\\..\\x.mp4", None),
])
def test_an_entry_path_either_stays_inside_or_is_refused(name, inside):
    assert inside_path(name) == inside


@pytest.mark.parametrize("entry, words", [
    (Entry("../evil.mp4", 10), "outside the archive's folder"),
    (Entry("/tmp/evil.mp4", 10), "outside the archive's folder"),
    (Entry("a/link", 0, EntryKind.LINK, "../../etc"), "points outside"),
    (Entry("link", 0, EntryKind.LINK, "/etc/passwd"), "points outside"),
    (Entry("clip.mp4", 10, encrypted=True), "encrypted"),
    (Entry("clip.mp4", 1001), "archive_max_unpacked_bytes"),
    (Entry("clip.mp4", 900), "archive_max_ratio"),
    (Entry("clip.mp4", 10, escapes="refused by the data filter"), "refused by the data filter"),
])
def test_a_hostile_archive_gets_a_reason(entry, words):
    reason = hostility(listing(Entry("ok.mp4", 10), entry, packed_bytes=90), LIMITS)
    assert reason is not None and words in reason


def test_too_many_entries_is_a_bomb():
    reason = hostility(listing(*(Entry(f"{n}.jpg", 1) for n in range(6))), LIMITS)
    assert "archive_max_entries" in reason


def test_a_link_inside_the_folder_is_not_hostile_but_is_left_out():
    safe = listing(Entry("a/clip.mp4", 10), Entry("a/again.mp4", 0, EntryKind.LINK, "clip.mp4"))
    assert hostility(safe, LIMITS) is None
    assert [(p.path, p.left_out) for p in plan(safe)] == [("a/clip.mp4", ""), ("", "a link")]


def test_media_and_archives_are_kept_in_their_folders_and_the_rest_left_out():
    entries = listing(Entry("day1/", 0, EntryKind.FOLDER), Entry("day1/a.MP4", 5), Entry("day1/notes.txt", 5),
                      Entry("__MACOSX/day1/._a.MP4", 5), Entry(".hidden.jpg", 5), Entry("inner.zip", 5),
                      Entry("day1/a.MP4", 5), Entry("inner/b.jpg", 5), Entry("day1/a.MP4/c.jpg", 5))
    planned = [(p.entry.name, p.path, p.left_out, p.is_archive) for p in plan(entries)]
    assert planned == [
        ("day1/a.MP4", "day1/a.MP4", "", False),
        ("day1/notes.txt", "", "not a video or picture", False),
        ("__MACOSX/day1/._a.MP4", "", "hidden, or macOS metadata", False),
        (".hidden.jpg", "", "hidden, or macOS metadata", False),
        ("inner.zip", "inner.zip", "", True),
        ("day1/a.MP4", "", "another entry has the same path", False),
        ("inner/b.jpg", "", "another entry has the same path", False),  # inner.zip unpacks there
        ("day1/a.MP4/c.jpg", "", "another entry has the same path", False),
    ]


def test_a_nested_archive_lands_in_its_own_folder_and_archives_inside_it_are_left_out():
    inner = listing(Entry("b.jpg", 5), Entry("deeper.7z", 5))
    planned = [(p.path, p.left_out) for p in plan(inner, prefix="day1/inner", nested=True)]
    assert planned == [("day1/inner/b.jpg", ""),
                       ("", "an archive inside an archive inside the archive (only one level is unpacked)")]
