"""When a failed send is tried again: a pure function of the number of failures so far."""


def backoff_seconds(attempts: int, base_seconds: float = 5.0, cap_seconds: float = 600.0) -> float:
    """Seconds to wait after the `attempts`-th failure: base, then doubling, at most `cap_seconds`."""
    return min(cap_seconds, base_seconds * 2 ** max(0, attempts - 1))
