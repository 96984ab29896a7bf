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

A file set aside for a bug in tgvid (tgvid.errors.InternalError) has one more line, `retry:  at the next start of
the <daemon>`, before `error:`: that daemon moves it back where it came from when it starts (`take_back`), so a new
version tries it without anyone moving it by hand.
"""

from datetime import UTC, datetime
from pathlib import Path

from tgvid import durable, sidecar
from tgvid.filenames import printable
from tgvid.freename import free_name

REASON_SUFFIX = ".reason.txt"
RETRY_AT_START = "retry:  at the next start of {by}\n"


def reason_path(target: Path) -> Path:
    return target.with_name(target.name + REASON_SUFFIX)


def reason_text(shown_path: str, when: float, by: str, tried: str, error: str, advice: str,
                retry_at_start: bool = False) -> str:
    stamp = datetime.fromtimestamp(when, UTC).isoformat(timespec="seconds")
    retry = RETRY_AT_START.format(by=by) if retry_at_start else ""
    return (f"file:   {printable(shown_path)}\nwhen:   {stamp}\nby:     {by}\ntried:  {tried}\n{retry}"
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


def take_back(folder: Path, by: str, back_to: Path) -> list[Path]:
    """Move every file in quarantine `folder` whose reason file says `by` retries it at its next start back to its
    place below `back_to` (under a free name, its sidecar with it), removing the reason file. Returns where they went."""
    line = RETRY_AT_START.format(by=by)
    returned = []
    for reason_file in sorted(Path(folder).rglob(f"*{REASON_SUFFIX}")):
        held = reason_file.with_name(reason_file.name.removesuffix(REASON_SUFFIX))
        try:
            if line not in reason_file.read_text(errors="replace") or not held.exists():
                continue
        except OSError:
            continue
        target = free_name(Path(back_to) / held.relative_to(folder), sidecar_too=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        meta = sidecar.path_for(held)
        if meta.exists():
            durable.atomic_rename(meta, sidecar.path_for(target))
        durable.atomic_rename(held, target)
        reason_file.unlink()
        returned.append(target)
    return returned
