"""The error family: each error names the file with an actionable reason; its class picks the reaction.

A class's docstring is its message template, filled from the keyword arguments; `exit_code` is what the
CLI returns for it. An error keeps its arguments (`args` is `(path, reason)`, the fields in its `__dict__`), so it
pickles whole: a job's child process sends the error itself to the daemon. A file format's `NewerVersion` is a
subclass of that format's error, so one `except` catches both; catch `NewerVersion` first to react to it alone.

| class | reaction |
| --- | --- |
| Rejected | the input can never work: quarantine at once, exit 3 |
| TranscodeFailed, VerifyFailed | may be passing (disk, a hung decoder): retry with backoff, then quarantine |
| InternalError | a bug in tgvid, not the file's fault: set aside until the daemon starts again (a new version may fix it) |
| SendFailed | the uploader retries or quarantines, per its `retry` field |
| SidecarError, LedgerError | unreadable uploader file: a sidecar is made again by probing; a ledger stops the uploader |
| CheckpointError | a checkpoint (or handoff marker) cannot be read: the job starts fresh (the source is untouched) |
| ConfigError | stop: the person must fix the configuration, exit 2 |
| Interrupted | Ctrl-C: the work so far is kept; the message says how to resume, exit 130 |
| AccountError | a ConfigError about the Telegram account or chat (login gone, no right to post), exit 4 |

Exits 2 and 4 never heal by themselves: the service files list them in `RestartPreventExitStatus=`.
"""

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_REJECTED = 3
EXIT_ACCOUNT = 4
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for a program ended by Ctrl-C


class TgvidError(Exception):
    """{path}: {reason}"""

    exit_code = EXIT_FAILURE

    def __init__(self, path="", reason="", **fields):
        super().__init__(str(path), reason)  # what unpickling passes back; the fields come back with __dict__
        self.path = str(path)
        self.reason = reason
        self.fields = fields
        for name, value in fields.items():
            setattr(self, name, value)

    @property
    def message(self) -> str:
        template = (self.__doc__ or TgvidError.__doc__).strip().splitlines()[0]
        return template.format(path=self.path, reason=self.reason, **self.fields)

    def __str__(self) -> str:
        return self.message


def _newer_version(outer: type[TgvidError], template: str) -> type[TgvidError]:
    """`outer.NewerVersion`: a file of `outer`'s format written by a newer tgvid (fields `found`, `supported`)."""
    newer = type("NewerVersion", (outer,), {"__doc__": template, "__module__": __name__})
    newer.__qualname__ = f"{outer.__qualname__}.NewerVersion"  # so that pickle finds it
    outer.NewerVersion = newer
    return newer


class Rejected(TgvidError):
    """{path}: rejected: {reason}"""

    exit_code = EXIT_REJECTED


class TranscodeFailed(TgvidError):
    """{path}: transcode failed: {reason}"""


class VerifyFailed(TgvidError):
    """{path}: output failed verification: {reason}"""


class InternalError(TgvidError):
    """{path}: internal error in tgvid {version}: {reason}"""

    def __init__(self, path="", reason="", version="", **fields):
        super().__init__(path, reason, version=version or tgvid_version(), **fields)


def tgvid_version() -> str:
    """The installed tgvid's version, for a report of a bug."""
    from importlib import metadata

    try:
        return metadata.version("tgvid")
    except metadata.PackageNotFoundError:
        return "(version unknown: not installed)"


class NoSpace(TgvidError):
    """{path}: not enough free disk space: {reason}"""


class SendFailed(TgvidError):
    """{path}: send failed: {reason}"""

    def __init__(self, path="", reason="", retry=True, **fields):
        super().__init__(path, reason, retry=retry, **fields)


class CheckpointError(TgvidError):
    """{path}: unreadable checkpoint: {reason}"""


_newer_version(CheckpointError, "{path}: written by a newer tgvid (format version {found}, this one reads up to "
                                "{supported}): upgrade tgvid")


class ConfigError(TgvidError):
    """{path}: configuration error: {reason}"""

    exit_code = EXIT_USAGE


class Interrupted(TgvidError):
    """{path}: interrupted: {reason}"""

    exit_code = EXIT_INTERRUPTED


class AccountError(ConfigError):
    """{path}: Telegram account or chat problem: {reason}"""

    exit_code = EXIT_ACCOUNT


class SidecarError(TgvidError):
    """{path}: unreadable sidecar: {reason}"""


_newer_version(SidecarError, "{path}: sidecar written by a newer tgvid (format version {found}, this one reads up "
                             "to {supported}): upgrade tgvid")


class LedgerError(TgvidError):
    """{path}: unreadable uploader ledger: {reason}"""


_newer_version(LedgerError, "{path}: ledger written by a newer tgvid (format version {found}, this one reads up to "
                            "{supported}): upgrade tgvid")
