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
    proc = Path("/proc")
    if not proc.is_dir():
        return False
    target = os.path.realpath(path)
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
                if os.readlink(fd_dir / fd) != target:
                    continue
                flags = int(next(line for line in (proc / pid / "fdinfo" / fd).read_text().splitlines()
                                 if line.startswith("flags:")).split()[1], 8)
            except (OSError, StopIteration, ValueError):
                continue
            if flags & (os.O_WRONLY | os.O_RDWR):
                return True
    return False
