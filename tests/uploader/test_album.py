"""Album grouping: who goes out together, and when."""

from hypothesis import given
from hypothesis import strategies as st

from tests.strategies import candidate_lists
from tgvid.sidecar import MediaKind, Sidecar
from uploader.album import MAX_ALBUM_ITEMS, Batch, Candidate, album_kind, group


def candidate(name, folder="trip", kind="video", first_seen=0.0, album=""):
    relpath = f"{folder}/{name}" if folder else name
    return Candidate(relpath, relpath, folder, kind, first_seen, album)


def test_files_of_a_folder_that_arrived_together_form_one_album_in_name_order():
    files = [candidate("b.mp4", first_seen=2), candidate("a.jpg", kind="image", first_seen=1)]
    assert group(files, now=20, window_seconds=10) == [Batch("trip/a.jpg", "trip", ("trip/a.jpg", "trip/b.mp4"))]


def test_a_folder_still_filling_up_waits():
    files = [candidate("a.mp4", first_seen=0), candidate("b.mp4", first_seen=15)]
    assert group(files, now=20, window_seconds=10) == []


def test_documents_do_not_mix_with_photos_and_videos():
    files = [candidate("a.mp4"), candidate("b.pdf", kind="document"), candidate("c.jpg", kind="image"),
             candidate("d.zip", kind="document")]
    batches = group(files, now=20, window_seconds=10)
    assert [b.keys for b in batches] == [("trip/a.mp4", "trip/c.jpg"), ("trip/b.pdf", "trip/d.zip")]


def test_more_than_ten_are_split_and_a_lone_rest_goes_alone():
    files = [candidate(f"{i:02d}.mp4") for i in range(11)]
    batches = group(files, now=20, window_seconds=10)
    assert [len(b.keys) for b in batches] == [10, 1]
    assert batches[1].album == ""
    assert batches[0].caption == "trip"


def test_top_level_files_go_alone_at_once():
    files = [candidate("a.mp4", folder="", first_seen=19), candidate("b.mp4", folder="", first_seen=19)]
    assert group(files, now=20, window_seconds=10) == [Batch("", "", ("a.mp4",)), Batch("", "", ("b.mp4",))]


def test_a_recorded_album_is_kept_even_when_new_files_arrive_in_its_folder():
    files = [candidate("a.mp4", album="trip/a.mp4"), candidate("b.mp4", album="trip/a.mp4"),
             candidate("c.mp4", first_seen=19)]
    assert group(files, now=20, window_seconds=10) == [Batch("trip/a.mp4", "trip", ("trip/a.mp4", "trip/b.mp4"))]


def test_a_picture_telegram_takes_only_as_a_document_joins_the_documents():
    def picture(name, width, height, size_bytes=1000):
        return album_kind(Sidecar(MediaKind.IMAGE, size_bytes, width=width, height=height), name)

    assert picture("a.jpg", 4000, 3000) == "image"
    assert picture("strip.png", 2100, 100) == "document"  # sides beyond 1:20
    assert picture("huge.jpg", 8000, 6000) == "document"  # width + height over 10000
    assert picture("big.jpg", 400, 300, size_bytes=11 * 2**20) == "document"
    assert picture("a.tiff", 400, 300) == "document"
    assert album_kind(Sidecar(MediaKind.VIDEO, 1000), "a.mp4") == "video"


@given(candidate_lists(), st.floats(0, 200), st.floats(0, 50))
def test_every_batch_is_a_sendable_album_and_no_file_goes_twice(candidates, now, window):
    batches = group(candidates, now, window)
    by_key = {c.key: c for c in candidates}
    sent = [key for batch in batches for key in batch.keys]
    assert len(sent) == len(set(sent))
    for batch in batches:
        members = [by_key[key] for key in batch.keys]
        assert 1 <= len(members) <= MAX_ALBUM_ITEMS
        assert {m.folder for m in members} == {batch.folder}
        assert len({m.kind == "document" for m in members}) == 1 or all(m.album for m in members)
        assert (batch.album == "") == (len(members) == 1)


@given(candidate_lists(), st.floats(0, 200))
def test_after_the_window_every_file_is_sent(candidates, now):
    latest = max((c.first_seen for c in candidates), default=0)
    batches = group(candidates, now=max(now, latest + 11), window_seconds=10)
    assert sorted(key for batch in batches for key in batch.keys) == sorted(c.key for c in candidates)


def test_a_folder_with_files_still_coming_waits_however_long_ago_the_others_arrived():
    files = [candidate("a.mp4", first_seen=0), candidate("b.mp4", first_seen=1)]
    assert group(files, now=500, window_seconds=10, still_coming=frozenset({"trip"})) == []
    assert [b.keys for b in group(files, now=500, window_seconds=10, still_coming=frozenset({"party"}))] == [
        ("trip/a.mp4", "trip/b.mp4")]
