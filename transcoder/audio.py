"""The audio unit: the kept audio track re-encoded to AAC-LC in one pass, as one checkpointed file.

Encoding the whole track at once (AAC encodes at hundreds of times real time) leaves no seams to click at
and no per-segment priming delays to drift. `aresample=async=1` follows the source timestamps: it fills
gaps with silence and trims overlaps, so the audio stays in sync at the end as at the start. Surround is
downmixed to stereo; the first timestamp stays the source's, so any offset against the video is kept.
"""

import logging
from pathlib import Path

import av

from tgvid.errors import TranscodeFailed
from transcoder.segment import MAX_DECODE_ERRORS

log = logging.getLogger(__name__)

AAC_SAMPLE_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000)
BITS_PER_SECOND_PER_CHANNEL = 64000
AAC_FRAME_SAMPLES = 1024


def _graph(stream, sample_rate: int, layout: str):
    graph = av.filter.Graph()
    nodes = [
        graph.add_abuffer(template=stream),
        graph.add("aresample", f"async=1:out_sample_rate={sample_rate}"),
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
        for packet in container.demux(stream):
            try:
                frames = stream.decode(packet)
            except av.FFmpegError as error:
                errors += 1
                if errors > MAX_DECODE_ERRORS:
                    raise TranscodeFailed(source, f"audio: {errors} packets in a row do not decode ({error})") from error
                continue
            errors = 0
            for frame in frames:
                if graph is None:
                    graph = _graph(stream, rate, encoder.layout.name)
                graph.push(frame)
                _drain(graph, encoder, output)
        if graph is None:
            raise TranscodeFailed(source, f"audio stream #{audio_index} yields no sound to encode")
        graph.push(None)
        _drain(graph, encoder, output)
        output.mux(encoder.encode(None))


def _drain(graph, encoder, output) -> None:
    while True:
        try:
            frame = graph.pull()
        except (av.BlockingIOError, av.EOFError):
            return
        output.mux(encoder.encode(frame))
