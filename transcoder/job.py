"""A job: one source taken from probe to a verified output, resumable from its checkpoint at every step.

    probe → verdict → plan → segments → audio → join → verify → output

`run_job` is the one entry point for the one-shot CLI and the daemon. Pass and image verdicts write
nothing (the source itself is the output). Everything else is built in the job folder and the verified
result is renamed into `output` last, so a reader never sees a half-written file.
"""

import errno
import hashlib
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
from transcoder import heartbeat, tonemap
from transcoder.audio import encode_audio
from transcoder.checkpoint import Checkpoint, JobState, Segment, Unit, UnitState
from transcoder.join import Track, join, parameter_sets, shown_span
from transcoder.picture import plan_picture
from transcoder.plan import plan_segments
from transcoder.probe import Probe, packets_per_segment, probe
from transcoder.segment import EncoderSettings, SegmentWork, encode_segment, encoder_time_base
from transcoder.verdict import Kind, Verdict, decide
from transcoder.verify import Expectation, OutputFacts, verify

log = logging.getLogger(__name__)

FINGERPRINT_EDGE_BYTES = 1 << 20
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


def fingerprint(path: Path) -> dict:
    """Size, mtime and a hash of the size, head and tail: a changed source starts a fresh plan."""
    stat = path.stat()
    digest = hashlib.sha256(str(stat.st_size).encode())
    with open(path, "rb") as handle:
        digest.update(handle.read(FINGERPRINT_EDGE_BYTES))
        handle.seek(max(0, stat.st_size - FINGERPRINT_EDGE_BYTES))
        digest.update(handle.read(FINGERPRINT_EDGE_BYTES))
    return {"path": str(path), "size_bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns,
            "fingerprint": digest.hexdigest()}


def run_job(source: Path, job_dir: Path, output: Path, settings: EngineSettings, *, label: str = "",
            should_yield: Callable[[], bool] = lambda: False,
            on_progress: Callable[[Checkpoint], None] = lambda checkpoint: None,
            verdict_logged: bool = False) -> JobResult:
    """Make `output` from `source`, resuming from `job_dir`'s checkpoint. See the module docstring.

    `verdict_logged`: the caller has already logged the verdict and its reasons (the daemon, when it queued the
    file), so this run logs them at DEBUG only.

    Raises Rejected (never retry), TranscodeFailed or VerifyFailed (may retry), NoSpace (wait for space).
    """
    source, job_dir, output = Path(source), Path(job_dir), Path(output)
    label = label or f"{source.name}"
    heartbeat.watch(checkpoints.path_in(job_dir))
    try:
        return _run(source, job_dir, output, settings, label, should_yield, on_progress, verdict_logged)
    except OSError as error:
        if error.errno == errno.ENOSPC:
            raise NoSpace(source, f"the disk filled up while writing to {job_dir}; the job resumes later") from error
        raise
    finally:
        heartbeat.watch(None)


def _run(source, job_dir, output, settings, label, should_yield, on_progress, verdict_logged) -> JobResult:
    probed = probe(source)
    verdict = decide(probed, settings.salvage)
    if verdict.kind == Kind.REJECT:
        raise Rejected(source, "; ".join(verdict.reasons))
    log.log(logging.DEBUG if verdict_logged else logging.INFO, "%s: %s (%s)", label, verdict.kind.value,
            "; ".join(verdict.reasons))
    for warning in verdict.warnings:
        log.warning("%s: %s", label, warning)
    if verdict.kind in (Kind.PASS, Kind.IMAGE):
        video = probed.video
        span = probed.span_of(video.index)
        duration = (span[1] - span[0]) if span else (probed.declared_seconds or 0.0)
        return JobResult("done", verdict, source, duration, video.width, video.height, verdict.audio_index is not None)

    job_dir.mkdir(parents=True, exist_ok=True)
    state = _resume_or_start(job_dir, source, settings, verdict, probed, label)
    verdict = _verdict_of(state)  # the checkpoint's: it may have been raised to a transcode (below)
    if state.state == JobState.DONE and _output_is_handed_off(output, state):
        return _result(verdict, output, probe(output))
    try:
        return _make(source, job_dir, output, settings, label, probed, verdict, state, should_yield, on_progress)
    except VerifyFailed as error:
        if state.segments or not error.fields.get("damaged"):
            raise
        # A copied stream holds frames that decode only with errors (a file cut off mid-frame): re-encoding
        # turns the decoder's best picture into a clean one.
        log.warning("%s: %s; re-encoding the video instead", label, error.reason)
        verdict = replace(verdict, kind=Kind.TRANSCODE, reasons=(*verdict.reasons, error.reason))
        _clear(job_dir)
        state = _new_checkpoint(job_dir.name, fingerprint(source), asdict(settings), verdict, probed, settings)
        checkpoints.save(job_dir, state)
        return _make(source, job_dir, output, settings, label, probed, verdict, state, should_yield, on_progress)


def _make(source, job_dir, output, settings, label, probed, verdict, state, should_yield, on_progress) -> JobResult:
    state.attempts += 1
    state.state = JobState.ENCODING
    checkpoints.save(job_dir, state)
    finished = _encode_segments(source, job_dir, probed, settings, state, label, should_yield, on_progress)
    if not finished:
        return JobResult("yielded", verdict, None)
    if state.audio is not None and not checkpoints.unit_is_intact(job_dir, state.audio):
        _encode_audio_unit(source, job_dir, verdict.audio_index, state, label)
    facts = _join_and_verify(source, job_dir, probed, verdict, state, label)
    _check_source_unchanged(source, state)
    state.state = JobState.DONE
    checkpoints.save(job_dir, state)
    durable.atomic_rename(job_dir / JOINED_FILE, output)
    log.info("%s: converted and verified (%.2f s, %dx%d)", label, facts.duration_seconds, facts.width, facts.height)
    return JobResult("done", verdict, output, facts.duration_seconds, facts.width, facts.height, facts.has_audio)


def _check_source_unchanged(source: Path, state: Checkpoint) -> None:
    """Raise TranscodeFailed when the source is no longer the file the plan was made from (replaced or
    rewritten while it was converted): what came from it since may mix two files. The next attempt sees a
    new fingerprint and starts afresh."""
    if not _same_source(state.source, fingerprint(source)):
        raise TranscodeFailed(source, "the file changed while it was converted; it is converted again from the start")


def _same_source(recorded: dict, now: dict) -> bool:
    """Whether two fingerprints are of the same file: a touch or a change in the middle counts as a new file."""
    return all(recorded[key] == now[key] for key in ("size_bytes", "mtime_ns", "fingerprint"))


def _result(verdict: Verdict, output: Path, probed: Probe) -> JobResult:
    span = probed.span_of(probed.video.index)
    return JobResult("done", verdict, output, span[1] - span[0], probed.video.width, probed.video.height,
                     bool(probed.audio))


def _output_is_handed_off(output: Path, state: Checkpoint) -> bool:
    """A crash between the rename into `output` and the caller's cleanup: the work is already done."""
    if state.output is None or not output.exists():
        return False
    return output.stat().st_size == state.output.size_bytes and checkpoints.sha256_of(output) == state.output.sha256


def _resume_or_start(job_dir: Path, source: Path, settings: EngineSettings, verdict: Verdict, probed: Probe,
                     label: str) -> Checkpoint:
    source_print = fingerprint(source)
    settings_map = asdict(settings)
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
        same_source = _same_source(state.source, source_print)
        if same_source and state.settings == settings_map:
            if state.segments:
                log.info("%s: resumed from its checkpoint: %s", label, state.segments_to_do_text())
            _remove_scratch(job_dir, state)
            return state
        why = "the source changed" if not same_source else "the settings changed"
        log.info("%s: %s since the checkpoint was written; starting afresh", label, why)
    _clear(job_dir)
    state = _new_checkpoint(job_dir.name, source_print, settings_map, verdict, probed, settings)
    checkpoints.save(job_dir, state)
    return state


def _clear(job_dir: Path) -> None:
    for leftover in job_dir.iterdir():
        if leftover.name != checkpoints.SET_ASIDE_NAME:
            leftover.unlink()


def _verdict_of(state: Checkpoint) -> Verdict:
    stored = state.verdict
    return Verdict(Kind(stored["kind"]), tuple(stored["reasons"]), tuple(stored["warnings"]), stored["audio_index"],
                   stored["audio_copy"])


def _remove_scratch(job_dir: Path, state: Checkpoint) -> None:
    """Delete files no checkpoint entry claims: temp files of a unit that was in flight at the crash."""
    claimed = {checkpoints.FILE_NAME, checkpoints.SET_ASIDE_NAME}
    claimed |= {u.file for u in [*state.segments, state.audio, state.output] if u and u.file}
    for path in job_dir.iterdir():
        if path.name not in claimed and path.suffix != tonemap.LUT_SUFFIX:
            path.unlink()


def _new_checkpoint(job_id, source_print, settings_map, verdict, probed: Probe, settings) -> Checkpoint:
    video = probed.video
    span = probed.span_of(video.index)
    state = Checkpoint(
        job_id=job_id, source=source_print, settings=settings_map,
        verdict={"kind": verdict.kind.value, "reasons": list(verdict.reasons), "warnings": list(verdict.warnings),
                 "audio_index": verdict.audio_index, "audio_copy": verdict.audio_copy},
        duration_seconds=(span[1] - span[0]) if span else (probed.declared_seconds or 0.0),
        time_base=(video.time_base.numerator, video.time_base.denominator),
    )
    if verdict.kind == Kind.TRANSCODE:
        index = probed.index
        if index.has_timestamps:
            plan = plan_segments(index.keyframe_pts, index.first_pts, index.end_pts, video.time_base,
                                 settings.segment_seconds)
        else:
            plan = plan_segments((), 0, 0, video.time_base, settings.segment_seconds)
        tb = video.time_base
        planned = packets_per_segment(Path(probed.path), video.index, [p.start_pts for p in plan]) \
            if index.has_timestamps else [index.packet_count]
        state.segments = [
            Segment(index=p.index, start_pts=p.start_pts, end_pts=p.end_pts, decode_from_pts=p.decode_from_pts,
                    start_seconds=float(p.start_pts * tb),
                    end_seconds=None if p.end_pts is None else float(p.end_pts * tb), planned_frames=count)
            for p, count in zip(plan, planned, strict=True)
        ]
    if verdict.audio_index is not None and not verdict.audio_copy:
        state.audio = Unit()
    return state


def encoder_settings(probed: Probe, settings: EngineSettings, lut_dir: Path) -> EncoderSettings:
    """What every segment of the job is encoded with. HDR sources get the tone-mapping table in `lut_dir`."""
    video = probed.video
    tone_map = tonemap.filters(video.color_trc, lut_dir) if tonemap.is_hdr(video.color_trc) else ()
    picture = plan_picture(video, settings.max_height, tone_map)
    frame_rate = video.frame_rate if video.frame_rate else DEFAULT_FRAME_RATE
    has_timestamps = probed.index is not None and probed.index.has_timestamps
    time_base = encoder_time_base(video.time_base) if has_timestamps else 1 / frame_rate
    return EncoderSettings(picture.width, picture.height, settings.crf, settings.preset, time_base, frame_rate,
                           picture.filters)


def _encode_segments(source, job_dir, probed, settings, state, label, should_yield, on_progress) -> bool:
    """Encode every segment that is not intact on disk. False when it stopped early to yield."""
    encoder = encoder_settings(probed, settings, job_dir)
    total = len(state.segments)
    for segment in state.segments:
        if checkpoints.unit_is_intact(job_dir, segment):
            continue
        if segment.state == UnitState.DONE:
            log.warning("%s: segment %d/%d: its file is missing or damaged; encoding it again", label,
                        segment.index + 1, total)
        if should_yield():
            log.info("%s: deferred at segment %d/%d for cheaper work", label, segment.index + 1, total)
            return False
        name = f"segment-{segment.index:04d}.mp4"
        scratch = durable.temp_path_for(job_dir / name)
        started = time.monotonic()
        try:
            segment.frames = _encode_counted(source, probed, encoder, segment, scratch, label)
            _check_source_unchanged(source, state)
        except TranscodeFailed as error:
            scratch.unlink(missing_ok=True)
            segment.last_error = error.reason
            state.last_error = error.message
            checkpoints.save(job_dir, state)
            raise
        except BaseException:
            scratch.unlink(missing_ok=True)
            raise
        segment.encode_seconds = time.monotonic() - started
        segment.last_error = ""
        if segment.frames:
            os.replace(scratch, job_dir / name)
            checkpoints.record_file(segment, job_dir / name)
        else:
            segment.state = UnitState.DONE  # no source frame falls in its range: nothing to join
        checkpoints.save(job_dir, state)
        done = state.segments_done()
        log.info("%s: segment %d/%d done (%d %%)", label, segment.index + 1, total, 100 * done // total,
                 extra={"progress": True})
        on_progress(state)
    return True


def _encode_counted(source, probed: Probe, encoder, segment: Segment, scratch: Path, label: str) -> int:
    """Encode a segment and check its frame count against the plan's packet count.

    A mismatch is encoded once more: chunked encoders that skipped this check dropped frames at random.
    The same count twice is the source's own (hidden alt-ref frames, packets that never decode) and is kept.
    """
    video = probed.video
    work = SegmentWork(segment.start_pts, segment.end_pts, segment.decode_from_pts if segment.index else None,
                       frozenset(probed.index.keyframe_pts))

    def encode() -> int:
        segment.attempts += 1
        return encode_segment(source, video.position, work, encoder, video.time_base, probed.index.has_timestamps,
                              scratch, label)

    frames = encode()
    if frames == segment.planned_frames:
        return frames
    log.info("%s: segment %d gave %d frames where the source has %d packets: encoding it again to be sure",
             label, segment.index + 1, frames, segment.planned_frames)
    again = encode()
    if again != frames:
        raise TranscodeFailed(source, f"segment {segment.index + 1} gave {frames}, then {again} frames "
                                      f"(the source has {segment.planned_frames} packets there)")
    log.info("%s: segment %d: %d of %d packets make a picture (hidden or undecodable frames)", label,
             segment.index + 1, again, segment.planned_frames)
    return again


def _encode_audio_unit(source, job_dir, audio_index, state, label) -> None:
    scratch = durable.temp_path_for(job_dir / AUDIO_FILE)
    state.audio.attempts += 1
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


def _join_and_verify(source, job_dir, probed: Probe, verdict: Verdict, state: Checkpoint, label) -> OutputFacts:
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
    scratch = job_dir / JOINED_FILE
    join(video, audio, scratch, offset, label)
    state.state = JobState.VERIFYING
    checkpoints.save(job_dir, state)
    expect = Expectation(
        video_seconds=video_span[1] - video_span[0], frames=frames, has_audio=audio is not None,
        audio_end_minus_video_end=(audio_span[1] - video_span[1]) if audio_span else None)
    facts = verify(scratch, expect)
    state.output = Unit()
    checkpoints.record_file(state.output, scratch)
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
