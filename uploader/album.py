"""Album grouping: which files go out together, as a pure function of plain data (no I/O, `now` passed in).

Files of one outbox subfolder that arrived together — none newer than `window_seconds` — go out as albums of
up to ten, in name order. Photos and videos may mix; documents go only with documents (Telegram refuses other
mixes with MEDIA_GROUPED_INVALID). A group of one is sent alone. Files at the top of the outbox are sent alone
at once. Files whose album was already recorded in the ledger keep exactly that album, so a send repeated
after a crash carries the same items and random_ids.
"""

from dataclasses import dataclass
from itertools import groupby

MAX_ALBUM_ITEMS = 10


@dataclass(frozen=True)
class Candidate:
    key: str  # the ledger key
    relpath: str
    folder: str  # relative to outbox/, "" at the top
    kind: str  # video, image or document
    first_seen: float  # Unix time the uploader first saw the file
    album: str = ""  # the album recorded in the ledger, "" when none yet


@dataclass(frozen=True)
class Batch:
    album: str  # the first item's key when an album, "" when one file is sent alone
    folder: str
    keys: tuple[str, ...]

    @property
    def caption(self) -> str:
        return self.folder


def group(candidates: list[Candidate], now: float, window_seconds: float) -> list[Batch]:
    """The batches ready to send now. Candidates of a folder that is still filling up are left out."""
    batches = []
    recorded = sorted((c for c in candidates if c.album), key=lambda c: (c.album, c.relpath))
    for album, members in groupby(recorded, key=lambda c: c.album):
        members = list(members)
        batches.append(Batch(album if len(members) > 1 else "", members[0].folder, tuple(c.key for c in members)))
    fresh = sorted((c for c in candidates if not c.album), key=lambda c: (c.folder, c.relpath))
    for folder, members in groupby(fresh, key=lambda c: c.folder):
        members = list(members)
        if not folder:
            batches.extend(Batch("", "", (c.key,)) for c in members)
            continue
        if now - max(c.first_seen for c in members) < window_seconds:
            continue
        for is_document in (False, True):
            same_class = [c for c in members if (c.kind == "document") == is_document]
            for start in range(0, len(same_class), MAX_ALBUM_ITEMS):
                keys = tuple(c.key for c in same_class[start : start + MAX_ALBUM_ITEMS])
                batches.append(Batch(keys[0] if len(keys) > 1 else "", folder, keys))
    return batches

