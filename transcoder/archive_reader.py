"""Reading an archive through its library: its listing (transcoder.archive.Listing) and the bytes of chosen entries.

zip through `zipfile`, tar (plain, gz, bz2, xz) through `tarfile` read as a stream, with its `data` extraction
filter deciding which members would leave the folder; `.tar.zst` through `zstandard` feeding `tarfile`; 7z through
`py7zr`; RAR through `rarfile`, which needs an unrar, unar, bsdtar or 7z program. A damaged archive, a password or
a missing RAR program raise Rejected naming the archive; a file system error while writing passes through as it is.
"""

import contextlib
import io
import lzma
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import Protocol

import py7zr
import py7zr.exceptions
import rarfile
import zstandard
from py7zr.io import Py7zIO, WriterFactory

from tgvid.errors import Rejected
from transcoder import heartbeat
from transcoder.archive import Entry, EntryKind, Listing

CHUNK_BYTES = 1 << 20
LINK_TARGET_MAX_BYTES = 4096  # PATH_MAX on Linux
RAR_PROGRAMS = "unrar (Debian: apt install unrar-free, or unar; Termux: pkg install unrar)"
# tar's data filter refuses these as leaving the folder; it also refuses device files, which are only left out.
TAR_ESCAPES = (tarfile.AbsolutePathError, tarfile.OutsideDestinationError, tarfile.AbsoluteLinkError,
               tarfile.LinkOutsideDestinationError)
DAMAGE = (zipfile.BadZipFile, tarfile.TarError, py7zr.exceptions.ArchiveError, rarfile.Error, zstandard.ZstdError,
          zlib.error, lzma.LZMAError, EOFError, NotImplementedError)  # NotImplementedError: an unknown compression


class EntrySink(Protocol):
    """Where the bytes of one entry go (transcoder.unpack writes them to the job folder)."""

    def write(self, data: bytes) -> None: ...

    def close(self) -> None:
        """The entry is complete."""


class _BeatingFile(io.FileIO):
    """The archive file, giving the stall watch (transcoder.heartbeat) a sign of life on every read: reading the
    index of a long tar.xz, or passing over a large entry that is left out, writes nothing for minutes."""

    def readinto(self, buffer) -> int | None:
        heartbeat.beat()
        return super().readinto(buffer)


def _open(path: Path) -> io.BufferedReader:
    return io.BufferedReader(_BeatingFile(path), CHUNK_BYTES)


@contextlib.contextmanager
def _reading(path: Path) -> Iterator[None]:
    """Turn the libraries' errors about the archive's bytes into Rejected; a file system error (a full disk, a
    permission) carries its errno and passes through, as does Rejected itself. (gzip's BadGzipFile is an OSError
    without an errno.)"""
    try:
        yield
    except (py7zr.PasswordRequired, rarfile.PasswordRequired) as error:
        raise Rejected(path, "encrypted: unpack it yourself and drop the files into inbox/") from error
    except rarfile.RarCannotExec as error:
        raise Rejected(path, f"a RAR archive, and no program to read it is installed: install {RAR_PROGRAMS}, then "
                       "move it back into inbox/") from error
    except DAMAGE as error:
        raise Rejected(path, f"corrupt archive ({type(error).__name__}: {error})") from error
    except OSError as error:
        if error.errno is not None:
            raise
        raise Rejected(path, f"corrupt archive ({type(error).__name__}: {error})") from error


def list_archive(path: Path, fmt: str) -> Listing:
    """The archive's index. Raises Rejected when it cannot be read."""
    with _reading(path):
        entries = {"zip": _list_zip, "7z": _list_7z, "rar": _list_rar}.get(fmt, _list_tar)(path, fmt)
    return Listing(fmt, path.stat().st_size, tuple(entries))


def extract(path: Path, fmt: str, wanted: Collection[str], open_entry: Callable[[str], EntrySink]) -> None:
    """Stream the entries named in `wanted` (their names as stored), in archive order, each into the sink
    `open_entry(name)` gives, closing it when the entry is complete. Raises Rejected when the archive is damaged."""
    if not wanted:
        return
    with _reading(path):
        {"zip": _extract_zip, "7z": _extract_7z, "rar": _extract_rar}.get(fmt, _extract_tar)(
            path, fmt, set(wanted), open_entry)


# zip and RAR: random access ----------------------------------------------------------------------------------

def _list_zip(path: Path, fmt: str) -> list[Entry]:
    entries = []
    with _open(path) as raw, zipfile.ZipFile(raw) as archive:
        for info in archive.infolist():
            mode = info.external_attr >> 16
            if info.is_dir():
                kind, target = EntryKind.FOLDER, ""
            elif stat.S_ISLNK(mode):
                # A link's target is its content. One that cannot be read (encrypted, or too long to be a path) is
                # taken as pointing out: the archive is refused either way.
                readable = not info.flag_bits & 0x1 and info.file_size <= LINK_TARGET_MAX_BYTES
                kind, target = EntryKind.LINK, archive.read(info).decode(errors="replace") if readable else "/"
            else:
                kind, target = EntryKind.FILE, ""
            entries.append(Entry(info.filename, info.file_size, kind, target, encrypted=bool(info.flag_bits & 0x1)))
    return entries


def _extract_zip(path: Path, fmt: str, wanted: set[str], open_entry) -> None:
    with _open(path) as raw, zipfile.ZipFile(raw) as archive:
        for info in archive.infolist():
            if info.filename in wanted:
                with archive.open(info) as data:
                    _copy(data, open_entry(info.filename))


def _list_rar(path: Path, fmt: str) -> list[Entry]:
    rarfile.tool_setup()  # raises RarCannotExec when no program can unpack
    entries = []
    with rarfile.RarFile(path) as archive:
        if archive.needs_password():
            raise rarfile.PasswordRequired("the archive needs a password")
        for info in archive.infolist():
            if info.is_dir():
                kind, target = EntryKind.FOLDER, ""
            elif info.is_symlink():
                kind, target = EntryKind.LINK, (info.file_redir or (None, None, "/"))[2]
            else:
                kind, target = EntryKind.FILE, ""
            entries.append(Entry(info.filename, info.file_size, kind, target, encrypted=info.needs_password()))
    return entries


def _extract_rar(path: Path, fmt: str, wanted: set[str], open_entry) -> None:
    with rarfile.RarFile(path) as archive:
        for info in archive.infolist():
            if info.filename in wanted:
                with archive.open(info) as data:
                    _copy(data, open_entry(info.filename))


# tar: one pass over a stream ---------------------------------------------------------------------------------

@contextlib.contextmanager
def _tar_stream(path: Path, fmt: str) -> Iterator[tarfile.TarFile]:
    with _open(path) as raw:
        if fmt == "tar.zst":
            with zstandard.ZstdDecompressor().stream_reader(raw) as data, tarfile.open(fileobj=data, mode="r|") as tar:
                yield tar
        else:
            with tarfile.open(fileobj=raw, mode="r|*") as tar:
                yield tar


def _list_tar(path: Path, fmt: str) -> list[Entry]:
    entries = []
    with _tar_stream(path, fmt) as tar:
        for member in tar:
            try:
                tarfile.data_filter(member, "/nonexistent-folder")  # the folder only anchors relative paths
            except TAR_ESCAPES as error:
                entries.append(Entry(member.name, 0, EntryKind.OTHER, escapes=str(error)))
                continue
            except tarfile.FilterError:
                pass  # a device file or a pipe: left out below
            if member.isdir():
                kind = EntryKind.FOLDER
            elif member.issym() or member.islnk():
                kind = EntryKind.LINK
            elif member.isfile():
                kind = EntryKind.FILE
            else:
                kind = EntryKind.OTHER
            entries.append(Entry(member.name, member.size if kind == EntryKind.FILE else 0, kind, member.linkname))
    return entries


def _extract_tar(path: Path, fmt: str, wanted: set[str], open_entry) -> None:
    with _tar_stream(path, fmt) as tar:
        for member in tar:
            if member.isfile() and member.name in wanted:
                _copy(tar.extractfile(member), open_entry(member.name))


# 7z: py7zr pushes the bytes ----------------------------------------------------------------------------------

def _list_7z(path: Path, fmt: str) -> list[Entry]:
    with _open(path) as raw, py7zr.SevenZipFile(raw) as archive:
        encrypted = archive.needs_password()
        infos = archive.list()
        links = [info.filename for info in infos if info.is_symlink]
        targets: dict[str, bytes] = {}
        if links and not encrypted:
            archive.extract(targets=links, factory=_SinkFactory(lambda name: _Collect(targets, name)))
    return [Entry(info.filename, info.uncompressed or 0,
                  EntryKind.FOLDER if info.is_directory else EntryKind.LINK if info.is_symlink else EntryKind.FILE,
                  targets.get(info.filename, b"").decode(errors="replace"), encrypted) for info in infos]


def _extract_7z(path: Path, fmt: str, wanted: set[str], open_entry) -> None:
    with _open(path) as raw, py7zr.SevenZipFile(raw) as archive:
        archive.extract(targets=sorted(wanted), factory=_SinkFactory(open_entry))


class _Collect:
    """A sink keeping the bytes of a small entry (a link's target) in memory."""

    def __init__(self, into: dict[str, bytes], name: str):
        self.into, self.name = into, name
        into[name] = b""

    def write(self, data: bytes) -> None:
        self.into[self.name] += data

    def close(self) -> None:
        pass


class _SinkWriter(Py7zIO):
    """py7zr's writer interface over an EntrySink: py7zr only writes, then closes when the entry is complete."""

    def __init__(self, sink: EntrySink):
        self.sink, self.written = sink, 0

    def write(self, s: bytes | bytearray) -> int:
        self.sink.write(bytes(s))
        self.written += len(s)
        return len(s)

    def read(self, size: int | None = None) -> bytes:
        return b""

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.written

    def flush(self) -> None:
        pass

    def size(self) -> int:
        return self.written

    def close(self) -> None:
        self.sink.close()


class _SinkFactory(WriterFactory):
    def __init__(self, open_entry: Callable[[str], EntrySink]):
        self.open_entry = open_entry

    def create(self, filename: str) -> Py7zIO:
        return _SinkWriter(self.open_entry(filename))


def _copy(data, sink: EntrySink) -> None:
    for chunk in iter(lambda: data.read(CHUNK_BYTES), b""):
        sink.write(chunk)
    sink.close()
