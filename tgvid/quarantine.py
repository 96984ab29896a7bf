"""Quarantine: where either daemon puts a file it cannot convert or send, with a reason file a person can read.

The file goes to its place in quarantine/ under the first free name (tgvid.freename), with `NAME.ext.reason.txt`
beside it, written first (UTF-8, any other bytes of a name shown as \\xNN):

    file:   inbox/trip/clip.mov
    when:   2026-12-02T21:30:00+00:00
    by:     the transcoder
    tried:  a transcode job, 3 attempt(s)
    error:  <the error>

    <what a person can do about it>

Its sidecar, if it has one, follows it (after the file: a sidecar left alone in outbox/ is passed over). A move that
fails removes the reason file (no reason without its file) and raises the OSError.
"""

from datetime import UTC, datetime
from pathlib import Path

from tgvid import durable, sidecar
from tgvid.filenames import printable
from tgvid.freename import free_name

REASON_SUFFIX = ".reason.txt"


def reason_path(target: Path) -> Path:
    return target.with_name(target.name + REASON_SUFFIX)


def reason_text(shown_path: str, when: float, by: str, tried: str, error: str, advice: str) -> str:
    stamp = datetime.fromtimestamp(when, UTC).isoformat(timespec="seconds")
    return (f"file:   {printable(shown_path)}\nwhen:   {stamp}\nby:     {by}\ntried:  {tried}\n"
            f"error:  {printable(error)}\n\n{advice}\n")


def put(source: Path, target: Path, reason: str, missing_ok: bool = False) -> Path:
    """Move `source` (and its sidecar) to the free name for `target`, with `reason` beside it. Returns where it went.

    With `missing_ok`, a source that is gone leaves only the reason file, which then says what happened to it."""
    target = free_name(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    reason_file = reason_path(target)
    durable.atomic_write(reason_file, reason.encode())
    try:
        if source.exists() or not missing_ok:
            durable.atomic_rename(source, target)
    except OSError:
        reason_file.unlink()
        raise
    meta = sidecar.path_for(source)
    if meta.exists():
        durable.atomic_rename(meta, sidecar.path_for(target))
    return target
