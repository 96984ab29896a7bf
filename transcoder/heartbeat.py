"""The running job's sign of life: what tells the daemon's stall watch a slow job from a hung one.

The daemon stops a job whose checkpoint has not changed for `stall_seconds`. Between two checkpoints a job can
work for long (the verification decode of a two-hour film, one 4K segment on a Raspberry Pi), so the long
loops (decoding, muxing, encoding audio) call `beat()` on every packet; at most once a second that touches the
checkpoint's modification time. A decoder hung inside FFmpeg never returns to the loop, so it never beats.
"""

import contextlib
import os
import time
from pathlib import Path

INTERVAL_SECONDS = 1.0

_checkpoint: Path | None = None
_last_beat = 0.0


def watch(checkpoint: Path | None) -> None:
    """From now on beats touch `checkpoint` (None: beats do nothing, as outside a job)."""
    global _checkpoint, _last_beat
    _checkpoint, _last_beat = checkpoint, 0.0


def beat() -> None:
    global _last_beat
    now = time.monotonic()
    if _checkpoint is None or now - _last_beat < INTERVAL_SECONDS:
        return
    _last_beat = now
    with contextlib.suppress(FileNotFoundError):  # not written yet: the job is still starting
        os.utime(_checkpoint)
