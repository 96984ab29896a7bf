"""The transcoder's history, `work/history.msgpack`: the counters `tgvid status` shows, with a snapshot of the queue.

Written atomically by the daemon whenever they change; `tgvid status` reads it with the checkpoints, so the
status works whether the daemon runs or not. An unreadable file starts the counters afresh (they are
statistics, not state: nothing is redone or lost because of them).

Format, version 2: a msgpack map with `version` (2), `updated_at` (Unix time), the counters `completed`,
`failed` (attempts that failed), `quarantined`, `rejected` (of the quarantined, inputs that can never work:
not counted against the success rate), `deferred` (transcodes that yielded to cheaper work),
`recoveries` (jobs resumed after a restart), `recoveries_succeeded`, `sources_gone` (sources deleted or moved
away before their job ended), `conversion_seconds` (wall time of the completed conversions, every stretch
of each summed), `media_seconds` (the completed conversions' media duration), `jobs`: a map from each
unfinished file's inbox path to a map `media_seconds` (its duration, 0 for pictures and archives),
`ran_seconds` (wall time of its stretches so far), `failed_attempts` and `deferrals` (int), and `queue`: a list
of maps `relpath`, `kind` (the verdict), `arrived_at`, `not_before` (a failed job's next try), with the
running job's map also holding `job_id` and `started_at` under `running` (nil when idle).

Version history: 1 had no `rejected`, `media_seconds` nor `jobs` (read as 0 and empty).
"""

import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import msgpack

from tgvid import durable, fields
from transcoder.verdict import Kind

log = logging.getLogger(__name__)

FORMAT_VERSION = 2
FILE_NAME = "history.msgpack"


@dataclass
class History:
    completed: int = 0
    failed: int = 0
    quarantined: int = 0
    rejected: int = 0
    deferred: int = 0
    recoveries: int = 0
    recoveries_succeeded: int = 0
    sources_gone: int = 0
    conversion_seconds: float = 0.0
    media_seconds: float = 0.0
    jobs: dict = field(default_factory=dict)
    queue: list = field(default_factory=list)
    running: dict | None = None
    updated_at: float = 0.0

    def success_rate(self) -> float | None:
        """Completed conversions among those that ended; inputs that can never work (rejected) are no failure."""
        finished = self.completed + self.quarantined - self.rejected
        return self.completed / finished if finished else None

    def average_conversion_seconds(self) -> float | None:
        return self.conversion_seconds / self.completed if self.completed else None

    def speed_x_realtime(self) -> float | None:
        """Media seconds converted per second of work, over every completed conversion."""
        return self.media_seconds / self.conversion_seconds if self.media_seconds and self.conversion_seconds else None

    def job(self, relpath: str) -> dict:
        """The tally of one unfinished file (see the format), made when missing."""
        return self.jobs.setdefault(relpath, {"media_seconds": 0.0, "ran_seconds": 0.0, "failed_attempts": 0,
                                              "deferrals": 0})


QUEUED_FIELDS = {"relpath": str, "kind": str, "arrived_at": float, "not_before": float}
JOB_FIELDS = {"media_seconds": float, "ran_seconds": float, "failed_attempts": int, "deferrals": int}
RUNNING_FIELDS = {"relpath": str, "kind": str, "job_id": str, "started_at": float}


def load(work: Path) -> History:
    """The counters in `work`, or fresh ones (logged) when the file is missing, unreadable or not of this format."""
    path = Path(work) / FILE_NAME
    try:
        data = msgpack.unpackb(path.read_bytes(), raw=False)
    except FileNotFoundError:
        return History()
    except (OSError, ValueError, msgpack.UnpackException) as error:
        found = f"not a readable msgpack file ({error})"
    else:
        data = _upgrade(data) if isinstance(data, dict) else data
        found = _problem(data)
    if found:
        log.warning("%s: %s; the counters start afresh", path, found)
        return History()
    del data["version"]
    return History(**data)


def _upgrade(data: dict) -> dict:
    """Bring an older format up to FORMAT_VERSION (see the module docstring's version history)."""
    if data.get("version") == 1:
        data = data | {"version": 2, "rejected": 0, "media_seconds": 0.0, "jobs": {}}
    return data


def _problem(data) -> str | None:
    """What makes `data` not a history of this format, or None."""
    if not isinstance(data, dict):
        return f"not a map (a value of type {type(data).__name__})"
    if data.get("version") != FORMAT_VERSION:
        return f"format version {data.get('version')!r}, this one reads {FORMAT_VERSION}"
    declared = {name: spec.type for name, spec in History.__dataclass_fields__.items()}
    found = fields.problem(data, declared | {"version": int}, required=())
    if found:
        return found
    for relpath, tally in data.get("jobs", {}).items():
        found = fields.problem(tally, JOB_FIELDS, where=f"jobs: {relpath!r}")
        if found:
            return found
    items = [(item, QUEUED_FIELDS, "queue") for item in data.get("queue", [])]
    if data.get("running") is not None:
        items.append((data["running"], RUNNING_FIELDS, "running"))
    for item, types_by_key, where in items:
        found = fields.problem(item, types_by_key, where=where)
        if found:
            return found
        if item["kind"] not in set(Kind):
            return f"{where}: kind {item['kind']!r} is not a verdict"
    return None


def save(work: Path, history: History) -> None:
    history.updated_at = time.time()
    document = {"version": FORMAT_VERSION, **asdict(history)}
    durable.atomic_write(Path(work) / FILE_NAME, msgpack.packb(document, use_bin_type=True))
