"""The names inbox/ refuses: a file whose name the transcoder cannot carry on to Telegram goes to quarantine.

Which files have finished arriving is tgvid.arrivals' rule, shared with the uploader's outbox.
"""

from tgvid import filenames, sidecar


def name_problem(relpath: str) -> str | None:
    """Why a file of this name cannot be carried to Telegram, or None when it can."""
    if not filenames.is_utf8(relpath):
        return "the file name is not valid UTF-8, which Telegram needs"
    if relpath.endswith(sidecar.SUFFIX):
        return f"names ending in {sidecar.SUFFIX} are tgvid's own sidecars: the uploader would pass it over"
    return None
