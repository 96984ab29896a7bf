"""The uploader against a loopback fake data centre over real TCP: dropped connections, lost answers,
SIGKILLed processes (with Telegram's random_id dedup on and off), login, and credentials kept out of logs."""

import os
import random
import signal
import stat
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import hand_off, hand_off_video
from fake_telegram import FakeTelegram, Fault, file_names
from telethon.tl import functions
from telethon_internals import LoopbackDataCentre

from tests.processes import DAEMON
from tests.waiting import wait_for
from tgvid.sidecar import MediaKind, Sidecar
from uploader import telegram
from uploader.ledger import Ledger, new_random_id, path_in
from uploader.sender import Item

API_HASH = "0123456789abcdef0123456789abcdef"
BOT_TOKEN = "123456789:AAE-secret-bot-token-never-logged"
PHONE = "+15550123456"


@pytest.fixture
def dc():
    with LoopbackDataCentre(FakeTelegram()) as data_centre:
        yield data_centre


def settings(dc, root: Path):
    return SimpleNamespace(
        root=root,
        telegram=SimpleNamespace(api_id=1, api_hash=API_HASH, bot_token="", session=dc.session_string(),
                                 session_file="telegram.session", chat="me"),
        uploader=SimpleNamespace(premium=False, parallel_parts=8, part_kib=0, max_upload_mib_per_second=0.0))


def environment(dc) -> dict:
    return {"TGVID_TELEGRAM_API_ID": "1", "TGVID_TELEGRAM_API_HASH": API_HASH, "TGVID_TELEGRAM_BOT_TOKEN": BOT_TOKEN,
            "TGVID_TELEGRAM_SESSION": dc.session_string()}


def document(tmp_path, name, size):
    path = tmp_path / name
    path.write_bytes(os.urandom(size))
    return Item(path, Sidecar(MediaKind.DOCUMENT, size), new_random_id(), "")


def send_over_tcp(dc, root, item):
    """Send one item with a real TelegramSender connected to the data centre; its one receipt."""
    sender = telegram.connect(settings(dc, root), lambda: False)
    try:
        [receipt] = sender.send([item], "", lambda *_: None)
    finally:
        sender.close()
    return receipt


def drop_connection(_request):
    raise ConnectionError("the data centre drops the connection")


def test_a_connection_dropped_mid_upload_recovers(dc, tmp_path):
    dc.server.fail(functions.upload.SaveFilePartRequest, None, None, drop_connection)
    item = document(tmp_path, "a.bin", 600_000)
    receipt = send_over_tcp(dc, tmp_path, item)
    [posted] = dc.server.posted
    assert (posted.message.id, posted.random_id) == (receipt.message_id, item.random_id)
    assert dc.server.file_bytes(posted.media.file) == item.path.read_bytes()
    parts = [r.file_part for r in dc.server.requests if isinstance(r, functions.upload.SaveFilePartRequest)]
    assert parts.count(2) == 2 and sorted(set(parts)) == [0, 1, 2, 3, 4]


def test_an_answer_lost_after_the_send_was_applied_does_not_post_twice(dc, tmp_path):
    dc.server.lose_reply(functions.messages.SendMediaRequest)
    item = document(tmp_path, "a.bin", 1000)
    receipt = send_over_tcp(dc, tmp_path, item)
    sends = [r for r in dc.server.requests if isinstance(r, functions.messages.SendMediaRequest)]
    assert len(sends) == 2 and {s.random_id for s in sends} == {item.random_id}
    assert [p.message.id for p in dc.server.posted] == [receipt.message_id]


@pytest.mark.slow
def test_the_daemon_delivers_over_tcp_and_no_credential_reaches_the_log(dc, tmp_path, uploader_processes):
    root = tmp_path / "root"
    hand_off_video(root, "trip/a.mp4")
    hand_off_video(root, "trip/b.mp4")
    hand_off(root, "notes.pdf", b"%PDF-1.4")
    process = uploader_processes(root, environment(dc), log_level="DEBUG")
    wait_for(lambda: len(list((root / "sent").rglob("*.meta.msgpack"))) == 3, what="three files in sent/")
    assert process.stop() == 0
    assert sorted(name for p in dc.server.posted for name in file_names(p.message.media)) == [
        "a.mp4", "b.mp4", "notes.pdf"]
    log = process.log()
    assert "sending as album of 2 from trip to Telegram chat me" in log
    for secret in (API_HASH, BOT_TOKEN, BOT_TOKEN.split(":")[1], dc.session_string(), dc.session_string()[1:40]):
        assert secret not in log


def kill(process_holder, apply_first: bool):
    """A fault that SIGKILLs the uploader when the request arrives: before it is applied, or after."""

    def fault(request):
        if apply_first:
            getattr(process_holder.server, "_" + type(request).__name__)(request)
        os.kill(process_holder.pid, signal.SIGKILL)
        raise ConnectionError("the uploader was killed")

    return fault


@pytest.mark.slow
@pytest.mark.parametrize("bot", [True, False], ids=["bot-server-dedup", "user-history-lookup-only"])
def test_sigkill_at_chosen_points_leaves_every_file_posted_exactly_once(dc, tmp_path, uploader_processes, bot):
    """A bot may not read history (BOT_METHOD_INVALID): the random_id alone must do. A user's look-up must do
    alone too, with the server's dedup off."""
    dc.server.bot = bot
    dc.server.dedup = dedup = bot
    rng = random.Random(7 if dedup else 8)
    root = tmp_path / "root"
    names = []
    for folder in ("", "trip", "party"):
        for index in range(4):
            relpath = f"{folder}/v{index}.mp4" if folder else f"top{index}.bin"
            if folder:
                hand_off_video(root, relpath)
            else:
                hand_off(root, relpath, os.urandom(rng.randint(100_000, 700_000)))
            names.append(relpath.rpartition("/")[2])
    sent = root / "sent"

    def sent_count():
        return len(list(sent.rglob("*.meta.msgpack")))

    ledger_path = path_in(root)
    kills = 0
    holder = SimpleNamespace(server=dc.server, pid=0)
    while sent_count() < len(names) and kills < 10:
        process = uploader_processes(root, environment(dc))
        holder.pid = process.process.pid
        point = kills % 4
        if point == 0:  # during parts
            parts_before = [None] * rng.randint(0, 5)
            dc.server.fail(functions.upload.SaveFilePartRequest, *parts_before, kill(holder, apply_first=False))
        elif point == 1:  # right after a send was applied, before the answer
            for kind in (functions.messages.SendMediaRequest, functions.messages.SendMultiMediaRequest):
                dc.server.faults.pop(kind, None)
            kind = rng.choice([functions.messages.SendMediaRequest, functions.messages.SendMultiMediaRequest])
            dc.server.fail(kind, kill(holder, apply_first=True))
        else:  # around a ledger write, seen from outside
            before = ledger_path.stat().st_mtime_ns if ledger_path.exists() else 0
            wait_for(lambda before=before, process=process: process.process.poll() is not None or (
                ledger_path.exists() and ledger_path.stat().st_mtime_ns != before), what="a ledger write")
            if point == 3:
                wait_for(lambda process=process: process.process.poll() is not None or len(dc.server.requests) % 3 == 0,
                         what="a few more requests")
            process.kill()
        wait_for(lambda process=process: process.process.poll() is not None or sent_count() == len(names),
                 deadline_seconds=60, what="the kill or the end of the batch")
        if process.process.poll() is None:  # the batch ended before the chosen point came
            assert process.stop() == 0
            break
        kills += 1
        dc.server.faults.clear()
    assert kills >= 4, "the batch finished before the uploader was killed often enough to mean anything"
    final = uploader_processes(root, environment(dc))
    wait_for(lambda: sent_count() == len(names), deadline_seconds=60, what="every file in sent/")
    assert final.process.poll() is None, "the uploader stopped"
    assert final.stop() == 0
    posted = sorted(name for p in dc.server.posted for name in file_names(p.message.media))
    assert posted == sorted(names), "a file was lost or posted twice"
    assert len(Ledger(ledger_path).entries) == len(names)


@pytest.mark.slow
def test_sigterm_while_telegram_does_not_answer_stops_the_daemon_within_seconds(tmp_path, uploader_processes):
    with LoopbackDataCentre(FakeTelegram(), silent=True) as silent:
        process = uploader_processes(tmp_path / "root", environment(silent))
        wait_for(lambda: "telegram: connecting to data centre" in process.log(), what="the connect")
        process.process.send_signal(signal.SIGTERM)
        assert process.process.wait(timeout=10) == 0
    assert "stopped while connecting" in process.log()


@pytest.mark.slow
def test_login_asks_for_phone_and_code_and_writes_the_session_file_0600(tmp_path):
    with LoopbackDataCentre(FakeTelegram(), authorized=False) as data_centre:
        root = tmp_path / "root"
        root.mkdir()
        session_file = root / "telegram.session"
        session_file.write_text(data_centre.session_string())  # a fresh key that the data centre does not know yet
        env = {**os.environ, "TGVID_TELEGRAM_API_ID": "1", "TGVID_TELEGRAM_API_HASH": API_HASH}
        result = subprocess.run([sys.executable, str(DAEMON), "--log-level", "DEBUG", "login", "--root", str(root)],
                                input=f"{PHONE}\n12345\n", capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "logged in as Fake" in result.stdout
    assert stat.S_IMODE(session_file.stat().st_mode) == 0o600
    assert session_file.read_text().startswith("1")
    for secret in (PHONE, API_HASH, session_file.read_text()):
        assert secret not in result.stdout + result.stderr


@pytest.mark.slow
def test_a_chat_that_refuses_posts_stops_the_daemon_with_exit_4_in_one_line_keeping_the_file(dc, tmp_path,
                                                                                            uploader_processes):
    root = tmp_path / "root"
    kept = hand_off(root, "notes.pdf", b"%PDF-1.4")
    dc.server.fail(functions.messages.SendMediaRequest, Fault(403, "CHAT_WRITE_FORBIDDEN"))
    process = uploader_processes(root, environment(dc))
    assert process.process.wait(timeout=30) == 4
    [line] = [line for line in process.log().splitlines() if line.startswith("tgvid: ")]
    assert "cannot post to me" in line and "ChatWriteForbiddenError" in line
    assert "Traceback" not in process.log()
    assert kept.exists() and not list((root / "quarantine").iterdir())
