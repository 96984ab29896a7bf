"""The audio unit: the kept audio track re-encoded to AAC-LC in one pass, as one checkpointed file.

Encoding the whole track at once (AAC encodes at hundreds of times real time) leaves no seams to click at
and no per-segment priming delays to drift. `aresample`'s async mode follows the source timestamps: it fills
gaps with silence and trims overlaps, so the audio stays in sync at the end as at the start. Surround is
downmixed to stereo; the first timestamp stays the source's, so any offset against the video is kept.
"""

import logging
from fractions import Fraction
from pathlib import Path

import av

from tgvid.errors import TranscodeFailed
from transcoder import heartbeat
from transcoder.segment import MAX_DECODE_ERRORS

log = logging.getLogger(__name__)

AAC_SAMPLE_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000)
BITS_PER_SECOND_PER_CHANNEL = 64000
AAC_FRAME_SAMPLES = 1024


def _graph(stream, sample_rate: int, layout: str):
    graph = av.filter.Graph()
    nodes = [
        graph.add_abuffer(template=stream),
        # Up to 1000 samples a second are stretched or squeezed to follow the timestamps; jumps over 0.1 s
        # (min_hard_comp) are filled with silence or cut.
        graph.add("aresample", f"async=1000:out_sample_rate={sample_rate}"),
        graph.add("aformat", f"sample_fmts=fltp:channel_layouts={layout}"),
        graph.add("abuffersink"),
    ]
    graph.link_nodes(*nodes).configure()
    graph.set_audio_frame_size(AAC_FRAME_SAMPLES)
    return graph


def encode_audio(source: Path, audio_index: int, output_path: Path, label: str = "") -> None:
    """Write the source's audio stream `audio_index` as AAC-LC into `output_path` (an .m4a)."""
    with av.open(str(source)) as container, av.open(str(output_path), "w", format="mp4") as output:
        stream = container.streams.audio[[s.index for s in container.streams.audio].index(audio_index)]
        context = stream.codec_context
        rate = context.sample_rate if context.sample_rate in AAC_SAMPLE_RATES else 48000
        channels = 1 if context.channels == 1 else 2
        encoder = output.add_stream("aac", rate=rate)
        encoder.layout = "mono" if channels == 1 else "stereo"
        # AAC-LC carries at most about 6 bits per sample per channel: cap the rate for 8 kHz phone audio.
        encoder.bit_rate = min(BITS_PER_SECOND_PER_CHANNEL * channels, 6 * rate * channels)
        graph = None
        errors = 0
        next_pts = None  # where the next frame starts, in the stream's time base
        declared_end = None  # where the last packet says the track ends
        last_frame = None
        for packet in container.demux(stream):
            heartbeat.beat()
            if packet.pts is not None and packet.size:
                packet_end = packet.pts + (packet.duration or 0)
                declared_end = packet_end if declared_end is None else max(declared_end, packet_end)
            try:
                frames = stream.decode(packet)
            except av.FFmpegError as error:
                errors += 1
                if errors > MAX_DECODE_ERRORS:
                    raise TranscodeFailed(source, f"audio: {errors} packets in a row do not decode ({error})") from error
                continue
            errors = 0
            for frame in frames:
                if next_pts is None:
                    # The track starts where its first packet says. Decoders that drop their priming
                    # samples (WMA) stamp the first frame later or not at all, which would shift the sound.
                    frame.pts = packet.pts if packet.pts is not None else (frame.pts or 0)
                elif frame.pts is None:
                    frame.pts = next_pts
                next_pts = frame.pts + round(Fraction(frame.samples, frame.sample_rate) / stream.time_base)
                last_frame = frame
                if graph is None:
                    graph = _graph(stream, rate, encoder.layout.name)
                graph.push(frame)
                _drain(graph, encoder, output)
        if graph is None:
            raise TranscodeFailed(source, f"audio stream #{audio_index} yields no sound to encode")
        if declared_end is not None and declared_end > next_pts:
            graph.push(_silence(last_frame, next_pts, declared_end - next_pts, stream.time_base))
        graph.push(None)
        _drain(graph, encoder, output)
        output.mux(encoder.encode(None))


def _silence(like, pts: int, ticks: int, time_base: Fraction):
    """Silence from `pts` for `ticks`: the packets say the track lasts longer than its decoded samples
    (WMA files whose last packet claims more time), and the audio must keep its place against the video."""
    samples = round(ticks * time_base * like.sample_rate)
    frame = av.AudioFrame(format=like.format.name, layout=like.layout.name, samples=samples)
    for plane in frame.planes:
        plane.update(bytes(plane.buffer_size))
    frame.sample_rate, frame.pts, frame.time_base = like.sample_rate, pts, time_base
    return frame


def _drain(graph, encoder, output) -> None:
    while True:
        try:
            frame = graph.pull()
        except (av.BlockingIOError, av.EOFError):
            return
        output.mux(encoder.encode(frame))
