"""Free names: where a file goes when its name is taken, numbered `NAME (2).ext`, `NAME (3).ext`… as a chat shows
a repeated file. Every folder tgvid moves files into (outbox/, originals/, sent/, quarantine/, delivered/) numbers
this one way."""

import itertools
from collections.abc import Iterator
from pathlib import Path

from tgvid import sidecar


def numbered(path: Path) -> Iterator[Path]:
    """`path`, then `NAME (2).ext`, `NAME (3).ext`… beside it, without end."""
    yield path
    for number in itertools.count(2):
        yield path.with_name(f"{path.stem} ({number}){path.suffix}")


def free_name(path: Path) -> Path:
    """The first of `numbered(path)` where neither a file nor its sidecar is."""
    return next(candidate for candidate in numbered(path)
                if not candidate.exists() and not sidecar.path_for(candidate).exists())
