"""Backoff: how long a failed attempt waits before the next, as a pure function of the failures so far."""


def backoff_seconds(failures: int, base_seconds: float, cap_seconds: float) -> float:
    """Seconds to wait after the `failures`-th failure: `base_seconds`, doubling each time, at most `cap_seconds`."""
    return min(cap_seconds, base_seconds * 2 ** max(0, failures - 1))
