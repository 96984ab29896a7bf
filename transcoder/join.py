"""The join: one fast-start MP4 from the video's packets (the segments', or the source's) with the audio's.

Nothing is re-encoded: packets are copied, interleaved by decode time, and shifted by one offset so that the
earliest stream starts at zero while the offset between audio and video stays the source's.

Segments joined from x264 need their decode timestamps redrawn at the seams. x264 starts every segment
`delay` frames early (its B-frame reorder depth), so a segment's first decode timestamps fall before the
last ones of the segment before it. Within a stream whose reorder depth is at most `delay`, the decode
timestamp of packet i may be the i-delay'th smallest presentation timestamp seen so far: a heap holding the
last `delay` presentation timestamps gives exactly that, across seams as well, and never exceeds a packet's
own presentation timestamp.
"""

import heapq
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from tgvid.errors import TranscodeFailed
from transcoder import heartbeat
from transcoder.timeline import Timeline

# How many packets at the head of a segment are read to measure x264's reorder delay.
DELAY_PROBE_PACKETS = 32


@dataclass(frozen=True)
class Track:
    """Where one output stream's packets come from: `files`, read in order, each at `stream_index`."""

    files: tuple[Path, ...]
    stream_index: int
    restamp: bool = False  # redraw decode timestamps across files (x264 segments)


def parameter_sets(path: Path) -> bytes:
    """The H.264 parameter sets (the avcC extradata) of a segment file."""
    with av.open(str(path)) as container:
        return bytes(container.streams.video[0].codec_context.extradata or b"")


def reorder_delay(path: Path) -> int:
    """How many packets at the start of an x264 segment are decoded before its first shown frame's time."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        first_pts, delay = None, 0
        for count, packet in enumerate(container.demux(stream)):
            if packet.size == 0 or count >= DELAY_PROBE_PACKETS:
                break
            first_pts = packet.pts if first_pts is None else first_pts
            if packet.dts is not None and packet.dts < first_pts:
                delay += 1
        return delay


def shown_span(files) -> tuple[float, float]:
    """(first frame's time, last frame's time plus the typical frame step) of the video in `files`, in seconds."""
    timeline = Timeline()
    for path in files:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            for packet in container.demux(stream):
                if packet.size and packet.pts is not None:
                    timeline.add(float(packet.pts * packet.time_base))
    return timeline.span(last_lasts_a_step=True)


def _packets(track: Track):
    for path in track.files:
        with av.open(str(path)) as container:
            stream = container.streams[track.stream_index]
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue  # the flush marker PyAV yields at the end, not media
                yield packet


def _restamped(packets, delay: int, label: str):
    pending: list[int] = []
    last_dts = None
    for packet in packets:
        heapq.heappush(pending, packet.pts)
        if len(pending) > delay:
            packet.dts = heapq.heappop(pending)
        if last_dts is not None and packet.dts <= last_dts:
            raise TranscodeFailed(label, f"segments do not join: decode time {packet.dts} after {last_dts}")
        last_dts = packet.dts
        yield packet


def _shifted(packets, offset_seconds: Fraction):
    offset_ticks = None
    for packet in packets:
        if offset_ticks is None:
            offset_ticks = round(offset_seconds / packet.time_base)
        if packet.pts is not None:
            packet.pts -= offset_ticks
        if packet.dts is not None:
            packet.dts -= offset_ticks
        yield packet


def _bound_for(packets, target):
    for packet in packets:
        yield packet, target


def _decode_seconds(packet) -> Fraction:
    stamp = packet.dts if packet.dts is not None else packet.pts
    return Fraction(stamp or 0) * packet.time_base


def join(video: Track, audio: Track | None, output_path: Path, offset_seconds: Fraction, label: str = "") -> None:
    """Write `output_path` as a fast-start MP4 from `video` and `audio` packets, shifted by `offset_seconds`."""
    tracks = [video] + ([audio] if audio else [])
    with av.open(str(output_path), "w", format="mp4", options={"movflags": "+faststart"}) as output:
        targets = []
        for track in tracks:
            with av.open(str(track.files[0])) as first:
                template = first.streams[track.stream_index]
                target = output.add_stream_from_template(template)
                if template.type == "video" and template.sample_aspect_ratio:
                    # The container's pixel aspect wins over the bitstream's, as in FFmpeg's own remux.
                    target.codec_context.sample_aspect_ratio = template.sample_aspect_ratio
                targets.append(target)
        streams = []
        for track, target in zip(tracks, targets, strict=True):
            packets = _packets(track)
            if track.restamp:
                packets = _restamped(packets, max(reorder_delay(path) for path in track.files), label)
            streams.append(_bound_for(_shifted(packets, offset_seconds), target))
        for packet, target in heapq.merge(*streams, key=lambda item: _decode_seconds(item[0])):
            heartbeat.beat()
            packet.stream = target
            output.mux(packet)
