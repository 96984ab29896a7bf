"""tgvid's command line: run either daemon (or both), transcode one file, show status, inspect a checkpoint, log in,
check the Telegram set-up.

Each sub-command only parses its arguments and calls into the packages; its function's docstring is its help.
Exit codes: 0 done (or stopped by SIGTERM), 1 failure, 2 usage or a setting not allowed, 3 rejected input,
130 interrupted by Ctrl-C, 141 output pipe closed by its reader.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

from tgvid import config as settings
from tgvid import logs
from tgvid.errors import EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, ConfigError, TgvidError

EXIT_PIPE_CLOSED = 128 + signal.SIGPIPE  # what a shell reports for a program ended by a closed pipe
WATCH_SECONDS = 1.0  # how often `status --watch` redraws, as `watch` does by default (2 s there)
CLEAR_SCREEN = "\x1b[H\x1b[2J"  # cursor home, clear the screen: what `watch` does between two draws


def load_config(args, make_root: bool = True) -> object:
    """The settings, checked; the root folder made (`make_root`) or else required to exist. ConfigError otherwise."""
    overrides = {"root": getattr(args, "root", None), "log_level": args.log_level}
    config = settings.load(getattr(args, "config", None), overrides=overrides)
    logs.setup(config.log_level)
    check_root(config.root, make_root)
    return config


def check_root(root: Path, make: bool) -> None:
    """A root that is a file, cannot be made, or cannot be written is one line naming it (exit 2), not a traceback."""
    if make and not root.exists():
        try:
            root.mkdir(parents=True)
        except OSError as error:
            raise ConfigError(root, f"the root folder cannot be made: {error.strerror}") from error
    if not root.exists():
        raise ConfigError(root, "no such root folder (check --root or the root setting)")
    if not root.is_dir():
        raise ConfigError(root, "the root must be a folder, and this is a file (check --root or the root setting)")
    if make and not os.access(root, os.W_OK | os.X_OK):
        raise ConfigError(root, "the root folder is not writable for this user")


def do_transcoder(args) -> int:
    """Run the transcoder daemon: watch inbox/, convert, hand finished files to outbox/."""
    from transcoder import daemon as transcoder_daemon

    return transcoder_daemon.run(load_config(args))


def do_uploader(args) -> int:
    """Run the uploader daemon: send each file in outbox/ to Telegram (or delivered/) exactly once."""
    from uploader import daemon as uploader_daemon

    return uploader_daemon.run(load_config(args))


def do_run(args) -> int:
    """Run both daemons on one root until interrupted (what `make run` does)."""
    config = load_config(args)
    base = [sys.executable, str(Path(__file__).resolve()), "--log-level", config.log_level]
    extra = ["--root", str(config.root)] + (["--config", str(args.config)] if args.config else [])
    children = [subprocess.Popen([*base, name, *extra]) for name in ("transcoder", "uploader")]

    def forward(signum, _frame):
        for child in children:
            child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    codes = [child.wait() for child in children]
    return max(codes)


def do_transcode(args) -> int:
    """Convert one file now (resumable: run the same command again after a crash)."""
    from transcoder import oneshot

    return oneshot.run(args)


def do_status(args) -> int:
    """Show both daemons' queues, running jobs and counters (reads folders and checkpoints only)."""
    from transcoder import status as transcoder_status
    from uploader import status as uploader_status

    config = load_config(args, make_root=False)

    def report() -> dict:
        return {"transcoder": transcoder_status.collect(config), "uploader": uploader_status.collect(config)}

    def text(now: dict) -> str:
        return f"{transcoder_status.render(now['transcoder'])}\n\n{uploader_status.render(now['uploader'])}"

    if args.json:
        print(json.dumps(report(), indent=2, default=str))
    elif args.prometheus:
        from tgvid import metrics

        sys.stdout.write(metrics.text(report()))
    elif args.watch:
        while True:  # until Ctrl-C, which main() turns into exit 130
            shown = text(report())
            header = f"every {WATCH_SECONDS:g} s: tgvid status --root {config.root}    {time.strftime('%H:%M:%S')}"
            sys.stdout.write(f"{CLEAR_SCREEN}{header}    (Ctrl-C ends)\n\n{shown}\n")
            sys.stdout.flush()
            time.sleep(WATCH_SECONDS)
    else:
        print(text(report()))
    return EXIT_OK


def do_inspect(args) -> int:
    """Print a checkpoint (a job folder or its checkpoint file) as readable text or JSON."""
    from transcoder import checkpoint, unpack

    path = Path(args.path)
    if path.is_file() and path.suffix != ".msgpack":  # a video, say: what a person may well try first
        raise TgvidError(path, "not a job folder: tgvid inspect reads work/<job> (`tgvid status` shows each job's id)")
    describe = unpack.describe if unpack.holds_one(path) else checkpoint.describe
    print(describe(path, as_json=args.json))
    return EXIT_OK


def do_login(args) -> int:
    """Log in to Telegram once, interactively, and write the session file (mode 0600)."""
    config = load_config(args)
    from uploader import telegram

    return telegram.login(config)


def do_check(args) -> int:
    """Check that the uploader can send: log in, find the chat, check the right to post; exit 0 if it can, else 1."""
    from uploader import daemon as uploader_daemon

    return uploader_daemon.check(load_config(args))


def version_text() -> str:
    import av

    libraries = ", ".join(f"{name} {'.'.join(map(str, v))}" for name, v in sorted(av.library_versions.items()))
    return f"tgvid {metadata.version('tgvid')} (PyAV {av.__version__}; {libraries})"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tgvid", description=" ".join(__doc__.split("\n\n")[0].split()))
    log_level_help = f"{settings.LOG_LEVELS.words} (default: the log_level setting, INFO)"
    parser.add_argument("--log-level", help=log_level_help)
    parser.add_argument("--version", action="store_true", help="print the versions of tgvid, PyAV and FFmpeg's libraries")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name, function):
        sub = commands.add_parser(name, help=function.__doc__, description=function.__doc__)
        sub.set_defaults(function=function)
        # Accepted after the command too; SUPPRESS keeps a value given before the command.
        sub.add_argument("--log-level", default=argparse.SUPPRESS, help=log_level_help)
        return sub

    def with_config(sub):
        sub.add_argument("--config", type=Path, metavar="FILE", help="TOML settings file (see README: Configuration)")
        sub.add_argument("--root", metavar="DIR", help="root folder (default ./var, or TGVID_ROOT)")
        return sub

    with_config(command("transcoder", do_transcoder))
    with_config(command("uploader", do_uploader))
    with_config(command("run", do_run))
    with_config(command("login", do_login))
    with_config(command("check", do_check))
    status = with_config(command("status", do_status))
    shown_as = status.add_mutually_exclusive_group()
    shown_as.add_argument("--json", action="store_true", help="machine-readable output")
    shown_as.add_argument("--watch", action="store_true", help=f"redraw every {WATCH_SECONDS:g} s until Ctrl-C")
    shown_as.add_argument("--prometheus", action="store_true",
                          help="counters and gauges in Prometheus text format (node_exporter's textfile collector)")

    transcode = command("transcode", do_transcode)
    transcode.add_argument("source", type=Path, metavar="SRC", help="the video (or picture) to convert")
    transcode.add_argument("-o", "--output", type=Path, metavar="OUT", help="default: SRC's folder, NAME.tg.mp4")
    transcode.add_argument("--work", type=Path, metavar="DIR", help="job folder (default: OUT.work beside OUT)")
    transcode.add_argument("--config", type=Path, metavar="FILE", help="TOML settings file for the [transcoder] defaults")
    # Checked and converted with the settings (tgvid.config), so a bad value gets the same one-line error.
    for name, metavar in (("segment_seconds", "S"), ("crf", "N"), ("preset", "P"), ("max_height", "H"),
                          ("workers", "N"), ("cluster", "ADDR")):
        declared = settings.find("transcoder", name)
        transcode.add_argument(f"--{name.replace('_', '-')}", metavar=metavar,
                               help=f"{declared.help}: {declared.allowed.words} (default {declared.default})")
    transcode.add_argument("--salvage", action="store_true", default=None,
                           help="convert the readable part of a cut-off file instead of rejecting it")

    inspect = command("inspect", do_inspect)
    inspect.add_argument("path", metavar="PATH", help="a job folder or its checkpoint file")
    inspect.add_argument("--json", action="store_true", help="print JSON instead of text")
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    if argv is None:
        argv = sys.argv[1:]
    if "--version" in argv:
        print(version_text())
        return EXIT_OK
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return EXIT_USAGE if exit_.code else EXIT_OK
    # A file name that is not valid UTF-8 is shown with escapes rather than ending the command.
    for stream in (sys.stdout, sys.stderr):
        stream.reconfigure(errors="backslashreplace")
    try:
        if args.log_level is not None:
            settings.check("", "log_level", args.log_level, "--log-level")
        logs.setup(args.log_level or "INFO")
        return args.function(args)
    except TgvidError as error:
        print(f"tgvid: {error.message}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("tgvid: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`tgvid status | head -1`): end quietly, as a tool ended by SIGPIPE does. Python
        # would otherwise complain again when it flushes stdout on the way out.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_PIPE_CLOSED


if __name__ == "__main__":
    sys.exit(main())
