"""A job: one source taken from probe to a verified output, resumable from its checkpoint at every step.

    probe → verdict → plan → segments → audio → join → verify → output

`run_job` is the one entry point for the one-shot CLI and the daemon. Pass and image verdicts write
nothing (the source itself is the output). Everything else is built in the job folder and the verified
result is renamed into `output` last, so a reader never sees a half-written file.
"""

import concurrent.futures
import errno
import functools
import logging
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from fractions import Fraction
from pathlib import Path

from tgvid import durable
from tgvid.errors import CheckpointError, NoSpace, Rejected, TranscodeFailed, VerifyFailed
from transcoder import checkpoint as checkpoints
from transcoder import colour, heartbeat, pool, tonemap
from transcoder.audio import encode_audio
from transcoder.checkpoint import Checkpoint, JobState, Segment, Unit, UnitState
from transcoder.join import Track, join, parameter_sets, shown_span
from transcoder.picture import orientation_filters, plan_picture
from transcoder.plan import PlannedSegment, plan_segments
from transcoder.probe import Probe, packets_per_segment, probe
from transcoder.segment import EncoderSettings, SegmentSource, SegmentWork, encoder_time_base
from transcoder.verdict import Kind, Verdict, decide
from transcoder.verify import ColourSource, Expectation, Mode, OutputFacts, verify

log = logging.getLogger(__name__)

DEFAULT_FRAME_RATE = Fraction(25)
AUDIO_FILE = "audio.m4a"
JOINED_FILE = "joined.mp4"


@dataclass(frozen=True)
class EngineSettings:
    """The settings that shape an output; a change starts a job afresh."""

    segment_seconds: float = 10.0
    crf: int = 23
    preset: str = "veryfast"
    max_height: int = 0
    salvage: bool = False

    @classmethod
    def from_config(cls, section) -> "EngineSettings":
        return cls(section.segment_seconds, section.crf, section.preset, section.max_height, section.salvage)


@dataclass(frozen=True)
class JobResult:
    status: str  # "done" or "yielded"
    verdict: Verdict
    output: Path | None  # the file to hand on: `output`, or the source itself for pass and image
    duration_seconds: float = 0.0
    width: int = 0
    height: int = 0
    has_audio: bool = False


@dataclass(frozen=True)
class Job:
    """What every stage of one job works from; the checkpoint holds what changes."""

    source: Path
    job_dir: Path
    output: Path
    settings: EngineSettings
    label: str
    should_yield: Callable[[], bool]
    on_progress: Callable[[Checkpoint], None]
    verdict_logged: bool  # the caller has logged the verdict already: only at DEBUG here
    pool: pool.PoolSettings  # where the segments are encoded
    verify_mode: Mode


def run_job(source: Path, job_dir: Path, output: Path, settings: EngineSettings, *, label: str = "",
            should_yield: Callable[[], bool] = lambda: False,
            on_progress: Callable[[Checkpoint], None] = lambda checkpoint: None,
            verdict_logged: bool = False, segment_pool: pool.PoolSettings = pool.LOCAL,
            verify_mode: Mode = Mode.PACKETS) -> JobResult:
    """Make `output` from `source`, resuming from `job_dir`'s checkpoint. See the module docstring.

    `verdict_logged`: the caller has already logged the verdict and its reasons (the daemon, when it queued the
    file), so this run logs them at DEBUG only. `segment_pool`: where the segments are encoded (transcoder.pool);
    `verify_mode`: how the joined file is checked (transcoder.verify).

    Raises Rejected (never retry), TranscodeFailed or VerifyFailed (may retry), NoSpace (wait for space).
    """
    job = Job(Path(source), Path(job_dir), Path(output), settings, label or Path(source).name, should_yield,
              on_progress, verdict_logged, segment_pool, Mode(verify_mode))
    heartbeat.watch(checkpoints.path_in(job.job_dir))
    try:
        return _run(job)
    except OSError as error:
        if error.errno == errno.ENOSPC:
            raise NoSpace(job.source, f"the disk filled up while writing to {job.job_dir}; the job resumes later") \
                from error
        raise
    finally:
        heartbeat.watch(None)


def _run(job: Job) -> JobResult:
    """The stages, in order: probe → verdict → plan → segments → audio → join → verify → output."""
    probed = probe(job.source)
    verdict = _decide(job, probed)
    if verdict.kind in (Kind.PASS, Kind.IMAGE):
        return as_it_is(job.source, verdict, probed)
    state = _plan(job, verdict, probed)
    verdict = checkpoints.verdict_of(state.verdict)  # the checkpoint's: it may have been raised to a transcode
    if state.state == JobState.DONE and _output_is_handed_off(job.output, state):
        return _result(verdict, job.output, probe(job.output))
    try:
        return _make(job, probed, verdict, state)
    except VerifyFailed as error:
        if state.segments or not error.fields.get("damaged"):
            raise
        # A copied stream holds frames that decode only with errors (a file cut off mid-frame): re-encoding
        # turns the decoder's best picture into a clean one.
        log.warning("%s: %s; re-encoding the video instead", job.label, error.reason)
        verdict = replace(verdict, kind=Kind.TRANSCODE, reasons=(*verdict.reasons, error.reason))
        _clear(job.job_dir)
        state = _new_checkpoint(job, checkpoints.fingerprint(job.source), verdict, probed)
        checkpoints.save(job.job_dir, state)
        return _make(job, probed, verdict, state)


def _make(job: Job, probed: Probe, verdict: Verdict, state: Checkpoint) -> JobResult:
    state.attempts += 1
    state.state = JobState.ENCODING
    checkpoints.save(job.job_dir, state)
    audio_to_do = state.audio is not None and not checkpoints.unit_is_intact(job.job_dir, state.audio)
    encode_audio_meanwhile = functools.partial(_encode_audio_unit, job, verdict.audio_index, state) if audio_to_do \
        else lambda: None
    if not _encode_segments(job, probed, state, meanwhile=encode_audio_meanwhile):
        return JobResult("yielded", verdict, None)
    expectation = _join(job, probed, verdict, state)
    facts = _verify(job, expectation, state)
    _check_source_unchanged(job.source, state)
    state.state = JobState.DONE
    checkpoints.save(job.job_dir, state)
    durable.atomic_rename(job.job_dir / JOINED_FILE, job.output)
    log.info("%s: converted and verified (%.2f s, %dx%d)", job.label, facts.duration_seconds, facts.width,
             facts.height)
    return JobResult("done", verdict, job.output, facts.duration_seconds, facts.width, facts.height, facts.has_audio)


def _decide(job: Job, probed: Probe) -> Verdict:
    verdict = decide(probed, job.settings.salvage)
    if verdict.kind == Kind.REJECT:
        raise Rejected(job.source, "; ".join(verdict.reasons))
    log.log(logging.DEBUG if job.verdict_logged else logging.INFO, "%s: %s (%s)", job.label, verdict.kind.value,
            "; ".join(verdict.reasons))
    for warning in verdict.warnings:
        log.warning("%s: %s", job.label, warning)
    return verdict


def as_it_is(source: Path, verdict: Verdict, probed: Probe) -> JobResult:
    """Pass and image verdicts: the source itself is the output, nothing is written."""
    video = probed.video
    span = probed.span_of(video.index)
    duration = (span[1] - span[0]) if span else (probed.declared_seconds or 0.0)
    return JobResult("done", verdict, source, duration, video.width, video.height, verdict.audio_index is not None)


def _check_source_unchanged(source: Path, state: Checkpoint) -> None:
    """Raise TranscodeFailed when the source is no longer the file the plan was made from (replaced or
    rewritten while it was converted): what came from it since may mix two files. The next attempt sees a
    new fingerprint and starts afresh."""
    if not checkpoints.same_source(state.source, checkpoints.fingerprint(source)):
        raise TranscodeFailed(source, "the file changed while it was converted; it is converted again from the start")


def _result(verdict: Verdict, output: Path, probed: Probe) -> JobResult:
    span = probed.span_of(probed.video.index)
    return JobResult("done", verdict, output, span[1] - span[0], probed.video.width, probed.video.height,
                     bool(probed.audio))


def _output_is_handed_off(output: Path, state: Checkpoint) -> bool:
    """A crash between the rename into `output` and the caller's cleanup: the work is already done."""
    if state.output is None or not output.exists():
        return False
    return output.stat().st_size == state.output.size_bytes and checkpoints.sha256_of(output) == state.output.sha256


def _plan(job: Job, verdict: Verdict, probed: Probe) -> Checkpoint:
    """The job's checkpoint: the one in the job folder when it is of this source and these settings, else a new
    plan."""
    job_dir, label = job.job_dir, job.label
    job_dir.mkdir(parents=True, exist_ok=True)
    source_print = checkpoints.fingerprint(job.source)
    try:
        state = checkpoints.load(job_dir)
    except CheckpointError.NewerVersion as error:
        log.warning("%s: %s; starting afresh", label, error.message)
        state = None
    except CheckpointError as error:
        if checkpoints.path_in(job_dir).exists():
            kept = checkpoints.set_aside(job_dir)
            log.warning("%s: %s; set aside as %s, starting afresh", label, error.message, kept.name)
        state = None
    if state is not None:
        same_source = checkpoints.same_source(state.source, source_print)
        if same_source and state.settings == asdict(job.settings):
            if state.segments:
                log.info("%s: resumed from its checkpoint: %s", label, state.segments_to_do_text())
            _remove_scratch(job_dir, state)
            for unit in [*state.segments, state.audio]:
                if unit is not None and unit.state == UnitState.ENCODING:
                    unit.state = UnitState.PENDING  # in flight when the last run ended: not started yet in this one
            return state
        why = "the source changed" if not same_source else "the settings changed"
        log.info("%s: %s since the checkpoint was written; starting afresh", label, why)
    _clear(job_dir)
    state = _new_checkpoint(job, source_print, verdict, probed)
    checkpoints.save(job_dir, state)
    return state


def _clear(job_dir: Path) -> None:
    for leftover in job_dir.iterdir():
        if leftover.name != checkpoints.SET_ASIDE_NAME:
            leftover.unlink()


def _remove_scratch(job_dir: Path, state: Checkpoint) -> None:
    """Delete files no checkpoint entry claims: temp files of a unit that was in flight at the crash."""
    claimed = {checkpoints.FILE_NAME, checkpoints.SET_ASIDE_NAME}
    claimed |= {u.file for u in [*state.segments, state.audio, state.output] if u and u.file}
    for path in job_dir.iterdir():
        if path.name not in claimed and path.suffix != tonemap.LUT_SUFFIX:
            path.unlink()


def _new_checkpoint(job: Job, source_print: dict, verdict: Verdict, probed: Probe) -> Checkpoint:
    video = probed.video
    span = probed.span_of(video.index)
    state = Checkpoint(
        job_id=job.job_dir.name, source=source_print, settings=asdict(job.settings),
        verdict=checkpoints.verdict_map(verdict),
        duration_seconds=(span[1] - span[0]) if span else (probed.declared_seconds or 0.0),
        time_base=(video.time_base.numerator, video.time_base.denominator),
    )
    if verdict.kind == Kind.TRANSCODE:
        plan = segment_plan(probed, job.settings.segment_seconds, job.pool.workers or pool.cores())
        index = probed.index
        packets = packets_per_segment(Path(probed.path), video.index, [p.start_pts for p in plan]) \
            if index.has_timestamps else [index.packet_count]
        state.segments = segments_of(plan, packets, video.time_base)
    if verdict.audio_index is not None and not verdict.audio_copy:
        state.audio = Unit()
    return state


def segment_plan(probed: Probe, segment_seconds: float, workers: int) -> list[PlannedSegment]:
    """The segments of a transcode for `workers` side by side, from the probe's keyframe index alone (one segment
    without timestamps)."""
    index = probed.index
    if not index.has_timestamps:
        return plan_segments((), 0, 0, probed.video.time_base, segment_seconds)
    return plan_segments(index.keyframe_pts, index.first_pts, index.end_pts, probed.video.time_base, segment_seconds,
                         workers)


def segments_of(plan: list[PlannedSegment], packets: list[int], time_base: Fraction) -> list[Segment]:
    """The checkpoint's segments for `plan`, each expecting as many frames as the source has packets in it."""
    return [
        Segment(index=p.index, start_pts=p.start_pts, end_pts=p.end_pts, decode_from_pts=p.decode_from_pts,
                start_seconds=float(p.start_pts * time_base),
                end_seconds=None if p.end_pts is None else float(p.end_pts * time_base), planned_frames=count)
        for p, count in zip(plan, packets, strict=True)
    ]


def encoder_settings(probed: Probe, settings: EngineSettings, lut_dir: Path) -> EncoderSettings:
    """What every segment of the job is encoded with. HDR sources get the tone-mapping table in `lut_dir`."""
    video = probed.video
    full_range = colour.of_source(video).full_range
    tone_map = tonemap.filters(video.color_trc, lut_dir, full_range) if tonemap.is_hdr(video.color_trc) else ()
    picture = plan_picture(video, settings.max_height, tone_map)
    frame_rate = video.frame_rate if video.frame_rate else DEFAULT_FRAME_RATE
    has_timestamps = probed.index is not None and probed.index.has_timestamps
    time_base = encoder_time_base(video.time_base) if has_timestamps else 1 / frame_rate
    return EncoderSettings(picture.width, picture.height, settings.crf, settings.preset, time_base, frame_rate,
                           picture.filters, picture.source_colour, picture.colour)


def _encode_segments(job: Job, probed: Probe, state: Checkpoint, meanwhile: Callable[[], None]) -> bool:
    """Encode every segment that is not intact on disk, in the segment pool; each is checkpointed as it completes.
    Once the last segment is in the pool, `meanwhile` runs here while the workers finish (the audio, which would
    otherwise wait for the last segment; it runs also when no segment is to do). False when it stopped early to
    yield: no segment starts once `should_yield` says so, those in flight finish, `meanwhile` does not run."""
    job_dir, label = job.job_dir, job.label
    total = len(state.segments)
    to_do = []
    for segment in state.segments:
        if checkpoints.unit_is_intact(job_dir, segment):
            continue
        if segment.state == UnitState.DONE:
            log.warning("%s: segment %d/%d: its file is missing or damaged; encoding it again", label,
                        segment.index + 1, total)
        to_do.append(segment)
    if not to_do:
        meanwhile()
        return True
    encoder = encoder_settings(probed, job.settings, job_dir)
    workers, threads = pool.local_workers(job.pool, encoder.width, encoder.height, len(to_do))
    video = probed.video
    source = SegmentSource(job.source, video.position, video.time_base, probed.index.has_timestamps)
    keyframes = frozenset(probed.index.keyframe_pts)
    in_flight: dict = {}
    clock = EncodingClock()
    try:
        with pool.Pool(workers, threads, checkpoints.path_in(job_dir), job.pool.cluster) as segments:
            log.info("%s: %d segment(s) to encode on %s", label, len(to_do), segments.where)
            for segment in to_do:
                while len(in_flight) >= segments.capacity:
                    _collect(job, state, in_flight, segments.client is not None, clock)
                if job.should_yield():
                    log.info("%s: deferred at segment %d/%d for cheaper work", label, segment.index + 1, total)
                    break
                segment.attempts += 1
                scratch = durable.temp_path_for(job_dir / f"segment-{segment.index:04d}.mp4")
                work = SegmentWork(segment.start_pts, segment.end_pts,
                                   segment.decode_from_pts if segment.index else None, keyframes)
                task = pool.SegmentTask(segment.index, source, work, encoder, segment.planned_frames, scratch, label,
                                        threads, pool.build())
                in_flight[segments.submit(task)] = (segment, scratch)
                segment.state = UnitState.ENCODING  # what `tgvid status` and `tgvid inspect` show while it runs
                checkpoints.save(job_dir, state)
            else:
                meanwhile()
            while in_flight:
                _collect(job, state, in_flight, segments.client is not None, clock)
    except BaseException as error:
        for segment, scratch in in_flight.values():  # the pool has stopped their workers by now
            scratch.unlink(missing_ok=True)
            segment.state = UnitState.PENDING  # saved after a failure; a stop leaves `encoding`, redone all the same
        if isinstance(error, TranscodeFailed):
            checkpoints.save(job_dir, state)
        raise
    return all(s.state == UnitState.DONE for s in state.segments)


class EncodingClock:
    """Counts a run's wall time encoding segments into the checkpoint's `encoding_wall_seconds`, from the start of
    the segment pool up to each segment checkpointed: the time after the last one is lost with the segments in
    flight."""

    def __init__(self):
        self.counted_to = time.monotonic()

    def count(self, state: Checkpoint) -> None:
        now = time.monotonic()
        state.encoding_wall_seconds += now - self.counted_to
        self.counted_to = now


def _collect(job: Job, state: Checkpoint, in_flight: dict, remote: bool, clock: EncodingClock) -> None:
    """Wait for a segment in flight to complete and checkpoint it. Local workers touch the checkpoint as they
    work (a hung one shows as a stalled job); for a cluster's, this wait does."""
    done = set()
    while not done:
        done, _ = concurrent.futures.wait(in_flight, timeout=heartbeat.INTERVAL_SECONDS,
                                          return_when=concurrent.futures.FIRST_COMPLETED)
        if remote:
            heartbeat.beat()
    for future in done:
        segment, scratch = in_flight.pop(future)
        _record(job, state, segment, scratch, future, clock)


def _record(job: Job, state: Checkpoint, segment: Segment, scratch: Path, future, clock: EncodingClock) -> None:
    """Checkpoint a segment a worker has finished (raising what the worker raised)."""
    job_dir, label, total = job.job_dir, job.label, len(state.segments)
    try:
        result = future.result()
        if result.data is not None:
            durable.atomic_write(scratch, result.data)
        _check_source_unchanged(job.source, state)
    except TranscodeFailed as error:
        scratch.unlink(missing_ok=True)
        segment.state = UnitState.PENDING
        segment.last_error = error.reason
        state.last_error = error.message  # checkpointed with the segments still in flight, once they are stopped
        raise
    except BaseException:
        scratch.unlink(missing_ok=True)
        raise
    segment.frames, segment.encode_seconds, segment.encoded_on = result.frames, result.encode_seconds, result.where
    segment.attempts += result.attempts - 1
    segment.last_error = ""
    name = f"segment-{segment.index:04d}.mp4"
    if segment.frames:
        os.replace(scratch, job_dir / name)
        checkpoints.record_file(segment, job_dir / name)
    else:
        segment.state = UnitState.DONE  # no source frame falls in its range: nothing to join
    clock.count(state)
    checkpoints.save(job_dir, state)
    done = state.segments_done()
    log.info("%s: segment %d/%d done (%d %%) on %s in %.1f s", label, segment.index + 1, total, 100 * done // total,
             result.where, result.encode_seconds, extra={"progress": True})
    job.on_progress(state)


def _encode_audio_unit(job: Job, audio_index: int, state: Checkpoint) -> None:
    source, job_dir, label = job.source, job.job_dir, job.label
    scratch = durable.temp_path_for(job_dir / AUDIO_FILE)
    state.audio.attempts += 1
    state.audio.state = UnitState.ENCODING
    checkpoints.save(job_dir, state)
    started = time.monotonic()
    try:
        encode_audio(source, audio_index, scratch, label)
    except BaseException:
        scratch.unlink(missing_ok=True)
        raise
    os.replace(scratch, job_dir / AUDIO_FILE)
    state.audio.encode_seconds = time.monotonic() - started
    checkpoints.record_file(state.audio, job_dir / AUDIO_FILE)
    checkpoints.save(job_dir, state)
    log.info("%s: audio encoded", label)


def _join(job: Job, probed: Probe, verdict: Verdict, state: Checkpoint) -> Expectation:
    """Join the video (segments, or the source's stream) with the audio into JOINED_FILE; what it must show."""
    source, job_dir = job.source, job.job_dir
    state.state = JobState.JOINING
    checkpoints.save(job_dir, state)
    video_span = probed.span_of(probed.video.index)
    if state.segments:
        files = tuple(job_dir / s.file for s in state.segments if s.file)
        _check_parameter_sets(job_dir, state, files, source)
        video = Track(files, 0, restamp=True)
        frames = sum(s.frames for s in state.segments)
        # Frames that never decode (an HLS segment cut mid-GOP) are not in the output: what was encoded counts.
        video_span = shown_span(files)
    else:
        video = Track((source,), probed.video.index)
        frames = None
    audio = None
    if state.audio is not None:
        audio = Track((job_dir / state.audio.file,), 0)
    elif verdict.audio_index is not None:
        audio = Track((source,), verdict.audio_index)
    audio_span = probed.span_of(verdict.audio_index) if verdict.audio_index is not None else None
    starts = [span[0] for span in (probed.span_of(probed.video.index), audio_span) if span]
    offset = Fraction(min(starts)).limit_denominator(10**9) if starts else Fraction(0)
    join(video, audio, job_dir / JOINED_FILE, offset, job.label)
    return Expectation(
        video_seconds=video_span[1] - video_span[0], frames=frames, has_audio=audio is not None,
        audio_end_minus_video_end=(audio_span[1] - video_span[1]) if audio_span else None,
        colour_source=ColourSource(Path(job.source), probed.video.position, colour.of_source(probed.video),
                                   orientation_filters(probed.video.display_matrix)) if state.segments else None)


def _verify(job: Job, expectation: Expectation, state: Checkpoint) -> OutputFacts:
    """Check the joined file against `expectation` (VerifyFailed), then record it as the job's output."""
    state.state = JobState.VERIFYING
    checkpoints.save(job.job_dir, state)
    joined = job.job_dir / JOINED_FILE
    facts = verify(joined, expectation, job.verify_mode)
    state.output = Unit()
    checkpoints.record_file(state.output, joined)
    return facts


def _check_parameter_sets(job_dir: Path, state: Checkpoint, files, source) -> None:
    """Segments join only when their SPS/PPS are byte-identical; a segment that differs is encoded again."""
    reference = parameter_sets(files[0])
    encoded = [s for s in state.segments if s.file]
    stale = [s for s, path in zip(encoded, files, strict=True) if parameter_sets(path) != reference]
    if stale:
        for segment in stale:
            segment.state = UnitState.PENDING
            segment.last_error = "parameter sets differ from segment 0's"
        checkpoints.save(job_dir, state)
        numbers = ", ".join(str(s.index) for s in stale)
        raise TranscodeFailed(source, f"segments {numbers} were encoded with other parameter sets; they are redone")
