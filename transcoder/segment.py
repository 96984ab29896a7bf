"""Segment encoding: one piece of the source video made into H.264 on its own (decoded, filtered, encoded), then
decoded whole as the check that it plays (`verify_segment`).

Each segment is written to its own MP4 in the job folder. Every segment of a job is encoded with the same
settings and x264's `stitchable=1`, so that all of them carry the same parameter sets and can be joined by
copying packets (`transcoder.join`). A frame belongs to the segment whose [start_pts, end_pts) holds its
source timestamp; the decoder hands frames out in presentation order, so the segment stops at the first
frame at or past its end, after every earlier frame (open-GOP B-frames included) has come out.
Timestamps stay the source's, in the encoder time base chosen once per job (`encoder_time_base`).
Each decoded frame is tagged with what its values mean (`transcoder.colour`: stated by the source or assumed as
players assume it) before it enters the filters, and the encoder tags the output with what its values mean.
"""

import logging
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

import av

from tgvid.errors import TranscodeFailed, VerifyFailed
from transcoder import heartbeat
from transcoder.colour import Colour
from transcoder.picture import Filter

log = logging.getLogger(__name__)

# Finer time bases (Matroska files made by some tools use 1/1000000000) are rescaled to this one: the MP4
# muxer's 32-bit sample durations overflow otherwise, and 1/90000 still tells frames 11 µs apart.
FALLBACK_TIME_BASE = Fraction(1, 90000)
MAX_TIME_BASE_DENOMINATOR = 1_000_000
# Frames a decoder may reject in a row before the segment fails (a damaged run of packets is skipped).
MAX_DECODE_ERRORS = 50


@dataclass(frozen=True)
class EncoderSettings:
    """Everything that shapes the encoded bitstream; identical for every segment of a job."""

    width: int
    height: int
    crf: int
    preset: str
    time_base: Fraction  # of the encoder and of the segment's timestamps
    frame_rate: Fraction  # written into the SPS timing info; also the step for streams without timestamps
    filters: tuple[Filter, ...]
    source_colour: Colour  # what the decoded frames' values mean
    colour: Colour  # what the encoded frames' values mean, written into the bitstream's VUI


SEEK_BACK_SECONDS = (1, 5, 30)  # how much earlier to seek again when a seek lands past a segment's start


@dataclass(frozen=True)
class SegmentSource:
    """The video stream a job's segments are cut from; the same for every segment of a job."""

    path: Path
    video_position: int  # among the file's video streams
    time_base: Fraction  # of the stream's timestamps
    has_timestamps: bool  # False: frames are timed by the frame rate alone


@dataclass(frozen=True)
class SegmentWork:
    start_pts: int  # in the SOURCE stream's time base
    end_pts: int | None
    decode_from_pts: int | None  # None: decode from the start of the file without seeking
    keyframe_pts: frozenset[int] = frozenset()  # the source's keyframes, as demuxed from the top: a seek's landmarks


def encoder_time_base(source_time_base: Fraction) -> Fraction:
    return source_time_base if source_time_base.denominator <= MAX_TIME_BASE_DENOMINATOR else FALLBACK_TIME_BASE


def decoded_frames(container, stream, decode_from_pts: int | None, label: str):
    """Decoded frames of `stream` in presentation order, from the keyframe at `decode_from_pts`.

    Empty packets are skipped: in Theora and some AVI files they mean "repeat the previous picture",
    which the timestamps already express. A packet the decoder rejects is skipped and counted.
    """
    if decode_from_pts is not None:
        container.seek(decode_from_pts, stream=stream, backward=True)
    errors = 0
    for packet in container.demux(stream):
        heartbeat.beat()
        if packet.size == 0 and packet.pts is not None:
            continue
        try:
            frames = stream.decode(packet)
        except av.FFmpegError as error:
            errors += 1
            if errors > MAX_DECODE_ERRORS:
                raise TranscodeFailed(container.name, f"{errors} packets in a row do not decode ({error})") from error
            log.debug("%s: skipped a packet the decoder rejects: %s", label, error)
            continue
        errors = 0 if frames else errors
        yield from frames


def _build_graph(first_frame, settings: EncoderSettings):
    graph = av.filter.Graph()
    source = settings.source_colour
    # PyAV's add_buffer leaves the buffer's colour unstated; FFmpeg's filters negotiate it from here.
    nodes = [graph.add("buffer", video_size=f"{first_frame.width}x{first_frame.height}",
                       pix_fmt=str(first_frame.format.name), time_base=str(settings.time_base), pixel_aspect="1/1",
                       colorspace=str(source.matrix), range=source.range_name)]
    nodes += [graph.add(name, args) for name, args in settings.filters]
    nodes.append(graph.add("buffersink"))
    graph.link_nodes(*nodes).configure()
    return graph


def _open_encoder(output, settings: EncoderSettings, threads: int):
    stream = output.add_stream("libx264", rate=settings.frame_rate)
    stream.width, stream.height, stream.pix_fmt = settings.width, settings.height, "yuv420p"
    stream.time_base = settings.time_base
    stream.codec_context.time_base = settings.time_base
    # PyAV defaults encoders to slice threads; x264's frame threads are a third faster on two cores.
    stream.codec_context.thread_type = "AUTO"
    stream.codec_context.thread_count = threads
    colour = settings.colour
    stream.codec_context.colorspace = colour.matrix
    stream.codec_context.color_range = colour.range_number
    stream.codec_context.color_primaries = colour.primaries
    stream.codec_context.color_trc = colour.transfer
    stream.options = {
        "crf": str(settings.crf),
        "preset": settings.preset,
        # stitchable: x264 keeps its headers independent of the content, so segments join without re-encoding.
        "x264-params": "stitchable=1",
    }
    return stream


def encode_segment(source: SegmentSource, work: SegmentWork, settings: EncoderSettings, output_path: Path, *,
                   label: str = "", threads: int = 0) -> int:
    """Encode one segment into `output_path` (an MP4 holding one H.264 stream). Returns the frame count.

    `threads`: the decoder's and x264's threads (0 lets FFmpeg choose: one set per core); the segment pool
    shares the cores out among its workers.

    A segment in which no source frame falls (a gap in a variable-rate file) writes no file and returns 0.
    Raises TranscodeFailed when nothing at all decodes.
    """
    # Some demuxers (MPEG-TS, MXF, AVI without an index) land after the keyframe asked for, or on a keyframe
    # whose first bytes they skip. Seeking further back and dropping the frames before the start finds it;
    # decoding from the top of the file is the last resort (slow on long files, but it cannot miss a frame).
    if work.decode_from_pts is not None:
        for back_seconds in (0, *SEEK_BACK_SECONDS):
            decode_from = work.decode_from_pts - round(back_seconds / source.time_base)
            try:
                return _encode(source, replace(work, decode_from_pts=decode_from), settings, output_path, label,
                               threads)
            except SeekMissedStart:
                log.debug("%s: a seek to %s s before the segment's keyframe missed the segment's start", label,
                          back_seconds)
        log.info("%s: no seek found the segment's start; decoding from the beginning of the file", label)
    return _encode(source, replace(work, decode_from_pts=None), settings, output_path, label, threads)


class SeekMissedStart(Exception):
    """After a seek, no known keyframe came before the segment's start (frames would be lost or mistimed),
    or no frame came at all."""


def _encode(source: SegmentSource, work: SegmentWork, settings: EncoderSettings, output_path: Path, label: str,
            threads: int) -> int:
    to_encoder = source.time_base / settings.time_base
    step = max(1, round(1 / (settings.frame_rate * settings.time_base)))
    frames = 0
    last_pts = None
    decoded_any = False
    landed = work.decode_from_pts is None
    # The movie time scale is that of the stream, so that the edit list that places the first frame holds
    # its time exactly; at MP4's default of 1000 the segments' starts would move by up to a millisecond.
    options = {"movie_timescale": str(settings.time_base.denominator)}
    with av.open(str(source.path)) as container, av.open(str(output_path), "w", format="mp4", options=options) as output:
        stream = container.streams.video[source.video_position]
        stream.thread_type = "AUTO"
        stream.codec_context.thread_count = threads
        encoder = _open_encoder(output, settings, threads)
        graph = None
        for position, frame in enumerate(decoded_frames(container, stream, work.decode_from_pts, label)):
            decoded_any = True
            source_pts = frame.pts if source.has_timestamps and frame.pts is not None else None
            if source_pts is None:
                pts = position * step if last_pts is None else last_pts + step
            else:
                if not landed:
                    # After a seek, trust the timestamps only from a keyframe the index knows at that time (some
                    # demuxers shift them after a seek) and only if it comes before the segment's start.
                    landed = frame.key_frame and source_pts in work.keyframe_pts and source_pts <= work.start_pts
                    if not landed and source_pts >= work.start_pts:
                        raise SeekMissedStart
                if source_pts < work.start_pts:
                    continue
                if work.end_pts is not None and source_pts >= work.end_pts:
                    break
                pts = round(source_pts * to_encoder)
            if last_pts is not None and pts <= last_pts:
                pts = last_pts + 1  # a repeated timestamp: the encoder needs them strictly rising
            last_pts = pts
            if graph is None:
                graph = _build_graph(frame, settings)
            frame.pts, frame.time_base = pts, settings.time_base
            _tag(frame, settings.source_colour)
            graph.vpush(frame)
            frames += _drain(graph, encoder, output)
        if graph is not None:
            graph.vpush(None)
            frames += _drain(graph, encoder, output)
            output.mux(encoder.encode(None))
    if graph is None:
        output_path.unlink(missing_ok=True)
        if not decoded_any and work.decode_from_pts is not None:
            raise SeekMissedStart
        if not decoded_any:
            raise TranscodeFailed(source.path, "no video frame decodes")
    return frames


def _tag(frame, colour: Colour) -> None:
    """Say on `frame` what its values mean, so that no filter reads an unstated or misleading tag."""
    frame.colorspace, frame.color_range = colour.matrix, colour.range_number
    frame.color_primaries, frame.color_trc = colour.primaries, colour.transfer


def _drain(graph, encoder, output) -> int:
    count = 0
    while True:
        try:
            filtered = graph.vpull()
        except (av.BlockingIOError, av.EOFError):
            return count
        filtered.pict_type = av.video.frame.PictureType.NONE  # let x264 choose; only the first is forced IDR
        output.mux(encoder.encode(filtered))
        count += 1


def verify_segment(path: Path, frames: int) -> None:
    """Decode an encoded segment whole: it must decode cleanly into `frames` frames. Raises VerifyFailed.

    The segment's edit list is ignored: it can mark a frame to be dropped (the corpus's Theora screencast gives such
    a segment), while the join copies every packet, so every encoded frame must decode. The deblocking filter is
    skipped (a fifth of H.264's decoding time): it only smooths the decoded pixels, which nothing here looks at, and
    no error shows in it; every macroblock is still parsed and reconstructed."""
    decoded = 0
    with av.open(str(path), options={"ignore_editlist": "1"}) as container:
        stream = container.streams.video[0]
        stream.codec_context.options = {"skip_loop_filter": "all"}
        try:
            for packet in container.demux(stream):
                heartbeat.beat()
                for frame in packet.decode():
                    checked_seconds(frame, stream, path)
                    decoded += 1
        except av.FFmpegError as error:
            raise VerifyFailed(path, f"does not decode cleanly: {error}") from error
    if decoded != frames:
        raise VerifyFailed(path, f"decodes into {decoded} frames; {frames} were encoded")


def checked_seconds(frame, stream, path) -> float:
    """A decoded frame's presentation time in seconds; VerifyFailed when it decoded only with errors."""
    seconds = float(frame.pts * stream.time_base)
    if frame.is_corrupt:
        raise VerifyFailed(path, f"the frame at {seconds:.3f} s decodes only with errors", damaged=True)
    return seconds
