"""The split: a video over the chat's size limit, cut at keyframes into the fewest parts under it, each a fast-start
MP4 that plays on its own.

Nothing is re-encoded: packets are copied, as the transcoder's remux copies them. A part starts at a video
keyframe and holds every video packet (in decode order) up to the next part's first one, so no frame is lost or
repeated; an audio packet goes to the part in whose time it starts (the part's first keyframe's presentation time
up to the next part's). A keyframe is a clean cut only when no later frame of its group is shown before it (an
open GOP's leading frames would belong to the part before). The video and every audio stream are copied; other
streams (subtitles, data) are left out. Each part after the first is shifted to start at zero.

`plan` (pure) chooses the cuts: the fewest parts whose estimated size (the packets, PACKET_OVERHEAD_BYTES of index
per packet, PART_OVERHEAD_BYTES per file) stays under the limit, then the most even sizes with that many parts.
`cut` (run in a child process by the uploader: FFmpeg's demuxers may hang or crash on a bad file) reads the
packets' sizes once, plans, writes every part as scratch (`durable.temp_path_for`), checks each part's real size
(planning again with a smaller budget, at most SHRINK_TRIES times, when one is over), and only then makes each part
real: its sidecar (uploader.probe: duration, size, thumbnail of the part itself; the name to show) first, then the
part by an atomic rename. Given the first video packet of each part (`first_packets`, as the ledger recorded
them), it writes again exactly those parts, for a resume that finds a part's file gone.
"""

import bisect
import dataclasses
from array import array
from contextlib import ExitStack
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from tgvid import durable, sidecar
from tgvid.units import MIB
from uploader.probe import probe

KIB = 1024
PART_OVERHEAD_BYTES = 64 * KIB  # ftyp, moov and mdat headers, edit lists: a few KiB in practice
PACKET_OVERHEAD_BYTES = 32  # a packet's entries in moov (stsz, stts, ctts, stss, stco): under 32 bytes in practice
SHRINK_TRIES = 3


@dataclass(frozen=True)
class Stretch:
    """The packets from one clean keyframe up to the next: the smallest piece a part is made of."""

    first_packet: int  # the keyframe's number among the video packets, in decode order
    start_pts: int  # its presentation time, in the video stream's time base
    start_seconds: float
    cost_bytes: int  # its video and audio packets, with their index entries


@dataclass(frozen=True)
class Outcome:
    """The child's answer: the names the parts are shown under and their first video packets; or why the video
    cannot be cut (`refusal`, for quarantine), or a passing trouble (`trouble`, tried again later)."""

    names: tuple[str, ...] = ()
    first_packets: tuple[int, ...] = ()
    refusal: str = ""
    trouble: str = ""
    full: bool = False  # the trouble is a full disk


def part_name(name: str, number: int, count: int) -> str:
    """The name a part is shown under: `clip.mov`, 1, 3 → `clip.part1of3.mp4`."""
    return f"{Path(name).stem}.part{number}of{count}.mp4"


def part_file(number: int, count: int) -> str:
    """The part's file name in its video's folder of parts, short whatever the video's name (its sidecar holds the
    name to show, tgvid.namelength)."""
    return f"part{number}of{count}.mp4"


def plan(costs: list[int], budget_bytes: int) -> list[int] | None:
    """The index of the first stretch of each part: the fewest parts whose `costs` add up to at most `budget_bytes`
    each, as even as that many parts allow. None when one stretch alone is over the budget."""
    if not costs or max(costs) > budget_bytes:
        return None

    def starts_for(cap: int) -> list[int]:
        starts, total = [0], 0
        for index, cost in enumerate(costs):
            if total and total + cost > cap:
                starts.append(index)
                total = 0
            total += cost
        return starts

    count = len(starts_for(budget_bytes))
    low, high = max(max(costs), -(-sum(costs) // count)), budget_bytes
    while low < high:  # the smallest cap that still needs no more than `count` parts
        middle = (low + high) // 2
        if len(starts_for(middle)) <= count:
            high = middle
        else:
            low = middle + 1
    return starts_for(high)


def stretches(path: Path) -> list[Stretch]:
    """The video's stretches between clean keyframes, with the audio packets starting in each: sizes only, from
    one pass over the packets (nothing decoded). The audio before the first keyframe counts with the first."""
    groups = []  # [first packet, start pts, start seconds, earliest shown seconds, video cost]
    audio_seconds, audio_costs = array("d"), array("q")
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        number = 0
        for packet in container.demux(video, *container.streams.audio):
            if packet.size == 0:
                continue  # the flush marker PyAV yields at the end, not media
            cost = packet.size + PACKET_OVERHEAD_BYTES
            if packet.stream.index != video.index:
                audio_seconds.append(_seconds(packet))
                audio_costs.append(cost)
                continue
            pts = packet.pts if packet.pts is not None else packet.dts
            if packet.is_keyframe or not groups:
                groups.append([number, pts, _seconds(packet), _seconds(packet), 0])
            group = groups[-1]
            group[3] = min(group[3], _seconds(packet))
            group[4] += cost
            number += 1
    merged = []
    for first, pts, seconds, earliest, cost in groups:
        if merged and earliest < seconds:  # an open GOP: its leading frames need the group before
            merged[-1][3] += cost
        else:
            merged.append([first, pts, seconds, cost])
    starts = [group[2] for group in merged]
    for seconds, cost in zip(audio_seconds, audio_costs, strict=True):
        merged[max(0, bisect.bisect_right(starts, seconds) - 1)][3] += cost
    return [Stretch(*group) for group in merged]


def _seconds(packet) -> float:
    stamp = packet.pts if packet.pts is not None else packet.dts
    return float(stamp * packet.time_base)


def cut(path: Path, folder: Path, shown_name: str, relfolder: str, limit_bytes: int,
        first_packets: tuple[int, ...] = (), only: frozenset[int] = frozenset()) -> Outcome:
    """Cut the video at `path` (shown as `shown_name`) into parts of at most `limit_bytes` in `folder`, their
    sidecars naming them as in outbox/`relfolder`. With `first_packets`, write only the parts numbered (from 0) in
    `only` at those cuts."""
    try:
        return _cut(Path(path), Path(folder), shown_name, relfolder, limit_bytes, tuple(first_packets), only)
    except OSError as error:  # first: PyAV's errors from the system (a full disk, EIO) are FFmpegErrors too
        return Outcome(trouble=f"cutting it into parts: {error.strerror or error}", full=durable.is_full(error))
    except (av.FFmpegError, UnicodeDecodeError) as error:
        return Outcome(refusal=f"cutting it into parts: {error}")


def _cut(path: Path, folder: Path, shown_name: str, relfolder: str, limit_bytes: int,
         first_packets: tuple[int, ...], only: frozenset[int]) -> Outcome:
    all_stretches = stretches(path)
    by_packet = {stretch.first_packet: stretch for stretch in all_stretches}
    budget = limit_bytes - PART_OVERHEAD_BYTES
    for _ in range(SHRINK_TRIES):
        if first_packets:
            if not set(first_packets) <= by_packet.keys():
                return Outcome(refusal="the cut recorded in the ledger does not fall on this video's keyframes")
            chosen = [by_packet[first] for first in first_packets]
        else:
            starts = plan([stretch.cost_bytes for stretch in all_stretches], budget)
            if starts is None:
                return Outcome(refusal=_why_not(all_stretches, limit_bytes))
            chosen = [all_stretches[index] for index in starts]
        count = len(chosen)
        names = [part_name(shown_name, number, count) for number in range(1, count + 1)]
        wanted = sorted(only) if first_packets else list(range(count))
        temps = {number: durable.temp_path_for(folder / part_file(number + 1, count)) for number in wanted}
        try:
            _write(path, chosen, temps)
            sizes = {number: temp.stat().st_size for number, temp in temps.items()}
            over = max(sizes.values()) - limit_bytes
            if over <= 0 or first_packets:
                for number, temp in temps.items():
                    _make_real(temp, folder / part_file(number + 1, count), names[number], relfolder)
                return Outcome(tuple(names), tuple(stretch.first_packet for stretch in chosen))
        finally:
            for temp in temps.values():
                temp.unlink(missing_ok=True)
        budget -= over + PART_OVERHEAD_BYTES
    return Outcome(refusal=f"its parts kept coming out over the limit of {limit_bytes / MIB:g} MiB")


def _why_not(all_stretches: list[Stretch], limit_bytes: int) -> str:
    widest = max(range(len(all_stretches)), key=lambda index: all_stretches[index].cost_bytes)
    start = all_stretches[widest].start_seconds
    end = all_stretches[widest + 1].start_seconds if widest + 1 < len(all_stretches) else None
    span = f"from {start:.1f} s to {end:.1f} s" if end is not None else f"from {start:.1f} s to the end"
    return (f"it cannot be cut at keyframes under the limit of {limit_bytes / MIB:g} MiB: {span} there is no "
            f"keyframe to cut at, and that stretch alone is {all_stretches[widest].cost_bytes / MIB:.1f} MiB; "
            "re-encode it with keyframes more often")


def _write(path: Path, chosen: list[Stretch], temps: dict[int, Path]) -> None:
    """One pass over the source's packets, each copied into the part it belongs to (those in `temps` only)."""
    firsts = [stretch.first_packet for stretch in chosen]
    starts = [stretch.start_seconds for stretch in chosen]
    with av.open(str(path)) as container, ExitStack() as outputs:
        video = container.streams.video[0]
        sources = [video, *container.streams.audio]
        offsets = [Fraction(0)] + [Fraction(stretch.start_pts) * video.time_base for stretch in chosen[1:]]
        targets = {}
        for number, temp in temps.items():
            output = outputs.enter_context(av.open(str(temp), "w", format="mp4", options={"movflags": "+faststart"}))
            targets[number] = (output, {source.index: _stream_like(output, source) for source in sources})
        number_of_packet = 0
        for packet in container.demux(*sources):
            if packet.size == 0:
                continue
            if packet.stream.index == video.index:
                part = bisect.bisect_right(firsts, number_of_packet) - 1
                number_of_packet += 1
            else:
                part = max(0, bisect.bisect_right(starts, _seconds(packet)) - 1)
            if part not in targets:
                continue
            shift = round(offsets[part] / packet.time_base)
            if packet.pts is not None:
                packet.pts -= shift
            if packet.dts is not None:
                packet.dts -= shift
            output, streams = targets[part]
            packet.stream = streams[packet.stream.index]
            output.mux(packet)


def _stream_like(output, source):
    target = output.add_stream_from_template(source)
    if source.type == "video" and source.sample_aspect_ratio:
        # The container's pixel aspect wins over the bitstream's, as in FFmpeg's own remux.
        target.codec_context.sample_aspect_ratio = source.sample_aspect_ratio
    return target


def _make_real(temp: Path, target: Path, shown_name: str, relfolder: str) -> None:
    """Sidecar first, then the part by an atomic rename: a part with its sidecar beside it is complete."""
    relpath = f"{relfolder}/{shown_name}" if relfolder else shown_name
    meta = probe(temp, relpath)
    sidecar.write(sidecar.path_for(target), dataclasses.replace(meta, source_name=target.name, shown_name=shown_name))
    durable.fsync_file(temp)
    durable.atomic_rename(temp, target)
