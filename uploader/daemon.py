"""The uploader daemon's loop: scan the outbox, send what is ready, sleep until something changes.

Signal handlers only record the signal; the loop stops at the next safe point (between files, or between
upload parts through the sender's `should_stop`), within seconds. Every send is resumable from the ledger, so
a stop, crash or SIGKILL anywhere loses nothing and sends nothing twice. The daemon tells systemd READY,
STATUS, WATCHDOG and STOPPING (tgvid.sd_notify). Between scans it tells `telegram.notify_chat` of new files in
quarantine/ (uploader.notice), and before it stops on an account problem it tries to say so there too.
"""

import logging
import signal
import time
from pathlib import Path

from tgvid import durable, instance, sd_notify
from tgvid.errors import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK, AccountError, ConfigError, TgvidError
from tgvid.pruning import Pruner
from tgvid.units import MIB
from tgvid.wakelock import WakeLock
from tgvid.workers import Workers
from uploader import status
from uploader.delivery import Delivery
from uploader.folder import FolderSender
from uploader.ledger import Ledger, path_in
from uploader.notice import Notices, stopped_text
from uploader.outbox import Outbox
from uploader.probe import PROBE_TIMEOUT_SECONDS
from uploader.sender import Interrupted, Sender

log = logging.getLogger(__name__)

FOLDERS = ("outbox", "sent", "delivered", "quarantine")
POLL_SECONDS = 1.0


def telegram_settings(config) -> tuple[list[str], list[str]]:
    """(Telegram settings given, those still missing for a login); both empty when none is given at all."""
    telegram = config.telegram
    session_file = Path(config.root) / telegram.session_file
    login = [name for name, value in (("telegram.bot_token", telegram.bot_token), ("telegram.session",
             telegram.session), (f"the session file {session_file}", session_file.exists())) if value]
    given = [name for name, value in (("telegram.api_id", telegram.api_id), ("telegram.api_hash", telegram.api_hash),
             ("telegram.chat", telegram.chat != "me")) if value] + login
    missing = [name for name, value in (("telegram.api_id", telegram.api_id), ("telegram.api_hash",
               telegram.api_hash)) if not value]
    if not login:
        missing.append("a login (telegram.bot_token, telegram.session, or run `tgvid login`)")
    return given, missing if given else []


def half_configured(given: list[str], missing: list[str]) -> str:
    return f"{listed(given)} {'is' if len(given) == 1 else 'are'} set, but {listed(missing)} " \
           f"{'is' if len(missing) == 1 else 'are'} missing"


def listed(names: list[str]) -> str:
    """"a", "a and b", "a, b and c"."""
    return " and ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)


def make_sender(config, should_stop, ledger: Ledger | None = None) -> Sender:
    """The Telegram sender when Telegram is configured; the local-folder sender into delivered/ only when no
    Telegram setting is given at all. Half a configuration is a ConfigError naming what is missing."""
    given, missing = telegram_settings(config)
    if missing:
        raise ConfigError("telegram", f"{half_configured(given, missing)}; set them (README: Uploader), or remove "
                                      "every Telegram setting to deliver into delivered/")
    if given:
        from uploader import telegram

        log.info("uploader: using the Telegram sender (%s)", ", ".join(given))
        return telegram.connect(config, should_stop, ledger)
    limit_mib = config.uploader.folder_max_file_mib
    over = f"; a video over {limit_mib:g} MiB goes in parts (uploader.folder_max_file_mib)" if limit_mib else ""
    log.info("uploader: using the local-folder sender: no Telegram setting is given, files go to delivered/%s", over)
    return FolderSender(Path(config.root) / "delivered", should_stop, round(limit_mib * MIB) if limit_mib else None)


def check(config) -> int:
    """`tgvid check`: whether the uploader can send, and with what (exit 0), or why not (exit 1)."""
    given, missing = telegram_settings(config)
    if missing:
        print(f"cannot send: {half_configured(given, missing)}")
        return EXIT_FAILURE
    if not given:
        limit_mib = config.uploader.folder_max_file_mib
        over = f" (a video over {limit_mib:g} MiB in parts)" if limit_mib else ""
        print(f"no Telegram setting is given: the uploader delivers into {Path(config.root) / 'delivered'}{over}")
        return EXIT_OK
    from uploader import telegram

    return telegram.check(config)


def notify(sender: Sender, config, text: str) -> bool:
    """Send `text` to `telegram.notify_chat`; whether it went. A failure is logged, never raised: a notice is
    worth less than the daemon's work."""
    try:
        sender.notify(text, config.telegram.notify_chat)
    except Interrupted:
        return False  # stopping: the notice is told after the next start
    except (TgvidError, OSError) as error:
        log.warning("uploader: the notification to %s did not go: %s", config.telegram.notify_chat,
                    getattr(error, "message", error))
        return False
    return True


def run(config) -> int:
    root = Path(config.root)
    for name in FOLDERS:
        (root / name).mkdir(parents=True, exist_ok=True)
    # Two uploaders on one root would send files twice and, on one Telegram session, lose the login.
    with instance.hold(root, "uploader"):
        return _run(config, root)


def _run(config, root: Path) -> int:
    signals: list[int] = []

    def record(signum, _frame):
        signals.append(signum)

    previous = {sig: signal.signal(sig, record) for sig in (signal.SIGTERM, signal.SIGINT)}

    watchdog_seconds = sd_notify.watchdog_interval_seconds()
    last_watchdog = [0.0]

    def should_stop() -> bool:
        """Asked at every safe point, also inside long uploads and flood waits: the place to tell systemd's
        watchdog that the daemon still makes progress."""
        if watchdog_seconds is not None and time.monotonic() - last_watchdog[0] >= watchdog_seconds:
            sd_notify.notify("WATCHDOG=1")
            last_watchdog[0] = time.monotonic()
        return bool(signals)

    durable.remove_temps(path_in(root))  # here, not in Ledger: `tgvid status` reads it while the daemon writes
    ledger = Ledger(path_in(root), keep_sent_seconds=config.uploader.ledger_keep_days * 86400, outbox=root / "outbox",
                    quarantine=root / "quarantine")
    progress = status.ProgressReporter(root)
    try:
        sender = make_sender(config, should_stop, ledger)
    except Interrupted:
        log.info("uploader: stopped while connecting; nothing was sent yet")
        return EXIT_INTERRUPTED if signals[0] == signal.SIGINT else EXIT_OK
    outbox = Outbox(root / "outbox", config.uploader.quiet_seconds, config.uploader.force_polling,
                    config.uploader.empty_folder_seconds)
    workers = Workers(config.uploader.probe_workers, PROBE_TIMEOUT_SECONDS)
    delivery = Delivery(root, ledger, sender, config.uploader, progress, workers=workers)
    wake_lock = WakeLock(root, "uploader")
    notices = Notices(root, config.uploader.notify_batch_seconds) if config.telegram.notify_chat else None
    sent = Pruner(root / "sent", config.uploader.sent_keep_days, kept_name=path_in(root).name)
    outbox.start()
    try:
        log.info("uploader: watching %s, sending to %s", root / "outbox", sender.description)
        sd_notify.notify("READY=1")
        last_status = ""
        while not signals:
            arrivals = outbox.scan(time.time())
            sent.step(time.time())
            wake_lock.hold_while(outbox.has_files())
            status_text = f"{len(arrivals)} file(s) in outbox"
            if status_text != last_status:
                sd_notify.status(status_text)
                last_status = status_text
            try:
                delivery.run(arrivals, should_stop)
            except Interrupted:
                break
            finally:
                progress.clear()
            if notices is not None:
                tell(notices, sender, config, time.time())
            should_stop()
            outbox.wait(min(POLL_SECONDS, watchdog_seconds or POLL_SECONDS))
    except TgvidError as error:
        log.error("uploader: stopping: %s", error.message)
        if notices is not None and isinstance(error, AccountError):
            notify(sender, config, stopped_text(error.message, root))
        raise
    finally:
        sd_notify.notify("STOPPING=1")
        outbox.stop()
        workers.stop()
        delivery.close()
        wake_lock.hold_while(False)
        sender.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    interrupted = signals[0] == signal.SIGINT
    log.info("uploader: %s; every file not yet sent stays in %s and is sent when the uploader starts again "
             "(`tgvid uploader` or `tgvid run`)", "interrupted" if interrupted else "stopped", root / "outbox")
    return EXIT_INTERRUPTED if interrupted else EXIT_OK


def tell(notices: Notices, sender: Sender, config, now: float) -> None:
    """Send the notice of new quarantined files once it is due (uploader.notice); a failed one waits a batch time."""
    notices.scan(now)
    text = notices.due(now)
    if text is None:
        return
    if notify(sender, config, text):
        notices.told()
    else:
        notices.postpone(now)
