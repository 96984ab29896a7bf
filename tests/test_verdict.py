"""The verdict as pure logic over probe data: each rule, and the cheapest kind that makes the file right."""

from dataclasses import replace
from fractions import Fraction

import pytest

from transcoder.probe import MP4_FORMAT, AudioInfo, Probe, VideoIndex, VideoInfo, rotation_matrix
from transcoder.verdict import Kind, decide

VIDEO = VideoInfo(index=0, position=0, codec="h264", profile="High", pix_fmt="yuv420p", width=1280, height=720,
                  sample_aspect=Fraction(1), display_matrix=None, interlaced=False, color_trc=1, colorspace=1,
                  frame_rate=Fraction(30), time_base=Fraction(1, 90000))
AAC = AudioInfo(index=1, codec="aac", profile="LC", channels=2, sample_rate=48000, decodable=True)
STREAMABLE = Probe(path="clip.mp4", size_bytes=1000, format_name=MP4_FORMAT, major_brand="isom",
                   moov_before_mdat=True, fragmented=False, overrun_box="", declared_seconds=10.0,
                   readable_seconds=10.0, readable_end_seconds=10.0, video=VIDEO, video_decodable=True,
                   video_problem="", audio=(AAC,),
                   index=VideoIndex((0,), 300, 0, 900000, True))


def with_video(**changes) -> Probe:
    return replace(STREAMABLE, video=replace(VIDEO, **changes))


def test_streamable_mp4_passes_untouched():
    verdict = decide(STREAMABLE)
    assert verdict.kind == Kind.PASS
    assert verdict.audio_copy and verdict.audio_index == 1


@pytest.mark.parametrize("changes, reason", [
    ({"major_brand": "qt"}, "QuickTime"),
    ({"moov_before_mdat": False}, "moov after mdat"),
    ({"fragmented": True}, "fragmented"),
    ({"format_name": "matroska,webm"}, "not MP4"),
    ({"overrun_box": "mdat"}, "claims more bytes"),
    ({"other_streams": ("subtitle stream #2 (srt)",)}, "srt"),
])
def test_container_problems_only_need_a_remux(changes, reason):
    verdict = decide(replace(STREAMABLE, **changes))
    assert verdict.kind == Kind.REMUX
    assert reason in "; ".join(verdict.reasons)


@pytest.mark.parametrize("audio, reason", [
    (replace(AAC, codec="ac3"), "ac3"),
    (replace(AAC, codec="opus"), "opus"),
    (replace(AAC, codec="pcm_s16le"), "pcm_s16le"),
    (replace(AAC, profile="HE-AAC"), "HE-AAC"),
    (replace(AAC, channels=6), "downmixed to stereo"),
])
def test_audio_problems_reencode_only_the_audio(audio, reason):
    verdict = decide(replace(STREAMABLE, audio=(audio,)))
    assert verdict.kind == Kind.AUDIO
    assert not verdict.audio_copy
    assert reason in "; ".join(verdict.reasons)


def test_mp3_audio_is_copied():
    assert decide(replace(STREAMABLE, audio=(replace(AAC, codec="mp3", profile=None),))).kind == Kind.PASS


@pytest.mark.parametrize("changes, reason", [
    ({"codec": "hevc"}, "hevc"),
    ({"codec": "vp9"}, "vp9"),
    ({"profile": "High 10"}, "High 10"),
    ({"pix_fmt": "yuv420p10le"}, "8-bit"),
    ({"pix_fmt": "yuv444p"}, "8-bit 4:2:0"),
    ({"width": 161, "height": 121}, "odd dimensions"),
    ({"interlaced": True}, "interlaced"),
    ({"color_trc": 18}, "HLG"),
    ({"color_trc": 16}, "PQ"),
    ({"display_matrix": rotation_matrix(-90)}, "turned 90° clockwise"),
    ({"display_matrix": rotation_matrix(180)}, "180"),
    ({"sample_aspect": Fraction(2)}, "non-square"),
])
def test_video_problems_need_a_transcode(changes, reason):
    verdict = decide(with_video(**changes))
    assert verdict.kind == Kind.TRANSCODE
    assert reason in "; ".join(verdict.reasons)


def test_transcode_copies_fine_audio_and_reencodes_the_rest():
    assert decide(with_video(codec="hevc")).audio_copy
    assert not decide(replace(with_video(codec="hevc"), audio=(replace(AAC, codec="vorbis"),))).audio_copy


def test_no_timestamps_means_transcode():
    probe = replace(STREAMABLE, index=VideoIndex((), 100, None, None, False))
    assert "no timestamps" in decide(probe).reasons[0]


def test_undecodable_audio_is_dropped_with_a_warning_and_the_video_kept():
    broken = AudioInfo(index=1, codec="unknown", profile=None, channels=0, sample_rate=0, decodable=False)
    verdict = decide(replace(STREAMABLE, audio=(broken,)))
    assert verdict.kind == Kind.REMUX
    assert verdict.audio_index is None
    assert "cannot be decoded" in verdict.warnings[0]


def test_only_the_first_of_several_audio_tracks_is_kept():
    second = replace(AAC, index=2)
    verdict = decide(replace(STREAMABLE, audio=(AAC, second)))
    assert verdict.kind == Kind.REMUX and verdict.audio_index == 1
    assert "2 audio tracks" in verdict.reasons[0]


@pytest.mark.parametrize("changes, reason", [
    ({"video": None, "audio": (AAC,)}, "audio only (aac): no video stream"),
    ({"video": None, "audio": ()}, "no audio or video stream"),
    ({"video_decodable": False, "video_problem": "decoder error: x"}, "no video frame decodes"),
])
def test_unusable_input_is_rejected_with_its_reason(changes, reason):
    verdict = decide(replace(STREAMABLE, **changes))
    assert verdict.kind == Kind.REJECT
    assert reason in verdict.reasons[0]


def test_cut_off_download_is_rejected_naming_both_lengths_unless_salvaged():
    cut = replace(STREAMABLE, declared_seconds=60.0, readable_seconds=12.5, readable_end_seconds=12.5)
    verdict = decide(cut)
    assert verdict.kind == Kind.REJECT
    assert "60.00 s" in verdict.reasons[0] and "12.50 s" in verdict.reasons[0] and "--salvage" in verdict.reasons[0]
    salvaged = decide(cut, salvage=True)
    assert salvaged.kind == Kind.REMUX
    assert "salvaging" in salvaged.warnings[0]


def test_a_small_shortfall_is_not_a_cut_off():
    assert decide(replace(STREAMABLE, declared_seconds=1.0, readable_seconds=0.0)).kind == Kind.PASS


def test_a_duration_counted_from_zero_is_not_a_cut_off():
    late_start = replace(STREAMABLE, declared_seconds=12.5, readable_seconds=2.5, readable_end_seconds=12.5)
    assert decide(late_start).kind == Kind.PASS


def test_still_image_is_an_image():
    image = replace(STREAMABLE, format_name="image2", image=True, audio=(), video=replace(VIDEO, codec="mjpeg"))
    assert decide(image).kind == Kind.IMAGE
