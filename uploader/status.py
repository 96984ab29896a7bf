"""The uploader's status: what `tgvid status` shows (pending, sending with percent, sent today, failed).

Read from folders and files only, never from the running daemon: the outbox, the ledger, and
`<root>/uploader.progress.msgpack`, which the daemon rewrites (atomically, at most once a second) while a
file goes up: a msgpack map with `file` (str), `done_bytes`, `total_bytes` (int), `bytes_per_second` (float, over
the bytes sent by this run: a resumed upload starts with the parts Telegram already has), `eta_seconds` (float)
and `updated_at` (Unix time). The same reporter writes the progress lines of the log.
"""

import logging
import time
from datetime import datetime
from pathlib import Path

import msgpack

from tgvid import arrivals, durable, instance
from tgvid.errors import LedgerError
from tgvid.shownname import shortened
from tgvid.units import MIB
from uploader.delivery import split_folder
from uploader.ledger import EntryState, Ledger, held_in_quarantine, key_for, path_in
from uploader.outbox import pending
from uploader.sender import Item

log = logging.getLogger(__name__)

PROGRESS_FILE = "uploader.progress.msgpack"
REPORT_INTERVAL_SECONDS = 1.0


class ProgressReporter:
    """Called by a sender as bytes go up; logs and records percent and speed at most once a second.

    A file that goes up within the first second is not reported at all: its percent and speed would say nothing.
    """

    def __init__(self, root: Path, clock=time.monotonic):
        self.path = Path(root) / PROGRESS_FILE
        durable.remove_temps(self.path)
        self.path.unlink(missing_ok=True)  # from a run that was killed mid-send
        self.clock = clock
        self.current: Path | None = None
        self.started = self.last_report = 0.0
        self.reported = False
        self.first_done_bytes = 0  # already up when this run took the file on (a resumed upload)

    def __call__(self, item: Item, done_bytes: int, total_bytes: int) -> None:
        now = self.clock()
        if item.path != self.current:
            self.current, self.started, self.last_report, self.reported = item.path, now, now, False
            self.first_done_bytes = done_bytes
        finished_after_a_report = done_bytes >= total_bytes and self.reported
        if now - self.last_report < REPORT_INTERVAL_SECONDS and not finished_after_a_report:
            return
        self.last_report, self.reported = now, True
        speed = (done_bytes - self.first_done_bytes) / max(now - self.started, 1e-6)
        percent = 100 * done_bytes / max(total_bytes, 1)
        eta = (total_bytes - done_bytes) / speed if speed > 0 else -1.0
        log.info("%s: %.0f %% of %.1f MiB sent, %.2f MiB/s", item.name, percent, total_bytes / MIB, speed / MIB)
        record = {"file": item.name, "done_bytes": done_bytes, "total_bytes": total_bytes,
                  "bytes_per_second": speed, "eta_seconds": eta, "updated_at": time.time()}
        durable.atomic_write(self.path, msgpack.packb(record))

    def clear(self) -> None:
        self.current = None
        self.path.unlink(missing_ok=True)


def collect(config, now: float | None = None) -> dict:
    """A JSON-able report of the uploader's state under `config.root` at Unix time `now` (None: the clock's).

    A video sent in parts counts as one file: its parts are not "sent today" on their own; until the last is sent
    it is pending, with how many of its parts are sent (`in_parts`: `parts` is None while it is being cut, and
    `cut_failed` says when a cut that failed is tried again, after how many failed attempts, and why). A folder's
    files wait for the folder's files still in inbox/ (`albums_waiting_for_inbox`), to go as one album. A file the
    uploader gave up on is `failed` while it is in quarantine/: once a person has removed it, it is dealt with."""
    now = time.time() if now is None else now
    root = Path(config.root)
    outbox = root / "outbox"
    waiting = pending(outbox) if outbox.is_dir() else []
    try:
        ledger = Ledger(path_in(root))
    except LedgerError as error:
        ledger, ledger_error = None, error.message  # the uploader refuses to start; status says why and goes on
    else:
        ledger_error = None
    parts = ledger.part_keys() if ledger else set()
    entries = [entry for key, entry in ledger.entries.items() if key not in parts] if ledger else []
    midnight = datetime.now().replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
    progress_path = root / PROGRESS_FILE
    daemon_running = instance.is_running(root, "uploader")
    sending = msgpack.unpackb(progress_path.read_bytes()) if daemon_running and progress_path.exists() else None
    return {
        "daemon_running": daemon_running,
        "pending": [file.relpath for file in waiting],
        "in_parts": [progress for file in waiting
                     if (progress := parts_progress(root, ledger, file, daemon_running, now))],
        "albums_waiting_for_inbox": sorted(still_in_inbox(root, {file.relpath.rpartition("/")[0] for file in waiting})),
        "sending": sending,
        "sent_today": sum(1 for e in entries if e.state is EntryState.SENT and e.sent_at >= midnight),
        "sent_total": ledger.sent_count() if ledger else None,
        "ledger_error": ledger_error,
        "retrying": [{"file": e.relpath, "attempts": e.attempts, "last_error": e.last_error}
                     for e in entries if e.state is EntryState.SENDING and e.attempts],
        "failed": [{"file": e.relpath, "where": e.where, "reason": e.last_error} for e in entries
                   if e.state is EntryState.FAILED and held_in_quarantine(e, root / "quarantine")],
    }


def still_in_inbox(root: Path, folders: set[str]) -> set[str]:
    """Those of `folders` (subfolders of outbox/) whose inbox/ folder holds files not yet handed on: their albums
    wait for them, as the delivery asks (uploader.delivery)."""
    return arrivals.holding_files(root / "inbox", folders - {""})


def parts_progress(root: Path, ledger: Ledger | None, file: arrivals.Entry, daemon_running: bool,
                   now: float) -> dict | None:
    """How far a pending video is in being sent in parts: its parts sent of all, or (parts None) being cut into
    them, with `cut_failed` once a cut has failed (its folder of parts is there, and its entry counts failed
    attempts: the delivery's backoff, uploader.delivery); None for a file sent whole."""
    key = key_for(file.relpath, file.stat.st_size, file.stat.st_mtime_ns)
    entry = ledger.get(key) if ledger else None
    if entry is not None and entry.split is not None:
        part_keys = entry.split.part_keys
        sent = sum(1 for part_key in part_keys if (part := ledger.get(part_key)) and part.state is EntryState.SENT)
        return {"file": file.relpath, "parts_sent": sent, "parts": len(part_keys)}
    if not split_folder(root, key).is_dir():
        return None
    if entry is not None and entry.state is EntryState.SENDING and entry.attempts:
        cut_failed = {"attempts": entry.attempts, "last_error": entry.last_error, "retry_at": entry.not_before,
                      "retry_in_seconds": max(0.0, entry.not_before - now)}
        return {"file": file.relpath, "parts_sent": 0, "parts": None, "cut_failed": cut_failed}
    if daemon_running:
        return {"file": file.relpath, "parts_sent": 0, "parts": None}
    return None


def duration_text(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes} min {seconds:02d} s" if minutes else f"{seconds} s"


def time_left(eta_seconds: float) -> str:
    return "time left unknown" if eta_seconds < 0 else f"{duration_text(eta_seconds)} left"


def render(report: dict) -> str:
    name = "uploader" if report["daemon_running"] else "uploader (not running)"
    if report["ledger_error"]:
        return "\n".join([f"{name}: {len(report['pending'])} pending; what was sent is not known:",
                          f"  {report['ledger_error']}",
                          *(f"  pending {shortened(relpath)}" for relpath in report["pending"])])
    lines = [f"{name}: {len(report['pending'])} pending, {report['sent_today']} sent today "
             f"({report['sent_total']} in all), {len(report['failed'])} failed"]
    sending = report["sending"]
    if sending:
        percent = 100 * sending["done_bytes"] / max(sending["total_bytes"], 1)
        lines.append(f"  sending {shortened(sending['file'])}: {percent:.0f} % ({sending['done_bytes'] / MIB:.1f} of "
                     f"{sending['total_bytes'] / MIB:.1f} MiB), {sending['bytes_per_second'] / MIB:.2f} MiB/s, "
                     f"{time_left(sending.get('eta_seconds', -1.0))}")
    in_parts = {video["file"]: video for video in report["in_parts"]}
    held = set(report["albums_waiting_for_inbox"])
    lines += [f"  pending {shortened(name)}{in_parts_text(in_parts.get(name), report['daemon_running'])}"
              f"{held_text(name, held)}" for name in report["pending"]]
    lines += [f"  retrying {shortened(r['file'])} (attempt {r['attempts']}): {r['last_error']}" for r in report["retrying"]
              if "cut_failed" not in in_parts.get(r["file"], {})]  # its pending line says it
    lines += [f"  failed {shortened(f['file'])} → {Path(f['where']).parent / shortened(Path(f['where']).name)}: "
              f"{f['reason']}" for f in report["failed"]]
    return "\n".join(lines)


def in_parts_text(video: dict | None, daemon_running: bool) -> str:
    if video is None:
        return ""
    failed = video.get("cut_failed")
    if failed:
        after = f"after {failed['attempts']} failed attempt{'s' if failed['attempts'] > 1 else ''}"
        if failed["retry_in_seconds"] > 0:
            at = datetime.fromtimestamp(failed["retry_at"]).strftime("%H:%M:%S")
            when = f"waiting to try the cut into parts again at {at} (in {duration_text(failed['retry_in_seconds'])})"
        elif daemon_running:
            when = "being cut into parts again"
        else:
            when = "waiting to try the cut into parts again once the uploader runs"
        return f": {when}, {after}: {failed['last_error']}"
    if video["parts"] is None:
        return ": being cut into parts"
    return f": sending in parts, {video['parts_sent']}/{video['parts']} parts sent"


def held_text(relpath: str, held: set[str]) -> str:
    folder = relpath.rpartition("/")[0]
    return f": its album waits for the files still in inbox/{folder}" if folder in held else ""
