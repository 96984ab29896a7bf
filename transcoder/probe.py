"""Probing: what a source holds, as the plain data every later stage reads.

`probe(path)` opens the file with PyAV, describes its streams, decodes just enough to know that the video
(and the first audio track) decode and how the picture is shown (display matrix, interlacing, colour
transfer), and demuxes every packet once, without decoding, to index the video's keyframes and to measure
how far the readable packets reach. Nothing here decides anything: `transcoder.verdict` does.

Timestamps in `VideoIndex` are in the video stream's `time_base`.
"""

import bisect
import math
import struct
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from tgvid.errors import Rejected
from tgvid.formats import IMAGE_FORMATS

IMAGE_CODECS = {"mjpeg", "png", "webp", "bmp", "tiff", "gif", "jpegls", "jpeg2000"}
MP4_FORMAT = "mov,mp4,m4a,3gp,3g2,mj2"
# How many packets of a stream are tried before it counts as undecodable: some files open with a run of
# frames that reference a missing keyframe (an HLS segment cut mid-GOP), and a stream may carry hidden frames.
DECODE_ATTEMPT_PACKETS = 600


@dataclass(frozen=True)
class VideoInfo:
    index: int  # among all streams of the container
    position: int  # among its video streams (PyAV's streams.video[position])
    codec: str
    profile: str | None
    pix_fmt: str | None
    width: int
    height: int
    sample_aspect: Fraction
    display_matrix: tuple[int, ...] | None  # FFmpeg's 3x3 display matrix, row-major, 16.16 fixed point
    interlaced: bool
    color_trc: int  # AVColorTransferCharacteristic: 16 = PQ (SMPTE 2084), 18 = HLG (ARIB STD-B67)
    colorspace: int  # AVColorSpace (the YUV matrix): 1 = BT.709, 5/6 = BT.601, 9 = BT.2020, 2 = not stated
    frame_rate: Fraction | None  # average rate, None when the container gives none
    time_base: Fraction
    color_range: int = 0  # AVColorRange: 1 = limited (TV), 2 = full (PC, JPEG), 0 = not stated
    color_primaries: int = 2  # AVColorPrimaries: 1 = BT.709, 5 = BT.601 625, 6 = BT.601 525, 9 = BT.2020, 2 = not stated


@dataclass(frozen=True)
class AudioInfo:
    index: int
    codec: str
    profile: str | None
    channels: int
    sample_rate: int
    decodable: bool


@dataclass(frozen=True)
class VideoIndex:
    """The video stream's packets, demuxed without decoding. Times in the stream's time base."""

    keyframe_pts: tuple[int, ...]
    packet_count: int
    first_pts: int | None
    end_pts: int | None  # the last packet's pts plus its duration
    has_timestamps: bool


@dataclass(frozen=True)
class Probe:
    path: str
    size_bytes: int
    format_name: str
    major_brand: str
    moov_before_mdat: bool | None  # None when the file is not MP4/QuickTime
    fragmented: bool
    overrun_box: str  # an MP4 box that claims more bytes than the file has ("mdat"), "" when none
    declared_seconds: float | None  # what the container says, None when it says nothing
    readable_seconds: float | None  # how far the packets that can be read reach, from the first
    readable_end_seconds: float | None  # the timestamp where the readable packets end
    video: VideoInfo | None
    video_decodable: bool
    video_problem: str
    audio: tuple[AudioInfo, ...]
    other_streams: tuple[str, ...] = ()  # subtitles, data, extra or empty video tracks: dropped by any rewrite
    index: VideoIndex | None = None
    spans: tuple[tuple[int, float, float], ...] = ()  # (stream index, first packet's time, last one's end) in seconds
    image: bool = False

    def span_of(self, stream_index: int) -> tuple[float, float] | None:
        return next(((start, end) for number, start, end in self.spans if number == stream_index), None)


def mp4_top_level_boxes(path: Path, limit: int = 64) -> list[str]:
    """The types of the top-level MP4 boxes in file order (reads only the box headers).

    A box that claims more bytes than the file has is listed with a trailing "!" ("mdat!").
    """
    boxes = []
    file_size = Path(path).stat().st_size
    with open(path, "rb") as handle:
        while len(boxes) < limit:
            header = handle.read(8)
            if len(header) < 8:
                break
            start = handle.tell() - 8
            size, kind = struct.unpack(">I4s", header)
            boxes.append(kind.decode("latin-1"))
            if size == 1:
                large = handle.read(8)
                if len(large) < 8:
                    break
                size = struct.unpack(">Q", large)[0]
            elif size < 8:  # 0 means "to the end of the file"; below 8 is damage
                break
            if start + size > file_size:
                boxes[-1] += "!"
                break
            handle.seek(start + size)
    return boxes


def _display_matrix(frame) -> tuple[int, ...] | None:
    try:
        side_data = list(frame.side_data)
    except ValueError:
        # PyAV raises on side data types newer than its enum; the rotation alone is still known.
        return rotation_matrix(frame.rotation) if frame.rotation else None
    for data in side_data:
        if data.type.name == "DISPLAYMATRIX":
            return struct.unpack("<9i", bytes(data))
    return None


def rotation_matrix(degrees_counterclockwise: float) -> tuple[int, ...]:
    """FFmpeg's display matrix for a pure rotation (av_display_rotation_set), 16.16 and 2.30 fixed point."""
    radians = math.radians(degrees_counterclockwise)
    cos, sin = round(math.cos(radians) * 65536), round(math.sin(radians) * 65536)
    return (cos, -sin, 0, sin, cos, 0, 0, 0, 1 << 30)


def _open(path: Path):
    return av.open(str(path), metadata_errors="ignore")


def _first_frame(path: Path, stream_index: int):
    """Decode packets of stream `stream_index` until a frame comes out; (frame, problem)."""
    with _open(path) as container:
        return _first_frame_in(container, container.streams[stream_index])


def _first_frame_in(container, stream):
    problem = "no packet"
    tried = 0
    for packet in container.demux(stream):
        if packet.size == 0 and packet.pts is None:
            continue  # the flush packet at the end; decoding it below would only repeat the last error
        tried += 1
        try:
            frames = stream.decode(packet)
        except av.FFmpegError as error:
            problem = f"decoder error: {error}"
            frames = []
        if frames:
            return frames[0], ""
        if tried >= DECODE_ATTEMPT_PACKETS:
            break
    try:
        frames = stream.decode(None)
    except av.FFmpegError as error:
        return None, f"decoder error: {error}"
    if frames:
        return frames[0], ""
    if tried:
        problem = f"none of the first {tried} packets decodes to a picture" if problem == "no packet" else problem
    return None, problem


def _audio_decodes(path: Path, stream_index: int) -> bool:
    with _open(path) as container:
        return _audio_decodes_in(container, container.streams[stream_index])


def _audio_decodes_in(container, stream) -> bool:
    tried = 0
    for packet in container.demux(stream):
        if packet.size == 0:
            continue
        tried += 1
        try:
            if stream.decode(packet):
                return True
        except av.FFmpegError:
            pass
        if tried >= 50:
            return False
    try:
        return bool(stream.decode(None))  # a file with one audio packet yields its frame only when flushed
    except av.FFmpegError:
        return False


def _index_packets(path: Path, video_index: int | None, stream_indexes) -> tuple[VideoIndex | None, tuple | None, dict]:
    with _open(path) as container:
        streams = [container.streams[i] for i in stream_indexes]
        video = container.streams[video_index] if video_index is not None else None
        return _index_packets_in(container, video, streams)


def _index_packets_in(container, video, streams) -> tuple[VideoIndex | None, tuple | None, dict]:
    """The video's keyframe index, (readable span, readable end) in seconds, and each stream's span."""
    keyframes, count, first, end, timed = [], 0, None, None, True
    spans = {}  # stream index: [earliest, latest] in seconds
    try:
        for packet in container.demux(streams):
            if packet.size == 0:
                continue
            stamp = packet.pts if packet.pts is not None else packet.dts
            # Packets an edit list discards (encoder priming, pre-roll) are decoded but never shown.
            if stamp is not None and not packet.is_discard:
                seconds = float(stamp * packet.time_base)
                packet_end = seconds + float((packet.duration or 0) * packet.time_base)
                span = spans.setdefault(packet.stream.index, [seconds, packet_end])
                span[0], span[1] = min(span[0], seconds), max(span[1], packet_end)
            if video is None or packet.stream.index != video.index:
                continue
            count += 1
            if packet.pts is None:
                timed = False
                continue
            if packet.is_keyframe:
                keyframes.append(packet.pts)
            first = packet.pts if first is None else min(first, packet.pts)
            packet_end = packet.pts + (packet.duration or 0)
            end = packet_end if end is None else max(end, packet_end)
    except av.FFmpegError:
        pass  # a damaged tail: the packets read so far are what the file holds
    readable = None
    if spans:
        readable = (max(e for _, e in spans.values()) - min(s for s, _ in spans.values()),
                    max(e for _, e in spans.values()))
    if video is None:
        return None, readable, spans
    index = VideoIndex(tuple(sorted(set(keyframes))), count, first, end, timed and first is not None)
    return index, readable, spans


def packets_per_segment(path: Path, video_index: int, starts: list[int]) -> list[int]:
    """How many non-empty video packets fall in each segment, the segments starting at the sorted `starts`
    (video time base). A packet is one picture in all but a few codecs; the encoder's count is checked
    against this. Reads packets only, keeping one counter per segment."""
    counts = [0] * len(starts)
    with _open(path) as container:
        stream = container.streams[video_index]
        try:
            for packet in container.demux(stream):
                if packet.size and packet.pts is not None and packet.pts >= starts[0]:
                    counts[bisect.bisect_right(starts, packet.pts) - 1] += 1
        except av.FFmpegError:
            pass  # a damaged tail: what was read is what the encoder can see too
    return counts


def _starts_as_mp4(path: Path) -> bool:
    """Whether `path` begins with the `ftyp` box of an MP4, QuickTime or 3GP file."""
    try:
        with path.open("rb") as handle:
            return handle.read(8)[4:] == b"ftyp"
    except OSError:
        return False


def probe(path: Path) -> Probe:
    """Describe `path`. Raises Rejected when the file cannot be opened as media at all."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as error:
        raise Rejected(path, f"cannot read the file ({error.strerror})") from error
    if size == 0:
        raise Rejected(path, "the file is empty (0 bytes)")
    try:
        container = _open(path)
    except av.FFmpegError as error:
        why = error.strerror or error
        if _starts_as_mp4(path):
            raise Rejected(path, f"an MP4 or QuickTime file FFmpeg cannot open ({why}): most often one cut off while "
                                 "it was recorded or copied, before its index (moov) was written; copy it again from "
                                 "where it came from") from error
        raise Rejected(path, f"not a media file FFmpeg can open ({why})") from error
    with container:
        return _describe(path, size, container)


def _describe(path: Path, size: int, container) -> Probe:
    format_name = container.format.name
    brand = str(container.metadata.get("major_brand", "")).strip()
    moov_first, fragmented, overrun = None, False, ""
    if format_name == MP4_FORMAT:
        boxes = mp4_top_level_boxes(path)
        overrun = next((box.rstrip("!") for box in boxes if box.endswith("!")), "")
        boxes = [box.rstrip("!") for box in boxes]
        fragmented = "moof" in boxes
        if "moov" in boxes and "mdat" in boxes:
            moov_first = boxes.index("moov") < boxes.index("mdat")
    declared = container.duration / av.time_base if container.duration else None

    candidates = [s for s in container.streams.video
                  if s.codec_context is not None and not (s.disposition & av.stream.Disposition.attached_pic)]
    other = [f"{s.type} stream #{s.index} ({s.codec_context.name if s.codec_context else 'unknown codec'})"
             for s in container.streams if s.type not in ("video", "audio")]
    other += [f"cover picture #{s.index}" for s in container.streams.video
              if s.disposition & av.stream.Disposition.attached_pic]
    audio_streams = [s for s in container.streams.audio]

    # Each read below opens the file afresh: seeking back to the start is not reliable (the MP4 demuxer
    # seeks every stream to the video's first time, skipping audio that starts earlier).
    video, frame, problem = None, None, "no video stream"
    for position, stream in enumerate(candidates):
        if position:
            frame, problem = _first_frame(path, stream.index)
        else:  # this container has read nothing yet, and image demuxers cannot be opened twice cheaply
            frame, problem = _first_frame_in(container, stream)
        if frame is not None:
            video = stream
            break
    if video is None and candidates:
        video = candidates[0]
    other += [f"extra video stream #{s.index}" for s in candidates if s is not video]

    audio_infos = []
    for stream in audio_streams:
        context = stream.codec_context
        if context is None:
            audio_infos.append(AudioInfo(stream.index, "unknown", None, 0, 0, False))
            continue
        audio_infos.append(AudioInfo(stream.index, context.codec.canonical_name, context.profile, context.channels,
                                     context.sample_rate or 0, _audio_decodes(path, stream.index)))

    image = format_name in IMAGE_FORMATS or (
        video is not None and video.codec_context.codec.canonical_name in IMAGE_CODECS and not audio_streams)
    video_info = None
    if video is not None:
        context = video.codec_context
        video_info = VideoInfo(
            index=video.index,
            position=list(container.streams.video).index(video),
            codec=context.codec.canonical_name,
            profile=context.profile,
            pix_fmt=(frame.format.name if frame is not None else (context.format.name if context.format else None)),
            width=frame.width if frame is not None else context.width,
            height=frame.height if frame is not None else context.height,
            sample_aspect=Fraction(video.sample_aspect_ratio) if video.sample_aspect_ratio else Fraction(1),
            display_matrix=_display_matrix(frame) if frame is not None else None,
            interlaced=bool(frame is not None and frame.interlaced_frame),
            color_trc=int(frame.color_trc) if frame is not None else 2,
            colorspace=int(frame.colorspace) if frame is not None else 2,
            frame_rate=Fraction(video.average_rate) if video.average_rate else None,
            time_base=Fraction(video.time_base),
            color_range=int(frame.color_range) if frame is not None else 0,
            color_primaries=int(frame.color_primaries) if frame is not None else 2,
        )
    wanted = [s.index for s in (video, *audio_streams) if s is not None]
    video_index = video.index if video is not None else None
    index, readable, spans = _index_packets(path, video_index, wanted) if wanted else (None, None, {})
    return Probe(
        path=str(path), size_bytes=size, format_name=format_name, major_brand=brand,
        moov_before_mdat=moov_first, fragmented=fragmented, overrun_box=overrun,
        declared_seconds=declared, readable_seconds=readable[0] if readable else None,
        readable_end_seconds=readable[1] if readable else None,
        video=video_info, video_decodable=frame is not None, video_problem="" if frame is not None else problem,
        audio=tuple(audio_infos), other_streams=tuple(other), index=index, image=image,
        spans=tuple((number, start, end) for number, (start, end) in sorted(spans.items())),
    )

