"""Probe workers: a few long-lived processes answer many calls; a call that hangs past its deadline or crashes its
worker ends as Lost and the worker is replaced, never more than the pool's size at once."""

import multiprocessing
import os
import time

from tgvid.workers import Lost, Workers


def test_many_calls_are_answered_by_at_most_the_pools_processes():
    workers = Workers(2, 30.0)
    try:
        for number in range(20):
            workers.submit(number, abs, -number)
        answers = {}
        while len(answers) < 20:
            answers.update(workers.collect(timeout_seconds=1.0))
            assert len(multiprocessing.active_children()) <= 2
        assert answers == {number: number for number in range(20)}
    finally:
        workers.stop()


def test_a_call_that_hangs_or_crashes_is_lost_and_its_worker_replaced():
    workers = Workers(1, 2.0)
    try:
        hung = workers.run(time.sleep, 60)
        assert isinstance(hung, Lost) and "did not finish in 2 s" in hung.why
        crashed = workers.run(os._exit, 3)
        assert isinstance(crashed, Lost) and crashed.exitcode == 3 and not crashed.interrupted
        failed = workers.run(int, "not a number")
        assert isinstance(failed, Lost) and "unexpected ValueError" in failed.why
        assert workers.run(abs, -7) == 7  # the pool goes on
        assert len(multiprocessing.active_children()) == 1
    finally:
        workers.stop()
