"""Notices: the short message that tells a person, in `telegram.notify_chat`, that files went to quarantine.

Both daemons quarantine files, but only the uploader talks to Telegram (the transcoder may run without a network),
so the notice is made from the folder they share: each new `NAME.reason.txt` in quarantine/ (tgvid.quarantine) is
one line of it, the file and its error. Lines are batched: a notice goes once no new reason file has come for
`uploader.notify_batch_seconds` (or the oldest has waited ten times that), so a burst of failures makes one
message. Which reason files were told is kept in `<root>/notified-until`, one line of text: the modification time,
in nanoseconds, of the newest reason file told; a reason file no newer is not told again, also after a restart.
Without that file (a first start), the reasons already in quarantine/ are taken as told.
A notice that cannot go (no network) is tried again a batch time later. A mark that cannot be written (a full
disk) is logged and kept in memory, never stopping the daemon; only a restart before the next write may tell those
reasons again.
"""

import logging
from dataclasses import dataclass
from pathlib import Path

from tgvid import durable
from tgvid.quarantine import REASON_SUFFIX

MARK_FILE = "notified-until"
LONGEST_WAIT_BATCHES = 10  # a trickle of failures still gets told after this many batch times
LISTED = 10  # a notice names this many files, then counts the rest
PREFIX = "tgvid: "

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reason:
    """One reason file: what its `file:` and `error:` lines say, and when it was written."""

    shown_path: str
    error: str
    mtime_ns: int
    seen_at: float  # Unix time the uploader first saw it


def is_due(reasons: list[Reason], now: float, batch_seconds: float) -> bool:
    """Whether the notice of `reasons` goes now: none new for `batch_seconds`, or the oldest waited long enough."""
    if not reasons:
        return False
    newest, oldest = max(r.seen_at for r in reasons), min(r.seen_at for r in reasons)
    return now - newest >= batch_seconds or now - oldest >= LONGEST_WAIT_BATCHES * batch_seconds


def quarantine_text(reasons: list[Reason]) -> str:
    """The notice for `reasons`, oldest first: one line a file, at most LISTED of them."""
    ordered = sorted(reasons, key=lambda r: r.mtime_ns)
    lines = [f"{PREFIX}{len(ordered)} file(s) went to quarantine/ (see NAME.reason.txt beside each):"]
    lines += [f"- {r.shown_path}: {r.error}" for r in ordered[:LISTED]]
    if len(ordered) > LISTED:
        lines.append(f"… and {len(ordered) - LISTED} more")
    return "\n".join(lines)


def stopped_text(message: str, root: Path) -> str:
    return (f"{PREFIX}the uploader stopped: {message}. Every file stays in {Path(root) / 'outbox'} until the setup is "
            "fixed and the uploader started again (`tgvid check` tells what is wrong).")


def read_reason(path: Path, seen_at: float) -> Reason:
    text = path.read_text(errors="replace")
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line and not line.startswith(" "))
    return Reason(fields.get("file", path.name).strip(), fields.get("error", "").strip(), path.stat().st_mtime_ns,
                  seen_at)


class Notices:
    """The reason files in `<root>/quarantine/` not told yet, and the mark of those told."""

    def __init__(self, root: Path, batch_seconds: float):
        self.quarantine = Path(root) / "quarantine"
        self.mark_path = Path(root) / MARK_FILE
        self.batch_seconds = batch_seconds
        self.pending: dict[Path, Reason] = {}
        try:
            self.told_until_ns = int(self.mark_path.read_text())
        except (FileNotFoundError, ValueError):
            self.told_until_ns = max((path.stat().st_mtime_ns for path in self._reason_files()), default=0)
            self._save_mark()

    def scan(self, now: float) -> None:
        """Take note of the reason files written since the last notice."""
        for path in self._reason_files():
            if path in self.pending:
                continue
            try:
                if path.stat().st_mtime_ns > self.told_until_ns:
                    self.pending[path] = read_reason(path, now)
            except (FileNotFoundError, ValueError):
                continue  # moved back by a person, or torn by hand: nothing to tell

    def due(self, now: float) -> str | None:
        """The notice to send now, or None."""
        reasons = list(self.pending.values())
        return quarantine_text(reasons) if is_due(reasons, now, self.batch_seconds) else None

    def told(self) -> None:
        """The pending reasons were told: never again."""
        self.told_until_ns = max([self.told_until_ns, *(r.mtime_ns for r in self.pending.values())])
        self.pending.clear()
        self._save_mark()

    def postpone(self, now: float) -> None:
        """The notice could not go: try again a batch time from now."""
        self.pending = {path: Reason(r.shown_path, r.error, r.mtime_ns, now) for path, r in self.pending.items()}

    def _reason_files(self) -> list[Path]:
        return list(self.quarantine.rglob(f"*{REASON_SUFFIX}"))

    def _save_mark(self) -> None:
        try:
            self.mark_path.parent.mkdir(parents=True, exist_ok=True)
            durable.atomic_write(self.mark_path, str(self.told_until_ns).encode())
        except OSError as error:
            log.warning("uploader: %s could not be saved (%s); the reasons told are remembered until a restart",
                        self.mark_path, error.strerror or error)
