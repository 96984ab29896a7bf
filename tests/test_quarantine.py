"""Quarantine, free names and backoff: what both daemons do the same way when a file cannot go on."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tgvid import quarantine, sidecar
from tgvid.backoff import backoff_seconds
from tgvid.freename import free_name


def test_quarantine_keeps_the_file_with_its_sidecar_and_says_why(tmp_path):
    source = tmp_path / "outbox" / "bad.mp4"
    source.parent.mkdir()
    source.write_bytes(b"junk")
    sidecar.write(sidecar.path_for(source), sidecar.Sidecar(sidecar.MediaKind.DOCUMENT, 4))
    (tmp_path / "quarantine").mkdir()
    (tmp_path / "quarantine" / "bad.mp4").write_bytes(b"an earlier one")
    text = quarantine.reason_text("outbox/bad.mp4", 0.0, "the uploader", "sending it", "not a media file", "Fix it.")
    target = quarantine.put(source, tmp_path / "quarantine" / "bad.mp4", text)
    assert target == tmp_path / "quarantine" / "bad (2).mp4" and target.read_bytes() == b"junk"
    assert sidecar.path_for(target).exists() and not sidecar.path_for(source).exists()
    assert quarantine.reason_path(target).read_text() == (
        "file:   outbox/bad.mp4\nwhen:   1970-01-01T00:00:00+00:00\nby:     the uploader\ntried:  sending it\n"
        "error:  not a media file\n\nFix it.\n")


def test_a_name_that_is_not_utf8_is_shown_with_its_odd_bytes_escaped():
    name = b"caf\xe9.mp4".decode(errors="surrogateescape")
    assert "file:   inbox/caf\\xe9.mp4\n" in quarantine.reason_text(f"inbox/{name}", 0.0, "the transcoder", "t", "e", "")


def test_a_move_that_fails_leaves_no_reason_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        quarantine.put(tmp_path / "gone.mp4", tmp_path / "quarantine" / "gone.mp4", "why")
    assert list((tmp_path / "quarantine").iterdir()) == []
    target = quarantine.put(tmp_path / "gone.mp4", tmp_path / "quarantine" / "gone.mp4", "why", missing_ok=True)
    assert quarantine.reason_path(target).read_text() == "why"


def test_a_free_name_skips_names_taken_by_a_file_and_if_asked_by_a_sidecar(tmp_path):
    (tmp_path / "a.mp4").write_bytes(b"")
    (tmp_path / "a (2).mp4.meta.msgpack").write_bytes(b"")
    assert free_name(tmp_path / "a.mp4", sidecar_too=True) == tmp_path / "a (3).mp4"
    assert free_name(tmp_path / "a.mp4") == tmp_path / "a (2).mp4", "where a sidecar goes first, its name is free"


@given(st.integers(1, 40), st.floats(0.1, 120), st.floats(1, 7200))
def test_backoff_doubles_until_its_cap(failures, base, cap):
    delay = backoff_seconds(failures, base, cap)
    assert delay <= cap
    assert backoff_seconds(1, base, cap) == min(base, cap)
    if failures > 1 and delay < cap:
        assert delay == 2 * backoff_seconds(failures - 1, base, cap)
