"""Free names: where a file goes when its name is taken, numbered `NAME (2).ext`, `NAME (3).ext`… as a chat shows
a repeated file. Every folder tgvid moves files into (outbox/, originals/, sent/, quarantine/, delivered/) numbers
this one way, and every name so placed leaves room for the names derived from it (tgvid.namelength)."""

import itertools
from collections.abc import Iterator
from pathlib import Path

from tgvid import sidecar
from tgvid.namelength import fitting


def numbered(path: Path) -> Iterator[Path]:
    """`path`, then `NAME (2).ext`, `NAME (3).ext`… beside it, without end; each shortened to fit
    (tgvid.namelength)."""
    yield path.with_name(fitting(path.stem, path.suffix))
    for number in itertools.count(2):
        yield path.with_name(fitting(path.stem, f" ({number}){path.suffix}"))


def free_name(path: Path, sidecar_too: bool = False) -> Path:
    """The first of `numbered(path)` where no file is (with `sidecar_too`, nor a sidecar of one).

    outbox/ needs `sidecar_too`: a sidecar without its file there is a handoff still under way. sent/ must not
    use it: the uploader moves the sidecar first, so after a crash between the two moves the file's name is the
    one whose sidecar is already there."""
    return next(candidate for candidate in numbered(path)
                if not candidate.exists() and not (sidecar_too and sidecar.path_for(candidate).exists()))
