"""Waiting in tests: on an observed state, with a deadline, never on a bare sleep."""

import time

import pytest


def wait_for(condition, deadline_seconds: float = 30.0, what: str = "the condition", poll_seconds: float = 0.02):
    """Poll `condition` until it returns something true, and return that; fail the test at the deadline."""
    deadline = time.monotonic() + deadline_seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(poll_seconds)
    pytest.fail(f"{what} did not happen within {deadline_seconds} s")
