"""File names that are not UTF-8: telling them apart, showing them.

Python decodes the bytes of a file name that are not UTF-8 to lone surrogates (surrogateescape), which msgpack,
Telegram and a UTF-8 log cannot take. Both daemons send such a file to quarantine asking for a rename, and show
its name with the odd bytes as \\xNN.
"""

import os


def is_utf8(name: str) -> bool:
    """Whether the name's bytes are UTF-8."""
    try:
        name.encode()
    except UnicodeEncodeError:
        return False
    return True


def printable(name: str) -> str:
    """`name` as UTF-8 text, any other bytes of it shown as \\xNN."""
    return os.fsencode(name).decode(errors="backslashreplace")
