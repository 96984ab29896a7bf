"""Thumbnails: small enough for Telegram, same aspect as the video, and not the black frame a clip opens with."""

import io
from fractions import Fraction

import av
import numpy as np

from tests.media import shown_picture
from tgvid.thumbnail import MAX_BYTES, MAX_SIDE_PIXELS, thumbnail_of


def test_thumbnail_skips_a_black_opening_and_fits_telegrams_limits(tmp_path):
    path = tmp_path / "fade-in.mp4"
    with av.open(str(path), "w") as output:
        stream = output.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 1280, 720, "yuv420p"
        for index in range(50):
            picture = shown_picture(1280, 720, index) if index >= 10 else np.zeros((720, 1280, 3), np.uint8)
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            frame.pts, frame.time_base = index, Fraction(1, 25)
            output.mux(stream.encode(frame))
        output.mux(stream.encode(None))
    jpeg = thumbnail_of(path)
    assert len(jpeg) < MAX_BYTES
    with av.open(io.BytesIO(jpeg)) as container:
        picture = next(container.decode(video=0))
    assert max(picture.width, picture.height) <= MAX_SIDE_PIXELS
    assert abs(picture.width / picture.height - 16 / 9) < 0.02
    assert picture.to_ndarray(format="gray").mean() > 40, "the thumbnail shows the black opening"
