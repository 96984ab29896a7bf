"""The sidecar format: what the transcoder writes is what the uploader reads; damage and newer versions are named."""

import msgpack
import pytest

from tgvid import sidecar
from tgvid.errors import SidecarError


def test_round_trip_keeps_every_field(tmp_path):
    meta = sidecar.Sidecar(sidecar.MediaKind.VIDEO, 1234, 2.5, 640, 360, True, "trip/a.mov", "a.mov", b"\xff\xd8jpeg")
    path = sidecar.path_for(tmp_path / "a.mp4")
    sidecar.write(path, meta)
    assert path.name == "a.mp4.meta.msgpack"
    assert sidecar.read(path) == meta


def test_older_fields_missing_get_defaults(tmp_path):
    path = tmp_path / "a.mp4.meta.msgpack"
    path.write_bytes(msgpack.packb({"version": 1, "kind": "document", "size_bytes": 5}))
    assert sidecar.read(path) == sidecar.Sidecar(sidecar.MediaKind.DOCUMENT, 5)


def test_newer_version_names_the_version(tmp_path):
    path = tmp_path / "a.mp4.meta.msgpack"
    path.write_bytes(msgpack.packb({"version": 7, "kind": "video", "size_bytes": 5}))
    with pytest.raises(SidecarError.NewerVersion, match="format version 7"):
        sidecar.read(path)


@pytest.mark.parametrize("content", [b"\xc1garbage", msgpack.packb([1, 2]), msgpack.packb({"version": 1, "kind": "x"})])
def test_damaged_sidecar_names_the_file(tmp_path, content):
    path = tmp_path / "b.mp4.meta.msgpack"
    path.write_bytes(content)
    with pytest.raises(SidecarError, match="b.mp4.meta.msgpack"):
        sidecar.read(path)


@pytest.mark.parametrize(("field", "value"), [("kind", "movie"), ("kind", None), ("size_bytes", "5"),
                                              ("width", None), ("height", 2.5), ("duration_seconds", "long"),
                                              ("has_audio", 1), ("source_name", b"a.mov"), ("thumbnail_jpeg", 5)])
def test_a_field_of_the_wrong_type_is_named(tmp_path, field, value):
    path = tmp_path / "c.jpg.meta.msgpack"
    path.write_bytes(msgpack.packb({"version": 1, "kind": "image", "size_bytes": 5, field: value}))
    with pytest.raises(SidecarError, match=f"c.jpg.meta.msgpack: .*field {field} "):
        sidecar.read(path)


def test_an_int_is_taken_for_a_float(tmp_path):
    path = tmp_path / "a.mp4.meta.msgpack"
    path.write_bytes(msgpack.packb({"version": 1, "kind": "video", "size_bytes": 5, "duration_seconds": 2}))
    assert sidecar.read(path).duration_seconds == 2.0
