"""Handoff: a succeeded job's output moved into outbox/, its source put away in originals/.

A handoff writes the sidecar (tgvid.sidecar) next to the output's place in outbox/ (a name too long to leave room
for the sidecar is shortened, the name to show kept in the sidecar), then renames the output into place (the
pass-through source itself, moved not copied), then puts the source away in originals/ (or deletes it when
`keep_originals` is false) and removes the job folder. Before any of that it writes `work/<job>/handoff.msgpack`,
so that a crash part-way is finished on restart instead of converting again. Its format, version 1: a msgpack
map with `version`, `source_relpath`, `media` (the file being handed on, absolute), `target` (its place in outbox/,
absolute), `sidecar` (the sidecar's map) and
`source_fingerprint` (transcoder.checkpoint.fingerprint's hash of the source when the handoff began; missing in older
markers). A source that no longer matches it is a new file of the same name (a mere touch is not): finishing the
handoff leaves it for its own job.
"""

import logging
import shutil
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import msgpack

from tgvid import durable, namelength, sidecar
from tgvid.errors import CheckpointError
from tgvid.freename import free_name
from transcoder.checkpoint import fingerprint

log = logging.getLogger(__name__)

MARKER = "handoff.msgpack"
FORMAT_VERSION = 1


def outbox_target(root: Path, relpath: str, is_video: bool) -> tuple[Path, str]:
    """Videos arrive as NAME.mp4; images keep their name. The inbox folder is kept below outbox/. Returns the target
    and the name to show when the target's had to be shortened (tgvid.namelength), else ""."""
    target = Path(root) / "outbox" / relpath
    wanted = target.with_suffix(".mp4") if is_video else target
    shown = wanted.name if namelength.size_bytes(wanted.name) > namelength.PLACED_MAX_BYTES else ""
    return free_name(wanted, sidecar_too=True), shown


def hand_off(root: Path, relpath: str, media: Path, job_dir: Path, meta: sidecar.Sidecar,
             keep_originals: bool) -> Path:
    """Move `media` into outbox/ with its sidecar, put the source away, remove `job_dir`. Returns the target."""
    job_dir.mkdir(parents=True, exist_ok=True)
    target, shown_name = outbox_target(root, relpath, meta.kind == sidecar.MediaKind.VIDEO)
    meta = replace(meta, shown_name=shown_name)
    marker = {"version": FORMAT_VERSION, "source_relpath": relpath, "media": str(media), "target": str(target),
              "sidecar": asdict(meta) | {"kind": str(meta.kind)},
              "source_fingerprint": fingerprint(Path(root) / "inbox" / relpath)["fingerprint"]}
    durable.atomic_write(job_dir / MARKER, msgpack.packb(marker, use_bin_type=True))
    return _complete(Path(root), job_dir, _Handoff.of(marker), keep_originals)


def finish_interrupted(root: Path, job_dir: Path, keep_originals: bool) -> Path | None:
    """Complete a handoff a crash interrupted; None when `job_dir` holds none.

    A marker that cannot be read (damaged by hand or by the disk) is removed with a warning: the job then goes on
    from its checkpoint, which is safer than guessing where its output went. A marker of a newer format raises
    CheckpointError.NewerVersion and is left as it is, for the newer tgvid to finish."""
    path = job_dir / MARKER
    try:
        marker = msgpack.unpackb(path.read_bytes(), raw=False)
        if isinstance(marker, dict) and isinstance(marker.get("version"), int) and marker["version"] > FORMAT_VERSION:
            raise CheckpointError.NewerVersion(path, found=marker["version"], supported=FORMAT_VERSION)
        handoff = _Handoff.of(marker)
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError, AttributeError, msgpack.UnpackException) as error:
        log.warning("%s: unreadable handoff marker (%r); removed, the job goes on from its checkpoint", path, error)
        path.unlink()
        return None
    return _complete(Path(root), job_dir, handoff, keep_originals)


@dataclass(frozen=True)
class _Handoff:
    relpath: str
    media: Path
    target: Path
    meta: sidecar.Sidecar
    source_fingerprint: str | None  # of the source when the handoff began

    @classmethod
    def of(cls, marker: dict) -> "_Handoff":
        fields = dict(marker["sidecar"])
        meta = sidecar.Sidecar(**fields | {"kind": sidecar.MediaKind(fields["kind"])})
        return cls(str(marker["source_relpath"]), Path(marker["media"]), Path(marker["target"]), meta,
                   marker.get("source_fingerprint"))

    def is_its_source(self, path: Path) -> bool:
        return self.source_fingerprint is None or self.source_fingerprint == fingerprint(path)["fingerprint"]


def _complete(root: Path, job_dir: Path, handoff: _Handoff, keep_originals: bool) -> Path:
    source = root / "inbox" / handoff.relpath
    if handoff.media.exists():
        handoff.target.parent.mkdir(parents=True, exist_ok=True)
        meta = replace(handoff.meta, size_bytes=handoff.media.stat().st_size)
        sidecar.write(sidecar.path_for(handoff.target), meta)
        durable.atomic_rename(handoff.media, handoff.target)
    if source.exists() and source != handoff.media and not handoff.is_its_source(source):
        log.info("%s: a new file of this name arrived before the handoff finished; it is left for its own job",
                 handoff.relpath)
    elif source.exists() and source != handoff.media:
        if keep_originals:
            kept = free_name(root / "originals" / handoff.relpath)
            kept.parent.mkdir(parents=True, exist_ok=True)
            durable.atomic_rename(source, kept)
        else:
            source.unlink()
    shutil.rmtree(job_dir, ignore_errors=True)
    return handoff.target
