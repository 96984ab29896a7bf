"""Every file in ../shared/corpus comes out as its MANIFEST says: a faithful, streamable MP4, an image, or a
rejection with a reason and no output."""

import re
from pathlib import Path

import pytest

from tests import checks
from tests.conftest import CORPUS
from tgvid.errors import Rejected
from transcoder.job import EngineSettings, run_job
from transcoder.verdict import Kind

SETTINGS = EngineSettings(segment_seconds=1.0, crf=28, preset="ultrafast")


def manifest_rows() -> list[tuple[str, str]]:
    """(file name, expect) for each row of the corpus MANIFEST."""
    manifest = CORPUS / "MANIFEST.md"
    if not manifest.exists():
        return []
    rows = []
    for line in manifest.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) >= 8 and re.fullmatch(r"[\w.-]+\.\w+", cells[0]) and cells[7] in (
                "ok", "ok-no-audio", "image", "reject"):
            rows.append((cells[0], cells[7]))
    return rows


ROWS = manifest_rows()
# Where a source's own timing makes a frame-exact comparison with PyAV's decoding of it meaningless.
FRAME_TOLERANCE = {
    "theora-vorbis-camera.ogv": 17,  # 17 empty packets decode as repeats of the previous picture; we skip them
    "theora-screencast.ogg": 1,  # one empty packet, likewise
    "avchd-1080i-paff-ac3.mts": 1,  # field pictures: a lone trailing field may or may not make a frame
    # The last frame lies past the edit list's end but B-frames before it reference it: a remux keeps it
    # (FFmpeg's own remux does too), and MP4 edit lists are not PyAV's to write.
    "samsung-sef-slow-motion.mp4": 1,
}


def test_the_manifest_lists_the_corpus(corpus):
    listed = {name for name, _ in ROWS}
    on_disk = {p.name for p in corpus.iterdir() if p.name != "MANIFEST.md"}
    assert listed == on_disk


@pytest.mark.parametrize("name, expect", ROWS, ids=[name for name, _ in ROWS])
def test_corpus_file_comes_out_right(corpus, tmp_path, name, expect):
    source = corpus / name
    output = tmp_path / "out.mp4"
    before = source.stat().st_mtime_ns, source.stat().st_size
    if expect == "reject":
        with pytest.raises(Rejected) as rejected:
            run_job(source, tmp_path / "job", output, SETTINGS)
        assert name in str(rejected.value) and rejected.value.reason
        assert not output.exists()
        return
    result = run_job(source, tmp_path / "job", output, SETTINGS)
    assert (source.stat().st_mtime_ns, source.stat().st_size) == before, "the source was modified"
    if expect == "image":
        assert result.verdict.kind == Kind.IMAGE
        return
    out = checks.facts(result.output)
    if expect == "ok-no-audio":
        assert out.audio_streams == 0 and any("cannot be decoded" in w for w in result.verdict.warnings)
        checks.assert_streamable(out)
        return
    checks.assert_faithful(checks.facts(source), out, frames_tolerance=FRAME_TOLERANCE.get(name, 0))
    if result.verdict.kind == Kind.REMUX:
        assert Path(result.output) == output
