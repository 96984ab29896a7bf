"""The job queue's order, as pure functions: which class a verdict belongs to, which job runs next, when a
running transcode yields, how much free space a job needs before it starts.

Cheap work first: images, then pass/remux/audio jobs, then transcodes; oldest first within a class.
"""

from dataclasses import dataclass

from tgvid.units import MIB
from transcoder.verdict import Kind

IMAGES, CHEAP, TRANSCODES = 0, 1, 2
CLASS_NAMES = {IMAGES: "images", CHEAP: "pass/remux/audio", TRANSCODES: "transcodes"}
SPACE_MARGIN_BYTES = 64 * MIB
SPACE_PER_SOURCE_BYTE = 2  # segments, audio and the joined file together stay under about twice the source


def work_class(kind: Kind) -> int:
    if kind == Kind.IMAGE:
        return IMAGES
    if kind == Kind.TRANSCODE:
        return TRANSCODES
    return CHEAP


@dataclass(frozen=True)
class Waiting:
    relpath: str
    kind: Kind
    arrived_at: float  # when the file was first seen complete
    not_before: float = 0.0  # a failed job waits for its backoff to pass


def in_turn(waiting: list[Waiting], now: float) -> list[Waiting]:
    """The jobs ready to run, in the order they get their turn: the cheapest class first, oldest first within it,
    leaving out jobs still backing off. A job that cannot start yet (no disk space for it) gives its turn to the
    next, so work that fits goes ahead of work that waits for space."""
    ready = [w for w in waiting if w.not_before <= now]
    return sorted(ready, key=lambda w: (work_class(w.kind), w.arrived_at, w.relpath))


def next_job(waiting: list[Waiting], now: float) -> Waiting | None:
    """The first job in turn (see in_turn), or None."""
    return next(iter(in_turn(waiting, now)), None)


def should_yield(running: Kind, waiting: list[Waiting], now: float) -> bool:
    """A running job gives way (at its next segment boundary) to ready work of a cheaper class."""
    return any(work_class(w.kind) < work_class(running) and w.not_before <= now for w in waiting)


def space_needed_bytes(kind: Kind, source_bytes: int) -> int:
    """Free space a job needs in work/ before it starts: none for images and pass files, which are only moved, nor
    for archives, whose job checks against the unpacked size their index declares."""
    if kind in (Kind.IMAGE, Kind.PASS, Kind.ARCHIVE):
        return 0
    return source_bytes * SPACE_PER_SOURCE_BYTE + SPACE_MARGIN_BYTES

