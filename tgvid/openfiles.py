"""Whether a process holds a file open for writing, as Linux's /proc shows it.

Both daemons ask it before taking a file that nobody handed over atomically (an inbox file, a file put into
outbox/ by hand): a writer that pauses longer than the quiet time still holds the file open. Where /proc shows
nothing (no /proc, or other users' processes hidden, as on Android) the answer is False and the quiet time alone
decides.
"""

import os
from pathlib import Path


def held_open_for_writing(path: Path) -> bool:
    """True when some process has `path` open for writing (Linux /proc; False where that cannot be seen)."""
    target = os.path.realpath(path)
    return target in written({target})


def written(targets: set[str]) -> set[str]:
    """Those of `targets` (real paths) that some process holds open for writing, in one look through /proc: a
    burst of files costs one look, not one each."""
    proc = Path("/proc")
    if not targets or not proc.is_dir():
        return set()
    found = set()
    for pid in os.listdir(proc):
        if not pid.isdigit():
            continue
        fd_dir = proc / pid / "fd"
        try:
            descriptors = os.listdir(fd_dir)
        except OSError:
            continue  # gone, or another user's process
        for fd in descriptors:
            try:
                target = os.readlink(fd_dir / fd)
                if target not in targets or target in found:
                    continue
                flags = int(next(line for line in (proc / pid / "fdinfo" / fd).read_text().splitlines()
                                 if line.startswith("flags:")).split()[1], 8)
            except (OSError, StopIteration, ValueError):
                continue
            if flags & (os.O_WRONLY | os.O_RDWR):
                found.add(target)
    return found
