"""Durable writes: the target holds the old or the new bytes, never a mix, and no temp file stays behind."""

import os

import pytest

from tgvid import durable


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path):
    target = tmp_path / "state.msgpack"
    durable.atomic_write(target, b"old")
    durable.atomic_write(target, b"new")
    assert target.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["state.msgpack"]


def test_chunks_are_written_in_order(tmp_path):
    target = tmp_path / "copy.bin"
    durable.atomic_write(target, (bytes([n]) * 3 for n in range(4)))
    assert target.read_bytes() == b"\x00\x00\x00\x01\x01\x01\x02\x02\x02\x03\x03\x03"


def test_remove_temps_clears_what_a_killed_writer_left_and_nothing_else(tmp_path):
    target = tmp_path / "ledger.msgpack"
    durable.atomic_write(target, b"state")
    left = durable.temp_path_for(target)
    left.write_bytes(b"torn")
    other = durable.temp_path_for(tmp_path / "other.msgpack")
    other.write_bytes(b"not ours")
    durable.remove_temps(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["ledger.msgpack", other.name])


def test_mode_is_applied_for_secrets(tmp_path):
    target = tmp_path / "telegram.session"
    durable.atomic_write(target, b"secret", mode=0o600)
    assert os.stat(target).st_mode & 0o777 == 0o600


def test_failed_write_keeps_the_old_file_and_removes_the_temp(tmp_path):
    target = tmp_path / "state.msgpack"
    durable.atomic_write(target, b"old")

    with pytest.raises(TypeError):  # fails inside the write, after the temp file exists
        durable.atomic_write(target, "not bytes")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["state.msgpack"]
