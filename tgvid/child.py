"""A child process: one function run in a process of its own, with a deadline, that dies with the daemon.

The transcoder runs each job, which may hang or crash FFmpeg, in a child, and both daemons' probe workers
(tgvid.workers) are children started the same way: a crash or a hang costs the child, killed at its deadline,
never the daemon. Children are spawned, not forked, so the daemon's threads (watchdog's
observer) and locks stay behind. On Linux a child is killed when its daemon dies, even by SIGKILL
(PR_SET_PDEATHSIG): an orphaned job would go on writing to a job folder that the restarted daemon gives to a new
child. A child starts with SIGINT blocked (the signal mask survives spawn's fork and exec, and Python leaves it
as it finds it): a terminal's Ctrl-C goes to the whole foreground process group, and a child would die with a
KeyboardInterrupt traceback of its own while the daemon stops it anyway; only the parent decides. SIGTERM and
SIGKILL still reach a child. The function's return value (never None; it must pickle) is the child's one answer.
"""

import ctypes
import multiprocessing
import os
import queue
import signal
import time

CONTEXT = multiprocessing.get_context("spawn")  # for events shared with a child
PR_SET_PDEATHSIG = 1
ANSWER_AFTER_END_SECONDS = 1.0  # an answer put just before the child ended may still be on its way


def die_with_parent(parent_pid: int) -> None:
    """Have Linux kill this process when `parent_pid` dies."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return  # not Linux: a restart may briefly overlap with the orphan
    if os.getppid() != parent_pid:  # the parent died before the request took effect
        os._exit(1)


def start(target, *args, with_children: bool = False) -> multiprocessing.Process:
    """A started child process running `target(parent_pid, *args)`: spawned, SIGINT blocked, dying with us.
    `with_children`: see Child."""
    process = CONTEXT.Process(target=target, args=(os.getpid(), *args), daemon=not with_children)
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        process.start()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)  # a Ctrl-C meanwhile is only delayed for us
    return process


def next_answer(answers, timeout_seconds: float = 0.0):
    """The next answer a child put on `answers`, or None when there is none (within `timeout_seconds`)."""
    try:
        return answers.get(timeout=timeout_seconds) if timeout_seconds else answers.get_nowait()
    except queue.Empty:
        return None


def _main(parent_pid: int, function, answers, args: tuple) -> None:
    die_with_parent(parent_pid)
    answers.put(function(*args))


class Child:
    """`function(*args)` running in a child process; `deadline_seconds` (None: no deadline) from now.

    `with_children`: the function starts processes of its own (a job's segment pool). multiprocessing lets only
    a non-daemonic process have children; such a child still dies with its parent (PR_SET_PDEATHSIG), and its
    parent stops it before it exits."""

    def __init__(self, function, *args, deadline_seconds: float | None = None, with_children: bool = False):
        self.answers = CONTEXT.Queue()
        self.process = start(_main, function, self.answers, args, with_children=with_children)
        self.deadline = None if deadline_seconds is None else time.monotonic() + deadline_seconds

    def answer(self, timeout_seconds: float = 0.0):
        """The child's answer, or None when it has given none (within `timeout_seconds`)."""
        return next_answer(self.answers, timeout_seconds)

    def is_alive(self) -> bool:
        return self.process.is_alive()

    def is_overdue(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    @property
    def exitcode(self) -> int | None:
        return self.process.exitcode

    def wait(self):
        """Block until the child answers (the answer), or ends or passes its deadline without answering (None)."""
        while self.process.is_alive() and not self.is_overdue():
            answer = self.answer(timeout_seconds=0.2)
            if answer is not None:
                return answer
        return None if self.process.is_alive() else self.answer(ANSWER_AFTER_END_SECONDS)

    def stop(self) -> None:
        """Kill the child (if it still runs) and reap it."""
        self.process.kill()
        self.process.join()
        self.answers.close()
