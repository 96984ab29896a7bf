"""HDR to SDR: a 3D LUT that turns PQ (HDR10) or HLG pictures into SDR BT.709 with natural colours.

PyAV's FFmpeg has no zscale, so the whole mapping is one table computed here with numpy and applied by
FFmpeg's `lut3d`. For each R'G'B' code value of the source (BT.2020 primaries):
1. to display light in nits: the SMPTE ST 2084 EOTF for PQ; for HLG the BT.2100 inverse OETF and the OOTF of a
   1000-nit display (system gamma 1.2);
2. BT.2020 to BT.709 primaries, in linear light;
3. colours outside the BT.709 gamut are pulled toward their own luminance (less saturation, same brightness);
4. light relative to HDR reference white (203 nits, BT.2408) is kept up to a knee at half of it and rolled off
   above (extended Reinhard, reaching SDR white at 1000 nits; reference white lands at three quarters of SDR
   white), driven by the brightest channel and applied as one ratio to R, G and B, so that hue and saturation
   stay and no channel clips;
5. encoded for an SDR display with BT.1886's gamma 2.4.

The filter chain: scale (YUV to R'G'B' with the BT.2020 matrix, 16 bits) → lut3d → scale (to YUV with the BT.709
matrix, limited range) → yuv420p, each scale told its input's and output's colour explicitly. The encoder tags the
output BT.709 (primaries, transfer and matrix), as `transcoder.colour.of_output` says.
"""

from pathlib import Path

import numpy as np

from tgvid import durable
from transcoder.colour import BT709, OUTPUT_SDR, Colour, scale_arguments

PQ, HLG = 16, 18  # AVColorTransferCharacteristic values
BT2020 = 9  # AVColorSpace (non-constant luminance) and AVColorPrimaries
NAMES = {PQ: "pq", HLG: "hlg"}
LUT_POINTS = 33
LUT_VERSION = 1  # part of the file name: a changed mapping must not reuse an old table
LUT_SUFFIX = ".cube"
REFERENCE_WHITE_NITS = 203.0
HLG_DISPLAY_PEAK_NITS = 1000.0
HLG_SYSTEM_GAMMA = 1.2
KNEE = 0.5  # relative to reference white (about 100 nits): below it, light is kept as it is
PEAK_NITS = 1000.0  # the brightest light kept apart from white: HLG's nominal peak, and most HDR10 masters
SDR_GAMMA = 2.4
BT2020_TO_BT709 = np.array([[1.6605, -0.5876, -0.0728],
                            [-0.1246, 1.1329, -0.0083],
                            [-0.0182, -0.1006, 1.1187]])
BT709_LUMA = np.array([0.2126, 0.7152, 0.0722])
BT2020_LUMA = np.array([0.2627, 0.6780, 0.0593])


def is_hdr(color_trc: int) -> bool:
    return color_trc in NAMES


def pq_to_nits(encoded: np.ndarray) -> np.ndarray:
    """SMPTE ST 2084 EOTF: code value in [0, 1] to display light in nits."""
    m1, m2 = 2610 / 16384, 2523 / 4096 * 128
    c1, c2, c3 = 3424 / 4096, 2413 / 4096 * 32, 2392 / 4096 * 32
    power = np.power(np.clip(encoded, 0, 1), 1 / m2)
    return 10000.0 * np.power(np.maximum(power - c1, 0) / (c2 - c3 * power), 1 / m1)


def hlg_to_nits(encoded: np.ndarray) -> np.ndarray:
    """BT.2100 HLG: inverse OETF to scene light, then the OOTF of a 1000-nit display. `encoded` is (..., 3)."""
    a = 0.17883277
    b, c = 1 - 4 * a, 0.5 - a * np.log(4 * a)
    encoded = np.clip(encoded, 0, 1)
    scene = np.where(encoded <= 0.5, encoded ** 2 / 3, (np.exp((encoded - c) / a) + b) / 12)
    luminance = scene @ BT2020_LUMA
    return HLG_DISPLAY_PEAK_NITS * scene * np.power(np.maximum(luminance, 1e-9), HLG_SYSTEM_GAMMA - 1)[..., None]


def shoulder(relative: np.ndarray) -> np.ndarray:
    """Light relative to reference white, to SDR light in [0, 1]: unchanged up to KNEE, then an extended
    Reinhard roll-off whose slope starts at 1 (no visible kink) and which reaches 1 at PEAK_NITS."""
    room = 1 - KNEE
    white = (PEAK_NITS / REFERENCE_WHITE_NITS - KNEE) / room
    excess = np.maximum(relative - KNEE, 0) / room
    rolled = excess * (1 + excess / white ** 2) / (1 + excess)
    return np.where(relative <= KNEE, relative, np.minimum(KNEE + room * rolled, 1.0))


def map_code_values(encoded: np.ndarray, transfer: int) -> np.ndarray:
    """HDR R'G'B' code values (..., 3), BT.2020, to SDR BT.709 R'G'B' code values in [0, 1]."""
    nits = pq_to_nits(encoded) if transfer == PQ else hlg_to_nits(encoded)
    linear = nits @ BT2020_TO_BT709.T / REFERENCE_WHITE_NITS
    # Colours the BT.709 gamut cannot show (negative channels) move toward their own grey.
    luminance = np.maximum(linear @ BT709_LUMA, 0)[..., None]
    low = linear.min(axis=-1, keepdims=True)
    pull = np.where(low < 0, luminance / np.maximum(luminance - low, 1e-9), 1.0)
    linear = luminance + (linear - luminance) * np.clip(pull, 0, 1)
    # The curve is driven by the brightest channel and applied as one ratio: hues and saturation stay,
    # and no channel can pass SDR white.
    brightest = np.maximum(linear.max(axis=-1), 1e-9)
    linear = linear * (shoulder(brightest) / brightest)[..., None]
    return np.power(np.clip(linear, 0, 1), 1 / SDR_GAMMA)


def cube_text(transfer: int, points: int = LUT_POINTS) -> str:
    """The table in the .cube format FFmpeg's lut3d reads: red changes fastest, then green, then blue."""
    axis = np.linspace(0, 1, points)
    blue, green, red = np.meshgrid(axis, axis, axis, indexing="ij")
    grid = np.stack([red, green, blue], axis=-1).reshape(-1, 3)
    rows = map_code_values(grid, transfer)
    body = "\n".join(f"{r:.6f} {g:.6f} {b:.6f}" for r, g, b in rows)
    return f"TITLE \"tgvid {NAMES[transfer]} to SDR BT.709\"\nLUT_3D_SIZE {points}\n{body}\n"


def lut_file(transfer: int, lut_dir: Path) -> Path:
    """The table for `transfer` in `lut_dir`, written once (atomically) and reused."""
    path = Path(lut_dir) / f"tonemap-{NAMES[transfer]}-v{LUT_VERSION}{LUT_SUFFIX}"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        durable.atomic_write(path, cube_text(transfer).encode())
    return path


def filters(transfer: int, lut_dir: Path, full_range: bool = False) -> tuple[tuple[str, str], ...]:
    """The filter chain from decoded HDR frames (BT.2020, limited range unless `full_range`) to SDR yuv420p frames
    (BT.709, limited range)."""
    source = Colour(BT2020, full_range, BT2020, transfer)
    table_input = Colour(BT2020, True, BT2020, transfer)  # R'G'B' is always full range
    table_output = Colour(BT709, True, BT709, BT709)
    return (
        ("scale", scale_arguments(source, table_input)),
        ("format", "gbrp16le"),
        ("lut3d", f"file={lut_file(transfer, lut_dir)}:interp=tetrahedral"),
        ("scale", scale_arguments(table_output, OUTPUT_SDR)),
        ("format", "yuv420p"),
    )
