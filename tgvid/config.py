"""Settings: each declared once here with its type, default (unit in the name) and help.

The TOML file, the `TGVID_*` environment overrides and the README's table all come from `SETTINGS`.
Top-level keys are overridden by `TGVID_<KEY>`, keys in a section by `TGVID_<SECTION>_<KEY>`
(`TGVID_TRANSCODER_CRF=20`). Precedence: command-line flags, then environment, then the file, then the
default. An unknown key in the file is an error that names it. Nothing reads the environment at import time.
"""

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

from tgvid.errors import ConfigError


@dataclass(frozen=True)
class Setting:
    section: str  # "" for top-level keys
    name: str
    type: type
    default: object
    help: str

    @property
    def env_name(self) -> str:
        parts = ["TGVID", self.section, self.name] if self.section else ["TGVID", self.name]
        return "_".join(parts).upper()


SETTINGS = (
    Setting("", "root", str, "./var", "folder holding inbox/, work/, outbox/, quarantine/, originals/, sent/, delivered/"),
    Setting("", "log_level", str, "INFO", "DEBUG, INFO, WARNING or ERROR"),
    Setting("transcoder", "segment_seconds", float, 10.0, "target length of one checkpointed segment"),
    Setting("transcoder", "crf", int, 23, "x264 constant rate factor (lower is better and bigger)"),
    Setting("transcoder", "preset", str, "veryfast", "x264 preset (ultrafast … veryslow)"),
    Setting("transcoder", "max_height", int, 0, "downscale taller videos to this height (0 keeps the size)"),
    Setting("transcoder", "salvage", bool, False, "convert the readable part of cut-off files instead of rejecting them"),
    Setting("transcoder", "quiet_seconds", float, 5.0, "a file in the inbox is taken once unchanged this long"),
    Setting("transcoder", "max_retries", int, 3, "attempts before a failing source goes to quarantine"),
    Setting("transcoder", "retry_backoff_seconds", float, 30.0, "wait before the first retry; doubles each time"),
    Setting("transcoder", "stall_seconds", float, 600.0, "a job whose checkpoint does not move this long is stopped"),
    Setting("transcoder", "keep_originals", bool, True, "move sources to originals/ after success (false deletes them)"),
    Setting("transcoder", "force_polling", bool, False, "poll the inbox instead of using inotify (some Android storage)"),
    Setting("uploader", "quiet_seconds", float, 5.0, "a hand-placed file in outbox/ is taken once unchanged this long"),
    Setting("uploader", "album_window_seconds", float, 10.0, "files of one folder arriving within this time form an album"),
    Setting("uploader", "delete_after_send", bool, False, "delete sent files instead of moving them to sent/"),
    Setting("uploader", "premium", bool, False, "the account is Telegram Premium (4000 MiB per file instead of 2000)"),
    Setting("uploader", "max_retries", int, 5, "attempts before a failing file goes to quarantine"),
    Setting("uploader", "force_polling", bool, False, "poll outbox/ instead of using inotify"),
    Setting("uploader", "ledger_keep_days", float, 30.0, "the ledger forgets sent files after this long (still counted)"),
    Setting("telegram", "api_id", int, 0, "API id from my.telegram.org (secret)"),
    Setting("telegram", "api_hash", str, "", "API hash from my.telegram.org (secret)"),
    Setting("telegram", "bot_token", str, "", "log in as this bot (secret); empty for a user account"),
    Setting("telegram", "session", str, "", "a Telethon string session (secret); overrides session_file"),
    Setting("telegram", "session_file", str, "telegram.session", "user session file, relative to root; made 0600"),
    Setting("telegram", "chat", str, "me", "where to send: a @username, a numeric chat id, or me (Saved Messages)"),
)

SECTIONS = tuple(dict.fromkeys(s.section for s in SETTINGS if s.section))


def find(section: str, name: str) -> Setting:
    """The declaration of one setting (for help texts that must not drift from it)."""
    return next(s for s in SETTINGS if (s.section, s.name) == (section, name))


def _parse(setting: Setting, raw: object, origin: str) -> object:
    kind = setting.type
    if kind is bool:
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.strip().lower() in ("1", "true", "yes", "on", "0", "false", "no", "off"):
            return raw.strip().lower() in ("1", "true", "yes", "on")
    elif kind is int and not isinstance(raw, bool):
        try:
            return int(raw)
        except (TypeError, ValueError):
            pass
    elif kind is float and not isinstance(raw, bool):
        try:
            return float(raw)
        except (TypeError, ValueError):
            pass
    elif kind is str and isinstance(raw, str | int):
        return str(raw)
    key = f"{setting.section}.{setting.name}" if setting.section else setting.name
    raise ConfigError(origin, f"{key} must be a {kind.__name__}, got {raw!r}")


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
        except (OSError, tomllib.TOMLDecodeError) as error:
            raise ConfigError(path, str(error)) from error
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
        key = f"{setting.section}.{setting.name}" if setting.section else setting.name
        in_file = document.get(setting.section, {}) if setting.section else document
        if key in overrides and overrides[key] is not None:
            value = _parse(setting, overrides[key], "command line")
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
    rows = ["| key | environment | default | meaning |", "| --- | --- | --- | --- |"]
    for s in SETTINGS:
        key = f"{s.section}.{s.name}" if s.section else s.name
        default = repr(s.default).lower() if isinstance(s.default, bool) else repr(s.default)
        rows.append(f"| `{key}` | `{s.env_name}` | `{default}` | {s.help} |")
    return "\n".join(rows)
