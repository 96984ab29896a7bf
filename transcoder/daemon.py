"""The transcoder daemon: takes complete files from inbox/, runs one job at a time cheapest first, hands
finished files to outbox/, quarantines what cannot work, and never stops because of one file.

Each job (and each first look at a new file) runs in a child process: a hung decoder is killed when its
checkpoint stops moving for `stall_seconds`, a crash fails only that job, and SIGTERM or SIGINT stops the
daemon within seconds by killing the child; every job resumes from its checkpoint on the next start.
Signal handlers only record the signal. A running transcode yields at its next segment boundary when
cheaper work is ready. The loop tells systemd READY, STATUS, WATCHDOG and STOPPING (tgvid.sd_notify).
"""

import contextlib
import ctypes
import hashlib
import logging
import multiprocessing
import os
import queue as queues
import shutil
import signal
import time
from dataclasses import dataclass, replace
from pathlib import Path

from tgvid import children, instance, openfiles, sd_notify, sidecar
from tgvid.errors import EXIT_INTERRUPTED, EXIT_OK, CheckpointError, TgvidError
from tgvid.thumbnail import thumbnail_of
from tgvid.wakelock import WakeLock
from tgvid.watching import FolderWatcher
from transcoder import checkpoint, handoff, history, inbox, unpack
from transcoder.job import EngineSettings
from transcoder.queue import (
    TRANSCODES,
    Waiting,
    backoff_seconds,
    next_job,
    should_yield,
    space_needed_bytes,
    work_class,
)
from transcoder.unpack import UnpackSettings
from transcoder.verdict import Kind
from uploader import outbox

log = logging.getLogger(__name__)

FOLDERS = ("inbox", "work", "outbox", "quarantine", "originals", "sent", "delivered")
LOOP_SECONDS = 1.0
CLASSIFY_TIMEOUT_SECONDS = 120.0
NO_SPACE_RETRY_SECONDS = 60.0


def job_id(relpath: str) -> str:
    return hashlib.sha1(os.fsencode(relpath)).hexdigest()[:10]


def label(relpath: str) -> str:
    return f"job {job_id(relpath)} {relpath}"


# --- what runs in the child processes --------------------------------------------------------------------

PR_SET_PDEATHSIG = 1


def _die_with_parent(parent_pid: int) -> None:
    """Have Linux kill this child when the daemon dies, even by SIGKILL: an orphaned job would go on writing
    to a job folder that the restarted daemon gives to a new child."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return  # not Linux: a restart may briefly overlap with the orphan
    if os.getppid() != parent_pid:  # the parent died before the request took effect
        os._exit(1)


def _classify_child(source: str, salvage: bool, answers, parent_pid: int) -> None:
    _die_with_parent(parent_pid)
    from tgvid.errors import Rejected
    from transcoder.archive import format_of
    from transcoder.probe import probe
    from transcoder.verdict import decide

    if format_of(source):
        answers.put((Kind.ARCHIVE.value, f"{format_of(source)} archive: unpacked into a folder of the inbox"))
        return
    try:
        verdict = decide(probe(Path(source)), salvage)
        answers.put((verdict.kind.value, "; ".join(verdict.reasons)))
    except Rejected as error:
        answers.put((Kind.REJECT.value, error.reason))


def _job_child(source: str, job_dir: str, settings, job_label: str, yield_asked, answers, log_level: str,
               parent_pid: int) -> None:
    _die_with_parent(parent_pid)
    from tgvid import logs
    from transcoder.job import run_job

    logs.setup(log_level)
    work = Path(job_dir)
    result = _answering_errors(answers, job_label, lambda: run_job(
        Path(source), work, work / "joined.mp4", settings, label=job_label, should_yield=yield_asked.is_set,
        verdict_logged=True))
    if result is None:
        return
    if result.status != "done":
        answers.put(("yielded",))
        return
    is_video = result.verdict.kind != Kind.IMAGE
    meta = sidecar.Sidecar(
        kind=sidecar.MediaKind.VIDEO if is_video else sidecar.MediaKind.IMAGE,
        size_bytes=Path(result.output).stat().st_size, duration_seconds=result.duration_seconds,
        width=result.width, height=result.height, has_audio=result.has_audio,
        thumbnail_jpeg=thumbnail_of(Path(result.output)) if is_video else None)
    answers.put(("done", str(result.output), meta))


def _unpack_child(root: str, relpath: str, job_dir: str, settings, job_label: str, answers, log_level: str,
                  parent_pid: int) -> None:
    _die_with_parent(parent_pid)
    from tgvid import logs
    from transcoder.unpack import run_unpack

    logs.setup(log_level)
    result = _answering_errors(answers, job_label, lambda: run_unpack(Path(root), relpath, Path(job_dir), settings,
                                                                      job_label))
    if result is not None:
        answers.put(("unpacked", result.folder, result.media, result.left_out))


def _answering_errors(answers, job_label: str, work):
    """`work()`'s result, or None after answering its error to the daemon (the child's process boundary)."""
    try:
        return work()
    except TgvidError as error:
        answers.put(("error", type(error).__name__, error.reason or error.message))
    except Exception as error:  # the process boundary: a bug fails this one job, never the daemon
        log.exception("%s: unexpected error", job_label)
        answers.put(("error", type(error).__name__, str(error)))
    return None


# --- the daemon -------------------------------------------------------------------------------------------

@dataclass
class Running:
    relpath: str
    kind: Kind
    process: multiprocessing.Process
    answers: multiprocessing.Queue
    yield_asked: object
    started_at: float
    recovered: bool


class TranscoderDaemon:
    def __init__(self, config):
        self.config = config
        self.settings = config.transcoder
        self.root = Path(config.root)
        self.inbox, self.work = self.root / "inbox", self.root / "work"
        self.context = multiprocessing.get_context("spawn")
        self.signals: list[int] = []
        self.sightings: dict[str, tuple[inbox.Sighting, float]] = {}
        self.classifying: dict[str, tuple[multiprocessing.Process, multiprocessing.Queue, float]] = {}
        self.waiting: dict[str, Waiting] = {}
        self.failures: dict[str, int] = {}
        self.running: Running | None = None
        self.recovered: set[str] = set()
        self.unreadable: set[str] = set()  # inbox entries already reported as impossible to look at
        self.left_alone: dict[str, inbox.Sighting | None] = {}  # sources the file system refuses to move
        self.space_warned = False
        self.history = history.load(self.work)
        self.wake_lock = WakeLock()
        self.saved: history.History | None = None

    # Start and stop --------------------------------------------------------------------------------------

    def run(self) -> int:
        for name in FOLDERS:
            (self.root / name).mkdir(parents=True, exist_ok=True)
        previous = {sig: signal.signal(sig, lambda signum, _frame: self.signals.append(signum))
                    for sig in (signal.SIGTERM, signal.SIGINT)}
        watcher = FolderWatcher(self.inbox, self.settings.force_polling)
        watcher.start()
        try:
            self.recover()
            log.info("transcoder: watching %s", self.inbox)
            sd_notify.notify("READY=1")
            watchdog_seconds = sd_notify.watchdog_interval_seconds()
            while not self.signals:
                try:
                    self.step(time.time())
                except OSError as error:
                    # The file system refused something for one file (permissions, a vanished folder, a full
                    # disk while moving): say so and go on; the file's state on disk tells the next turn.
                    log.error("transcoder: %s; carrying on with the other files", error)
                if watchdog_seconds is not None:
                    sd_notify.notify("WATCHDOG=1")
                watcher.wait(min(LOOP_SECONDS, watchdog_seconds or LOOP_SECONDS))
        finally:
            sd_notify.notify("STOPPING=1")
            self.stop_children()
            self.wake_lock.hold_while(False)
            watcher.stop()
            self.save_history()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        interrupted = self.signals[0] == signal.SIGINT
        log.info("transcoder: %s; every job is kept in %s and resumes from its checkpoint when `tgvid transcoder` "
                 "starts again", "interrupted" if interrupted else "stopped", self.work)
        return EXIT_INTERRUPTED if interrupted else EXIT_OK

    def stop_children(self) -> None:
        """Kill the running job and any classification: a segment in flight is abandoned, never handed on."""
        children = [process for process, _, _ in self.classifying.values()]
        if self.running is not None:
            children.append(self.running.process)
            log.info("%s: stopped mid-job; it resumes from its checkpoint", label(self.running.relpath))
        for process in children:
            process.kill()
            process.join()

    def recover(self) -> None:
        """Rebuild the state from the folders: finish interrupted handoffs, drop folders no source needs."""
        for entry in sorted(self.work.iterdir()):
            try:
                self.recover_one(entry)
            except OSError as error:
                log.error("job %s: cannot be recovered (%s); left as it is", entry.name, error)

    def recover_one(self, entry: Path) -> None:
        if entry.name == history.FILE_NAME:
            return
        if not entry.is_dir():
            entry.unlink()  # a temp file of an interrupted history write
            return
        target = handoff.finish_interrupted(self.root, entry, self.settings.keep_originals)
        if target is not None:
            log.info("job %s: finished the handoff a restart interrupted: %s", entry.name, target.name)
            return
        if unpack.path_in(entry).exists():
            log.info("job %s: %s", entry.name, unpack.recover(self.root, entry, self.settings.keep_originals))
            return
        try:
            state = checkpoint.load(entry)
        except (CheckpointError, CheckpointError.NewerVersion) as error:
            if checkpoint.path_in(entry).exists():
                log.warning("job %s: %s; removing the job folder (its source starts afresh)", entry.name,
                            error.message)
            shutil.rmtree(entry)  # nothing it proves: scratch
            return
        source = Path(state.source["path"])
        if not source.exists():
            log.info("job %s: its source %s is gone; removing the job folder", entry.name, source)
            shutil.rmtree(entry)
            return
        self.recovered.add(entry.name)
        self.history.recoveries += 1
        log.info("job %s %s: will resume after restart from segment %d/%d", entry.name, source.name,
                 state.segments_done() + 1, max(1, len(state.segments)))

    # One turn of the loop --------------------------------------------------------------------------------

    def step(self, now: float) -> None:
        self.look_at_inbox(now)
        self.collect_classifications(now)
        if self.running is not None:
            self.watch_running(now)
        if self.running is None:
            self.start_next(now)
        if self.wake_lock.available:  # walking outbox/ every turn is for Termux only
            self.wake_lock.hold_while(bool(self.running or self.waiting or self.classifying) or self.uploads_pending())
        self.save_history()
        sd_notify.status(self.status_line())

    def uploads_pending(self) -> bool:
        """Whether outbox/ holds a file the uploader has yet to send (by the uploader's own rule for names).
        Termux has one wake lock for all its processes (either daemon's unlock would release the other's), so the
        transcoder holds it for both."""
        for folder, folders, names in os.walk(self.root / "outbox"):
            folders[:] = [name for name in folders if not name.startswith(".")]  # as the uploader skips them
            for name in names:
                if not outbox.is_temporary(name) and os.path.isfile(os.path.join(folder, name)):
                    return True
        return False

    def look_at_inbox(self, now: float) -> None:
        present = set()
        unreadable: dict[str, str] = {}
        for seen in inbox.scan(self.inbox, unreadable):
            present.add(seen.relpath)
            since = inbox.stable_since(self.sightings.get(seen.relpath), seen, now)
            self.sightings[seen.relpath] = (seen, since)
            if seen.relpath in self.left_alone:
                if self.left_alone[seen.relpath] == seen:
                    continue
                del self.left_alone[seen.relpath]  # changed (or permissions fixed and touched): try again
            known = seen.relpath in self.waiting or seen.relpath in self.classifying or (
                self.running is not None and self.running.relpath == seen.relpath)
            if known or not inbox.is_quiet(since, now, self.settings.quiet_seconds):
                continue
            if openfiles.held_open_for_writing(self.inbox / seen.relpath):
                continue
            name_problem = inbox.name_problem(seen.relpath)
            if name_problem:
                self.quarantine(seen.relpath, "reading its name", f"{name_problem}; rename it and move it back into "
                                "inbox/")
                continue
            self.classify(seen.relpath, now)
        for gone in set(self.sightings) - present:
            del self.sightings[gone]
            self.waiting.pop(gone, None)
            self.left_alone.pop(gone, None)
        for relpath in unreadable.keys() - self.unreadable:
            log.warning("inbox/%s: cannot be looked at (%s); left where it is", relpath, unreadable[relpath])
        self.unreadable = set(unreadable)

    def classify(self, relpath: str, now: float) -> None:
        answers = self.context.Queue()
        process = self.context.Process(target=_classify_child,
                                       args=(str(self.inbox / relpath), self.settings.salvage, answers, os.getpid()),
                                       daemon=True)
        children.start_deaf_to_ctrl_c(process)
        self.classifying[relpath] = (process, answers, now)

    def collect_classifications(self, now: float) -> None:
        for relpath, (process, answers, started) in list(self.classifying.items()):
            try:
                kind, reasons = answers.get_nowait()
            except queues.Empty:
                if process.is_alive() and now - started < CLASSIFY_TIMEOUT_SECONDS:
                    continue
                process.kill()
                kind, reasons = None, f"probing did not finish (exit code {process.exitcode})"
            process.join()
            del self.classifying[relpath]
            if kind is None:
                self.fail(relpath, Kind.REJECT, reasons, now)
            elif kind == Kind.REJECT:
                self.quarantine(relpath, "probing the file", f"rejected: {reasons}")
            else:
                self.waiting[relpath] = Waiting(relpath, Kind(kind), now)
                log.info("%s: queued as %s (%s)", label(relpath), kind, reasons)

    def start_next(self, now: float) -> None:
        chosen = next_job(list(self.waiting.values()), now)
        if chosen is None:
            return
        source = self.inbox / chosen.relpath
        job_dir = self.work / job_id(chosen.relpath)
        if (job_dir / handoff.MARKER).exists():
            # A handoff that failed part-way (the output may already be in outbox/): finish it, never redo it.
            del self.waiting[chosen.relpath]
            try:
                handoff.finish_interrupted(self.root, job_dir, self.settings.keep_originals)
            except OSError as error:
                self.leave_alone(chosen.relpath, "finishing its handoff", error)
            return
        try:
            needed = space_needed_bytes(chosen.kind, source.stat().st_size)
        except FileNotFoundError:
            log.info("%s: gone from the inbox before it started; forgotten", label(chosen.relpath))
            del self.waiting[chosen.relpath]
            return
        free = shutil.disk_usage(self.work).free
        if free < needed:
            if not self.space_warned:
                log.warning("%s: waiting for disk space: needs about %d MiB in %s, %d MiB free",
                            label(chosen.relpath), needed >> 20, self.work, free >> 20)
                self.space_warned = True
            return
        self.space_warned = False
        del self.waiting[chosen.relpath]
        answers, yield_asked = self.context.Queue(), self.context.Event()
        if chosen.kind == Kind.ARCHIVE:
            target, args = _unpack_child, (str(self.root), chosen.relpath, str(job_dir),
                                           UnpackSettings.from_config(self.settings), label(chosen.relpath))
        else:
            target, args = _job_child, (str(source), str(job_dir), EngineSettings.from_config(self.settings),
                                        label(chosen.relpath), yield_asked)
        process = self.context.Process(target=target, daemon=True,
                                       args=(*args, answers, self.config.log_level, os.getpid()))
        children.start_deaf_to_ctrl_c(process)
        recovered = job_dir.name in self.recovered
        self.running = Running(chosen.relpath, chosen.kind, process, answers, yield_asked, now, recovered)
        log.info("%s: started (%s)%s", label(chosen.relpath), chosen.kind, " after a restart" if recovered else "")

    def watch_running(self, now: float) -> None:
        running = self.running
        try:
            answer = running.answers.get_nowait()
        except queues.Empty:
            answer = None
        if answer is None:
            if not running.process.is_alive():
                running.process.join()
                self.running = None
                self.fail(running.relpath, running.kind, f"the job's process died (exit code "
                          f"{running.process.exitcode})", now)
                return
            last_progress = max(running.started_at, self.checkpoint_time(running.relpath))
            if now - last_progress > self.settings.stall_seconds:
                running.process.kill()
                running.process.join()
                self.running = None
                self.fail(running.relpath, running.kind,
                          f"stalled: no progress for {int(now - last_progress)} s (a hung decoder?)", now)
                return
            if work_class(running.kind) == TRANSCODES and not running.yield_asked.is_set() and should_yield(
                    running.kind, list(self.waiting.values()), now):
                log.info("%s: cheaper work is waiting; yielding at the next segment", label(running.relpath))
                running.yield_asked.set()
            return
        running.process.join()
        self.running = None
        if answer[0] == "yielded":
            self.history.deferred += 1
            log.info("%s: deferred for cheaper work; it resumes from its checkpoint", label(running.relpath))
            self.waiting[running.relpath] = Waiting(running.relpath, running.kind, running.started_at)
        elif answer[0] == "done":
            self.finish(running, Path(answer[1]), answer[2], now)
        elif answer[0] == "unpacked":
            self.failures.pop(running.relpath, None)
            log.info("%s: unpacked %d file(s) into inbox/%s (%d left out); the archive is put away", label(
                running.relpath), answer[2], answer[1], answer[3])
        elif answer[1] == "Rejected":
            self.quarantine(running.relpath, f"a {running.kind} job", f"rejected: {answer[2]}")
        elif answer[1] == "NoSpace":
            log.warning("%s: %s; trying again in %d s", label(running.relpath), answer[2], NO_SPACE_RETRY_SECONDS)
            self.waiting[running.relpath] = Waiting(running.relpath, running.kind, running.started_at,
                                                    now + NO_SPACE_RETRY_SECONDS)
        else:
            self.fail(running.relpath, running.kind, f"{answer[1]}: {answer[2]}", now)

    def checkpoint_time(self, relpath: str) -> float:
        """When the job's checkpoint (a transcode's, or an unpack's) last moved; 0 when it has none yet."""
        job_dir = self.work / job_id(relpath)
        latest = 0.0
        for path in (checkpoint.path_in(job_dir), unpack.path_in(job_dir)):
            with contextlib.suppress(FileNotFoundError):  # not written yet, or the job just ended
                latest = max(latest, path.stat().st_mtime)
        return latest

    # Endings ---------------------------------------------------------------------------------------------

    def finish(self, running: Running, media: Path, meta: sidecar.Sidecar, now: float) -> None:
        relpath = running.relpath
        meta = replace(meta, source_relpath=relpath, source_name=Path(relpath).name)
        try:
            target = handoff.hand_off(self.root, relpath, media, self.work / job_id(relpath), meta,
                                      self.settings.keep_originals)
        except OSError as error:
            self.leave_alone(relpath, "handing it on", error)
            return
        self.history.completed += 1
        self.history.conversion_seconds += now - running.started_at
        if running.recovered:
            self.history.recoveries_succeeded += 1
            self.recovered.discard(job_id(relpath))
        self.failures.pop(relpath, None)
        log.info("%s: completed in %.1f s: outbox/%s", label(relpath), now - running.started_at,
                 target.relative_to(self.root / "outbox"))

    def fail(self, relpath: str, kind: Kind, error: str, now: float) -> None:
        self.history.failed += 1
        failures = self.failures[relpath] = self.failures.get(relpath, 0) + 1
        if failures >= self.settings.max_retries:
            self.quarantine(relpath, f"a {kind} job, {failures} attempt(s)", error)
            return
        delay = backoff_seconds(failures, self.settings.retry_backoff_seconds)
        log.warning("%s: failed (attempt %d of %d): %s; trying again in %.0f s", label(relpath), failures,
                    self.settings.max_retries, error, delay)
        self.waiting[relpath] = Waiting(relpath, kind, now, now + delay)

    def quarantine(self, relpath: str, tried: str, error: str) -> None:
        try:
            target = handoff.quarantine(self.root, relpath, tried, error)
        except OSError as move_error:
            self.leave_alone(relpath, f"moving it to quarantine ({error})", move_error)
            return
        shutil.rmtree(self.work / job_id(relpath), ignore_errors=True)
        self.history.quarantined += 1
        self.failures.pop(relpath, None)
        self.waiting.pop(relpath, None)
        log.error("%s: quarantined as %s: %s", label(relpath), target.relative_to(self.root), error)

    def leave_alone(self, relpath: str, doing: str, error: OSError) -> None:
        """The file system refuses a move this file needs (a read-only inbox folder, say): say so once and leave
        it until it changes, instead of converting or probing it again every second. A handoff marker keeps
        whatever part of a handoff was done; the next start, or a change to the file, tries again."""
        seen = self.sightings.get(relpath)
        self.left_alone[relpath] = seen[0] if seen else None
        self.waiting.pop(relpath, None)
        self.failures.pop(relpath, None)
        log.error("%s: %s failed: %s; left in the inbox until it changes or the daemon restarts", label(relpath),
                  doing, error)

    # What status shows -----------------------------------------------------------------------------------

    def save_history(self) -> None:
        """Write the counters and queue when they changed (not every second: phones and Pis write to flash)."""
        self.history.queue = [{"relpath": w.relpath, "kind": str(w.kind), "arrived_at": w.arrived_at,
                               "not_before": w.not_before} for w in self.waiting.values()]
        self.history.running = None if self.running is None else {
            "relpath": self.running.relpath, "kind": str(self.running.kind), "job_id": job_id(self.running.relpath),
            "started_at": self.running.started_at}
        snapshot = replace(self.history, updated_at=0.0)
        if snapshot != self.saved:
            history.save(self.work, self.history)
            self.saved = snapshot

    def status_line(self) -> str:
        doing = f"working on {self.running.relpath}" if self.running else "idle"
        return f"{doing}; {len(self.waiting)} waiting, {self.history.completed} done"


def run(config) -> int:
    root = Path(config.root)
    root.mkdir(parents=True, exist_ok=True)
    # Two transcoders on one root would take the same file and write into the same job folder.
    with instance.hold(root, "transcoder"):
        return TranscoderDaemon(config).run()
