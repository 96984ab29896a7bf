"""The engine end to end on generated media: what a viewer would notice about each output.

Every test makes a small source with tests.media, runs the real job (real PyAV, real x264), and checks the
output with tests.checks, which reads files independently of the code under test.
"""

import os
from fractions import Fraction

import av
import pytest

from tests import checks
from tests.media import ALL_ORIENTATIONS, write_image, write_video
from tgvid.errors import Rejected, TranscodeFailed
from transcoder.checkpoint import load
from transcoder.job import run_job
from transcoder.verdict import Kind


def convert(tmp_path, source, settings):
    output = tmp_path / "out.mp4"
    result = run_job(source, tmp_path / "job", output, settings)
    return result, output


@pytest.mark.parametrize("orientation", ALL_ORIENTATIONS, ids=str)
def test_display_orientation_is_baked_into_the_pixels(tmp_path, fast, orientation):
    source = write_video(tmp_path / "phone.mp4", seconds=1, width=320, height=180, orientation=orientation)
    result, output = convert(tmp_path, source, fast)
    out = checks.facts(output)
    checks.assert_faithful(checks.facts(source), out)
    checks.assert_marker_top_left(out)
    assert (out.width, out.height) == (320, 180)


def test_variable_frame_rate_keeps_every_frame_at_its_time(tmp_path, fast):
    times = [0.0, 0.04, 0.08, 0.5, 0.52, 0.9, 1.4, 1.41, 1.42, 2.0]
    source = write_video(tmp_path / "vfr.mkv", frame_times=times, codec="mpeg4", audio_channels=())
    result, output = convert(tmp_path, source, fast)
    assert result.verdict.kind == Kind.TRANSCODE
    out = checks.facts(output)
    with av.open(str(output)) as container:
        stream = container.streams.video[0]
        shown = sorted(float(f.pts * stream.time_base) for f in container.decode(stream))
    assert shown == pytest.approx(times, abs=0.002)
    assert out.frames == len(times)


def test_odd_dimensions_become_even(tmp_path, fast):
    source = write_video(tmp_path / "odd.mkv", width=161, height=121, codec="libx264", pix_fmt="yuv444p",
                         audio_channels=())
    _, output = convert(tmp_path, source, fast)
    out = checks.facts(output)
    checks.assert_streamable(out)
    assert (out.width, out.height) == (160, 120)


@pytest.mark.parametrize("pix_fmt", ["yuv420p10le", "yuv444p", "yuv422p"])
def test_high_bit_depth_and_chroma_become_8_bit_420(tmp_path, fast, pix_fmt):
    source = write_video(tmp_path / "deep.mp4", codec="libx264", pix_fmt=pix_fmt, seconds=1)
    result, output = convert(tmp_path, source, fast)
    assert result.verdict.kind == Kind.TRANSCODE
    checks.assert_faithful(checks.facts(source), checks.facts(output))


def test_sparse_keyframes_are_cut_anyway_and_no_frame_is_lost(tmp_path, fast):
    source = write_video(tmp_path / "screen.mkv", seconds=3, codec="mpeg4", gop_frames=1000, audio_channels=())
    result, output = convert(tmp_path, source, fast)
    state = load(tmp_path / "job")
    assert len(state.segments) >= 5
    assert all(s.decode_from_pts == state.segments[0].decode_from_pts for s in state.segments)
    checks.assert_faithful(checks.facts(source), checks.facts(output))


def test_mpeg_ts_segments_seek_near_their_start_instead_of_decoding_from_the_top(tmp_path, fast, caplog):
    # A seek in MPEG-TS lands just past the keyframe asked for, so that keyframe is lost; every segment
    # decoded from the top of the file would make a long recording take quadratic time.
    caplog.set_level("DEBUG", logger="transcoder.segment")
    source = write_video(tmp_path / "dvb.ts", seconds=4, codec="mpeg2video", container="mpegts", gop_frames=25,
                         audio_codec="mp2")
    _, output = convert(tmp_path, source, fast)
    checks.assert_faithful(checks.facts(source), checks.facts(output))
    assert "missed the segment's start" in caplog.text, "the case this test is about no longer happens"
    assert "decoding from the beginning" not in caplog.text


def test_a_source_replaced_mid_conversion_is_never_mixed_into_the_output(tmp_path, fast):
    source = write_video(tmp_path / "v.mkv", seconds=3, codec="mpeg4", audio_channels=())
    replacement = write_video(tmp_path / "new.mkv", seconds=2, width=240, height=160, codec="mpeg4",
                              audio_channels=())

    def replace_after_the_first_segment(state):
        if replacement.exists():
            replacement.replace(source)  # what `mv new.mkv inbox/v.mkv` does

    with pytest.raises(TranscodeFailed, match="changed while it was converted"):
        run_job(source, tmp_path / "job", tmp_path / "out.mp4", fast, on_progress=replace_after_the_first_segment)
    assert not (tmp_path / "out.mp4").exists()
    _, output = convert(tmp_path, source, fast)
    out = checks.facts(output)
    checks.assert_faithful(checks.facts(source), out)
    assert (out.width, out.height) == (240, 160)


def test_a_source_only_touched_mid_conversion_is_converted_afresh_on_the_next_attempt(tmp_path, fast):
    source = write_video(tmp_path / "v.mkv", seconds=3, codec="mpeg4", audio_channels=())
    touched = []

    def touch_after_the_first_segment(state):
        if not touched:
            os.utime(source, ns=(source.stat().st_atime_ns, source.stat().st_mtime_ns + 10**9))
            touched.append(True)

    with pytest.raises(TranscodeFailed, match="changed while it was converted"):
        run_job(source, tmp_path / "job", tmp_path / "out.mp4", fast, on_progress=touch_after_the_first_segment)
    _, output = convert(tmp_path, source, fast)
    checks.assert_faithful(checks.facts(source), checks.facts(output))


def test_b_frames_with_open_gops_join_without_lost_or_doubled_frames(tmp_path, fast):
    source = write_video(tmp_path / "bframes.mkv", seconds=3, codec="mpeg2video", bframes=2, gop_frames=12,
                         options={}, audio_channels=(2,), audio_codec="mp2", audio_rate=44100)
    result, output = convert(tmp_path, source, fast)
    checks.assert_faithful(checks.facts(source), checks.facts(output))


def test_surround_audio_is_downmixed_to_stereo_aac(tmp_path, fast):
    source = write_video(tmp_path / "surround.mkv", codec="mpeg4", audio_channels=(6,), audio_codec="ac3")
    _, output = convert(tmp_path, source, fast)
    out = checks.facts(output)
    assert (out.audio_codec, out.audio_channels) == ("aac", 2)
    checks.assert_faithful(checks.facts(source), out)


def test_several_audio_tracks_keep_the_first(tmp_path, fast):
    source = write_video(tmp_path / "dual.mkv", codec="mpeg4", audio_channels=(1, 2), audio_codec="ac3")
    _, output = convert(tmp_path, source, fast)
    out = checks.facts(output)
    assert out.audio_streams == 1 and out.audio_channels == 1


def test_no_audio_gives_a_silent_video(tmp_path, fast):
    source = write_video(tmp_path / "silent.webm", codec="libvpx-vp9", audio_channels=(), seconds=1)
    result, output = convert(tmp_path, source, fast)
    assert not result.has_audio
    assert checks.facts(output).audio_streams == 0


def test_a_stream_start_offset_keeps_the_audio_video_offset(tmp_path, fast):
    source = write_video(tmp_path / "offset.mkv", codec="mpeg4", start_seconds=10.0, audio_start_seconds=10.5,
                         audio_codec="ac3")
    _, output = convert(tmp_path, source, fast)
    checks.assert_faithful(checks.facts(source), checks.facts(output))


def test_audio_shorter_than_video_stays_shorter(tmp_path, fast):
    source = write_video(tmp_path / "short-audio.mkv", codec="mpeg4", seconds=2, audio_seconds=1.0,
                         audio_codec="ac3")
    _, output = convert(tmp_path, source, fast)
    checks.assert_faithful(checks.facts(source), checks.facts(output))


def test_non_square_pixels_become_square(tmp_path, fast):
    source = write_video(tmp_path / "anamorphic.mp4", width=320, height=180, sample_aspect=Fraction(2),
                         audio_channels=())
    _, output = convert(tmp_path, source, fast)
    out = checks.facts(output)
    assert (out.width, out.height) == (640, 180)


def test_max_height_downscales(tmp_path):
    from transcoder.job import EngineSettings

    source = write_video(tmp_path / "big.mkv", codec="mpeg4", width=640, height=360, seconds=1, audio_channels=())
    _, output = convert(tmp_path, source, EngineSettings(segment_seconds=0.5, preset="ultrafast", max_height=180))
    out = checks.facts(output)
    assert (out.width, out.height) == (320, 180)


def test_streamable_mp4_passes_as_it_is(tmp_path, fast):
    source = write_video(tmp_path / "ready.mp4", options={"movflags": "+faststart"})
    result, _ = convert(tmp_path, source, fast)
    assert result.verdict.kind == Kind.PASS
    assert result.output == source
    assert not (tmp_path / "out.mp4").exists()


def test_moov_at_the_end_is_remuxed_with_the_video_bitstream_unchanged(tmp_path, fast):
    source = write_video(tmp_path / "camera.mp4")
    result, output = convert(tmp_path, source, fast)
    assert result.verdict.kind == Kind.REMUX
    checks.assert_faithful(checks.facts(source), checks.facts(output))

    def payloads(path):
        with av.open(str(path)) as container:
            return [bytes(p) for p in container.demux(container.streams.video[0]) if p.size]

    assert payloads(output) == payloads(source)


def test_audio_only_problem_copies_the_video_and_reencodes_the_audio(tmp_path, fast):
    source = write_video(tmp_path / "ac3.mkv", audio_codec="ac3")
    result, output = convert(tmp_path, source, fast)
    assert result.verdict.kind == Kind.AUDIO
    out = checks.facts(output)
    assert out.audio_codec == "aac"
    checks.assert_faithful(checks.facts(source), out)


def test_still_image_named_mp4_is_an_image(tmp_path, fast):
    source = write_image(tmp_path / "photo.mp4")
    result, _ = convert(tmp_path, source, fast)
    assert result.verdict.kind == Kind.IMAGE


@pytest.mark.parametrize("content, reason", [
    (b"", "empty"),
    (bytes(range(256)) * 64, "not a media file"),
])
def test_bad_bytes_are_rejected_with_a_reason(tmp_path, fast, content, reason):
    source = tmp_path / "bad.mp4"
    source.write_bytes(content)
    with pytest.raises(Rejected, match=reason):
        convert(tmp_path, source, fast)
    assert not (tmp_path / "out.mp4").exists()


def test_an_mp4_cut_off_before_its_index_is_rejected_as_such_not_as_no_media(tmp_path, fast):
    whole = write_video(tmp_path / "whole.mp4", seconds=2)  # the index (moov) at the end, as a camera writes it
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(Rejected) as rejected:
        convert(tmp_path, cut, fast)
    assert "an MP4 or QuickTime file FFmpeg cannot open" in rejected.value.message
    assert "cut off while it was recorded or copied, before its index (moov) was written" in rejected.value.message


def test_a_cut_off_download_is_rejected_and_salvaged_on_request(tmp_path, fast):
    from dataclasses import replace

    whole = write_video(tmp_path / "whole.mkv", seconds=8, codec="mpeg4", audio_channels=())
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 3])
    with pytest.raises(Rejected, match="cut off"):
        convert(tmp_path, cut, fast)
    result, output = convert(tmp_path, cut, replace(fast, salvage=True))
    assert 1.0 < checks.facts(output).video_end < 4.0
