"""The picture plan: all eight display orientations, square pixels, even sizes, the height limit."""

from dataclasses import replace
from fractions import Fraction

import numpy as np
import pytest

from tests.media import ALL_ORIENTATIONS, Orientation
from transcoder.picture import orientation_filters, output_size, plan_picture
from transcoder.probe import VideoInfo

VIDEO = VideoInfo(index=0, position=0, codec="hevc", profile="Main", pix_fmt="yuv420p", width=640, height=360,
                  sample_aspect=Fraction(1), display_matrix=None, interlaced=False, color_trc=1, colorspace=1,
                  frame_rate=Fraction(30), time_base=Fraction(1, 90000))


def matrix_for(orientation: Orientation) -> tuple[int, ...]:
    """The display matrix PyAV writes for an orientation (av_display_rotation_set, then the flips)."""
    radians = np.radians(orientation.degrees)
    a, b = round(np.cos(radians) * 65536), round(-np.sin(radians) * 65536)
    c, d = round(np.sin(radians) * 65536), round(np.cos(radians) * 65536)
    if orientation.hflip:
        a, c = -a, -c
    if orientation.vflip:
        b, d = -b, -d
    return (a, b, 0, c, d, 0, 0, 0, 1 << 30)


def apply(filters, picture):
    for name, args in filters:
        if name == "hflip":
            picture = picture[:, ::-1]
        elif name == "vflip":
            picture = picture[::-1]
        elif name == "transpose":
            transposed = picture.T
            picture = {"clock": transposed[:, ::-1], "cclock": transposed[::-1],
                       "clock_flip": transposed[::-1, ::-1], "cclock_flip": transposed}[args]
    return picture


@pytest.mark.parametrize("orientation", ALL_ORIENTATIONS, ids=str)
def test_every_orientation_turns_the_coded_picture_back_to_the_shown_one(orientation):
    shown = np.arange(12).reshape(3, 4)
    coded = orientation.coded_from_shown(shown)
    assert np.array_equal(apply(orientation_filters(matrix_for(orientation)), coded), shown)


def test_no_matrix_means_no_turn():
    assert orientation_filters(None) == ()


def test_quarter_turn_swaps_width_and_height():
    turned = plan_picture(replace(VIDEO, display_matrix=matrix_for(Orientation(90))))
    assert (turned.width, turned.height) == (360, 640)


def test_non_square_pixels_become_square_at_the_shown_size():
    assert output_size(replace(VIDEO, sample_aspect=Fraction(2)), False, 0) == (1280, 360)
    assert output_size(replace(VIDEO, width=720, height=576, sample_aspect=Fraction(16, 15)), False, 0) == (768, 576)


def test_odd_sizes_become_even():
    assert output_size(replace(VIDEO, width=161, height=121), False, 0) == (160, 120)


def test_max_height_downscales_keeping_the_aspect():
    assert output_size(replace(VIDEO, width=3840, height=2160), False, 1080) == (1920, 1080)
    assert output_size(replace(VIDEO, width=3840, height=2160), True, 1080) == (608, 1080)


def test_interlaced_sources_are_deinterlaced_frame_for_frame():
    filters = plan_picture(replace(VIDEO, interlaced=True)).filters
    assert filters[0][0] == "bwdif" and "send_frame" in filters[0][1]
