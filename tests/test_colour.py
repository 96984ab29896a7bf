"""Colours come out as a player shows the source's: BT.601, BT.709, untagged, full and limited range test cards,
tagged phone recordings from the corpus, and the verification catching a wrong matrix."""

from dataclasses import replace
from fractions import Fraction

import av
import numpy as np
import pytest

from tests import checks, media
from tgvid.errors import VerifyFailed
from transcoder import colour
from transcoder.job import EngineSettings, run_job
from transcoder.probe import VideoInfo, probe
from transcoder.verify import ColourSource, Expectation, Mode, verify

UNTAGGED = VideoInfo(index=0, position=0, codec="mpeg2video", profile="Main", pix_fmt="yuv420p", width=640,
                     height=480, sample_aspect=Fraction(1), display_matrix=None, interlaced=False, color_trc=2,
                     colorspace=2, frame_rate=Fraction(25), time_base=Fraction(1, 25))
# A difference of colour a viewer just notices side by side is about 2.3 (CIE 1976 ΔE).
MAX_DELTA_E = 2.0
SETTINGS = EngineSettings(segment_seconds=1.0, crf=28, preset="ultrafast")


def first_frame(path) -> av.VideoFrame:
    with av.open(str(path)) as container:
        return next(container.decode(video=0))


@pytest.mark.parametrize("width, height, matrix, primaries", [
    (640, 480, 6, 6), (720, 576, 6, 5), (960, 540, 6, 1), (1280, 720, 1, 1), (642, 642, 1, 1), (1080, 1920, 1, 1),
])
def test_untagged_sources_mean_what_players_assume_by_size(width, height, matrix, primaries):
    meaning = colour.of_source(replace(UNTAGGED, width=width, height=height))
    assert (meaning.matrix, meaning.primaries, meaning.full_range, meaning.transfer) == (matrix, primaries, False, 1)


def test_stated_colours_are_kept_and_yuvj_means_full_range():
    stated = replace(UNTAGGED, colorspace=1, color_primaries=1, color_trc=13, color_range=1)
    assert colour.of_source(stated) == colour.Colour(1, False, 1, 13)
    assert colour.of_source(replace(UNTAGGED, pix_fmt="yuvj420p")).full_range


CARDS = {
    "bt601-tagged": dict(matrix="bt601"),
    "bt709-tagged": dict(matrix="bt709"),
    "sd-untagged": dict(matrix="bt601", tagged=False),
    "hd-untagged": dict(matrix="bt709", tagged=False, width=1280, height=720, frames=2),
    "bt709-full-range": dict(matrix="bt709", full_range=True),
    "bt601-full-range": dict(matrix="bt601", full_range=True),
}


@pytest.fixture(scope="module")
def transcoded_cards(tmp_path_factory):
    """Each card and its output, transcoded once for all the tests below."""
    folder = tmp_path_factory.mktemp("cards")
    done = {}
    for name, card in CARDS.items():
        source = media.write_colour_card(folder / f"{name}.mp4", **card)
        result = run_job(source, folder / f"{name}-job", folder / f"{name}-out.mp4", SETTINGS)
        done[name] = (source, result.output)
    return done


@pytest.mark.parametrize("name", CARDS)
def test_card_patches_show_the_sources_colours(transcoded_cards, name):
    source, output = transcoded_cards[name]
    shown_source = media.patch_centres(checks.shown_rgb(first_frame(source)))
    shown_output = media.patch_centres(checks.shown_rgb(first_frame(output)))
    # The card is what a player shows for the source (within the rounding of its 8-bit YUV).
    assert checks.delta_e(shown_source, np.array(media.CARD_PATCHES)).max() < 1.5
    apart = checks.delta_e(shown_source, shown_output)
    worst = int(apart.argmax())
    assert apart.max() < MAX_DELTA_E, (
        f"patch {media.CARD_PATCHES[worst]}: source shows {shown_source[worst].round()}, "
        f"output {shown_output[worst].round()} (ΔE {apart.max():.1f})")


@pytest.mark.parametrize("name", CARDS)
def test_output_is_bt709_limited_range_and_says_so(transcoded_cards, name):
    frame = first_frame(transcoded_cards[name][1])
    assert (int(frame.colorspace), int(frame.color_range)) == (1, 1)
    assert frame.format.name == "yuv420p"


@pytest.mark.parametrize("name", CARDS)
def test_mid_grey_keeps_its_level(transcoded_cards, name):
    """Grey 128 is Y 126 (125.9), Cb and Cr 128 in limited range; the scaler's default rounding made it darker
    and greenish ((125, 128, 127) as R'G'B')."""
    frame = first_frame(transcoded_cards[name][1])
    planes = [np.frombuffer(p, np.uint8).reshape(p.height, p.line_size)[:, :p.width].astype(float)[..., None]
              for p in frame.planes]
    grey = media.CARD_PATCHES.index((128, 128, 128))
    luma, blue, red = (media.patch_centres(plane)[grey][0] for plane in planes)
    assert abs(luma - (16 + 219 * 128 / 255)) < 0.6 and abs(blue - 128) < 0.6 and abs(red - 128) < 0.6, (
        luma, blue, red)


# The card's colours a sixth as saturated: a wrong matrix moves them by under 2 levels, less than encoding can.
PALE_PATCHES = tuple(tuple(round(128 + (value - 128) / 6) for value in patch) for patch in media.CARD_PATCHES)


@pytest.mark.parametrize("mode", list(Mode))
@pytest.mark.parametrize("patches", [media.CARD_PATCHES, PALE_PATCHES], ids=["saturated", "pale"])
def test_verification_catches_bt601_pixels_labelled_bt709(tmp_path, patches, mode):
    source = media.write_colour_card(tmp_path / "bt601.mp4", matrix="bt601", patches=patches)
    wrong = media.write_colour_card(tmp_path / "wrong.mp4", matrix="bt601", tag_as="bt709", codec="libx264",
                                    patches=patches)
    expect = Expectation(video_seconds=3 / 25, frames=3, has_audio=False, audio_end_minus_video_end=None,
                         colour_source=ColourSource(source, 0, colour.of_source(probe(source).video)))
    with pytest.raises(VerifyFailed, match=r"colours differ from the source.s .*\(read as BT.601 limited range"):
        verify(wrong, expect, mode)
    right = media.write_colour_card(tmp_path / "right.mp4", matrix="bt709", codec="libx264", patches=patches)
    verify(right, expect, mode)


# Phone recordings that state their colours: full range (Pixel 7), limited range HEVC and H.264 (iPad, iPhone).
TAGGED_PHONE_FILES = ("pixel7-phone-video-only.mp4", "ipad-hevc-rotate90.mov", "iphone6s-h264-rotate90.mov")


def dihedral(picture: np.ndarray):
    """The eight turns and mirrors of `picture`: the output is turned as the source's display matrix says."""
    for flipped in (picture, picture[:, ::-1]):
        for quarter_turns in range(4):
            yield np.rot90(flipped, quarter_turns)


@pytest.mark.parametrize("name", TAGGED_PHONE_FILES)
def test_tagged_phone_recordings_keep_their_colours(corpus, tmp_path, name):
    result = run_job(corpus / name, tmp_path / "job", tmp_path / "out.mp4", SETTINGS)
    source_frame = first_frame(corpus / name)
    assert int(source_frame.colorspace) == 1, "the file states BT.709"
    output = checks.grid_means(checks.shown_rgb(first_frame(result.output)))
    apart = min(checks.delta_e(checks.grid_means(turned), output).mean()
                for turned in dihedral(checks.shown_rgb(source_frame)))
    assert apart < MAX_DELTA_E, f"mean ΔE {apart:.1f} between the source's and the output's first frames"
