"""Log lines: one per event, stamped with time, level, logger name, for every tgvid command.

Telethon's loggers are held at WARNING: at INFO they report every connect and reconnect (the uploader logs what a
person needs itself), and at DEBUG they print whole requests.
"""

import logging
import sys


def setup(level: str = "INFO") -> None:
    """Log to stderr at `level`; called again (once the settings are read) it only changes the level."""
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger().setLevel(getattr(logging, level.upper(), logging.INFO))
    telethon = logging.getLogger("telethon")
    telethon.setLevel(max(logging.WARNING, logging.getLogger().level))
    # PyAV forwards FFmpeg's own log through the "libav" logger; keep its chatter out of our lines.
    logging.getLogger("libav").setLevel(logging.ERROR)
