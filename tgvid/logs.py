"""Logging setup for the CLI and both daemons: one line per event, time, level and logger name.

Telethon's loggers are held at INFO at most, because at DEBUG they print whole requests.
"""

import logging
import sys


def setup(level: str = "INFO") -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    telethon = logging.getLogger("telethon")
    telethon.setLevel(max(logging.INFO, logging.getLogger().level))
    # PyAV forwards FFmpeg's own log through the "libav" logger; keep its chatter out of our lines.
    logging.getLogger("libav").setLevel(logging.ERROR)
