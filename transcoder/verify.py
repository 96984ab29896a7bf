"""Verification: the joined output is checked before it is handed on, and a failure says why.

The output must open, be a fast-start MP4 with one H.264 8-bit 4:2:0 video stream and the expected audio
(AAC or MP3, or none), decode from end to end without an error, hold the expected number of frames, last
as long as the source's video (within two frames), and end its audio where the source's audio ends
relative to the video.
"""

from dataclasses import dataclass
from pathlib import Path

import av

from tgvid.errors import VerifyFailed
from transcoder import heartbeat
from transcoder.probe import mp4_top_level_boxes
from transcoder.timeline import Timeline

# Audio and video ends may move by this much against the source's (an AAC frame is 21 ms at 48 kHz,
# 128 ms at 8 kHz; encoder priming and the last partial frame account for the rest).
END_SYNC_TOLERANCE_SECONDS = 0.25


@dataclass(frozen=True)
class Expectation:
    video_seconds: float  # the source video's span, first frame to the end of the last
    frames: int | None  # None when not known in advance (a remux copies whatever decodes)
    has_audio: bool
    audio_end_minus_video_end: float | None  # seconds, in the source; None without audio


@dataclass(frozen=True)
class OutputFacts:
    """What the uploader's sidecar needs, read off the verified file."""

    duration_seconds: float
    width: int
    height: int
    has_audio: bool
    frames: int


def verify(path: Path, expect: Expectation) -> OutputFacts:
    """Check `path` against `expect`. Raises VerifyFailed naming the first problem found."""
    boxes = mp4_top_level_boxes(path)
    if "moov" not in boxes or "mdat" not in boxes or boxes.index("moov") > boxes.index("mdat"):
        raise VerifyFailed(path, f"moov is not before mdat (top-level boxes {boxes[:6]})")
    with av.open(str(path)) as container:
        videos, audios = container.streams.video, container.streams.audio
        if len(videos) != 1:
            raise VerifyFailed(path, f"{len(videos)} video streams, expected 1")
        video = videos[0]
        video.thread_type = "AUTO"
        if video.codec_context.name != "h264" or video.codec_context.format.name not in ("yuv420p", "yuvj420p"):
            raise VerifyFailed(path, f"video is {video.codec_context.name} {video.codec_context.format.name}, "
                                     "expected H.264 yuv420p")
        if len(audios) != int(expect.has_audio):
            raise VerifyFailed(path, f"{len(audios)} audio streams, expected {int(expect.has_audio)}")
        if audios and audios[0].codec_context.name not in ("aac", "mp3", "mp3float"):
            raise VerifyFailed(path, f"audio codec {audios[0].codec_context.name}, expected AAC or MP3")
        frames, sound = Timeline(), Timeline()
        try:
            for packet in container.demux(*videos, *audios):
                heartbeat.beat()
                if packet.size == 0:
                    continue
                if packet.stream.type == "audio":
                    start = float(packet.pts * packet.time_base)
                    sound.add(start, start + float(packet.duration * packet.time_base))
                    continue
                for frame in packet.decode():
                    frames.add(_checked_time(frame, video, path))
            for frame in video.decode(None):
                frames.add(_checked_time(frame, video, path))
        except av.FFmpegError as error:
            raise VerifyFailed(path, f"does not decode cleanly: {error}") from error
        width, height = video.codec_context.width, video.codec_context.height
    if not frames.count:
        raise VerifyFailed(path, "no video frame decodes")
    if expect.frames is not None and frames.count != expect.frames:
        raise VerifyFailed(path, f"{frames.count} frames, expected {expect.frames}")
    step = frames.step()
    video_span = frames.span(last_lasts_a_step=True)
    seconds = video_span[1] - video_span[0]
    if abs(seconds - expect.video_seconds) > max(2 * step, 0.05):
        raise VerifyFailed(path, f"video lasts {seconds:.3f} s, the source's {expect.video_seconds:.3f} s")
    audio_span = sound.span(last_lasts_a_step=False) if sound.count else None
    if expect.audio_end_minus_video_end is not None and audio_span is not None:
        gap = audio_span[1] - video_span[1]
        if abs(gap - expect.audio_end_minus_video_end) > END_SYNC_TOLERANCE_SECONDS:
            raise VerifyFailed(path, f"audio ends {gap:+.3f} s from the video's end; in the source "
                                     f"{expect.audio_end_minus_video_end:+.3f} s")
    duration = max(video_span[1], audio_span[1] if audio_span else 0.0) - min(
        video_span[0], audio_span[0] if audio_span else video_span[0])
    return OutputFacts(duration, width, height, bool(sound.count), frames.count)


def _checked_time(frame, stream, path) -> float:
    seconds = float(frame.pts * stream.time_base)
    if frame.is_corrupt:
        raise VerifyFailed(path, f"the frame at {seconds:.3f} s decodes only with errors", damaged=True)
    return seconds
