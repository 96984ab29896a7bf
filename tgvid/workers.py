"""Probe workers: a small, bounded pool of long-lived child processes (tgvid.child) that run short, picklable
calls which may hang or crash FFmpeg (a first look at a file, a thumbnail), one at a time each.

A burst of files costs no process per file (Android kills an app past 32 children, a Raspberry Pi has little
memory), and the isolation stays: a call that passes its deadline has its worker killed and replaced, and a call
that crashes its worker costs that worker; either ends as `Lost`, never as a hung or dead daemon. Workers start
when first needed, at most `size` at once. Each worker is handed up to DEPTH calls ahead, so that it goes from one
to the next without waiting for the daemon's next look; the deadline runs for the call at the head, from when the
one before it ended. A worker that is killed takes only its head call with it: the calls behind it go back to the
front of the line. Each worker has its own pair of queues, so a killed one cannot leave a lock held that the others
need.
"""

import logging
import signal
import time
import traceback
from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass

from tgvid.child import CONTEXT, die_with_parent, next_answer, start

log = logging.getLogger(__name__)

DEPTH = 8  # calls handed to one worker ahead: enough to keep it busy for a loop turn of small files


@dataclass(frozen=True)
class Lost:
    """A call that gave no answer: it passed its deadline, crashed its worker, or raised (`why` says which)."""

    why: str
    exitcode: int | None = None

    @property
    def interrupted(self) -> bool:
        """The worker was stopped by the signal that stops the whole daemon (a service manager's SIGTERM)."""
        return self.exitcode in (-signal.SIGTERM, -signal.SIGINT)


def _serve(parent_pid: int, tasks, answers) -> None:
    die_with_parent(parent_pid)
    while True:
        function, args = tasks.get()
        try:
            answers.put(function(*args))
        except Exception as error:  # a bug, not the file's fault: the worker lives on, the caller hears of it
            traceback.print_exc()
            answers.put(Lost(f"unexpected {type(error).__name__}: {error}"))


class _Worker:
    def __init__(self):
        self.tasks = CONTEXT.SimpleQueue()
        self.answers = CONTEXT.Queue()
        self.process = start(_serve, self.tasks, self.answers)
        self.given: deque[tuple[Hashable, object, tuple]] = deque()  # in the order it answers them
        self.head_since = 0.0  # when the call at the head of `given` became the one it works on

    def give(self, call: tuple[Hashable, object, tuple]) -> None:
        if not self.given:
            self.head_since = time.monotonic()
        self.given.append(call)
        self.tasks.put(call[1:])

    def answered(self) -> Hashable:
        """Take the head call off, its answer received; the next one's deadline starts now."""
        key = self.given.popleft()[0]
        self.head_since = time.monotonic()
        return key

    def answer(self, timeout_seconds: float = 0.0):
        return next_answer(self.answers, timeout_seconds)

    def kill(self) -> None:
        self.process.kill()
        self.process.join()
        self.answers.close()


class Workers:
    """At most `size` workers; each call is given `deadline_seconds` from the moment a worker takes it."""

    def __init__(self, size: int, deadline_seconds: float):
        self.size = size
        self.deadline_seconds = deadline_seconds
        self.workers: list[_Worker] = []
        self.queued: deque[tuple[Hashable, object, tuple]] = deque()

    def submit(self, key: Hashable, function, *args) -> None:
        """Have `function(*args)` run by a worker; its answer comes back from `collect` under `key`."""
        self.queued.append((key, function, args))
        self._dispatch()

    def collect(self, timeout_seconds: float = 0.0) -> list[tuple[Hashable, object]]:
        """The calls that ended since the last look, as (key, answer or Lost); waits up to `timeout_seconds` for
        the first when none has."""
        ended = []
        deadline = time.monotonic() + timeout_seconds
        while True:
            for worker in [w for w in self.workers if w.given]:
                while worker.given and (answer := worker.answer()) is not None:
                    ended.append((worker.answered(), answer))
                overdue = time.monotonic() >= worker.head_since + self.deadline_seconds
                if worker.given and (overdue or not worker.process.is_alive()):
                    answer = worker.answer(timeout_seconds=0.0 if overdue else 0.5)  # answered just before it ended
                    ended.append((worker.answered(), answer) if answer is not None else self._lose(worker))
            self._dispatch()
            if ended or not self.pending() or time.monotonic() >= deadline:
                return ended
            time.sleep(0.01)

    def run(self, function, *args):
        """`function(*args)` in a worker, waiting for its answer or Lost."""
        key = object()
        self.submit(key, function, *args)
        while True:
            for ended_key, answer in self.collect(timeout_seconds=1.0):
                if ended_key is key:
                    return answer

    def pending(self) -> int:
        """Calls submitted and not yet collected."""
        return sum(len(w.given) for w in self.workers) + len(self.queued)

    def stop(self) -> None:
        """Kill every worker; calls not collected are forgotten."""
        for worker in self.workers:
            worker.kill()
        self.workers = []
        self.queued.clear()

    def _lose(self, worker: _Worker) -> tuple[Hashable, Lost]:
        """Kill and drop `worker`: its head call is lost, the calls behind it go back to the front of the line."""
        alive = worker.process.is_alive()
        worker.kill()
        self.workers.remove(worker)
        key = worker.given.popleft()[0]
        self.queued.extendleft(reversed(worker.given))
        if alive:
            return key, Lost(f"did not finish in {self.deadline_seconds:.0f} s; its worker was replaced")
        return key, Lost(f"its worker ended with exit code {worker.process.exitcode}", worker.process.exitcode)

    def _dispatch(self) -> None:
        """Hand out queued calls: to workers with room (the least loaded first), starting new ones up to `size`."""
        while self.queued:
            if len(self.workers) < self.size and all(w.given for w in self.workers):
                self.workers.append(_Worker())
            worker = min(self.workers, key=lambda w: len(w.given))
            if len(worker.given) >= DEPTH:
                return
            worker.give(self.queued.popleft())
