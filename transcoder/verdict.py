"""The verdict: the cheapest way to make a probed source stream in Telegram, with the reasons.

Pure code over `transcoder.probe.Probe`: no file access, no PyAV calls. The checks follow
../shared/TELEGRAM.md: MP4 with `moov` first, H.264 8-bit 4:2:0 (Baseline/Main/High) with even dimensions,
square pixels, no display matrix (clients disagree on it) and SDR; AAC-LC or MP3 audio, at most stereo,
one track; no other tracks.
"""

from dataclasses import dataclass
from enum import StrEnum

from transcoder.picture import describe_orientation, orientation_filters
from transcoder.probe import MP4_FORMAT, Probe

H264_PROFILES = {"Baseline", "Constrained Baseline", "Main", "High"}
PIXEL_FORMATS = {"yuv420p", "yuvj420p"}
MP4_BRANDS = {"isom", "iso2", "iso4", "iso5", "iso6", "mp41", "mp42", "avc1", "dash"}
COPYABLE_AUDIO = {"aac", "mp3"}
HDR_TRANSFERS = {16: "PQ (HDR10)", 18: "HLG"}  # AVColorTransferCharacteristic values
# A file counts as cut off when its packets end this much before the duration its container declares.
CUT_OFF_MIN_SECONDS = 2.0
CUT_OFF_MIN_FRACTION = 0.10


class Kind(StrEnum):
    PASS = "pass"
    REMUX = "remux"
    AUDIO = "audio"
    TRANSCODE = "transcode"
    IMAGE = "image"
    ARCHIVE = "archive"  # unpacked by transcoder.unpack, not probed
    REJECT = "reject"


@dataclass(frozen=True)
class Verdict:
    kind: Kind
    reasons: tuple[str, ...]
    warnings: tuple[str, ...] = ()
    audio_index: int | None = None  # the source audio stream the output keeps, None for no audio
    audio_copy: bool = False  # True when that stream is copied, False when it is re-encoded to AAC


def video_problems(probe: Probe) -> list[str]:
    """Why the video stream cannot be copied as it is; empty when it can."""
    video, problems = probe.video, []
    if video.codec != "h264":
        problems.append(f"video codec {video.codec} is not H.264")
    elif video.profile not in H264_PROFILES:
        problems.append(f"H.264 profile {video.profile} is not Baseline, Main or High")
    if video.pix_fmt not in PIXEL_FORMATS:
        problems.append(f"pixel format {video.pix_fmt} is not 8-bit 4:2:0")
    if video.width % 2 or video.height % 2:
        problems.append(f"odd dimensions {video.width}x{video.height}")
    if video.interlaced:
        problems.append("interlaced: needs deinterlacing")
    if video.color_trc in HDR_TRANSFERS:
        problems.append(f"HDR ({HDR_TRANSFERS[video.color_trc]}): needs tone mapping to SDR")
    turn = orientation_filters(video.display_matrix)
    if turn:
        problems.append(f"display matrix ({describe_orientation(turn)}): the turn must be baked into the pixels")
    if video.sample_aspect not in (0, 1):
        problems.append(f"non-square pixels (sample aspect {video.sample_aspect}): players that ignore it distort")
    if probe.index is not None and not probe.index.has_timestamps:
        problems.append("no timestamps (a raw elementary stream): the frame rate must be assumed")
    return problems


def container_problems(probe: Probe) -> list[str]:
    """Why the file cannot be handed on byte for byte even though its streams can be copied."""
    problems = []
    if probe.format_name != MP4_FORMAT:
        problems.append(f"container {probe.format_name.split(',')[0]} is not MP4")
    else:
        if probe.major_brand not in MP4_BRANDS:
            problems.append(f"brand '{probe.major_brand}' is QuickTime/3GP, not plain MP4")
        if probe.fragmented:
            problems.append("fragmented MP4: players index it late")
        if probe.overrun_box:
            problems.append(f"the {probe.overrun_box} box claims more bytes than the file has")
        if probe.moov_before_mdat is False:
            problems.append("moov after mdat: cannot stream before fully downloaded")
    problems += [f"{other}: dropped" for other in probe.other_streams]
    return problems


def decide(probe: Probe, salvage: bool = False) -> Verdict:
    """The verdict for `probe`. `salvage` converts the readable part of a cut-off file instead of rejecting it."""
    video = probe.video
    if video is None:
        audio = ", ".join(a.codec for a in probe.audio)
        what = f"audio only ({audio})" if audio else "no audio or video stream"
        return Verdict(Kind.REJECT, (f"{what}: no video stream",))
    if not probe.video_decodable:
        return Verdict(Kind.REJECT, (f"no video frame decodes ({probe.video_problem})",))
    if probe.image:
        return Verdict(Kind.IMAGE, (f"still image ({video.codec} {video.width}x{video.height})",))

    warnings, reasons = [], []
    declared, readable = probe.declared_seconds, probe.readable_seconds
    if declared and readable is not None:
        # Containers disagree on whether their duration counts from zero (Matroska) or from the first
        # timestamp (MP4, MPEG-TS): the packets fall short only when they fall short of both readings.
        missing = declared - max(readable, probe.readable_end_seconds or 0.0)
        if missing > max(CUT_OFF_MIN_SECONDS, CUT_OFF_MIN_FRACTION * declared):
            cut = f"cut off: the container declares {declared:.2f} s but the readable packets end at {readable:.2f} s"
            if not salvage:
                return Verdict(Kind.REJECT, (f"{cut} (a download that stopped?); --salvage converts the readable part",))
            warnings.append(f"{cut}: salvaging what is readable")

    decodable = [a for a in probe.audio if a.decodable]
    warnings += [f"audio stream #{a.index} ({a.codec}) cannot be decoded: dropped, the video is kept"
                 for a in probe.audio if not a.decodable]
    chosen = decodable[0] if decodable else None
    if len(decodable) > 1:
        reasons.append(f"{len(decodable)} audio tracks: only the first is kept")
    audio_copy = False
    audio_reasons = []
    if chosen is not None:
        if chosen.codec not in COPYABLE_AUDIO:
            audio_reasons.append(f"audio codec {chosen.codec} is not AAC or MP3")
        elif chosen.codec == "aac" and chosen.profile not in ("LC", None):
            audio_reasons.append(f"AAC profile {chosen.profile} is not AAC-LC")
        if chosen.channels > 2:
            audio_reasons.append(f"{chosen.channels} audio channels: downmixed to stereo")
        audio_copy = not audio_reasons

    audio_index = chosen.index if chosen else None
    problems = video_problems(probe)
    if problems:
        return Verdict(Kind.TRANSCODE, tuple(problems + audio_reasons + reasons), tuple(warnings), audio_index,
                       audio_copy)
    if audio_reasons:
        return Verdict(Kind.AUDIO, tuple(audio_reasons + reasons), tuple(warnings), audio_index, False)
    rewrite = container_problems(probe) + reasons
    if len(probe.audio) != len(decodable):
        rewrite.append("undecodable audio track dropped")
    if rewrite or warnings:
        return Verdict(Kind.REMUX, tuple(rewrite or warnings), tuple(warnings), audio_index, audio_copy)
    return Verdict(Kind.PASS, ("H.264 and AAC/MP3 (or no audio) in a fast-start MP4: hand on as it is",),
                   (), audio_index, audio_copy)
