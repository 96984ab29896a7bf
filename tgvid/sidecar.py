"""The sidecar: what the transcoder tells the uploader about a finished file, its format described here only.

The transcoder writes `<outbox>/<folder>/NAME.mp4.meta.msgpack` atomically *before* it renames NAME.mp4 into
the outbox, so a media file whose sidecar is present is complete. For a file a person put into the outbox by
hand, the uploader probes it (uploader.probe) and writes the sidecar itself.

Format, version 2 — a msgpack map:

| key | type | meaning |
| --- | --- | --- |
| version | int | format version, 2 |
| kind | str | MediaKind: video, image or document |
| duration_seconds | float | shown duration (0.0 for images and documents) |
| width, height | int | shown size in pixels, rotation applied (0 when unknown) |
| has_audio | bool | the video has an audio track (a silent one is sent with `nosound_video`) |
| source_relpath | str | the source's path relative to inbox/, e.g. "trip/a.mov" |
| source_name | str | the source's file name |
| thumbnail_jpeg | bytes or nil | JPEG, at most 320 px on each side and under 200 KB |
| size_bytes | int | the media file's size |
| shown_name | str | the name to show (Telegram's), when the file's was shortened (tgvid.namelength); "" if not |

Version 2 added `shown_name`; a version 1 sidecar reads as one without it.

Older versions are upgraded on read (keys a version lacks get the defaults above); a newer version raises
SidecarError.NewerVersion naming the version, anything unreadable or a field of another type than above raises
SidecarError naming the field (an int is taken for a float, a bool is not taken for an int).
"""

from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path

import msgpack

from tgvid import durable, fields
from tgvid.errors import SidecarError

FORMAT_VERSION = 2
SUFFIX = ".meta.msgpack"


class MediaKind(StrEnum):
    VIDEO = "video"
    IMAGE = "image"
    DOCUMENT = "document"


@dataclass(frozen=True)
class Sidecar:
    kind: MediaKind
    size_bytes: int
    duration_seconds: float = 0.0
    width: int = 0
    height: int = 0
    has_audio: bool = False
    source_relpath: str = ""
    source_name: str = ""
    thumbnail_jpeg: bytes | None = None
    shown_name: str = ""

    def name_for(self, media: Path) -> str:
        """The name to show for `media`, this sidecar's file."""
        return self.shown_name or media.name


def path_for(media: Path) -> Path:
    """Where the sidecar of `media` lives: beside it, with `.meta.msgpack` appended."""
    return media.with_name(media.name + SUFFIX)


def write(path: Path, sidecar: Sidecar) -> None:
    """Write `sidecar` atomically to `path` (a sidecar path, see path_for)."""
    document = {"version": FORMAT_VERSION, **asdict(sidecar), "kind": str(sidecar.kind)}
    durable.atomic_write(path, msgpack.packb(document, use_bin_type=True))


def read(path: Path) -> Sidecar:
    """Read a sidecar. Raises SidecarError (unreadable, missing keys) or SidecarError.NewerVersion."""
    try:
        document = msgpack.unpackb(Path(path).read_bytes(), raw=False)
    except (OSError, ValueError, msgpack.UnpackException) as error:
        raise SidecarError(path, str(error)) from error
    if not isinstance(document, dict):
        raise SidecarError(path, "not a msgpack map")
    version = document.pop("version", None)
    if not isinstance(version, int) or version < 1:
        raise SidecarError(path, f"no valid version field (found {version!r})")
    if version > FORMAT_VERSION:
        raise SidecarError.NewerVersion(path, found=version, supported=FORMAT_VERSION)
    declared = Sidecar.__dataclass_fields__
    known = {name: document[name] for name in declared if name in document}
    for name in ("kind", "size_bytes"):
        if name not in known:
            raise SidecarError(path, f"missing field {name}")
    try:
        known["kind"] = MediaKind(known["kind"])
    except (ValueError, TypeError) as error:
        raise SidecarError(path, f"field kind is {known['kind']!r}, not one of {', '.join(MediaKind)}") from error
    for name, value in known.items():
        if not fields.fits(value, declared[name].type):
            expected = getattr(declared[name].type, "__name__", declared[name].type)
            raise SidecarError(path, f"field {name} is of type {type(value).__name__}, not {expected}")
    return Sidecar(**known)

