"""Album grouping: which files go out together, as a pure function of plain data (no I/O, `now` passed in).

Files of one outbox subfolder that arrived together — none newer than `window_seconds`, and none of the folder's
files still coming (still in its inbox folder, not yet handed on by the transcoder: tgvid.arrivals) — go out as
albums of up to ten, in name order. Photos and videos may mix; documents go only with documents (Telegram refuses other
mixes with MEDIA_GROUPED_INVALID), and a picture beyond Telegram's photo limits is sent as a document, so it
counts as one (`album_kind`). A group of one is sent alone. Files at the top of the outbox are sent alone at
once. Files whose album was already recorded in the ledger keep exactly that album, so a send repeated after a
crash carries the same items and random_ids.
"""

from dataclasses import dataclass
from itertools import groupby

from tgvid.sidecar import MediaKind, Sidecar
from tgvid.units import MIB

MAX_ALBUM_ITEMS = 10
PHOTO_MAX_BYTES = 10 * MIB
PHOTO_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp")


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


def group(candidates: list[Candidate], now: float, window_seconds: float,
          still_coming: frozenset[str] = frozenset()) -> list[Batch]:
    """The batches ready to send now. Candidates of a folder that is still filling up, or one of `still_coming`
    (folders some of whose files are still on their way), are left out."""
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
        if folder in still_coming or now - max(c.first_seen for c in members) < window_seconds:
            continue
        for is_document in (False, True):
            same_class = [c for c in members if (c.kind == "document") == is_document]
            for start in range(0, len(same_class), MAX_ALBUM_ITEMS):
                keys = tuple(c.key for c in same_class[start : start + MAX_ALBUM_ITEMS])
                batches.append(Batch(keys[0] if len(keys) > 1 else "", folder, keys))
    return batches


def sends_as_photo(meta: Sidecar, name: str) -> bool:
    """Whether Telegram takes the image as a photo: JPEG/PNG/WebP, ≤ 10 MB, w+h ≤ 10000, sides at most 1:20."""
    short, long_ = sorted((meta.width, meta.height))
    return (meta.kind is MediaKind.IMAGE and name.lower().endswith(PHOTO_EXTENSIONS) and meta.size_bytes <= PHOTO_MAX_BYTES
            and short > 0 and short + long_ <= 10000 and long_ <= 20 * short)


def album_kind(meta: Sidecar, name: str) -> str:
    """The kind that decides album membership: how the file will be sent, not what it is."""
    if meta.kind is MediaKind.IMAGE and not sends_as_photo(meta, name):
        return str(MediaKind.DOCUMENT)
    return str(meta.kind)
