"""The transcoder's history, `work/history.msgpack`: the counters `tgvid status` shows, with a snapshot of the queue.

Written atomically by the daemon whenever they change; `tgvid status` reads it with the checkpoints, so the
status works whether the daemon runs or not. An unreadable file starts the counters afresh (they are
statistics, not state: nothing is redone or lost because of them).

Format, version 1: a msgpack map with `version` (1), `updated_at` (Unix time), the counters `completed`,
`failed` (attempts that failed), `quarantined`, `deferred` (transcodes that yielded to cheaper work),
`recoveries` (jobs resumed after a restart), `recoveries_succeeded`, `conversion_seconds` (wall time of the
completed conversions, summed), and `queue`: a list of maps `relpath`, `kind` (the verdict), `arrived_at`,
`not_before` (a failed job's next try), with the running job's map also holding `job_id` and `started_at`
under `running` (nil when idle).
"""

import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import msgpack

from tgvid import durable

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
    conversion_seconds: float = 0.0
    queue: list = field(default_factory=list)
    running: dict | None = None
    updated_at: float = 0.0

    def success_rate(self) -> float | None:
        finished = self.completed + self.quarantined
        return self.completed / finished if finished else None

    def average_conversion_seconds(self) -> float | None:
        return self.conversion_seconds / self.completed if self.completed else None


def load(work: Path) -> History:
    path = Path(work) / FILE_NAME
    try:
        data = msgpack.unpackb(path.read_bytes(), raw=False)
        if data.pop("version", None) != FORMAT_VERSION:
            raise ValueError("unknown version")
        return History(**{k: v for k, v in data.items() if k in History.__dataclass_fields__})
    except FileNotFoundError:
        return History()
    except (OSError, ValueError, TypeError, msgpack.UnpackException) as error:
        log.warning("%s: unreadable (%s); the counters start afresh", path, error)
        return History()


def save(work: Path, history: History) -> None:
    history.updated_at = time.time()
    document = {"version": FORMAT_VERSION, **asdict(history)}
    durable.atomic_write(Path(work) / FILE_NAME, msgpack.packb(document, use_bin_type=True))
