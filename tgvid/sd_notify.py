"""systemd's notify protocol (READY, STATUS, WATCHDOG, STOPPING) without a dependency.

A no-op without NOTIFY_SOCKET (not under systemd, or Type=simple); a failure to send is logged at debug
and never stops the daemon.
"""

import logging
import os
import socket

log = logging.getLogger(__name__)


def notify(message: str) -> None:
    """Send one state string such as "READY=1" or "STATUS=3 jobs queued"."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):  # an abstract socket
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall(message.encode(errors="backslashreplace"))
    except OSError as error:
        log.debug("sd_notify %r failed: %s", message, error)


def status(text: str) -> None:
    """Send STATUS=text as one line: systemd reads every line of a message as a setting of its own, so a file
    name holding a newline must not become "WATCHDOG=trigger"."""
    notify("STATUS=" + "".join(c if c.isprintable() else "?" for c in text))


def watchdog_interval_seconds() -> float | None:
    """Half of WATCHDOG_USEC, the interval at which to send WATCHDOG=1; None when no watchdog is set."""
    usec = os.environ.get("WATCHDOG_USEC")
    if not usec or not usec.isdigit():
        return None
    return int(usec) / 2_000_000
