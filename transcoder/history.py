"""The transcoder's history, `work/history.msgpack`: the counters `tgvid status` shows, with a snapshot of the queue.

Written atomically by the daemon whenever they change; `tgvid status` reads it with the checkpoints, so the
status works whether the daemon runs or not. An unreadable file starts the counters afresh (they are
statistics, not state: nothing is redone or lost because of them).

Format, version 1: a msgpack map with `version` (1), `updated_at` (Unix time), the counters `completed`,
`failed` (attempts that failed), `quarantined`, `deferred` (transcodes that yielded to cheaper work),
`recoveries` (jobs resumed after a restart), `recoveries_succeeded`, `sources_gone` (sources deleted or moved
away before their job ended; 0 when missing), `conversion_seconds` (wall time of the completed conversions,
summed), and `queue`: a list of maps `relpath`, `kind` (the verdict), `arrived_at`,
`not_before` (a failed job's next try), with the running job's map also holding `job_id` and `started_at`
under `running` (nil when idle).
"""

import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import msgpack

from tgvid import durable, fields
from transcoder.verdict import Kind

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
FILE_NAME = "history.msgpack"


@dataclass
class History:
    completed: int = 0
    failed: int = 0
    quarantined: int = 0
    deferred: int = 0
    recoveries: int = 0
    recoveries_succeeded: int = 0
    sources_gone: int = 0
    conversion_seconds: float = 0.0
    queue: list = field(default_factory=list)
    running: dict | None = None
    updated_at: float = 0.0

    def success_rate(self) -> float | None:
        finished = self.completed + self.quarantined
        return self.completed / finished if finished else None

    def average_conversion_seconds(self) -> float | None:
        return self.conversion_seconds / self.completed if self.completed else None


QUEUED_FIELDS = {"relpath": str, "kind": str, "arrived_at": float, "not_before": float}
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
        found = _problem(data)
    if found:
        log.warning("%s: %s; the counters start afresh", path, found)
        return History()
    del data["version"]
    return History(**data)


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
