"""The unpack job: an archive from the inbox unpacked entry by entry into a folder named after it, resumable from
its state file after every entry; and that state file, whose format is described here and nowhere else.

    list → hostility check → free space → entries → archives inside, one level deep → move into inbox/ → archive away

Entries are written only into the job folder, `work/<job-id>/tree/` (each through a temp name, fsync'ed, renamed,
then recorded). Once every entry is in, the files are renamed one by one into `inbox/<folder>/` beside the archive
(`trip/holiday.zip` → `trip/holiday/`, or `holiday (2)/` when that name is taken), where the daemon takes each like
any dropped file: its own verdict, and albums captioned with its folder. The archive then goes to originals/ (or is
deleted when `keep_originals` is false). It is put away once it is unpacked completely, not once each of its media
has reached outbox/: from then on each medium is an inbox file that is itself never lost, and tying the archive to
their fates would keep it in the inbox, to be unpacked again, across restarts.

Format of `work/<job-id>/unpack.msgpack`, version 1: a msgpack map with these keys.

- `version` (int): the format version, 1.
- `job_id` (str): the job folder's name.
- `created_at`, `updated_at` (float): Unix time of creation and of the last write.
- `archive` (map): `path` (str, absolute), `size_bytes`, `mtime_ns`, `fingerprint` (as in a transcode checkpoint's
  `source`); an archive that no longer matches is unpacked afresh.
- `format` (str): zip, tar, tar.gz, tar.bz2, tar.xz, tar.zst, 7z or rar.
- `state` (str, UnpackState): listing (reading the index; `entries` is empty and is read again on resume), then
  unpacking, then moving (into the inbox).
- `folder` (str): where the entries go, relative to inbox/; "" until moving starts.
- `entries` (list of maps, in archive order): `name` (the path as stored in its archive), `inside` ("" for an entry
  of the archive itself, else the `path` of the archive nested in it that holds it), `path` (where it lands,
  relative to `folder`; "" when left out), `size_bytes` (the unpacked size the index declares), `state`
  (EntryState: pending, done, left_out, or unpacked for a nested archive whose entries are all done and whose own
  file is removed), `reason` (why it is left out, else ""), `sha256` (of the written file, once done).

Older versions are upgraded on read; a newer version raises CheckpointError.NewerVersion naming the version.
"""

import errno
import hashlib
import json
import logging
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path

import msgpack

from tgvid import durable
from tgvid.errors import CheckpointError, NoSpace, Rejected
from tgvid.freename import free_name
from transcoder import archive_reader, checkpoint, heartbeat
from transcoder.archive import Limits, folder_name, format_of, hostility, plan
from transcoder.checkpoint import fingerprint
from transcoder.queue import SPACE_MARGIN_BYTES

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
FILE_NAME = "unpack.msgpack"
TREE = "tree"


class UnpackState(StrEnum):
    LISTING = "listing"
    UNPACKING = "unpacking"
    MOVING = "moving"


class EntryState(StrEnum):
    PENDING = "pending"
    DONE = "done"
    LEFT_OUT = "left_out"
    UNPACKED = "unpacked"


@dataclass
class EntryRecord:
    name: str
    path: str = ""
    inside: str = ""
    size_bytes: int = 0
    state: str = EntryState.PENDING
    reason: str = ""
    sha256: str = ""


@dataclass
class UnpackCheckpoint:
    job_id: str
    archive: dict
    format: str
    state: str = UnpackState.UNPACKING
    folder: str = ""
    entries: list[EntryRecord] = field(default_factory=list)
    created_at: float = field(default_factory=time.time)
    updated_at: float = 0.0
    version: int = FORMAT_VERSION

    def done(self) -> list[EntryRecord]:
        return [e for e in self.entries if e.state == EntryState.DONE]


@dataclass(frozen=True)
class UnpackSettings:
    limits: Limits
    keep_originals: bool

    @classmethod
    def from_config(cls, section) -> "UnpackSettings":
        return cls(Limits.from_config(section), section.keep_originals)


@dataclass(frozen=True)
class UnpackResult:
    folder: str  # relative to inbox/
    media: int  # files moved into it
    left_out: int


def path_in(job_dir: Path) -> Path:
    return Path(job_dir) / FILE_NAME


def save(job_dir: Path, state: UnpackCheckpoint) -> None:
    state.updated_at = time.time()
    durable.atomic_write(path_in(job_dir), msgpack.packb(asdict(state), use_bin_type=True,
                                                         unicode_errors="surrogateescape"))


def holds_one(path: Path) -> bool:
    """Whether `path` is an unpack job's folder or its state file (for `tgvid inspect`)."""
    return Path(path).name == FILE_NAME or path_in(path).exists()


def load(job_dir_or_file: Path) -> UnpackCheckpoint:
    """Read an unpack state from a job folder or the file itself. Raises CheckpointError (or its NewerVersion)."""
    path = Path(job_dir_or_file)
    if path.name != FILE_NAME:
        path = path_in(path)
    try:
        data = msgpack.unpackb(path.read_bytes(), raw=False, unicode_errors="surrogateescape")
    except FileNotFoundError as error:
        raise CheckpointError(path, "no unpack state here") from error
    except (OSError, ValueError, msgpack.UnpackException) as error:
        raise CheckpointError(path, f"not a readable msgpack file ({error})") from error
    if not isinstance(data, dict) or not isinstance(data.get("version"), int):
        raise CheckpointError(path, "no version field")
    if data["version"] > FORMAT_VERSION:
        raise CheckpointError.NewerVersion(path, found=data["version"], supported=FORMAT_VERSION)
    try:
        return UnpackCheckpoint(**data | {"entries": [EntryRecord(**e) for e in data["entries"]]})
    except (TypeError, KeyError) as error:
        raise CheckpointError(path, f"missing or unexpected field ({error})") from error


def describe(path: Path, as_json: bool = False) -> str:
    """An unpack state as JSON or as text a person reads (`tgvid inspect`)."""
    state = load(path)
    if as_json:
        return json.dumps(asdict(state), indent=2)
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(state.updated_at))
    kept = [e for e in state.entries if e.state != EntryState.LEFT_OUT]
    lines = [f"job {state.job_id}  (unpack format {state.version}, updated {when})",
             f"archive  {state.archive['path']}  ({state.format}, {state.archive['size_bytes']} bytes)",
             f"state    {state.state}" + (f" into inbox/{state.folder}" if state.folder else ""),
             f"entries  {len(state.done())}/{len(kept)} unpacked, {len(state.entries) - len(kept)} left out"]
    for entry in state.entries:
        where = entry.path or entry.reason
        inside = f"  (in {entry.inside})" if entry.inside else ""
        lines.append(f"  {entry.state:<9} {entry.name} → {where}{inside}")
    return "\n".join(lines)


def run_unpack(root: Path, relpath: str, job_dir: Path, settings: UnpackSettings, label: str) -> UnpackResult:
    """Unpack `inbox/relpath` into its folder in the inbox, resuming from `job_dir`. See the module docstring.

    Raises Rejected (hostile, damaged or unreadable archive: quarantine) or NoSpace (wait for space)."""
    state = unpack_into_job(Path(root), relpath, Path(job_dir), settings.limits, label)
    return _finish(Path(root), Path(job_dir), state, settings.keep_originals)


def unpack_into_job(root: Path, relpath: str, job_dir: Path, limits: Limits, label: str) -> UnpackCheckpoint:
    """Every step before the move into the inbox: the entries, nested archives included, are in `job_dir`'s tree
    and the returned state is `moving`, with its folder chosen."""
    source = root / "inbox" / relpath
    job_dir.mkdir(parents=True, exist_ok=True)
    heartbeat.watch(path_in(job_dir))
    try:
        state = _resume_or_start(source, job_dir, limits, label)
        if state.state == UnpackState.UNPACKING:
            _unpack(state, source, job_dir, "", label)
            for nested in [e for e in state.done() if not e.inside and format_of(e.path)]:
                _unpack_nested(state, source, job_dir, nested, limits, label)
            if not state.done():
                left_out = sum(1 for e in state.entries if e.state == EntryState.LEFT_OUT)
                raise Rejected(source, f"no video or picture in it ({left_out} entries left out, listed in the log)")
            folder = free_name(root / "inbox" / folder_name(relpath))
            state.folder, state.state = folder.relative_to(root / "inbox").as_posix(), UnpackState.MOVING
            save(job_dir, state)
        return state
    except OSError as error:
        if error.errno == errno.ENOSPC:
            raise NoSpace(source, f"the disk filled up while unpacking into {job_dir}; it resumes later") from error
        raise
    finally:
        heartbeat.watch(None)


def recover(root: Path, job_dir: Path, keep_originals: bool) -> str:
    """What a restart does with an unpack job folder: finish a move into the inbox that was under way, drop the
    folder of an archive that is gone, or keep it to resume. Returns what was done, for the log."""
    try:
        state = load(job_dir)
    except CheckpointError as error:
        shutil.rmtree(job_dir)
        return f"{error.message}; removed (its archive is unpacked afresh)"
    if state.state == UnpackState.MOVING:
        result = _finish(Path(root), job_dir, state, keep_originals)
        return f"finished moving {result.media} unpacked file(s) into inbox/{result.folder}"
    if not Path(state.archive["path"]).exists():
        shutil.rmtree(job_dir)
        return "its archive is gone; removed the job folder"
    done = len(state.done())
    return f"will resume unpacking {Path(state.archive['path']).name} after restart ({done} entries done)"


def _resume_or_start(source: Path, job_dir: Path, limits: Limits, label: str) -> UnpackCheckpoint:
    try:
        state = load(job_dir)
    except CheckpointError:
        state = None
    now = fingerprint(source)
    same = state is not None and all(state.archive.get(k) == now[k] for k in ("size_bytes", "mtime_ns", "fingerprint"))
    if same and state.state != UnpackState.LISTING:
        for entry in state.done():
            if not _is_intact(job_dir / TREE / entry.path, entry) and state.state == UnpackState.UNPACKING:
                entry.state = EntryState.PENDING  # lost or torn by a power cut: unpacked again
        log.info("%s: resuming: %d of %d entries already unpacked", label, len(state.done()),
                 sum(1 for e in state.entries if e.state != EntryState.LEFT_OUT))
        return state
    shutil.rmtree(job_dir / TREE, ignore_errors=True)
    fmt = format_of(source.name)
    state = UnpackCheckpoint(job_dir.name, now, fmt, UnpackState.LISTING)
    save(job_dir, state)  # there for the heartbeat to touch while a long index is read
    state.entries = _plan_entries(archive_reader.list_archive(source, fmt), source, limits, "", label)
    state.state = UnpackState.UNPACKING
    save(job_dir, state)
    return state


def _plan_entries(listing, source: Path, limits: Limits, inside: str, label: str) -> list[EntryRecord]:
    """The records of a listing's entries, after refusing a hostile one (naming the nested archive, if any)."""
    reason = hostility(listing, limits)
    if reason is not None:
        raise Rejected(source, f"archive {inside} inside it: {reason}" if inside else reason)
    records = []
    for planned in plan(listing, folder_name(inside) if inside else "", nested=bool(inside)):
        shown = f"{inside}: {planned.entry.name}" if inside else planned.entry.name
        if planned.left_out:
            log.info("%s: left out %s (%s)", label, shown, planned.left_out)
        records.append(EntryRecord(planned.entry.name, planned.path, inside, planned.entry.size_bytes,
                                   EntryState.LEFT_OUT if planned.left_out else EntryState.PENDING, planned.left_out))
    return records


def _unpack_nested(state: UnpackCheckpoint, source: Path, job_dir: Path, nested: EntryRecord, limits: Limits,
                   label: str) -> None:
    inner = job_dir / TREE / nested.path
    if not any(e.inside == nested.path for e in state.entries):
        try:
            listing = archive_reader.list_archive(inner, format_of(nested.path))
        except Rejected as error:
            raise Rejected(source, f"archive {nested.path} inside it: {error.reason}") from error
        state.entries += _plan_entries(listing, source, limits, nested.path, label)
        save(job_dir, state)
    _unpack(state, source, job_dir, nested.path, label)
    inner.unlink(missing_ok=True)  # a copy: the outer archive, kept in originals/, holds it
    nested.state = EntryState.UNPACKED
    save(job_dir, state)


def _unpack(state: UnpackCheckpoint, source: Path, job_dir: Path, inside: str, label: str) -> None:
    """Write the pending entries of the archive itself (`inside` "") or of the nested archive at `inside`."""
    pending = {e.name: e for e in state.entries if e.inside == inside and e.state == EntryState.PENDING}
    needed = sum(e.size_bytes for e in pending.values()) + SPACE_MARGIN_BYTES
    free = shutil.disk_usage(job_dir).free
    if free < needed:
        raise NoSpace(source, f"unpacking needs about {needed >> 20} MiB in {job_dir}, {free >> 20} MiB free; "
                      "it starts when there is room")
    archive = job_dir / TREE / inside if inside else source
    total = sum(1 for e in state.entries if e.state != EntryState.LEFT_OUT)

    def open_entry(name: str) -> archive_reader.EntrySink:
        record = pending.get(name)
        if record is None or record.state != EntryState.PENDING:
            return _Discard()  # a second entry of the same name, left out

        def recorded(sha256: str) -> None:
            record.sha256, record.state = sha256, EntryState.DONE
            save(job_dir, state)
            log.info("%s: unpacked %s (%d/%d)", label, record.path, len(state.done()), total)

        return _EntryFile(job_dir / TREE / record.path, record, source, recorded)

    try:
        archive_reader.extract(archive, state.format if not inside else format_of(inside), pending, open_entry)
    except Rejected as error:
        if not inside:
            raise
        raise Rejected(source, f"archive {inside} inside it: {error.reason}") from error
    missing = [e.name for e in pending.values() if e.state == EntryState.PENDING]
    if missing:
        raise Rejected(source, f"corrupt archive: {missing[0]!r} is in its index but not in its data")


def _finish(root: Path, job_dir: Path, state: UnpackCheckpoint, keep_originals: bool) -> UnpackResult:
    """Move the unpacked files into the inbox, put the archive away, remove the job folder. Each step is done once
    however often this runs: a file already moved is no longer in the tree."""
    folder = root / "inbox" / state.folder
    moved = state.done()
    for entry in moved:
        unpacked = job_dir / TREE / entry.path
        if unpacked.exists():
            target = folder / entry.path
            target.parent.mkdir(parents=True, exist_ok=True)
            durable.atomic_rename(unpacked, target)
    source = Path(state.archive["path"])
    if source.exists() and fingerprint(source)["fingerprint"] == state.archive["fingerprint"]:
        if keep_originals:
            kept = free_name(root / "originals" / source.relative_to(root / "inbox"))
            kept.parent.mkdir(parents=True, exist_ok=True)
            durable.atomic_rename(source, kept)
        else:
            source.unlink()
    shutil.rmtree(job_dir)
    return UnpackResult(state.folder, len(moved), sum(1 for e in state.entries if e.state == EntryState.LEFT_OUT))


def _is_intact(path: Path, entry: EntryRecord) -> bool:
    try:
        if path.stat().st_size != entry.size_bytes:
            return False
    except FileNotFoundError:
        return False
    return checkpoint.sha256_of(path) == entry.sha256


class _EntryFile:
    """One entry's bytes written to a temp name beside its place in the tree, hashed and counted as they come;
    renamed into place and recorded once complete. More bytes than the index declares is a lie: a bomb, or damage."""

    def __init__(self, target: Path, record: EntryRecord, source: Path, recorded):
        target.parent.mkdir(parents=True, exist_ok=True)
        self.target, self.record, self.source, self.recorded = target, record, source, recorded
        self.temp = durable.temp_path_for(target)
        self.handle = open(self.temp, "wb")  # noqa: SIM115 - closed in close(), or removed with the tree
        self.digest, self.written = hashlib.sha256(), 0

    def write(self, data: bytes) -> None:
        self.written += len(data)
        if self.written > self.record.size_bytes:
            raise Rejected(self.source, f"entry {self.record.name!r} unpacks to more than the "
                           f"{self.record.size_bytes} bytes its index declares (a bomb, or a damaged archive)")
        self.digest.update(data)
        self.handle.write(data)
        heartbeat.beat()

    def close(self) -> None:
        self.handle.flush()
        os.fsync(self.handle.fileno())
        self.handle.close()
        if self.written != self.record.size_bytes:
            raise Rejected(self.source, f"corrupt archive: entry {self.record.name!r} has {self.written} bytes, its "
                           f"index declares {self.record.size_bytes}")
        durable.atomic_rename(self.temp, self.target)
        self.recorded(self.digest.hexdigest())


class _Discard:
    def write(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        pass
