"""How long a file name may be: file systems take at most 255 bytes, and tgvid adds to the names it places.

Beside a placed file go its sidecar (`NAME.meta.msgpack`) or reason file (`NAME.reason.txt`), and each of those is
first written under a temporary name (`…-xxxxxxxx.tmp`, tgvid.durable); a repeated name is numbered
(`NAME (2).ext`, tgvid.freename). So a name tgvid places is kept to PLACED_MAX_BYTES, leaving DERIVED_ROOM_BYTES for
the longest of those additions. A longer name is shortened: its stem is cut (at a character boundary) and ends in
"…", its extension kept; the name to show (Telegram's file name) is then kept in the sidecar (`shown_name`).
"""

import os

NAME_MAX_BYTES = 255  # NAME_MAX of ext4, btrfs, tmpfs, FAT's long names, Android's storage
DERIVED_ROOM_BYTES = 40  # ".meta.msgpack" and a temp file's "-xxxxxxxx.tmp" take 26, with room to spare
PLACED_MAX_BYTES = NAME_MAX_BYTES - DERIVED_ROOM_BYTES
CUT_MARK = "…"


def size_bytes(name: str) -> int:
    return len(os.fsencode(name))


def fitting(stem: str, suffix: str = "", max_bytes: int = PLACED_MAX_BYTES) -> str:
    """`stem + suffix`, its stem shortened (ending in "…") so that the name takes at most `max_bytes` bytes."""
    if size_bytes(stem + suffix) <= max_bytes:
        return stem + suffix
    room = max_bytes - size_bytes(suffix) - size_bytes(CUT_MARK)
    if room < 1:  # an extension that long is no extension
        return fitting(stem + suffix, "", max_bytes)
    return _cut(os.fsencode(stem), room) + CUT_MARK + suffix


def _cut(encoded: bytes, room: int) -> str:
    """The first `room` bytes of a name, less a character split by the cut (bytes that are not UTF-8 stay as they
    are, as surrogateescape'd text)."""
    cut = encoded[:room]
    for drop in range(4):
        try:
            return cut[:len(cut) - drop].decode()
        except UnicodeDecodeError:
            continue
    return os.fsdecode(cut)
