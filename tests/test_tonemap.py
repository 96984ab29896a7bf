"""HDR to SDR: a known HDR picture comes out as its SDR rendering would, not as a washed-out bit-depth cut."""

from fractions import Fraction

import av
import numpy as np
import pytest

from tests.conftest import CORPUS
from transcoder import tonemap

BT709_TO_BT2020 = np.linalg.inv(tonemap.BT2020_TO_BT709)
WIDTH, HEIGHT = 256, 128


def scene() -> np.ndarray:
    """Linear BT.709 light relative to reference white: a grey ramp and colour patches (skin, sky, grass…)."""
    picture = np.zeros((HEIGHT, WIDTH, 3))
    picture[: HEIGHT // 2] = np.linspace(0.02, 1.0, WIDTH)[None, :, None]
    patches = [(0.8, 0.1, 0.1), (0.1, 0.6, 0.15), (0.1, 0.2, 0.7), (0.75, 0.5, 0.38), (0.4, 0.6, 0.85),
               (0.9, 0.8, 0.2), (0.5, 0.5, 0.5), (1.0, 1.0, 1.0)]
    step = WIDTH // len(patches)
    for index, colour in enumerate(patches):
        picture[HEIGHT // 2:, index * step:(index + 1) * step] = colour
    return picture


def to_yuv10(rgb_code: np.ndarray, matrix: np.ndarray) -> av.VideoFrame:
    """Nonlinear R'G'B' in [0, 1] to a limited-range 4:2:0 10-bit frame with the given luma weights."""
    kr, kg, kb = matrix
    y = rgb_code @ matrix
    u = (rgb_code[..., 2] - y) / (2 * (1 - kb))
    v = (rgb_code[..., 0] - y) / (2 * (1 - kr))
    frame = av.VideoFrame(WIDTH, HEIGHT, "yuv420p10le")
    planes = [np.round(64 + 876 * y), np.round(512 + 896 * u[::2, ::2]), np.round(512 + 896 * v[::2, ::2])]
    for plane, values in zip(frame.planes, planes, strict=True):
        rows = np.zeros((values.shape[0], plane.line_size // 2), np.uint16)
        rows[:, : values.shape[1]] = values.astype(np.uint16)
        plane.update(rows.tobytes())
    frame.pts, frame.time_base = 0, Fraction(1, 25)
    return frame


def hdr_frame(transfer: int) -> av.VideoFrame:
    """The scene as an HDR camera would store it: BT.2020 primaries, PQ or HLG, reference white at 203 nits."""
    linear2020 = scene() @ BT709_TO_BT2020.T
    nits = np.clip(linear2020, 0, None) * tonemap.REFERENCE_WHITE_NITS
    if transfer == tonemap.PQ:
        m1, m2, c1, c2, c3 = 2610 / 16384, 2523 / 4096 * 128, 3424 / 4096, 2413 / 4096 * 32, 2392 / 4096 * 32
        power = np.power(nits / 10000, m1)
        code = np.power((c1 + c2 * power) / (1 + c3 * power), m2)
    else:  # HLG: undo the 1000-nit OOTF, then the OETF
        display = nits / tonemap.HLG_DISPLAY_PEAK_NITS
        luminance = np.maximum(display @ tonemap.BT2020_LUMA, 1e-9)
        scene_light = display / np.power(luminance, (tonemap.HLG_SYSTEM_GAMMA - 1) / tonemap.HLG_SYSTEM_GAMMA)[..., None]
        a = 0.17883277
        b, c = 1 - 4 * a, 0.5 - a * np.log(4 * a)
        code = np.where(scene_light <= 1 / 12, np.sqrt(3 * scene_light),
                        a * np.log(np.maximum(12 * scene_light - b, 1e-9)) + c)
    return to_yuv10(np.clip(code, 0, 1), tonemap.BT2020_LUMA)


def sdr_reference() -> np.ndarray:
    """The same scene rendered straight to SDR: BT.709, reference white at SDR white, gamma 2.4."""
    return np.power(np.clip(scene(), 0, 1), 1 / tonemap.SDR_GAMMA)


def run_chain(frame: av.VideoFrame, chain) -> np.ndarray:
    graph = av.filter.Graph()
    nodes = [graph.add_buffer(width=frame.width, height=frame.height, format=frame.format,
                              time_base=frame.time_base)]
    nodes += [graph.add(name, args) for name, args in chain] + [graph.add("buffersink")]
    graph.link_nodes(*nodes).configure()
    graph.vpush(frame)
    out = graph.vpull()
    assert out.format.name == "yuv420p"
    rgb = out.reformat(format="rgb24", src_colorspace="ITU709", dst_colorspace="ITU709").to_ndarray()
    return rgb / 255.0


def luma_and_saturation(rgb: np.ndarray) -> tuple[float, float]:
    luma = rgb @ tonemap.BT709_LUMA
    saturation = (rgb.max(axis=-1) - rgb.min(axis=-1)) / np.maximum(rgb.max(axis=-1), 1e-6)
    return float(luma.mean()), float(saturation.mean())


BARE_CUT = (("scale", "out_range=tv"), ("format", "yuv420p"))


@pytest.mark.parametrize("transfer", [tonemap.PQ, tonemap.HLG], ids=["pq", "hlg"])
def test_hdr_lands_near_its_sdr_rendering_and_a_bare_cut_does_not(tmp_path, transfer):
    reference_luma, reference_saturation = luma_and_saturation(sdr_reference())
    mapped = run_chain(hdr_frame(transfer), tonemap.filters(transfer, tmp_path))
    luma, saturation = luma_and_saturation(mapped)
    assert abs(luma - reference_luma) < 0.05, (luma, reference_luma)
    assert abs(saturation - reference_saturation) < 0.08, (saturation, reference_saturation)
    cut_luma, cut_saturation = luma_and_saturation(run_chain(hdr_frame(transfer), BARE_CUT))
    assert abs(cut_luma - reference_luma) > 0.05 or abs(cut_saturation - reference_saturation) > 0.08


def test_lut_axes_are_in_the_order_lut3d_reads():
    lines = tonemap.cube_text(tonemap.PQ, points=3).splitlines()[2:]
    first_red_step = [float(v) for v in lines[1].split()]
    assert first_red_step[0] > first_red_step[1] and first_red_step[0] > first_red_step[2], "red must change fastest"


@pytest.mark.parametrize("name, transfer", [("hlg10-hevc.mp4", tonemap.HLG), ("av1-10bit-hdr10-portrait.mp4", tonemap.PQ),
                                            ("sample-h264-aac.mp4", None)])
def test_real_files_report_their_transfer_and_map_to_plausible_sdr(corpus, tmp_path, name, transfer):
    with av.open(str(CORPUS / name)) as container:
        frame = next(container.decode(video=0))
    assert tonemap.is_hdr(int(frame.color_trc)) == (transfer is not None)
    if transfer is None:
        return
    luma, saturation = luma_and_saturation(run_chain(frame, tonemap.filters(transfer, tmp_path)))
    assert 0.15 < luma < 0.85 and saturation > 0.05, (luma, saturation)
