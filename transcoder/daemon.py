"""The transcoder daemon's loop: every arrived file from inbox/ through one job at a time, cheapest first, to
outbox/ or quarantine/, never stopping for one file.

The first look at a new file runs in one of a few long-lived probe workers (tgvid.workers, `probe_workers`): a
file that hangs one past CLASSIFY_TIMEOUT_SECONDS has it replaced, one that crashes it costs only that worker.
For a pass-through file or an image that look also reads what its sidecar needs, so its job is only moving files,
done in the daemon itself, where nothing can hang. Every other job runs in a child process of its own: a hung
decoder is killed when its checkpoint stops moving for `stall_seconds`, a crash fails only that job, and SIGTERM
or SIGINT stops the daemon within seconds by killing the children; every job resumes from its checkpoint on the
next start.
Signal handlers only record the signal. A running transcode yields at its next segment boundary when
cheaper work is ready. The loop tells systemd READY, STATUS, WATCHDOG and STOPPING (tgvid.sd_notify).
"""

import contextlib
import copy
import hashlib
import logging
import os
import shutil
import signal
import time
from dataclasses import dataclass, replace
from pathlib import Path

from tgvid import arrivals, emptied, instance, quarantine, sd_notify, sidecar
from tgvid.backoff import backoff_seconds
from tgvid.child import ANSWER_AFTER_END_SECONDS, CONTEXT, Child
from tgvid.errors import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    CheckpointError,
    InternalError,
    NoSpace,
    Rejected,
    TgvidError,
    TranscodeFailed,
)
from tgvid.pruning import Pruner
from tgvid.reaction import NO_SPACE_RETRY_SECONDS, Quarantine, RetryAtStart, RetryPolicy, Stop, WaitForSpace, reaction
from tgvid.thumbnail import thumbnail_of
from tgvid.wakelock import WakeLock
from tgvid.watching import FolderWatcher
from tgvid.workers import Lost, Workers
from transcoder import checkpoint, handoff, history, inbox, unpack
from transcoder.job import EngineSettings
from transcoder.pool import PoolSettings
from transcoder.queue import (
    TRANSCODES,
    Waiting,
    in_turn,
    should_yield,
    space_needed_bytes,
    work_class,
)
from transcoder.unpack import UnpackSettings
from transcoder.verdict import Kind

log = logging.getLogger(__name__)

FOLDERS = ("inbox", "work", "outbox", "quarantine", "originals", "sent", "delivered")
LOOP_SECONDS = 1.0
CLASSIFY_TIMEOUT_SECONDS = 120.0
AS_IT_IS = (Kind.PASS, Kind.IMAGE)  # handed on untouched: the first look finds all their sidecar needs
MAX_BACKOFF_SECONDS = 3600.0
BY = "the transcoder"
INTERNAL_ADVICE = ("This is a bug in tgvid, not a fault of the file. The transcoder tries the file again when it next "
                   "starts (after an upgrade, say); please report the error with the log's traceback.")


def job_id(relpath: str) -> str:
    return hashlib.sha1(os.fsencode(relpath)).hexdigest()[:10]


def label(relpath: str) -> str:
    return f"job {job_id(relpath)} {relpath}"


# --- what runs in the child processes --------------------------------------------------------------------

@dataclass(frozen=True)
class Classified:
    kind: Kind
    reasons: str
    media_seconds: float = 0.0  # the source's duration, for the queue's ETA
    meta: sidecar.Sidecar | None = None  # pass and image: what the sidecar says, so that no job process is needed
    looked_at: tuple[int, int] = (0, 0)  # the file's (size_bytes, mtime_ns) when it was looked at


@dataclass(frozen=True)
class Done:
    output: Path
    meta: sidecar.Sidecar


@dataclass(frozen=True)
class Yielded:
    pass


@dataclass(frozen=True)
class Unpacked:
    folder: str  # the inbox folder the archive's media went to
    media: int
    left_out: int


def _first_look(source: str, salvage: bool) -> Classified | TgvidError:
    """Run in a probe worker: what `source` is, or the error its look ended in (_at_process_boundary)."""
    return _at_process_boundary(source, source, lambda: _look(source, salvage))


def _look(source: str, salvage: bool) -> Classified | Rejected:
    from transcoder.archive import format_of
    from transcoder.job import as_it_is
    from transcoder.probe import probe
    from transcoder.verdict import decide

    archive_format = format_of(source)
    if archive_format:
        return Classified(Kind.ARCHIVE, f"{archive_format} archive: unpacked into a folder of the inbox")
    stat = os.stat(source)
    probed = probe(Path(source))
    verdict = decide(probed, salvage)
    if verdict.kind == Kind.REJECT:
        return Rejected(source, "; ".join(verdict.reasons))
    span = probed.span_of(probed.video.index) if verdict.kind != Kind.IMAGE else None
    media_seconds = (span[1] - span[0]) if span else 0.0
    meta = _sidecar_of(as_it_is(Path(source), verdict, probed)) if verdict.kind in AS_IT_IS else None
    return Classified(verdict.kind, "; ".join(verdict.reasons), media_seconds, meta, (stat.st_size, stat.st_mtime_ns))


def _sidecar_of(result) -> sidecar.Sidecar:
    """The sidecar of a finished job's output (a transcoder.job.JobResult)."""
    is_video = result.verdict.kind != Kind.IMAGE
    return sidecar.Sidecar(
        kind=sidecar.MediaKind.VIDEO if is_video else sidecar.MediaKind.IMAGE,
        size_bytes=Path(result.output).stat().st_size, duration_seconds=result.duration_seconds,
        width=result.width, height=result.height, has_audio=result.has_audio,
        thumbnail_jpeg=thumbnail_of(Path(result.output)) if is_video else None)


def _job_child(source: str, job_dir: str, settings, segment_pool, verify_mode: str, job_label: str, yield_asked,
               log_level: str) -> Done | Yielded | TgvidError:
    from tgvid import logs
    from transcoder.job import run_job

    logs.setup(log_level)
    work = Path(job_dir)
    result = _at_process_boundary(source, job_label, lambda: run_job(
        Path(source), work, work / "joined.mp4", settings, label=job_label, should_yield=yield_asked.is_set,
        verdict_logged=True, segment_pool=segment_pool, verify_mode=verify_mode))
    if isinstance(result, TgvidError):
        return result
    if result.status != "done":
        return Yielded()
    return Done(Path(result.output), _sidecar_of(result))


def _unpack_child(root: str, relpath: str, job_dir: str, settings, job_label: str, log_level: str) -> Unpacked | TgvidError:
    from tgvid import logs
    from transcoder.unpack import run_unpack

    logs.setup(log_level)
    result = _at_process_boundary(str(Path(root) / "inbox" / relpath), job_label, lambda: run_unpack(
        Path(root), relpath, Path(job_dir), settings, job_label))
    if isinstance(result, TgvidError):
        return result
    return Unpacked(result.folder, result.media, result.left_out)


def _at_process_boundary(source: str, job_label: str, work):
    """`work()`'s result, or the error it ended in: an error fails this one job, never the daemon. What the
    system or FFmpeg raised (an OSError, MemoryError or av.FFmpegError the job did not name) is a TranscodeFailed
    that may pass; anything else is a bug in tgvid, an InternalError logged with its traceback, not the file's fault."""
    import av

    try:
        return work()
    except TgvidError as error:
        return error
    except Exception as error:
        if not Path(source).exists():
            # Deleted or moved away mid-job: what failed is no bug (the daemon sees the source gone and says so).
            return TranscodeFailed(source, "the source is gone from the inbox")
        if isinstance(error, OSError | MemoryError | av.FFmpegError):
            return TranscodeFailed(source, f"{type(error).__name__}: {error}")
        log.exception("%s: unexpected error, a bug in tgvid", job_label)
        return InternalError(source, f"{type(error).__name__}: {error}")


# --- the daemon -------------------------------------------------------------------------------------------

@dataclass
class Running:
    relpath: str
    kind: Kind
    child: Child | None  # None: handed on as it is, in the daemon
    yield_asked: object
    started_at: float
    recovered: bool


class TranscoderDaemon:
    def __init__(self, config):
        self.config = config
        self.settings = config.transcoder
        self.root = Path(config.root)
        self.inbox, self.work = self.root / "inbox", self.root / "work"
        self.signals: list[int] = []
        self.arrivals = arrivals.Tracker(self.settings.quiet_seconds)
        self.workers = Workers(self.settings.probe_workers, CLASSIFY_TIMEOUT_SECONDS)
        self.classifying: set[str] = set()  # files given to the probe workers
        self.looked: dict[str, Classified] = {}  # pass files and images, ready to be handed on as they are
        self.waiting: dict[str, Waiting] = {}
        self.failures: dict[str, int] = {}
        self.probe_after: dict[str, float] = {}  # files whose probe failed: not probed again before then
        self.retry_policy = RetryPolicy(self.settings.max_retries, self.settings.retry_backoff_seconds,
                                        MAX_BACKOFF_SECONDS)
        self.running: Running | None = None
        self.recovered: set[str] = set()
        self.unreadable: set[str] = set()  # inbox entries already reported as impossible to look at
        self.left_alone: dict[str, arrivals.Seen | None] = {}  # sources the file system refuses to move
        self.handoff_failures: dict[str, tuple[int, str]] = {}  # handoffs refused so far: tries, the condition told
        self.step_error = ""  # what the file system refused in the last turn, told once
        self.waiting_for_space: set[str] = set()  # jobs that do not fit on the disk yet (told once each)
        self.history = history.load(self.work)
        self.wake_lock = WakeLock(self.root, "transcoder")
        self.saved: history.History | None = None
        self.originals = Pruner(self.root / "originals", self.settings.originals_keep_days)
        self.watcher = FolderWatcher(self.inbox, self.settings.force_polling)

    # Start and stop --------------------------------------------------------------------------------------

    def run(self) -> int:
        for name in FOLDERS:
            (self.root / name).mkdir(parents=True, exist_ok=True)
        previous = {sig: signal.signal(sig, lambda signum, _frame: self.signals.append(signum))
                    for sig in (signal.SIGTERM, signal.SIGINT)}
        self.watcher.start()
        try:
            self.recover()
            log.info("transcoder: watching %s", self.inbox)
            sd_notify.notify("READY=1")
            watchdog_seconds = sd_notify.watchdog_interval_seconds()
            while not self.signals:
                try:
                    self.step(time.time())
                except OSError as error:
                    # The file system refused something (permissions, a vanished folder, a full disk): say so
                    # once, not every turn, and go on; the files' state on disk tells the next turn.
                    condition = error.strerror or str(error)
                    if condition != self.step_error:
                        log.error("transcoder: %s; carrying on with the other files", error)
                    self.step_error = condition
                else:
                    if self.step_error:
                        log.info("transcoder: the file system takes our writes again")
                    self.step_error = ""
                if watchdog_seconds is not None:
                    sd_notify.notify("WATCHDOG=1")
                self.watcher.wait(min(LOOP_SECONDS, watchdog_seconds or LOOP_SECONDS))
        finally:
            sd_notify.notify("STOPPING=1")
            self.stop_children()
            self.wake_lock.hold_while(False)
            self.watcher.stop()
            try:
                self.save_history()
            except OSError as error:  # a full disk: the counters are statistics, nothing is redone without them
                log.warning("transcoder: the counters could not be saved: %s", error)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        interrupted = self.signals[0] == signal.SIGINT
        log.info("transcoder: %s; every job is kept in %s and resumes from its checkpoint when the transcoder "
                 "starts again (`tgvid transcoder` or `tgvid run`)", "interrupted" if interrupted else "stopped", self.work)
        return EXIT_INTERRUPTED if interrupted else EXIT_OK

    def stop_children(self) -> None:
        """Kill the running job and the probe workers: a segment in flight is abandoned, never handed on."""
        self.workers.stop()
        if self.running is not None:
            self.running.child.stop()
            self.stretch_ended(self.running, time.time())
            log.info("%s: stopped mid-job; it resumes from its checkpoint", label(self.running.relpath))

    def recover(self) -> None:
        """Rebuild the state from the folders: finish interrupted handoffs, drop folders no source needs, and take
        back into the inbox the files set aside for a bug (a new version may convert them)."""
        for returned in quarantine.take_back(self.root / "quarantine", BY, self.inbox):
            log.info("inbox/%s: back from quarantine, where a bug in tgvid had set it aside; trying it again",
                     returned.relative_to(self.inbox).as_posix())
        in_inbox_relpaths = {entry.relpath for entry in arrivals.walk(self.inbox)}
        in_inbox = {job_id(relpath) for relpath in in_inbox_relpaths}
        for gone in self.history.jobs.keys() - in_inbox_relpaths:
            del self.history.jobs[gone]  # the tally of a file taken away while the daemon was stopped
        for entry in sorted(self.work.iterdir()):
            try:
                self.recover_one(entry, in_inbox)
            except (OSError, CheckpointError) as error:
                log.error("job %s: cannot be recovered (%s); left as it is", entry.name, error)

    def recover_one(self, entry: Path, in_inbox: set[str]) -> None:
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
        except CheckpointError as error:
            if not checkpoint.path_in(entry).exists():
                shutil.rmtree(entry)  # nothing it proves: scratch
            elif not isinstance(error, CheckpointError.NewerVersion) and entry.name in in_inbox:
                kept = checkpoint.set_aside(entry)
                log.warning("job %s: %s; set aside as %s, the job starts afresh", entry.name, error.message,
                            kept.relative_to(self.root))
            else:
                log.warning("job %s: %s; removing the job folder (its source starts afresh)", entry.name,
                            error.message)
                shutil.rmtree(entry)
            return
        source = Path(state.source["path"])
        if not source.exists():
            log.info("job %s: its source %s is gone; removing the job folder", entry.name, source)
            shutil.rmtree(entry)
            self.history.sources_gone += 1
            return
        self.recovered.add(entry.name)
        self.history.recoveries += 1
        log.info("job %s %s: resumes from its checkpoint after the restart%s", entry.name, source.name,
                 f" ({state.segments_to_do_text()})" if state.segments else "")

    # One turn of the loop --------------------------------------------------------------------------------

    def step(self, now: float) -> None:
        self.look_at_inbox(now)
        self.collect_classifications(now)
        self.hand_on_as_they_are(now)
        if self.running is not None:
            self.watch_running(now)
        if self.running is None:
            self.start_next(now)
        self.wake_lock.hold_while(bool(self.running or self.waiting or self.classifying))
        self.originals.step(now)
        self.save_history()
        sd_notify.status(self.status_line())

    def look_at_inbox(self, now: float) -> None:
        unreadable: dict[str, str] = {}
        folders: dict[str, emptied.FolderSeen] = {}
        entries = self.watcher.walk(unreadable, folders)
        self.arrivals.update(entries, now)
        for entry in entries:
            relpath = entry.relpath
            if relpath in self.left_alone:
                if self.left_alone[relpath] == self.arrivals.seen[relpath]:
                    continue
                del self.left_alone[relpath]  # changed (or permissions fixed and touched): try again
            known = relpath in self.waiting or relpath in self.classifying or (
                self.running is not None and self.running.relpath == relpath)
            if known or now < self.probe_after.get(relpath, 0.0) or not self.arrivals.has_arrived(entry, now):
                continue
            if not entry.path.exists():
                continue  # moved away by this daemon a moment ago: the listing learns it from the event on its way
            name_problem = inbox.name_problem(relpath)
            if name_problem:
                self.quarantine(relpath, "reading its name", f"{name_problem}; rename it and move it back into inbox/",
                                rejected=True)
                continue
            self.classify(relpath, now)
        for gone in (self.waiting.keys() | self.left_alone.keys() | self.probe_after.keys()) - self.arrivals.seen.keys():
            self.probe_after.pop(gone, None)
            self.looked.pop(gone, None)
            self.left_alone.pop(gone, None)
            if self.waiting.pop(gone, None) and not (self.inbox / gone).exists():
                self.source_gone(gone)
        for relpath in unreadable.keys() - self.unreadable:
            log.warning("inbox/%s: cannot be looked at (%s); left where it is", relpath, unreadable[relpath])
        self.unreadable = set(unreadable)
        removed = emptied.remove(self.inbox, emptied.removable(folders, now, self.settings.empty_folder_seconds))
        if removed:
            log.info("transcoder: removed %d emptied folder(s) from inbox/: %s", len(removed), ", ".join(removed[:5]))

    def classify(self, relpath: str, now: float) -> None:
        self.classifying.add(relpath)
        self.workers.submit(relpath, _first_look, str(self.inbox / relpath), self.settings.salvage)

    def collect_classifications(self, now: float) -> None:
        for relpath, answer in self.workers.collect():
            self.classifying.discard(relpath)
            if isinstance(answer, Lost):
                answer = TranscodeFailed(self.inbox / relpath, f"probing {answer.why}")
            if isinstance(answer, Classified):
                self.waiting[relpath] = Waiting(relpath, answer.kind, now)
                self.history.job(relpath)["media_seconds"] = answer.media_seconds
                if answer.meta is not None:
                    self.looked[relpath] = answer
                log.info("%s: queued as %s (%s)", label(relpath), answer.kind, answer.reasons)
            else:
                self.react(relpath, None, answer, now)

    def hand_on_as_they_are(self, now: float) -> None:
        """Hand on every pass file and image in turn, here and now: only files are moved, nothing can hang, and
        no job process is needed (their first look read what their sidecars need). Also while a job runs."""
        for chosen in in_turn(list(self.waiting.values()), now):
            if chosen.relpath in self.looked:
                self.try_to_start(chosen, now)

    def start_next(self, now: float) -> None:
        for chosen in in_turn(list(self.waiting.values()), now):
            if self.try_to_start(chosen, now):
                return

    def try_to_start(self, chosen: Waiting, now: float) -> bool:
        """Start `chosen`, or finish its interrupted handoff; False when it waits for disk space (or is gone), so
        that the next job in turn may start instead."""
        source = self.inbox / chosen.relpath
        job_dir = self.work / job_id(chosen.relpath)
        if (job_dir / handoff.MARKER).exists():
            # A handoff that failed part-way (the output may already be in outbox/): finish it, never redo it.
            del self.waiting[chosen.relpath]
            try:
                target = handoff.finish_interrupted(self.root, job_dir, self.settings.keep_originals)
            except CheckpointError as error:  # a marker of a newer tgvid: what it says cannot be read here
                self.leave_alone(chosen.relpath, "finishing its handoff", error)
                return True
            except OSError as error:
                self.handoff_failed(chosen, error, now)
                return True
            if target is not None:
                self.handed_on(chosen.relpath, target)
            return True
        if chosen.relpath in self.looked:
            return self.hand_on_as_it_is(chosen, now)
        try:
            needed, free = self.space_for(chosen)
        except FileNotFoundError:
            self.source_gone(chosen.relpath)
            return False
        if free < needed:
            if chosen.relpath not in self.waiting_for_space:
                log.warning("%s: waiting for disk space: needs about %d MiB in %s, %d MiB free; work that fits "
                            "goes first", label(chosen.relpath), needed >> 20, self.work, free >> 20)
                self.waiting_for_space.add(chosen.relpath)
            return False
        self.waiting_for_space.discard(chosen.relpath)
        del self.waiting[chosen.relpath]
        yield_asked = CONTEXT.Event()
        if chosen.kind == Kind.ARCHIVE:
            job = Child(_unpack_child, str(self.root), chosen.relpath, str(job_dir),
                        UnpackSettings.from_config(self.settings), label(chosen.relpath), self.config.log_level)
        else:
            job = Child(_job_child, str(source), str(job_dir), EngineSettings.from_config(self.settings),
                        PoolSettings.from_config(self.settings), self.settings.verify, label(chosen.relpath),
                        yield_asked, self.config.log_level, with_children=True)
        recovered = job_dir.name in self.recovered
        self.running = Running(chosen.relpath, chosen.kind, job, yield_asked, now, recovered)
        log.info("%s: started (%s)%s", label(chosen.relpath), chosen.kind, " after a restart" if recovered else "")
        return True

    def hand_on_as_it_is(self, chosen: Waiting, now: float) -> bool:
        """A pass file or image as its first look found it; one changed since is looked at again."""
        looked = self.looked.pop(chosen.relpath)
        del self.waiting[chosen.relpath]
        source = self.inbox / chosen.relpath
        try:
            stat = source.stat()
        except FileNotFoundError:
            self.source_gone(chosen.relpath)
            return False
        if (stat.st_size, stat.st_mtime_ns) != looked.looked_at:
            log.info("%s: changed since it was looked at; looking again", label(chosen.relpath))
            return False
        recovered = job_id(chosen.relpath) in self.recovered
        log.info("%s: started (%s)%s", label(chosen.relpath), chosen.kind, " after a restart" if recovered else "")
        self.looked[chosen.relpath] = looked  # for another try, should the handoff fail
        running = Running(chosen.relpath, chosen.kind, None, None, now, recovered)
        self.stretch_ended(running, now)  # its tally (no conversion time), which finish takes
        self.finish(running, source, looked.meta, now)
        return True

    def space_for(self, job: Waiting) -> tuple[int, int]:
        """The free space `job` needs in work/ before it starts, and the free space there, in bytes."""
        return space_needed_bytes(job.kind, (self.inbox / job.relpath).stat().st_size), shutil.disk_usage(self.work).free

    def could_start(self, job: Waiting) -> bool:
        """Whether a waiting job would start if the running one gave way (it has the space it needs by now)."""
        if job.relpath not in self.waiting_for_space:
            return True
        try:
            needed, free = self.space_for(job)
        except FileNotFoundError:
            return False
        return free >= needed

    def watch_running(self, now: float) -> None:
        running = self.running
        answer = running.child.answer()
        if answer is None and not running.child.is_alive():
            answer = running.child.answer(ANSWER_AFTER_END_SECONDS)  # answered just before it ended
        source = self.inbox / running.relpath
        if answer is None:
            if not running.child.is_alive():
                running.child.stop()
                self.running = None
                self.stretch_ended(running, now)
                if not source.exists():
                    self.source_gone(running.relpath)
                    return
                died = TranscodeFailed(source, f"the job's process died (exit code {running.child.exitcode})")
                self.react(running.relpath, running.kind, died, now)
                return
            last_progress = max(running.started_at, self.checkpoint_time(running.relpath))
            if now - last_progress > self.settings.stall_seconds:
                running.child.stop()
                self.running = None
                self.stretch_ended(running, now)
                stalled = TranscodeFailed(source, f"stalled: no progress for {int(now - last_progress)} s (a hung "
                                          "decoder?)")
                self.react(running.relpath, running.kind, stalled, now)
                return
            could_start = [w for w in self.waiting.values() if self.could_start(w)]
            if work_class(running.kind) == TRANSCODES and not running.yield_asked.is_set() and should_yield(
                    running.kind, could_start, now):
                log.info("%s: cheaper work is waiting; yielding at the next segment", label(running.relpath))
                running.yield_asked.set()
            return
        running.child.stop()
        self.running = None
        self.stretch_ended(running, now)
        if isinstance(answer, Unpacked):  # the archive is put away by now: no source left to check
            self.failures.pop(running.relpath, None)
            self.history.jobs.pop(running.relpath, None)
            log.info("%s: unpacked %d file(s) into inbox/%s (%d left out); the archive is put away",
                     label(running.relpath), answer.media, answer.folder, answer.left_out)
        elif not source.exists():
            self.source_gone(running.relpath)
        elif isinstance(answer, Yielded):
            self.history.deferred += 1
            self.history.job(running.relpath)["deferrals"] += 1
            log.info("%s: deferred for cheaper work; it resumes from its checkpoint", label(running.relpath))
            self.waiting[running.relpath] = Waiting(running.relpath, running.kind, running.started_at)
        elif isinstance(answer, Done):
            self.finish(running, answer.output, answer.meta, now)
        else:
            self.react(running.relpath, running.kind, answer, now, started_at=running.started_at)

    def stretch_ended(self, running: Running, now: float) -> None:
        """Add the stretch a job just ran (to its end, a deferral, a failure or a stop) to its tally: its conversion
        time is the sum of them all."""
        self.history.job(running.relpath)["ran_seconds"] += max(0.0, now - running.started_at)

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
            self.handoff_failed(Waiting(relpath, running.kind, running.started_at), error, now)
            return
        self.handed_on(relpath, target)
        tally = self.history.jobs.pop(relpath)  # made by stretch_ended, at the latest
        self.looked.pop(relpath, None)
        self.history.completed += 1
        self.history.conversion_seconds += tally["ran_seconds"]
        self.history.media_seconds += meta.duration_seconds
        if running.recovered:
            self.history.recoveries_succeeded += 1
            self.recovered.discard(job_id(relpath))
        self.failures.pop(relpath, None)
        log.info("%s: completed in %.1f s: outbox/%s", label(relpath), tally["ran_seconds"],
                 target.relative_to(self.root / "outbox"))

    def react(self, relpath: str, kind: Kind | None, error: TgvidError, now: float, started_at: float = 0.0) -> None:
        """Act on a failed attempt as tgvid.reaction says; `kind` is None when the file's first look (its probe)
        failed, and then a retry probes it again rather than queue a job of no kind. A job waiting for disk space
        keeps its place (`started_at`)."""
        doing = "probing the file" if kind is None else f"{'an' if kind[0] in 'aeiou' else 'a'} {kind} job"
        what = error.message.removeprefix(f"{error.path}: ")
        counted = not isinstance(error, Rejected | NoSpace | InternalError)
        failures = self.failures.get(relpath, 0) + counted
        action = reaction(error, failures, self.retry_policy)
        if counted:
            self.history.failed += 1
            self.history.job(relpath)["failed_attempts"] += 1
            self.failures[relpath] = failures
        if isinstance(action, Stop):
            raise error
        if isinstance(action, RetryAtStart):
            self.quarantine(relpath, doing, what, internal=True)
            return
        if isinstance(action, Quarantine):
            self.quarantine(relpath, f"{doing}, {failures} attempt(s)" if counted else doing, what,
                            rejected=isinstance(error, Rejected))
            return
        if isinstance(action, WaitForSpace):
            log.warning("%s: %s; trying again in %.0f s", label(relpath), what, action.delay_seconds)
            self.waiting[relpath] = Waiting(relpath, kind, started_at, now + action.delay_seconds)
            return
        log.warning("%s: failed (attempt %d of %d): %s; trying again in %.0f s", label(relpath), failures,
                    self.settings.max_retries, what, action.delay_seconds)
        if kind is None:
            self.probe_after[relpath] = now + action.delay_seconds
        else:
            self.waiting[relpath] = Waiting(relpath, kind, now, now + action.delay_seconds)

    def quarantine(self, relpath: str, tried: str, error: str, internal: bool = False, rejected: bool = False) -> None:
        """Move the source to quarantine/ with its reason; `internal`: set aside for a bug in tgvid, not counted as
        a bad input, and taken back into the inbox at the next start; `rejected`: an input that can never work,
        which the success rate leaves out."""
        advice = INTERNAL_ADVICE if internal else "Fix the file, or move it back into inbox/ to try again."
        reason = quarantine.reason_text(f"inbox/{relpath}", time.time(), BY, tried, error, advice,
                                        retry_at_start=internal)
        try:
            target = quarantine.put(self.inbox / relpath, self.root / "quarantine" / relpath, reason, missing_ok=True)
        except OSError as move_error:
            self.leave_alone(relpath, f"moving it to quarantine ({error})", move_error)
            return
        shutil.rmtree(self.work / job_id(relpath), ignore_errors=True)
        self.history.quarantined += not internal
        self.history.rejected += rejected
        self.history.jobs.pop(relpath, None)
        self.failures.pop(relpath, None)
        self.handoff_failures.pop(relpath, None)
        self.waiting.pop(relpath, None)
        self.looked.pop(relpath, None)
        self.probe_after.pop(relpath, None)
        log.error("%s: %s as %s: %s", label(relpath), "a bug in tgvid: set aside until the next start" if internal
                  else "quarantined", target.relative_to(self.root), error)

    def handoff_failed(self, job: Waiting, error: OSError, now: float) -> None:
        """The file system refused a handoff (a full disk, a read-only outbox/): not the file's fault, so it is tried
        again with backoff while the daemon runs, and a condition is logged once, not at every try. A handoff
        marker, when it was written, keeps what part was done; without one the (finished) job runs again."""
        tries, told = self.handoff_failures.get(job.relpath, (0, ""))
        condition = error.strerror or str(error)
        if condition != told:
            log.error("%s: handing it on failed: %s; trying again while the daemon runs", label(job.relpath), error)
        self.handoff_failures[job.relpath] = (tries + 1, condition)
        delay = backoff_seconds(tries + 1, self.settings.retry_backoff_seconds, NO_SPACE_RETRY_SECONDS)
        self.waiting[job.relpath] = replace(job, not_before=now + delay)

    def handed_on(self, relpath: str, target: Path) -> None:
        tries, _ = self.handoff_failures.pop(relpath, (0, ""))
        if tries:
            log.info("%s: handed on to outbox/%s after %d failed tries", label(relpath),
                     target.relative_to(self.root / "outbox"), tries)

    def source_gone(self, relpath: str) -> None:
        """The source left the inbox before its job ended (deleted, or moved away): what was made from it is
        scratch. A handoff marker stays: the handoff moved the source and is finished from the marker."""
        job_dir = self.work / job_id(relpath)
        removed = job_dir.exists() and not (job_dir / handoff.MARKER).exists()
        if removed:
            shutil.rmtree(job_dir, ignore_errors=True)
        self.history.sources_gone += 1
        self.history.jobs.pop(relpath, None)
        self.waiting_for_space.discard(relpath)
        self.failures.pop(relpath, None)
        self.handoff_failures.pop(relpath, None)
        self.waiting.pop(relpath, None)
        self.looked.pop(relpath, None)
        log.info("%s: the source is gone from the inbox (deleted or moved away) before its job ended; %s",
                 label(relpath), "its job folder is removed" if removed else "forgotten")

    def leave_alone(self, relpath: str, doing: str, error: Exception) -> None:
        """The file system refuses a move this file needs (to quarantine from a read-only inbox folder, say), or a
        handoff marker cannot be read here: say so once and leave the file until it changes, instead of trying again
        every second; the next start, or a change to the file, tries again."""
        self.left_alone[relpath] = self.arrivals.seen.get(relpath)
        self.waiting.pop(relpath, None)
        self.looked.pop(relpath, None)
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
        snapshot = replace(copy.deepcopy(self.history), updated_at=0.0)  # deep: the tallies change in place
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
