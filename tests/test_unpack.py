"""The unpack job on real archives written here (zipfile, tarfile, py7zr, zstandard): media land in a folder named
after the archive, the rest is left out, the archive goes to originals/, and hostile archives are refused with a
reason and nothing written outside the job's folder."""

import io
import json
import os
import shutil
import tarfile
import zipfile
from pathlib import Path

import py7zr
import pytest
import zstandard

import daemon as daemon_cli
from tests.media import write_image, write_video
from tgvid.errors import NoSpace, Rejected
from transcoder import archive_reader, heartbeat, unpack
from transcoder.archive import Limits, format_of
from transcoder.unpack import UnpackSettings, run_unpack

SETTINGS = UnpackSettings(Limits(max_unpacked_bytes=50 << 20, max_ratio=100.0, max_entries=100), keep_originals=True)


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, bytes]:
    folder = tmp_path_factory.mktemp("media")
    return {"day1/clip.mp4": write_video(folder / "clip.mp4", seconds=1, audio_channels=()).read_bytes(),
            "day2/photo.jpg": write_image(folder / "photo.jpg").read_bytes()}


@pytest.fixture
def root(tmp_path) -> Path:
    for name in ("inbox", "work", "originals"):
        (tmp_path / name).mkdir()
    return tmp_path


def write_zip(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return path


def write_tar(path: Path, files: dict[str, bytes], mode: str = "w") -> Path:
    with tarfile.open(path, mode) as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def write_tar_zst(path: Path, files: dict[str, bytes]) -> Path:
    plain = write_tar(path.with_suffix(".plain"), files)
    path.write_bytes(zstandard.ZstdCompressor().compress(plain.read_bytes()))
    plain.unlink()
    return path


def write_7z(path: Path, files: dict[str, bytes], password: str | None = None) -> Path:
    with py7zr.SevenZipFile(path, "w", password=password) as archive:
        for name, data in files.items():
            archive.writestr(data, name)
    return path


def unpacked(root: Path, folder: str) -> dict[str, bytes]:
    top = root / "inbox" / folder
    return {p.relative_to(top).as_posix(): p.read_bytes() for p in top.rglob("*") if p.is_file()}


def run(root: Path, relpath: str, settings: UnpackSettings = SETTINGS):
    return run_unpack(root, relpath, root / "work" / "job", settings, f"job {relpath}")


def everything_under(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


WRITERS = {
    "holiday.zip": write_zip, "holiday.tar": write_tar,
    "holiday.tar.gz": lambda p, f: write_tar(p, f, "w:gz"), "holiday.tar.bz2": lambda p, f: write_tar(p, f, "w:bz2"),
    "holiday.tar.xz": lambda p, f: write_tar(p, f, "w:xz"), "holiday.tar.zst": write_tar_zst, "holiday.7z": write_7z,
}


@pytest.mark.parametrize("name", WRITERS)
def test_each_format_unpacks_its_media_into_a_folder_named_after_it(root, media, name):
    archive = WRITERS[name](root / "inbox" / name, media | {"day1/notes.txt": b"not media"})
    original = archive.read_bytes()

    result = run(root, name)

    assert (result.folder, result.media, result.left_out) == ("holiday", 2, 1)
    assert unpacked(root, "holiday") == media
    assert (root / "originals" / name).read_bytes() == original
    assert not (root / "inbox" / name).exists() and not (root / "work" / "job").exists()


def test_an_archive_inside_is_unpacked_one_level_deep_into_its_own_folder(root, media):
    inner = write_zip(root / "inner.zip", {"deep/photo.jpg": media["day2/photo.jpg"],
                                           "deeper.zip": write_zip(root / "deeper.zip", media).read_bytes()})
    write_tar(root / "inbox" / "outer.tar", {"day1/clip.mp4": media["day1/clip.mp4"],
                                             "day1/inner.zip": inner.read_bytes()})

    result = run(root, "outer.tar")

    assert unpacked(root, "outer") == {"day1/clip.mp4": media["day1/clip.mp4"],
                                       "day1/inner/deep/photo.jpg": media["day2/photo.jpg"]}
    assert (result.media, result.left_out) == (2, 1)


def test_a_taken_folder_name_gets_a_number_and_an_archive_in_a_folder_unpacks_beside_itself(root, media):
    (root / "inbox" / "trip" / "holiday").mkdir(parents=True)
    write_zip(root / "inbox" / "trip" / "holiday.zip", media)

    assert run(root, "trip/holiday.zip").folder == "trip/holiday (2)"
    assert unpacked(root, "trip/holiday (2)") == media
    assert (root / "originals" / "trip" / "holiday.zip").exists()


def test_without_keep_originals_the_unpacked_archive_is_deleted(root, media):
    write_zip(root / "inbox" / "holiday.zip", media)
    run(root, "holiday.zip", UnpackSettings(SETTINGS.limits, keep_originals=False))
    assert unpacked(root, "holiday") == media
    assert not list((root / "originals").iterdir()) and not (root / "inbox" / "holiday.zip").exists()


def test_a_restart_while_moving_into_the_inbox_finishes_the_move(root, media):
    write_zip(root / "inbox" / "holiday.zip", media)
    job = root / "work" / "job"
    state = unpack.unpack_into_job(root, "holiday.zip", job, SETTINGS.limits, "job")
    first = state.done()[0]
    (root / "inbox" / "holiday" / first.path).parent.mkdir(parents=True)
    (job / "tree" / first.path).rename(root / "inbox" / "holiday" / first.path)  # what a crash mid-move leaves

    assert "finished moving 2" in unpack.recover(root, job, keep_originals=True)
    assert unpacked(root, "holiday") == media
    assert (root / "originals" / "holiday.zip").exists() and not job.exists()


def test_an_unpacked_file_torn_by_a_power_cut_is_unpacked_again(root, media):
    write_zip(root / "inbox" / "holiday.zip", media)
    job = root / "work" / "job"
    state = unpack.unpack_into_job(root, "holiday.zip", job, SETTINGS.limits, "job")
    state.state, state.folder = unpack.UnpackState.UNPACKING, ""  # as before the last save of a run cut short
    unpack.save(job, state)
    torn = job / "tree" / "day1/clip.mp4"
    torn.write_bytes(torn.read_bytes()[:100])

    run(root, "holiday.zip")

    assert unpacked(root, "holiday") == media


def test_a_restart_drops_the_job_folder_of_an_archive_that_is_gone_or_of_an_unreadable_state(root, media):
    archive = write_zip(root / "inbox" / "holiday.zip", media)
    job = root / "work" / "job"
    state = unpack.unpack_into_job(root, "holiday.zip", job, SETTINGS.limits, "job")
    state.state, state.folder = unpack.UnpackState.UNPACKING, ""
    unpack.save(job, state)
    assert "will resume unpacking holiday.zip" in unpack.recover(root, job, keep_originals=True) and job.exists()

    archive.rename(root / "elsewhere.zip")  # taken away by its owner
    assert "its archive is gone" in unpack.recover(root, job, keep_originals=True) and not job.exists()

    job.mkdir()
    unpack.path_in(job).write_bytes(b"\x93\x01")  # cut short by a failing disk
    assert "removed" in unpack.recover(root, job, keep_originals=True) and not job.exists()


def test_tgvid_inspect_prints_an_unpack_state(root, media, capsys):
    write_zip(root / "inbox" / "holiday.zip", media | {"notes.txt": b"x"})
    job = root / "work" / "job"
    unpack.unpack_into_job(root, "holiday.zip", job, SETTINGS.limits, "job")

    assert daemon_cli.main(["inspect", str(job)]) == 0
    text = capsys.readouterr().out
    assert "state    moving into inbox/holiday" in text and "2/2 unpacked, 1 left out" in text
    assert "left_out  notes.txt → not a video or picture" in text
    assert daemon_cli.main(["inspect", str(job / unpack.FILE_NAME), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["folder"] == "holiday"


def zip_declaring(path: Path, size_bytes: int) -> Path:
    """A zip whose index declares `size_bytes` for an entry of a few bytes (zipfile writes what its ZipInfo says)."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("clip.mp4", b"x" * 100)
        archive.filelist[0].file_size = size_bytes
    return path


def test_an_archive_that_would_not_fit_waits_for_space_untouched(root):
    archive = zip_declaring(root / "inbox" / "huge.zip", 1 << 50)
    original = archive.read_bytes()
    no_limits = Limits(max_unpacked_bytes=1 << 60, max_ratio=1e18, max_entries=100)

    with pytest.raises(NoSpace, match="unpacking needs about 1073741888 MiB"):
        run(root, "huge.zip", UnpackSettings(no_limits, keep_originals=True))

    assert archive.read_bytes() == original
    assert not list((root / "work" / "job" / "tree").rglob("*"))


def zip_with(path: Path, name: str, data: bytes = b"x", external_attr: int = 0) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("fine.jpg", b"y")
        info = zipfile.ZipInfo(name)
        info.external_attr = external_attr
        archive.writestr(info, data, zipfile.ZIP_DEFLATED)
    return path


def marked_encrypted(path: Path) -> Path:
    """zipfile cannot encrypt: set the 'encrypted' bit an encrypting tool sets, in each local and central header."""
    data = bytearray(path.read_bytes())
    for signature, flag_offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        start = data.find(signature)
        while start != -1:
            data[start + flag_offset] |= 0x1
            start = data.find(signature, start + 4)
    path.write_bytes(bytes(data))
    return path


def tar_with(path: Path, name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> Path:
    with tarfile.open(path, "w:gz") as archive:
        info = tarfile.TarInfo(name)
        info.type, info.linkname = kind, link
        archive.addfile(info, io.BytesIO(b""))
    return path


def seven_zip_with_link(path: Path, target: str) -> Path:
    link = path.with_name("link.jpg")
    link.symlink_to(target)
    with py7zr.SevenZipFile(path, "w") as archive:
        archive.write(link, "link.jpg")
    link.unlink()
    return path


HOSTILE = {
    "dotdot.zip": (lambda p: zip_with(p, "../../escaped.jpg"), "outside the archive's folder"),
    "absolute.zip": (lambda p: zip_with(p, "/tmp/escaped.jpg"), "outside the archive's folder"),
    "symlink.zip": (lambda p: zip_with(p, "link.jpg", b"../../../etc/passwd", external_attr=0o120777 << 16),
                    "points outside"),
    "absolute.tar.gz": (lambda p: tar_with(p, "/tmp/escaped.jpg"), "outside the archive's folder"),
    "dotdot.tar.gz": (lambda p: tar_with(p, "a/../../escaped.jpg"), "outside the archive's folder"),
    "symlink.tar.gz": (lambda p: tar_with(p, "link.jpg", tarfile.SYMTYPE, "/etc/passwd"), "outside"),
    "hardlink.tar.gz": (lambda p: tar_with(p, "link.jpg", tarfile.LNKTYPE, "../../etc/passwd"), "outside"),
    "symlink.7z": (lambda p: seven_zip_with_link(p, "/etc/passwd"), "points outside"),
    "encrypted.zip": (lambda p: marked_encrypted(zip_with(p, "secret.jpg")), "encrypted"),
    "encrypted-link.zip": (lambda p: marked_encrypted(zip_with(p, "link.jpg", b"a.jpg", 0o120777 << 16)),
                           "encrypted"),
    "encrypted.7z": (lambda p: write_7z(p, {"secret.jpg": b"x" * 100}, password="secret"), "encrypted"),
    "truncated.zip": (lambda p: p.write_bytes(zip_with(p, "a.jpg", b"z" * 5000).read_bytes()[:-300]), "corrupt"),
    "garbage.tar.gz": (lambda p: p.write_bytes(b"\x1f\x8b\x08\x00" + b"garbage" * 100), "corrupt"),
    "garbage.7z": (lambda p: p.write_bytes(b"7z\xbc\xaf\x27\x1c" + b"garbage" * 100), "corrupt"),
    "bomb.zip": (lambda p: zip_with(p, "zeros.mp4", bytes(20 << 20)), "archive_max_unpacked_bytes"),
    "ratio.zip": (lambda p: zip_with(p, "zeros.mp4", bytes(1 << 20)), "archive_max_ratio"),
    "entries.tar": (lambda p: write_tar(p, {f"{n}.jpg": b"y" for n in range(101)}), "archive_max_entries"),
    "notes.zip": (lambda p: write_zip(p, {"a.txt": b"x", "b.pdf": b"y", "c.zip": write_zip(
        p.with_name("x.zip"), {"d.txt": b"z"}).read_bytes()}), "no video or picture in it (3 entries left out"),
    "nested.zip": (lambda p: write_zip(p, {"inner.tar.gz": tar_with(p.with_name("x.tar.gz"), "../../x.jpg")
                                           .read_bytes()}), "archive inner.tar.gz inside it"),
}


@pytest.mark.parametrize("name", HOSTILE)
def test_a_hostile_archive_is_refused_with_a_reason_and_nothing_is_written_outside(root, name):
    make, words = HOSTILE[name]
    make(root / "inbox" / name)
    for stray in root.glob("inbox/x.*"):
        stray.unlink()
    before = everything_under(root)
    limits = Limits(max_unpacked_bytes=10 << 20, max_ratio=100.0, max_entries=100)

    with pytest.raises(Rejected) as refused:
        run(root, name, UnpackSettings(limits, keep_originals=True))

    assert words in refused.value.message and name in refused.value.message
    assert everything_under(root) - before <= {"work/job/unpack.msgpack"} | {
        p for p in everything_under(root) if p.startswith("work/job/tree/")}
    assert not list(root.parent.glob("escaped*")) and not list(root.glob("escaped*"))


def test_a_rar_archive_without_a_rar_program_says_what_to_install(root):
    if any(shutil.which(program) for program in ("unrar", "unar", "bsdtar", "7z")):
        pytest.skip("a RAR program is installed here")
    (root / "inbox" / "album.rar").write_bytes(b"Rar!\x1a\x07\x01\x00" + bytes(64))
    with pytest.raises(Rejected, match="install unrar"):
        run(root, "album.rar")


@pytest.mark.parametrize("name", ["holiday.zip", "holiday.tar.xz", "holiday.7z"])
def test_reading_an_archive_gives_the_stall_watch_a_sign_of_life(tmp_path, media, name):
    archive = WRITERS[name](tmp_path / name, media)
    state_file = tmp_path / "unpack.msgpack"
    state_file.write_bytes(b"")
    os.utime(state_file, (0, 0))
    heartbeat.watch(state_file)
    try:
        archive_reader.list_archive(archive, format_of(name))
    finally:
        heartbeat.watch(None)
    assert state_file.stat().st_mtime > 0
