"""A handoff interrupted part-way is finished from its marker, not converted again."""

import msgpack
import pytest

from tests.media import write_video
from tgvid import sidecar
from tgvid.errors import CheckpointError
from transcoder import handoff


def test_an_interrupted_handoff_is_finished_from_its_marker(tmp_path):
    root = tmp_path
    (root / "inbox" / "trip").mkdir(parents=True)
    source = write_video(root / "inbox" / "trip" / "a.mkv", codec="mpeg4", seconds=1)
    job_dir = root / "work" / "job1"
    job_dir.mkdir(parents=True)
    output = write_video(job_dir / "joined.mp4", seconds=1)
    meta = sidecar.Sidecar(sidecar.MediaKind.VIDEO, output.stat().st_size, 1.0, 320, 240, True, "trip/a.mkv", "a.mkv")
    (root / "outbox").mkdir()
    (root / "outbox" / "trip").write_text("a file where the folder should be: the handoff fails after its marker")
    with pytest.raises(OSError):
        handoff.hand_off(root, "trip/a.mkv", output, job_dir, meta, keep_originals=True)
    assert (job_dir / handoff.MARKER).exists() and output.exists() and source.exists()

    (root / "outbox" / "trip").unlink()
    target = handoff.finish_interrupted(root, job_dir, keep_originals=True)
    assert target == root / "outbox" / "trip" / "a.mp4"
    assert sidecar.read(sidecar.path_for(target)).source_relpath == "trip/a.mkv"
    assert (root / "originals" / "trip" / "a.mkv").exists() and not source.exists()
    assert not job_dir.exists()


def test_a_new_file_of_the_same_name_is_not_put_away_by_an_old_handoff(tmp_path):
    root = tmp_path
    (root / "inbox").mkdir()
    write_video(root / "inbox" / "a.mkv", codec="mpeg4", seconds=1)
    job_dir = root / "work" / "job1"
    job_dir.mkdir(parents=True)
    output = write_video(job_dir / "joined.mp4", seconds=1)
    meta = sidecar.Sidecar(sidecar.MediaKind.VIDEO, output.stat().st_size, 1.0, 320, 240, True, "a.mkv", "a.mkv")
    (root / "outbox").write_text("a file where the folder should be: the handoff fails after its marker")
    with pytest.raises(OSError):
        handoff.hand_off(root, "a.mkv", output, job_dir, meta, keep_originals=False)
    newer = write_video(root / "a-new.mkv", codec="mpeg4", seconds=2)
    newer.replace(root / "inbox" / "a.mkv")  # the person drops a new file of the same name meanwhile

    (root / "outbox").unlink()
    assert handoff.finish_interrupted(root, job_dir, keep_originals=False) == root / "outbox" / "a.mp4"
    assert (root / "inbox" / "a.mkv").exists(), "the new file waits for its own conversion"


def test_names_taken_in_the_outbox_get_a_number(tmp_path):
    (tmp_path / "outbox").mkdir()
    (tmp_path / "outbox" / "a.mp4").write_bytes(b"earlier")
    assert handoff.outbox_target(tmp_path, "a.mkv", is_video=True) == (tmp_path / "outbox" / "a (2).mp4", "")


def test_a_handoff_marker_from_a_newer_tgvid_is_left_for_it_and_named(tmp_path):
    job_dir = tmp_path / "work" / "job1"
    job_dir.mkdir(parents=True)
    (job_dir / handoff.MARKER).write_bytes(msgpack.packb({"version": handoff.FORMAT_VERSION + 1, "future": True}))
    with pytest.raises(CheckpointError.NewerVersion, match=f"format version {handoff.FORMAT_VERSION + 1}"):
        handoff.finish_interrupted(tmp_path, job_dir, keep_originals=True)
    assert (job_dir / handoff.MARKER).exists()
