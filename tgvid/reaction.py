"""The reaction to a failed attempt at one file, as one pure function of the error's type, both daemons' table.

| error | reaction |
| --- | --- |
| Rejected, SendFailed with `retry=False` | Quarantine at once: it can never work here |
| InternalError | RetryAtStart: a bug in tgvid; set aside with its reason until the daemon starts again, never counted |
| NoSpace | WaitForSpace: the job keeps its checkpoint and resumes when the disk has room, never counted |
| ConfigError (AccountError too), LedgerError | Stop the daemon: a person must fix the setup; every file stays where it is |
| SendFailed with `network=True` | Retry with backoff for as long as it lasts: never the file's fault |
| anything else (TranscodeFailed, VerifyFailed, a passing SendFailed) | Retry with backoff; Quarantine after `max_retries` |
"""

from dataclasses import dataclass

from tgvid.backoff import backoff_seconds
from tgvid.errors import ConfigError, InternalError, LedgerError, NoSpace, Rejected, SendFailed

NO_SPACE_RETRY_SECONDS = 60.0


@dataclass(frozen=True)
class Quarantine:
    pass


@dataclass(frozen=True)
class Retry:
    delay_seconds: float


@dataclass(frozen=True)
class WaitForSpace:
    delay_seconds: float = NO_SPACE_RETRY_SECONDS


@dataclass(frozen=True)
class RetryAtStart:
    pass


@dataclass(frozen=True)
class Stop:
    pass


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a daemon tries one file again."""

    max_retries: int
    base_seconds: float
    cap_seconds: float


def reaction(error: Exception, failures: int, policy: RetryPolicy) -> Quarantine | Retry | RetryAtStart | WaitForSpace | Stop:
    """What to do after the `failures`-th failed attempt (counting this one) that ended in `error`."""
    if isinstance(error, ConfigError | LedgerError):
        return Stop()
    if isinstance(error, InternalError):
        return RetryAtStart()
    if isinstance(error, NoSpace):
        return WaitForSpace()
    if isinstance(error, Rejected) or (isinstance(error, SendFailed) and not error.retry):
        return Quarantine()
    delay = Retry(backoff_seconds(failures, policy.base_seconds, policy.cap_seconds))
    if isinstance(error, SendFailed) and error.fields.get("network", False):
        return delay
    return Quarantine() if failures >= policy.max_retries else delay
