"""What a player shows of a decoded frame: its R'G'B', read by a colour meaning (`transcoder.colour.Colour`).

Planar Y'CbCr of any bit depth is converted here, with numpy, by the equations of ITU-T H.273; other formats (RGB,
grey, packed) are converted to R'G'B' by FFmpeg. The verification reads the source's first frames and the output's
this way (transcoder.verify). Kept apart from transcoder.colour so that the segment pool's workers, which need the
colour meanings but no pixel arithmetic, start without importing numpy.
"""

import numpy as np

from transcoder.colour import BT709, LUMA_WEIGHTS, Colour


def shown_rgb(frame, colour: Colour) -> np.ndarray:
    """The R'G'B' a player shows for `frame` (values in [0, 1], shape (height, width, 3)), at the resolution of
    its chroma: each chroma sample with the mean of the luma samples it covers."""
    return shown_rgbs(frame, (colour,))[0]


def shown_rgbs(frame, colours) -> list[np.ndarray]:
    """`shown_rgb` of `frame` read as each of `colours`: the planes are read once for all of them."""
    planes = frame.format.components
    if not (frame.format.name.startswith("yuv") and len(frame.planes) == 3 and all(c.bits > 0 for c in planes)):
        rgb = frame.to_ndarray(format="rgb48le").astype(np.float64) / 65535
        return [rgb for _ in colours]
    luma, blue, red = (_plane(frame, number) for number in range(3))
    rows, columns = blue.shape
    step_y, step_x = -(-luma.shape[0] // rows), -(-luma.shape[1] // columns)  # odd sizes round chroma up
    luma = np.pad(luma, ((0, rows * step_y - luma.shape[0]), (0, columns * step_x - luma.shape[1])), "edge")
    luma = luma.reshape(rows, step_y, columns, step_x).mean(axis=(1, 3))
    return [_converted(luma, blue, red, planes[0].bits, colour) for colour in colours]


def _converted(luma: np.ndarray, blue: np.ndarray, red: np.ndarray, bits: int, colour: Colour) -> np.ndarray:
    scale = float(1 << (bits - 8))
    if colour.full_range:
        peak = (1 << bits) - 1
        luma, blue, red = luma / peak, (blue - 128 * scale) / peak, (red - 128 * scale) / peak
    else:
        luma, blue, red = (luma / scale - 16) / 219, (blue / scale - 128) / 224, (red / scale - 128) / 224
    kr, kb = LUMA_WEIGHTS.get(colour.matrix, LUMA_WEIGHTS[BT709])
    r = luma + 2 * (1 - kr) * red
    b = luma + 2 * (1 - kb) * blue
    g = (luma - kr * r - kb * b) / (1 - kr - kb)
    return np.clip(np.stack([r, g, b], axis=-1), 0, 1)


def _plane(frame, number: int) -> np.ndarray:
    plane = frame.planes[number]
    dtype = np.dtype(np.uint8) if frame.format.components[number].bits <= 8 else np.dtype("<u2")
    values = np.frombuffer(plane, dtype).reshape(plane.height, plane.line_size // dtype.itemsize)
    return values[:, :plane.width].astype(np.float32)
