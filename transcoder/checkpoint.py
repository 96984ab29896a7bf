"""The job checkpoint: the one on-disk record of a job's state, its format described here only.

A job folder `work/<job-id>/` holds `checkpoint.msgpack` and the unit files it names. The checkpoint is
rewritten atomically (tgvid.durable) after every state change. A unit (segment, audio, output) counts as
done only when its file exists with the recorded size and SHA-256; any other file in the folder (but the
tone-mapping table, `tonemap-*.cube`) is scratch.

Format, version 4: a msgpack map with these keys (times in seconds unless the name says otherwise).

- `version` (int): the format version, 4.
- `job_id` (str): the job folder's name.
- `created_at`, `updated_at` (float): Unix time of creation and of the last write.
- `source` (map): `path` (str; a name whose bytes are not UTF-8 is kept as those bytes), `size_bytes` (int),
  `mtime_ns` (int), `fingerprint` (str: SHA-256 of the size, the first and the last MiB).
- `settings` (map): what shapes the output: `segment_seconds`, `crf`, `preset`, `max_height`, `salvage`.
- `verdict` (map): `kind` (pass, remux, audio, transcode, image, reject), `reasons` and `warnings` (lists of
  str), `audio_index` (the source audio stream kept, or nil), `audio_copy` (bool: copied, not re-encoded).
- `state` (str, JobState): planned, encoding, joining, verifying, done.
- `duration_seconds` (float): the source's shown duration, for progress, speed and ETA.
- `time_base` ([int, int]): numerator and denominator of the segments' `*_pts` values (the source video's).
- `segments` (list of maps, below): empty for remux and audio jobs.
- `encoding_wall_seconds` (float): wall time the job has spent encoding its segments, its runs summed: each run
  counts from the start of its segment pool to its last segment checkpointed, the audio encoded meanwhile included
  (a stop or a crash loses the time after it, as it loses the segments in flight). The job's speed is the done
  segments' media over it. Segments run side by side, so it is less than the sum of their `encode_seconds`.
- `audio` (map or nil): the audio unit: `state`, `file`, `size_bytes`, `sha256`, `encode_seconds`,
  `attempts`, `last_error`; nil when the audio is copied or absent.
- `output` (map or nil): the joined, verified file: `file`, `size_bytes`, `sha256`.
- `attempts` (int): how many times the job has been started; `last_error` (str): "" when none.

A segment map: `index` (int), `start_pts`, `end_pts` (int, end exclusive; nil for "to the end"),
`decode_from_pts` (the keyframe decoding starts at), `start_seconds`, `end_seconds` (for people),
`state` (UnitState: pending, encoding, done), `file`, `size_bytes`, `sha256`, `planned_frames` (the source packets in
its range), `frames` (frames encoded), `encode_seconds` (wall time the worker spent, its decode of the segment
included), `encoded_on` (where: "local pid 1234", or the Dask worker's address such as "tcp://10.0.0.7:40123";
"" until done; "unknown" when done under format 1 or 2, which did not record it), `attempts`, `last_error`.
A segment in which no source frame falls (a gap in a variable-frame-rate file) is done with `frames` 0 and no
`file`.

A unit is `encoding` while a job works on it (segments: one per worker of the job's segment pool), so that a person
sees what is in flight (`tgvid inspect`, `tgvid status`); the audio unit likewise. Left so by a crash or a stop, it
counts as not done and is redone.

Version history: 1 had no `encoding` state; 1 and 2 had no `encoded_on` (a done segment reads as "unknown", the
others as ""), and their `encode_seconds` did not include a decode of the segment; 1 to 3 had no
`encoding_wall_seconds` (read as the sum of the done segments' `encode_seconds`: right for 1 and 2, which encoded
one segment at a time, up to the number of workers times too long for 3, whose workers ran side by side; a speed
shown too low rather than too high, until the segments done after the upgrade outweigh the others). Nothing
else differs.
Older versions are upgraded on read; a newer version raises CheckpointError.NewerVersion naming the version.
A checkpoint that is not msgpack, or whose keys or value types differ from the above, raises CheckpointError
naming the field. Such a damaged checkpoint is set aside (`set_aside`: renamed to `checkpoint.damaged.msgpack`
in its job folder, where a person can look at it until the job's folder goes) and the job starts afresh.
"""

import hashlib
import json
import time
from dataclasses import MISSING, asdict, dataclass, field, fields
from enum import StrEnum
from pathlib import Path

import msgpack

from tgvid import durable
from tgvid import fields as field_checks
from tgvid.errors import CheckpointError
from transcoder.verdict import Kind, Verdict

FORMAT_VERSION = 4
FILE_NAME = "checkpoint.msgpack"
FINGERPRINT_EDGE_BYTES = 1 << 20
SET_ASIDE_NAME = "checkpoint.damaged.msgpack"
PLACE_UNKNOWN = "unknown"  # a segment's `encoded_on` when an older format did not record it
SOURCE_FIELDS = {"path": str, "size_bytes": int, "mtime_ns": int, "fingerprint": str}
VERDICT_FIELDS = {"kind": str, "reasons": list, "warnings": list, "audio_index": int | None, "audio_copy": bool}
VERDICT_KINDS = ("pass", "remux", "audio", "transcode", "image", "reject")


class JobState(StrEnum):
    PLANNED = "planned"
    ENCODING = "encoding"
    JOINING = "joining"
    VERIFYING = "verifying"
    DONE = "done"


class UnitState(StrEnum):
    PENDING = "pending"
    ENCODING = "encoding"  # in flight; a crash or stop leaves it to be redone
    DONE = "done"


@dataclass
class Unit:
    """A piece of work whose result is one file: the audio track or the joined output."""

    state: str = UnitState.PENDING
    file: str = ""
    size_bytes: int = 0
    sha256: str = ""
    encode_seconds: float = 0.0
    attempts: int = 0
    last_error: str = ""


@dataclass
class Segment(Unit):
    index: int = 0
    start_pts: int = 0
    end_pts: int | None = None
    decode_from_pts: int = 0
    start_seconds: float = 0.0
    end_seconds: float | None = None
    planned_frames: int = 0
    frames: int = 0
    encoded_on: str = ""


@dataclass
class Checkpoint:
    job_id: str
    source: dict
    settings: dict
    verdict: dict
    state: str = JobState.PLANNED
    duration_seconds: float = 0.0
    time_base: tuple[int, int] = (1, 1)
    segments: list[Segment] = field(default_factory=list)
    encoding_wall_seconds: float = 0.0
    audio: Unit | None = None
    output: Unit | None = None
    attempts: int = 0
    last_error: str = ""
    created_at: float = field(default_factory=time.time)
    updated_at: float = 0.0
    version: int = FORMAT_VERSION

    def segments_done(self) -> int:
        return sum(1 for s in self.segments if s.state == UnitState.DONE)

    def media_done_seconds(self) -> float:
        """The source's seconds in the segments done."""
        return sum((s.end_seconds if s.end_seconds is not None else self.duration_seconds) - s.start_seconds
                   for s in self.segments if s.state == UnitState.DONE)

    def speed_x_realtime(self) -> float | None:
        """Media done over the job's wall time encoding (not its segments' `encode_seconds`: those ran side by side,
        their sum is the workers'); None before a segment is done."""
        return self.media_done_seconds() / self.encoding_wall_seconds if self.encoding_wall_seconds else None

    def remaining_media_seconds(self) -> float:
        """The source's seconds still to encode (0 for a job without segments: remux, audio)."""
        return max(0.0, self.duration_seconds - self.media_done_seconds()) if self.segments else 0.0

    def eta_seconds(self) -> float | None:
        """The time the segments still to do take at `speed_x_realtime`; None while it is not known."""
        speed = self.speed_x_realtime()
        return self.remaining_media_seconds() / speed if speed else None

    def segments_to_do_text(self) -> str:
        """The segments still to encode, for a person: "8/30 segments done; to do: 3, 6, 9-30" (numbered from 1).
        Only what the checkpoint records: a done segment whose file turns out damaged is found when it is reached."""
        to_do = [s.index + 1 for s in self.segments if s.state != UnitState.DONE]
        runs: list[list[int]] = []
        for number in to_do:
            if runs and number == runs[-1][-1] + 1:
                runs[-1].append(number)
            else:
                runs.append([number])
        shown = ", ".join(str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}" for run in runs)
        return f"{self.segments_done()}/{len(self.segments)} segments done" + (f"; to do: {shown}" if shown else "")

    def to_dict(self) -> dict:
        data = asdict(self)
        data["time_base"] = list(self.time_base)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "Checkpoint":
        data = dict(data)
        data["segments"] = [Segment(**s) for s in data.get("segments", [])]
        data["audio"] = Unit(**data["audio"]) if data.get("audio") else None
        data["output"] = Unit(**data["output"]) if data.get("output") else None
        data["time_base"] = tuple(data["time_base"])
        return cls(**data)


def fingerprint(path: Path) -> dict:
    """The `source` map for `path`: size, mtime and a hash of the size, head and tail."""
    stat = path.stat()
    digest = hashlib.sha256(str(stat.st_size).encode())
    with open(path, "rb") as handle:
        digest.update(handle.read(FINGERPRINT_EDGE_BYTES))
        handle.seek(max(0, stat.st_size - FINGERPRINT_EDGE_BYTES))
        digest.update(handle.read(FINGERPRINT_EDGE_BYTES))
    return {"path": str(path), "size_bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns,
            "fingerprint": digest.hexdigest()}


def same_source(recorded: dict, now: dict) -> bool:
    """Whether two fingerprints are of the same file: a touch or a change in the middle counts as a new file."""
    return all(recorded[key] == now[key] for key in ("size_bytes", "mtime_ns", "fingerprint"))


def verdict_map(verdict: Verdict) -> dict:
    """The `verdict` map of a checkpoint."""
    return {"kind": verdict.kind.value, "reasons": list(verdict.reasons), "warnings": list(verdict.warnings),
            "audio_index": verdict.audio_index, "audio_copy": verdict.audio_copy}


def verdict_of(stored: dict) -> Verdict:
    """The Verdict a checkpoint's `verdict` map records."""
    return Verdict(Kind(stored["kind"]), tuple(stored["reasons"]), tuple(stored["warnings"]), stored["audio_index"],
                   stored["audio_copy"])


def path_in(job_dir: Path) -> Path:
    return Path(job_dir) / FILE_NAME


def save(job_dir: Path, checkpoint: Checkpoint) -> None:
    """Write the checkpoint atomically; stamps `updated_at`."""
    checkpoint.updated_at = time.time()
    durable.atomic_write(path_in(job_dir), msgpack.packb(checkpoint.to_dict(), use_bin_type=True,
                                                                 unicode_errors="surrogateescape"))


def _upgrade(data: dict, path: Path) -> dict:
    """Bring an older format up to FORMAT_VERSION (see the module docstring's version history)."""
    version = data.get("version")
    if not isinstance(version, int):
        raise CheckpointError(path, "no version field")
    if version > FORMAT_VERSION:
        raise CheckpointError.NewerVersion(path, found=version, supported=FORMAT_VERSION)
    if version < 3 and isinstance(data.get("segments"), list):  # 1 and 2 did not record where a segment was encoded
        data = data | {"segments": [_with_place(segment) for segment in data["segments"]]}
    if version < 4:  # 1 to 3 did not record the job's wall time
        data = data | {"encoding_wall_seconds": _summed_encode_seconds(data.get("segments"))}
    return data | {"version": FORMAT_VERSION}


def _with_place(segment):
    """A segment map of format 1 or 2 with the `encoded_on` of format 3 (anything else is left for _problem)."""
    if not isinstance(segment, dict) or "encoded_on" in segment:
        return segment
    return segment | {"encoded_on": PLACE_UNKNOWN if segment.get("state") == UnitState.DONE else ""}


def _summed_encode_seconds(segments) -> float:
    """The `encoding_wall_seconds` of a format 1 to 3 checkpoint: its done segments' `encode_seconds`, summed (values
    that are not numbers are left for _problem)."""
    if not isinstance(segments, list):
        return 0.0
    return float(sum(segment["encode_seconds"] for segment in segments
                     if isinstance(segment, dict) and segment.get("state") == UnitState.DONE
                     and field_checks.fits(segment.get("encode_seconds"), float)))


def _declared(cls) -> tuple[dict, set]:
    """A dataclass's fields as (name → type, the names without a default)."""
    declared = fields(cls)
    required = {f.name for f in declared if f.default is MISSING and f.default_factory is MISSING}
    return {f.name: f.type for f in declared}, required


def _problem(data: dict) -> str | None:
    """What makes `data` (an upgraded checkpoint map) not a checkpoint of this format, or None."""
    types_by_key, required = _declared(Checkpoint)
    types_by_key |= {"source": dict, "settings": dict, "verdict": dict, "segments": list, "audio": dict | None,
                     "output": dict | None, "time_base": list}
    found = field_checks.problem(data, types_by_key, required)
    found = found or field_checks.problem(data["source"], SOURCE_FIELDS, where="source")
    found = found or field_checks.problem(data["verdict"], VERDICT_FIELDS, where="verdict")
    if found:
        return found
    if data["verdict"]["kind"] not in VERDICT_KINDS:
        return f"verdict: kind {data['verdict']['kind']!r} is not one of {', '.join(VERDICT_KINDS)}"
    if not all(isinstance(text, str) for text in [*data["verdict"]["reasons"], *data["verdict"]["warnings"]]):
        return "verdict: a reason or warning that is not text"
    if data.get("state", JobState.PLANNED) not in set(JobState):
        return f"state {data['state']!r} is not one of {', '.join(JobState)}"
    time_base = data["time_base"]
    if len(time_base) != 2 or not all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in time_base):
        return f"time_base {time_base!r} is not two positive integers"
    units = [(f"segment {number}", Segment, unit) for number, unit in enumerate(data.get("segments", []))]
    units += [(name, Unit, data.get(name)) for name in ("audio", "output") if data.get(name) is not None]
    for where, cls, unit in units:
        unit_types, unit_required = _declared(cls)
        found = field_checks.problem(unit, unit_types, unit_required, where=where)
        if found:
            return found
        if unit.get("state", UnitState.PENDING) not in set(UnitState):
            return f"{where}: state {unit['state']!r} is not one of {', '.join(UnitState)}"
    return None


def load(job_dir_or_file: Path) -> Checkpoint:
    """Read a checkpoint from a job folder or the file itself. Raises CheckpointError (or its NewerVersion)."""
    path = Path(job_dir_or_file)
    if path.is_dir():
        path = path_in(path)
    try:
        data = msgpack.unpackb(path.read_bytes(), raw=False, unicode_errors="surrogateescape")
    except FileNotFoundError as error:
        raise CheckpointError(path, "no checkpoint here (is this a job folder under work/?)") from error
    except (OSError, ValueError, msgpack.UnpackException) as error:
        raise CheckpointError(path, f"not a readable msgpack file ({error})") from error
    if not isinstance(data, dict):
        raise CheckpointError(path, "not a checkpoint map")
    data = _upgrade(data, path)
    found = _problem(data)
    if found:
        raise CheckpointError(path, found)
    return Checkpoint.from_dict(data)


def set_aside(job_dir: Path) -> Path:
    """Rename a damaged checkpoint out of the way (replacing one set aside before), so the job starts afresh
    without reading it again; returns its new path. See the module docstring."""
    target = Path(job_dir) / SET_ASIDE_NAME
    durable.atomic_rename(path_in(job_dir), target)
    return target


def phase(checkpoint: Checkpoint) -> str:
    """What the job was doing when the checkpoint was last written, for a person: "encoding segment 3/12",
    "encoding segments 3, 4 of 12" (workers side by side), "audio", "encoding segment 12/12 and the audio",
    "joining", "verifying", "handing off" (done: the daemon moves it on), "planned"."""
    if checkpoint.state == JobState.DONE:
        return "handing off"
    if checkpoint.state != JobState.ENCODING:
        return str(checkpoint.state)
    audio_now = checkpoint.audio is not None and checkpoint.audio.state == UnitState.ENCODING
    in_flight = [s for s in checkpoint.segments if s.state == UnitState.ENCODING]
    total = len(checkpoint.segments)
    if len(in_flight) > 1:  # the pool's workers side by side
        doing = f"encoding segments {', '.join(str(s.index + 1) for s in in_flight)} of {total}"
    else:
        next_up = in_flight or [s for s in checkpoint.segments if s.state != UnitState.DONE]
        doing = f"encoding segment {next_up[0].index + 1}/{total}" if next_up else ""
    if in_flight and audio_now:  # the audio is encoded while the last segments are
        return f"{doing} and the audio"
    if audio_now:
        return "audio"
    if doing:
        return doing
    return "audio" if checkpoint.audio is not None and checkpoint.audio.state != UnitState.DONE else "joining"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def record_file(unit: Unit, path: Path) -> None:
    """Mark `unit` done with `path`'s name, size and checksum (after the file is fsync'ed)."""
    durable.fsync_file(path)
    unit.file = Path(path).name
    unit.size_bytes = Path(path).stat().st_size
    unit.sha256 = sha256_of(path)
    unit.state = UnitState.DONE


def unit_is_intact(job_dir: Path, unit: Unit) -> bool:
    """True when the unit is done and its file still has the recorded size and checksum."""
    if unit.state == UnitState.DONE and isinstance(unit, Segment) and not unit.frames and not unit.file:
        return True  # an empty segment: done, with nothing on disk
    if unit.state != UnitState.DONE or not unit.file:
        return False
    path = Path(job_dir) / unit.file
    try:
        if path.stat().st_size != unit.size_bytes:
            return False
    except FileNotFoundError:
        return False
    return sha256_of(path) == unit.sha256


def describe(path: Path, as_json: bool = False) -> str:
    """A checkpoint as JSON or as text a person reads (`tgvid inspect`)."""
    checkpoint = load(path)
    if as_json:
        return json.dumps(checkpoint.to_dict(), indent=2)
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(checkpoint.updated_at))
    verdict = checkpoint.verdict
    lines = [
        f"job {checkpoint.job_id}  (checkpoint format {checkpoint.version}, updated {when})",
        f"source   {checkpoint.source['path']}  ({checkpoint.source['size_bytes']} bytes)",
        f"verdict  {verdict['kind']}: {'; '.join(verdict['reasons']) or '-'}",
    ]
    lines += [f"warning  {w}" for w in verdict.get("warnings", [])]
    settings = ", ".join(f"{k}={v}" for k, v in checkpoint.settings.items())
    lines += [f"settings {settings}", f"state    {checkpoint.state}  (attempt {checkpoint.attempts})"]
    if checkpoint.last_error:
        lines.append(f"error    {checkpoint.last_error}")
    if checkpoint.segments:
        lines.append(f"segments {checkpoint.segments_done()}/{len(checkpoint.segments)} done "
                     f"of {checkpoint.duration_seconds:.2f} s; {checkpoint.encoding_wall_seconds:.1f} s of wall time "
                     "encoding them")
        for s in checkpoint.segments:
            end = f"{'end':>8}" if s.end_seconds is None else f"{s.end_seconds:8.3f}"
            detail = f"{s.frames} frames, {s.size_bytes} bytes, {s.encode_seconds:.1f} s" if s.state == "done" else ""
            detail += f" on {s.encoded_on}" if s.state == "done" and s.encoded_on else ""
            error = f"  last error: {s.last_error}" if s.last_error else ""
            lines.append(f"  #{s.index:<3} {s.start_seconds:8.3f} → {end}  {s.state:<8} {detail}{error}")
    if checkpoint.audio is not None:
        lines.append(f"audio    re-encoded to AAC: {_unit_text(checkpoint.audio)}")
    elif verdict.get("audio_index") is not None:
        lines.append(f"audio    copied from source stream #{verdict['audio_index']}")
    if checkpoint.output is not None:
        lines.append(f"output   joined and verified: {_unit_text(checkpoint.output)}")
    return "\n".join(lines)


def _unit_text(unit: Unit) -> str:
    if unit.state != UnitState.DONE:
        return f"{unit.state}" + (f" (last error: {unit.last_error})" if unit.last_error else "")
    return f"{unit.file}, {unit.size_bytes} bytes"
