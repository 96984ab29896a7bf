"""The segment pool: where a job's segments are encoded, several at a time.

A job's coordinator (transcoder.job) hands each segment to the pool as a `SegmentTask` and gets back a
`SegmentDone`; it alone writes the checkpoint, as each segment completes, so a crash loses only the segments in
flight. The pool is either local worker processes (the default, for the one-shot CLI and the daemon alike) or the
workers of a Dask cluster (`transcoder.cluster`, the `tgvid[cluster]` extra).

Local workers (when there is more than one: a single one runs in the coordinator's process) are spawned
processes that die with their coordinator (a killed job leaves no encoder behind writing into its folder) and
that touch the checkpoint as they work (transcoder.heartbeat), so a hung encoder still shows as a stalled job.
Each encodes straight into the segment's scratch file in the job folder.

A Dask worker shares no storage with the coordinator: its task carries the segment's source packets, from the
keyframe its decoding starts at to its end, copied into a small NUT container in memory (NUT carries any codec
with its own timestamps), and returns the encoded segment's bytes. A worker whose build (tgvid, PyAV, x264)
differs from the coordinator's refuses the task (`WrongBuild`): segments of two x264 builds may not join.

Every worker decodes the segment it has just encoded (transcoder.segment.verify_segment), so the decode that
proves a segment runs in parallel as well.
"""

import concurrent.futures
import functools
import io
import logging
import logging.handlers
import os
import signal
import socket
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import av

from tgvid import child
from tgvid.errors import TranscodeFailed
from transcoder import heartbeat
from transcoder.segment import EncoderSettings, SegmentSource, SegmentWork, encode_segment, verify_segment

log = logging.getLogger(__name__)

# What one local worker holds at most, measured (bench/README.md): the interpreter with PyAV and numpy, plus
# about this many decoded and lookahead frames of the output's size (4:2:0, one byte a sample).
WORKER_BASE_MIB = 90
WORKER_FRAMES_HELD = 60
CLUSTER_CONNECT_SECONDS = 5.0
CARRIER_FORMAT = "nut"


class WrongBuild(TranscodeFailed):
    """{path}: a Dask worker refused the segment: {reason}"""


@dataclass(frozen=True)
class SegmentTask:
    """One segment's work, as a worker needs it."""

    index: int
    source: SegmentSource  # the source file (local workers), or the carried packets' file (a Dask worker's own)
    work: SegmentWork
    encoder: EncoderSettings
    planned_frames: int  # the source's packets in the segment's range
    output: Path  # the scratch file to write (local workers; a Dask worker writes its own)
    label: str
    threads: int  # x264's and the decoder's threads; 0 lets FFmpeg choose
    build: str  # the coordinator's `build()`


@dataclass(frozen=True)
class SegmentDone:
    index: int
    frames: int
    attempts: int
    encode_seconds: float  # wall time in the worker, verification decode included
    where: str  # "local pid 1234" or the Dask worker's address
    data: bytes | None = None  # the encoded file, from a Dask worker


@dataclass(frozen=True)
class PoolSettings:
    """Where segments are encoded; unlike the engine's settings, a change does not start a job afresh."""

    workers: int = 0  # 0: one per core
    max_memory_mib: int = 0  # 0: half the memory available when the job starts
    cluster: str = ""  # a Dask scheduler's address; "" for the local pool

    @classmethod
    def from_config(cls, section) -> "PoolSettings":
        return cls(section.workers, section.max_memory_mib, section.cluster)


LOCAL = PoolSettings()  # one worker per core on this machine


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def worker_memory_mib(width: int, height: int) -> int:
    """What one local worker encoding `width`×`height` is expected to hold at its peak."""
    return WORKER_BASE_MIB + (width * height * 3 // 2 * WORKER_FRAMES_HELD >> 20)


def available_memory_mib() -> int:
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") >> 20
    except (ValueError, OSError):
        return 1 << 20  # not known: no limit from memory


def local_workers(settings: PoolSettings, width: int, height: int, segments: int) -> tuple[int, int]:
    """(workers, threads each): `settings.workers` (0: one per core), lowered to what the memory budget holds
    and to the number of segments; the cores are shared out among the workers' encoders."""
    budget = settings.max_memory_mib or available_memory_mib() // 2
    wanted = settings.workers or cores()
    workers = max(1, min(wanted, budget // worker_memory_mib(width, height), segments))
    return workers, max(1, cores() // workers)


@functools.cache
def build() -> str:
    """This machine's tgvid, PyAV, FFmpeg and x264 builds, as one line. x264's is read from the version line it
    writes into every stream it encodes."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        tgvid_version = version("tgvid")
    except PackageNotFoundError:
        tgvid_version = "unknown"
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="h264") as output:
        stream = output.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 16, 16, "yuv420p"
        frame = av.VideoFrame(16, 16, "yuv420p")  # what the picture shows does not matter
        output.mux(stream.encode(frame))
        output.mux(stream.encode(None))
    data = buffer.getvalue()
    start = data.find(b"x264 - core")
    x264 = data[start:data.find(b" - ", start + 12)].decode("ascii", "replace") if start >= 0 else "unknown"
    return f"tgvid {tgvid_version}, PyAV {av.__version__}, libavcodec {av.library_versions['libavcodec']}, {x264}"


def encode_task(task: SegmentTask) -> SegmentDone:
    """Encode one segment into `task.output`, check its frame count against the plan's packet count and decode it.

    A count that differs from the plan's is encoded once more: chunked encoders that skipped this check dropped
    frames at random. The same count twice is the source's own (hidden alt-ref frames, packets that never decode)
    and is kept. Raises TranscodeFailed (two different counts, nothing decodes) or VerifyFailed (the segment does
    not decode cleanly).
    """
    started = time.monotonic()
    attempts = 1
    frames = _encode_once(task)
    if frames != task.planned_frames:
        log.info("%s: segment %d gave %d frames where the source has %d packets: encoding it again to be sure",
                 task.label, task.index + 1, frames, task.planned_frames)
        attempts += 1
        again = _encode_once(task)
        if again != frames:
            raise TranscodeFailed(task.source.path, f"segment {task.index + 1} gave {frames}, then {again} frames "
                                                    f"(the source has {task.planned_frames} packets there)")
        log.info("%s: segment %d: %d of %d packets make a picture (hidden or undecodable frames)", task.label,
                 task.index + 1, again, task.planned_frames)
    if frames:
        verify_segment(task.output, frames)
    return SegmentDone(task.index, frames, attempts, time.monotonic() - started, f"local pid {os.getpid()}")


def _encode_once(task: SegmentTask) -> int:
    return encode_segment(task.source, task.work, task.encoder, task.output, label=task.label, threads=task.threads)


def _local_worker_start(parent_pid: int, checkpoint: Path, log_records) -> None:
    child.die_with_parent(parent_pid)
    heartbeat.watch(checkpoint)
    root = logging.getLogger()
    root.handlers[:] = [logging.handlers.QueueHandler(log_records)]
    root.setLevel(logging.DEBUG)  # the coordinator decides what it keeps (_AsIfLoggedHere)


class _AsIfLoggedHere(logging.Handler):
    """A local worker's log record, handled by the coordinator's logger of the same name as if logged there."""

    def emit(self, record: logging.LogRecord) -> None:
        logger = logging.getLogger(record.name)
        if logger.isEnabledFor(record.levelno):
            logger.handle(record)


class Pool:
    """Segments encoded `capacity` at a time; `submit` returns a concurrent.futures.Future of a SegmentDone."""

    def __init__(self, capacity: int, threads: int, checkpoint: Path, cluster: str = ""):
        self.capacity, self.threads, self.client = capacity, threads, None
        self.local = self.log_listener = None
        if cluster:
            self.client = _connect(cluster)
        if self.client is not None:
            self.capacity = max(1, sum(w.get("nthreads", 1) for w in self.client.scheduler_info()["workers"].values()))
            self.threads = 0
        elif capacity > 1:
            self.log_records = log_records = child.CONTEXT.Queue()
            self.log_listener = logging.handlers.QueueListener(log_records, _AsIfLoggedHere())
            self.log_listener.start()
            self.local = concurrent.futures.ProcessPoolExecutor(
                capacity, mp_context=child.CONTEXT, initializer=_local_worker_start,
                initargs=(os.getpid(), checkpoint, log_records))

    def __enter__(self) -> "Pool":
        return self

    def __exit__(self, exc_type, *exc) -> None:
        self.close(abandon=exc_type is not None)

    @property
    def where(self) -> str:
        if self.client is not None:
            return f"the Dask cluster at {self.client.scheduler.address} ({self.capacity} worker threads)"
        return f"{self.capacity} local worker(s), {self.threads} thread(s) each"

    def submit(self, task: SegmentTask) -> concurrent.futures.Future:
        task = replace(task, threads=self.threads)
        if self.client is None and self.local is None:
            return _run_here(task)
        if self.client is None:
            # Workers start with SIGINT blocked, as the job's own child does (tgvid.child): a terminal's Ctrl-C
            # reaches the whole process group, and only the coordinator decides what it means.
            previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
            try:
                return self.local.submit(encode_task, task)
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        packets, carried = carrier_of(task)
        remote = self.client.submit(encode_remote, carried, packets, pure=False, retries=2)
        future = concurrent.futures.Future()

        def finished(done) -> None:
            try:
                future.set_result(done.result())
            except BaseException as error:
                future.set_exception(error)

        remote.add_done_callback(finished)
        future.remote = remote  # keeps the Dask future (and with it the task) alive until it is collected
        return future

    def close(self, abandon: bool = False) -> None:
        """Wait for the workers to end; `abandon`: kill them first (the job stops: Ctrl-C, a failed segment)."""
        if self.local is not None:
            if abandon:
                # ProcessPoolExecutor.kill_workers arrives in Python 3.14; until then, its processes by hand.
                workers = list((getattr(self.local, "_processes", None) or {}).values())
                self.local.shutdown(wait=False, cancel_futures=True)
                for process in workers:
                    process.kill()
            self.local.shutdown(wait=True, cancel_futures=True)
            self.log_listener.stop()
            self.log_records.close()  # and stop the thread that fed it the listener's last word
            self.log_records.join_thread()
        if self.client is not None:
            self.client.close()


def _run_here(task: SegmentTask) -> concurrent.futures.Future:
    """One worker: the segment is encoded in this process, which saves starting another."""
    future = concurrent.futures.Future()
    try:
        future.set_result(encode_task(task))
    except Exception as error:
        future.set_exception(error)
    except BaseException:  # Ctrl-C: the segment is abandoned, its scratch file with it
        task.output.unlink(missing_ok=True)
        raise
    return future


def _connect(address: str):
    """A Dask client of the scheduler at `address`, or None (with a warning) when there is none to reach."""
    try:
        from distributed import Client
    except ImportError:
        log.warning("transcoder.cluster is %s but Dask's distributed is not installed (pip install "
                    "'tgvid[cluster]'); encoding on this machine", address)
        return None
    try:
        # A plain connection first: a Client that fails to connect leaves its event loop's thread running.
        host, _, port = address.split("://")[-1].rpartition(":")
        socket.create_connection((host.strip("[]"), int(port)), timeout=CLUSTER_CONNECT_SECONDS).close()
        return Client(address, timeout=CLUSTER_CONNECT_SECONDS, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as error:
        log.warning("the Dask cluster at %s cannot be reached (%s); encoding on this machine", address, error)
        return None


def carrier_of(task: SegmentTask) -> tuple[bytes, SegmentTask]:
    """The segment's source packets in a NUT container in memory, and the task as it reads in that container:
    decoding starts at the container's first packet, timestamps rescaled into the container's time base."""
    buffer = io.BytesIO()
    work = task.work
    with av.open(str(task.source.path)) as source, av.open(buffer, "w", format=CARRIER_FORMAT) as carrier:
        stream = source.streams.video[task.source.video_position]
        out = carrier.add_stream_from_template(stream)
        packets = list(_segment_packets(source, stream, work))
        _fill_decode_times(packets)
        for packet in packets:
            packet.stream = out
            carrier.mux(packet)
    with av.open(io.BytesIO(buffer.getvalue())) as carried:
        carried_time_base = carried.streams.video[0].time_base
    scale = task.source.time_base / carried_time_base

    def rescaled(pts):
        if pts is None:
            return None
        value = pts * scale
        if value.denominator != 1:
            raise TranscodeFailed(task.source.path, f"the carrier's time base {carried_time_base} cannot hold the "
                                                    f"source's {task.source.time_base} exactly")
        return int(value)

    carried_work = SegmentWork(rescaled(work.start_pts), rescaled(work.end_pts), None,
                               frozenset(rescaled(pts) for pts in work.keyframe_pts))
    carried_source = replace(task.source, video_position=0, time_base=carried_time_base)
    return buffer.getvalue(), replace(task, source=carried_source, work=carried_work)


def _fill_decode_times(packets: list) -> None:
    """Give packets without a decode timestamp one that keeps them rising: NUT needs them, and some demuxers
    (Matroska after a seek, open GOPs) leave the first few unset. Each is put just before the next known one."""
    following = None
    for position in range(len(packets) - 1, -1, -1):
        packet = packets[position]
        if packet.dts is not None:
            following = packet.dts
        elif following is not None:
            following -= 1
            packet.dts = following
    previous = None
    for packet in packets:  # none known after them: just after the last one known
        if packet.dts is None and previous is not None:
            packet.dts = previous + 1
        previous = packet.dts


def _segment_packets(source, stream, work: SegmentWork):
    """The packets a decoder needs for the frames in [start_pts, end_pts): from a known keyframe at or before the
    start up to the first packet decoded at or after the end (every frame shown before the end is decoded before
    it). Demuxes from the top when a seek lands past the start."""
    if work.decode_from_pts is not None:
        source.seek(work.decode_from_pts, stream=stream, backward=True)
    landed = work.decode_from_pts is None
    for packet in source.demux(stream):
        if packet.size == 0 and packet.pts is None:
            continue
        if not landed:
            landed = packet.is_keyframe and packet.pts in work.keyframe_pts and packet.pts <= work.start_pts
            if not landed and packet.pts is not None and packet.pts >= work.start_pts:
                source.seek(0, stream=stream, backward=True)
                yield from _segment_packets(source, stream, replace(work, decode_from_pts=None))
                return
            if not landed:
                continue
        if work.end_pts is not None and packet.dts is not None and packet.dts >= work.end_pts:
            return
        yield packet


def encode_remote(task: SegmentTask, packets: bytes) -> SegmentDone:
    """On a Dask worker: encode the segment from its carried packets; the result holds the encoded file's bytes.
    Raises WrongBuild when this worker's build is not the coordinator's."""
    here = build()
    if here != task.build:
        raise WrongBuild(task.label, f"the Dask worker on {socket.gethostname()} runs {here}, the coordinator "
                                     f"{task.build}: segments of different builds may not join; install the same "
                                     "tgvid, PyAV and x264 on every worker")
    with tempfile.TemporaryDirectory(prefix="tgvid-segment-") as folder:
        carried, output = Path(folder) / "source.nut", Path(folder) / "segment.mp4"
        carried.write_bytes(packets)
        done = encode_task(replace(task, source=replace(task.source, path=carried), output=output))
        data = output.read_bytes() if done.frames else None
    return replace(done, where=_dask_worker_address(), data=data)


def _dask_worker_address() -> str:
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return f"{socket.gethostname()} pid {os.getpid()}"

