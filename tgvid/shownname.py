"""A file name as a status line shows it: a long one cut in the middle to a readable width, its start and its
extension kept ("a very long holi…day 2024.mp4"). Widths are terminal columns: an East Asian wide character takes
two, a combining mark none. Only for people: `--json` and the logs keep names whole.
"""

import os
import unicodedata

MAX_COLUMNS = 60
CUT_MARK = "…"


def columns(text: str) -> int:
    """The terminal columns `text` takes."""
    return sum(_columns(character) for character in text)


def _columns(character: str) -> int:
    if unicodedata.combining(character):
        return 0
    return 2 if unicodedata.east_asian_width(character) in ("W", "F") else 1


def shortened(name: str, max_columns: int = MAX_COLUMNS) -> str:
    """`name` (a file name or a path) in at most `max_columns` columns: a longer one keeps its start and its end,
    the extension whole, with "…" between (an extension longer than half the room counts as part of the name)."""
    if columns(name) <= max_columns:
        return name
    room = max_columns - columns(CUT_MARK)
    extension = columns(os.path.splitext(name)[1])
    tail_room = max(room // 3, extension) if extension <= room // 2 else room // 3
    head = _fitting(name, room - tail_room)
    tail = _fitting(name[::-1], tail_room)[::-1]
    while tail and unicodedata.combining(tail[0]):
        tail = tail[1:]  # a mark whose letter is cut away
    return head + CUT_MARK + tail


def _fitting(text: str, max_columns: int) -> str:
    """The longest start of `text` that takes at most `max_columns` columns."""
    used = 0
    for position, character in enumerate(text):
        used += _columns(character)
        if used > max_columns:
            return text[:position]
    return text
