"""Child processes of the daemons, started so that a terminal's Ctrl-C reaches only the parent.

Ctrl-C sends SIGINT to the whole foreground process group: a probe or job child would die with a
KeyboardInterrupt traceback of its own while the daemon is stopping it anyway. The child starts with SIGINT
blocked (the signal mask survives spawn's fork and exec, and Python leaves it as it finds it), so only the
parent decides; it kills its children when it stops. SIGTERM and SIGKILL still reach a child.
"""

import signal


def start_deaf_to_ctrl_c(process) -> None:
    """`process.start()` with SIGINT blocked in the child (a signal meant for the parent meanwhile is only delayed)."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        process.start()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
