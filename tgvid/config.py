"""Settings: the one declaration of each setting, with its type, default (unit in the name), help.

The TOML file, the `TGVID_*` environment overrides and the README's table all come from `SETTINGS`. Each
setting also says which values it allows; a value outside them stops the program at start with one line
naming the setting, the value and what is allowed (a secret's value is not shown).
Top-level keys are overridden by `TGVID_<KEY>`, keys in a section by `TGVID_<SECTION>_<KEY>`
(`TGVID_TRANSCODER_CRF=20`). Precedence: command-line flags, then environment, then the file, then the
default. An unknown key in the file is an error that names it. Nothing reads the environment at import time.
"""

import os
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

from tgvid import chatsetting
from tgvid.errors import ConfigError


@dataclass(frozen=True)
class Allowed:
    """The values a setting accepts: a test, and the same said in words for the error line and the README."""

    words: str
    test: Callable[[object], bool]


def one_of(*names: str) -> Allowed:
    return Allowed(", ".join(names), lambda value: value in names)


def between(low: float, high: float) -> Allowed:
    return Allowed(f"{low} to {high}", lambda value: low <= value <= high)


def matching(pattern: str, words: str) -> Allowed:
    return Allowed(words, lambda value: re.fullmatch(pattern, value) is not None)


ANY = Allowed("any", lambda value: True)
POSITIVE = Allowed("above 0", lambda value: value > 0)
NOT_NEGATIVE = Allowed("0 or more", lambda value: value >= 0)
AT_LEAST_ONE = Allowed("1 or more", lambda value: value >= 1)
A_PATH = Allowed("a path", lambda value: value.strip() != "" and "\0" not in value)
X264_PRESETS = one_of("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow",
                      "placebo")
LOG_LEVELS = Allowed("DEBUG, INFO, WARNING, ERROR",
                     lambda value: value.upper() in ("DEBUG", "INFO", "WARNING", "ERROR"))
PART_KIB = Allowed("0, or 1, 2, 4 … 512 (Telegram's part sizes)", lambda value: value == 0 or (
    0 < value <= 512 and 512 % value == 0))
TELEGRAM_CHAT = Allowed(chatsetting.FORMS, chatsetting.names_a_chat)
SAME_CHAT = "same"  # not a username: Telegram's are 5 characters or more
NOTIFY_CHAT = Allowed(f"{SAME_CHAT} (telegram.chat), empty (no notifications), or {chatsetting.FORMS}",
                      lambda value: value in ("", SAME_CHAT) or chatsetting.names_a_chat(value))


@dataclass(frozen=True)
class Setting:
    section: str  # "" for top-level keys
    name: str
    type: type
    default: object
    help: str
    allowed: Allowed = ANY
    secret: bool = False  # its value never appears in an error line

    @property
    def key(self) -> str:
        return f"{self.section}.{self.name}" if self.section else self.name

    @property
    def env_name(self) -> str:
        parts = ["TGVID", self.section, self.name] if self.section else ["TGVID", self.name]
        return "_".join(parts).upper()


SETTINGS = (
    Setting("", "root", str, "./var", "folder holding inbox/, work/, outbox/, quarantine/, originals/, sent/, delivered/",
            A_PATH),
    Setting("", "log_level", str, "INFO", "how much is logged", LOG_LEVELS),
    Setting("transcoder", "segment_seconds", float, 10.0, "target length of one checkpointed segment", POSITIVE),
    Setting("transcoder", "crf", int, 23, "x264 constant rate factor (lower is better and bigger)", between(0, 51)),
    Setting("transcoder", "preset", str, "veryfast", "x264 preset (faster is bigger)", X264_PRESETS),
    Setting("transcoder", "max_height", int, 0, "downscale taller videos to this height (0 keeps the size)",
            NOT_NEGATIVE),
    Setting("transcoder", "salvage", bool, False, "convert the readable part of cut-off files instead of rejecting them"),
    Setting("transcoder", "workers", int, 0, "segments encoded at once on this machine (0: one per core; x264's "
            "threads are the cores shared among them)", NOT_NEGATIVE),
    Setting("transcoder", "max_memory_mib", int, 0, "memory the segment workers may use together; fewer workers "
            "where it is short (0: half of what is free when a job starts)", NOT_NEGATIVE),
    Setting("transcoder", "verify", str, "packets", "how a re-encoded output is verified: packets (each segment "
            "decoded by its worker, the joined file checked by its packets) or full (the joined file decoded too)",
            one_of("packets", "full")),
    Setting("transcoder", "cluster", str, "", "a Dask scheduler (tcp://host:8786) whose workers encode the segments; "
            "empty for this machine only (needs tgvid[cluster])", ANY),
    Setting("transcoder", "quiet_seconds", float, 5.0, "a file in the inbox is taken once unchanged this long",
            NOT_NEGATIVE),
    Setting("transcoder", "max_retries", int, 3, "attempts before a failing source goes to quarantine", AT_LEAST_ONE),
    Setting("transcoder", "retry_backoff_seconds", float, 30.0, "wait before the first retry; doubles each time",
            NOT_NEGATIVE),
    Setting("transcoder", "stall_seconds", float, 600.0, "a job whose checkpoint does not move this long is stopped",
            POSITIVE),
    Setting("transcoder", "keep_originals", bool, True, "move sources to originals/ after success (false deletes them)"),
    Setting("transcoder", "archive_max_unpacked_bytes", int, 64 << 30,
            "an archive unpacking to more than this is quarantined as a bomb", AT_LEAST_ONE),
    Setting("transcoder", "archive_max_ratio", float, 100.0,
            "an archive unpacking to more than this many times its own size is quarantined as a bomb", POSITIVE),
    Setting("transcoder", "archive_max_entries", int, 10000, "an archive with more entries is quarantined as a bomb",
            AT_LEAST_ONE),
    Setting("transcoder", "force_polling", bool, False, "poll the inbox instead of using inotify (some Android storage)"),
    Setting("transcoder", "originals_keep_days", float, 0.0, "remove sources from originals/ after this long (0 keeps "
            "them forever)", NOT_NEGATIVE),
    Setting("transcoder", "empty_folder_seconds", float, 300.0, "a subfolder of inbox/ left empty and unchanged this "
            "long is removed", NOT_NEGATIVE),
    Setting("transcoder", "probe_workers", int, 2, "processes that take the first look at new files (each file in turn; "
            "a file that hangs one has it replaced)", AT_LEAST_ONE),
    Setting("uploader", "quiet_seconds", float, 5.0, "a hand-placed file in outbox/ is taken once unchanged this long",
            NOT_NEGATIVE),
    Setting("uploader", "album_window_seconds", float, 10.0, "files of one folder arriving within this time form an album",
            NOT_NEGATIVE),
    Setting("uploader", "delete_after_send", bool, False, "delete sent files instead of moving them to sent/"),
    Setting("uploader", "premium", bool, False, "the account is Telegram Premium (4000 MiB per file instead of 2000); "
            "the account's own flag wins once connected"),
    Setting("uploader", "oversize", str, "split", "a video over the chat's size limit: cut at keyframes into parts "
            "sent as an album (split), or put in quarantine", one_of("split", "quarantine")),
    Setting("uploader", "folder_max_file_mib", float, 0.0, "the local-folder sender's size limit per file, as a "
            "chat's: a larger video is sent in parts (a way to see that without Telegram; 0: none)", NOT_NEGATIVE),
    Setting("uploader", "max_retries", int, 5, "attempts before a failing file goes to quarantine", AT_LEAST_ONE),
    Setting("uploader", "force_polling", bool, False, "poll outbox/ instead of using inotify"),
    Setting("uploader", "parallel_parts", int, 8, "upload parts in flight at once (bench/upload.py measures the gain)",
            between(1, 32)),
    Setting("uploader", "part_kib", int, 0, "upload part size; 0 chooses (128 KiB up to 10 MB, 512 KiB above)",
            PART_KIB),
    Setting("uploader", "max_upload_mib_per_second", float, 0.0, "upload speed limit, e.g. on mobile data (0: none)",
            NOT_NEGATIVE),
    Setting("uploader", "notify_batch_seconds", float, 60.0, "a notification goes once no new failure came for this "
            "long, so that a burst of failures makes one message", NOT_NEGATIVE),
    Setting("uploader", "sent_keep_days", float, 0.0, "remove sent files from sent/ after this long (0 keeps them "
            "forever; the ledger stays)", NOT_NEGATIVE),
    Setting("uploader", "empty_folder_seconds", float, 300.0, "a subfolder of outbox/ left empty and unchanged this long "
            "is removed (once its inbox/ folder is gone)", NOT_NEGATIVE),
    Setting("uploader", "probe_workers", int, 1, "processes that probe files placed in outbox/ by hand", AT_LEAST_ONE),
    Setting("uploader", "ledger_keep_days", float, 30.0, "the ledger forgets sent files after this long (still counted)",
            POSITIVE),
    Setting("telegram", "api_id", int, 0, "API id from my.telegram.org (secret)", NOT_NEGATIVE, secret=True),
    Setting("telegram", "api_hash", str, "", "API hash from my.telegram.org (secret)",
            matching(r"|[0-9a-fA-F]{32}", "empty or 32 hexadecimal digits"), secret=True),
    Setting("telegram", "bot_token", str, "", "log in as this bot (secret); empty for a user account",
            matching(r"|\d+:\S+", "empty or NUMBER:SECRET as @BotFather gives it"), secret=True),
    Setting("telegram", "session", str, "", "a Telethon string session (secret); overrides session_file", secret=True),
    Setting("telegram", "session_file", str, "telegram.session", "user session file, relative to root; made 0600",
            A_PATH),
    Setting("telegram", "chat", str, "me", "where to send", TELEGRAM_CHAT),
    Setting("telegram", "notify_chat", str, SAME_CHAT, "where a short message says that files went to quarantine or "
            "that the uploader stopped on an account problem (the local-folder sender writes it into delivered/)",
            NOTIFY_CHAT),
)

TYPE_WORDS = {bool: "true or false", int: "a whole number", float: "a number", str: "text"}
SECTIONS = tuple(dict.fromkeys(s.section for s in SETTINGS if s.section))


def find(section: str, name: str) -> Setting:
    """The declaration of one setting (for help texts that must not drift from it)."""
    return next(s for s in SETTINGS if (s.section, s.name) == (section, name))


BOOL_WORDS = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}


def _convert(kind: type, raw: object) -> object:
    """`raw` as a value of `kind`, or None when it is not one (a TOML true is no number, a TOML table no text)."""
    if kind is bool:
        return raw if isinstance(raw, bool) else BOOL_WORDS.get(raw.strip().lower()) if isinstance(raw, str) else None
    if isinstance(raw, bool):
        return None
    if kind is str:
        return str(raw) if isinstance(raw, str | int) else None
    try:
        return kind(raw)
    except (TypeError, ValueError):
        return None


def _parse(setting: Setting, raw: object, origin: str) -> object:
    """`raw` converted to the setting's type; ConfigError (one line: setting, value, what is allowed) otherwise."""
    value = _convert(setting.type, raw)
    shown = "(hidden)" if setting.secret else repr(raw)
    if value is None:
        raise ConfigError(origin, f"{setting.key} must be {TYPE_WORDS[setting.type]}, got {shown}")
    if not setting.allowed.test(value):
        raise ConfigError(origin, f"{setting.key} = {shown} is not allowed; allowed: {setting.allowed.words}")
    return value


def check(section: str, name: str, raw: object, origin: str) -> object:
    """One value checked as `load` checks it (for a flag read before the settings, such as --log-level)."""
    return _parse(find(section, name), raw, origin)


def load(path: Path | None = None, environ: dict | None = None, overrides: dict | None = None) -> SimpleNamespace:
    """Read settings: `overrides` (flags, as {"section.name": value}), then `environ`, then the file, then defaults.

    Returns a namespace with one attribute per top-level key and one sub-namespace per section
    (`config.transcoder.crf`). Raises ConfigError naming the file and key for unknown keys or bad values.
    """
    environ = os.environ if environ is None else environ
    overrides = overrides or {}
    document = {}
    if path is not None:
        try:
            document = tomllib.loads(Path(path).read_text())
        except OSError as error:
            raise ConfigError(path, f"cannot read the settings file: {error.strerror or error}") from error
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(path, f"not valid TOML: {error}") from error
    known = {(s.section, s.name) for s in SETTINGS}
    for key, value in document.items():
        if isinstance(value, dict):
            if key not in SECTIONS:
                raise ConfigError(path, f"unknown section [{key}]; known: {', '.join(SECTIONS)}")
            unknown = [f"{key}.{name}" for name in value if (key, name) not in known]
        else:
            unknown = [] if ("", key) in known else [key]
        if unknown:
            raise ConfigError(path, f"unknown setting(s): {', '.join(unknown)}")
    config = SimpleNamespace(**{section: SimpleNamespace() for section in SECTIONS})
    for setting in SETTINGS:
        key = setting.key
        in_file = document.get(setting.section, {}) if setting.section else document
        if key in overrides and overrides[key] is not None:
            value = _parse(setting, overrides[key], f"--{setting.name.replace('_', '-')}")
        elif setting.env_name in environ:
            value = _parse(setting, environ[setting.env_name], setting.env_name)
        elif setting.name in in_file:
            value = _parse(setting, in_file[setting.name], str(path))
        else:
            value = setting.default
        target = getattr(config, setting.section) if setting.section else config
        setattr(target, setting.name, value)
    config.root = Path(config.root)
    return config


def markdown_table() -> str:
    """The README's settings table, generated so that it cannot drift from SETTINGS."""
    rows = ["| key | environment | default | allowed | meaning |", "| --- | --- | --- | --- | --- |"]
    for s in SETTINGS:
        default = repr(s.default).lower() if isinstance(s.default, bool) else repr(s.default)
        allowed = "true, false" if s.type is bool else s.allowed.words
        rows.append(f"| `{s.key}` | `{s.env_name}` | `{default}` | {allowed} | {s.help} |")
    return "\n".join(rows)
