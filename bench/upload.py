"""Benchmark: tgvid's upload engine against Telethon's `send_file`, over a loopback MTProto data centre.

The data centre is the tests' LoopbackDataCentre (tests/uploader/telethon_internals.py) in this process: real
MTProto over TCP on 127.0.0.1, every part decrypted and stored, each part's answer sent `delay` ms after it
arrived (parts concurrently), as a long round trip to Telegram's storage would. Each upload runs in a child
process of its own (so client and server do not share one interpreter lock), with the real Telethon client:

  send_file   `TelegramClient.send_file("me", path, force_document=True)`: Telethon's own upload_file, one part at a
              time (128 KiB parts up to 100 MB, 256 KiB up to 750 MB), then messages.sendMedia
  tgvid       uploader.telegram.TelegramSender.send with a ledger: `uploader.parallel_parts` in flight, 512 KiB parts
  kill        `tgvid uploader` as a daemon, SIGKILLed once the server holds half the file's bytes, then started
              again until the file is in sent/: the bytes the server received in all, against the file's size

It also times the AES-IGE implementations Telethon can use (cryptg, libssl through ctypes, pure Python), since
Telethon encrypts every part. The script only prints: no number fails it; the load average is printed because the
times are only as good as the machine is quiet.

    python bench/upload.py [--sizes-mb 60,300] [--delays-ms 0,50,100,200] [--parallel 1,2,4,8,16] [--no-kill]
"""

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "uploader")]

API_HASH = "0123456789abcdef0123456789abcdef"
MB = 1000 * 1000
SPEED_TARGET = 5.0  # at 100 ms, tgvid at least 5 times faster than send_file
RESEND_TARGET = 1.2  # after a kill half-way, at most 1.2 times the file's bytes received in all


def client_send_file(session: str, path: str) -> None:
    from telethon import TelegramClient
    from telethon.sessions import StringSession

    async def run():
        client = TelegramClient(StringSession(session), 1, API_HASH)
        await client.connect()
        started = time.perf_counter()
        await client.send_file("me", path, force_document=True)
        seconds = time.perf_counter() - started
        await client.disconnect()
        return seconds

    print(json.dumps({"seconds": asyncio.run(run())}))


def client_tgvid(session: str, path: str, parallel: int) -> None:
    from tgvid.sidecar import MediaKind, Sidecar
    from uploader import telegram
    from uploader.ledger import Entry, Ledger, new_random_id
    from uploader.sender import Item

    with tempfile.TemporaryDirectory() as root:
        settings = SimpleNamespace(
            root=Path(root), telegram=SimpleNamespace(api_id=1, api_hash=API_HASH, bot_token="", session=session,
                                                      session_file="telegram.session", chat="me"),
            uploader=SimpleNamespace(premium=False, parallel_parts=parallel, part_kib=0, max_upload_mib_per_second=0))
        ledger = Ledger(Path(root) / "ledger.msgpack")
        stat = Path(path).stat()
        entry = Entry(Path(path).name, stat.st_size, stat.st_mtime_ns, new_random_id())
        ledger.put([entry])
        item = Item(Path(path), Sidecar(MediaKind.DOCUMENT, stat.st_size), entry.random_id, "", entry.created_at,
                    entry.key)
        sender = telegram.connect(settings, lambda: False, ledger)
        started = time.perf_counter()
        sender.send([item], "", lambda *_: None)
        seconds = time.perf_counter() - started
        sender.close()
    print(json.dumps({"seconds": seconds}))


def run_client(*arguments: str) -> float:
    output = subprocess.run([sys.executable, __file__, "client", *arguments], check=True, stdout=subprocess.PIPE,
                            text=True).stdout
    return json.loads(output.splitlines()[-1])["seconds"]


def received_bytes(server) -> int:
    from fake_telegram import PART_REQUESTS

    return sum(len(r.bytes) for r in list(server.requests) if isinstance(r, PART_REQUESTS))


def check_whole(server, source: Path) -> None:
    [posted] = server.posted
    assert server.file_bytes(posted.media.file) == source.read_bytes(), "the server's file differs from the source"


def upload_leg(kind: str, source: Path, delay_ms: int, parallel: int) -> float:
    from fake_telegram import FakeTelegram
    from telethon_internals import LoopbackDataCentre

    with LoopbackDataCentre(FakeTelegram(), part_delay_seconds=delay_ms / 1000) as dc:
        if kind == "send_file":
            seconds = run_client("send_file", dc.session_string(), str(source))
        else:
            seconds = run_client("tgvid", dc.session_string(), str(source), str(parallel))
        check_whole(dc.server, source)
    return seconds


def kill_leg(source: Path, delay_ms: int, work: Path) -> float:
    """Bytes the server received in all, over the file's size, after a SIGKILL half-way and a restart."""
    from fake_telegram import FakeTelegram
    from telethon_internals import LoopbackDataCentre

    from tests.processes import DaemonProcess
    from tests.waiting import wait_for
    from tgvid import sidecar

    root = work / "kill"
    (root / "outbox").mkdir(parents=True)
    target = root / "outbox" / source.name
    sidecar.write(sidecar.path_for(target), sidecar.Sidecar(sidecar.MediaKind.DOCUMENT, source.stat().st_size,
                                                            source_name=source.name))
    os.link(source, target)
    size = source.stat().st_size
    with LoopbackDataCentre(FakeTelegram(), part_delay_seconds=delay_ms / 1000) as dc:
        env = {"TGVID_TELEGRAM_API_ID": "1", "TGVID_TELEGRAM_API_HASH": API_HASH,
               "TGVID_TELEGRAM_SESSION": dc.session_string(), "TGVID_UPLOADER_QUIET_SECONDS": "0.2"}
        first = DaemonProcess("uploader", root, work / "kill.log", env)
        wait_for(lambda: received_bytes(dc.server) >= size // 2, deadline_seconds=600, what="half the file")
        first.kill()
        second = DaemonProcess("uploader", root, work / "kill.log", env)
        wait_for(lambda: (root / "sent" / source.name).exists(), deadline_seconds=600, what="the file in sent/")
        second.stop()
        check_whole(dc.server, source)
        return received_bytes(dc.server) / size


def aes_speeds() -> dict[str, float]:
    """MiB/s of AES-IGE encryption by each implementation Telethon can use."""
    import pyaes  # noqa: F401  (Telethon's pure-Python fallback)
    from telethon.crypto import aes, libssl

    key, iv = os.urandom(32), os.urandom(32)
    speeds = {}
    candidates = [("libssl (ctypes)", libssl.encrypt_ige, 8)]
    if aes.cryptg is not None:
        candidates.insert(0, ("cryptg", aes.cryptg.encrypt_ige, 8))
    for name, encrypt, mib in candidates:
        data = os.urandom(mib << 20)
        started = time.perf_counter()
        encrypt(data, key, iv)
        speeds[name] = mib / (time.perf_counter() - started)
    saved = aes.cryptg, libssl.encrypt_ige
    aes.cryptg, libssl.encrypt_ige = None, None
    try:
        started = time.perf_counter()
        aes.AES.encrypt_ige(os.urandom(1 << 20), key, iv)
        speeds["pure Python (pyaes)"] = 1 / (time.perf_counter() - started)
    finally:
        aes.cryptg, libssl.encrypt_ige = saved
    return speeds


def main() -> None:
    if sys.argv[1:2] == ["client"]:
        kind, *rest = sys.argv[2:]
        if kind == "send_file":
            client_send_file(*rest)
        else:
            client_tgvid(rest[0], rest[1], int(rest[2]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes-mb", default="60,300")
    parser.add_argument("--delays-ms", default="0,50,100,200")
    parser.add_argument("--parallel", default="1,2,4,8,16", help="parts in flight to try at 100 ms on the first size")
    parser.add_argument("--no-kill", action="store_true")
    options = parser.parse_args()
    from uploader.telegram import aes_backend

    sizes = [int(s) for s in options.sizes_mb.split(",")]
    delays = [int(d) for d in options.delays_ms.split(",")]
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; Telethon encrypts with {aes_backend()}")
    for name, speed in aes_speeds().items():
        print(f"AES-IGE {name}: {speed:.1f} MiB/s")
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        sources = {}
        for size_mb in sizes:
            sources[size_mb] = work / f"{size_mb}mb.bin"
            with sources[size_mb].open("wb") as handle:
                for _ in range(size_mb):
                    handle.write(os.urandom(MB))
        print(f"\n{'file':>7} {'delay':>7} {'send_file s':>12} {'tgvid s':>9} {'ratio':>7}")
        for size_mb in sizes:
            for delay in delays:
                telethon = upload_leg("send_file", sources[size_mb], delay, 0)
                ours = upload_leg("tgvid", sources[size_mb], delay, 8)
                mark = (" ok" if telethon / ours >= SPEED_TARGET else " under") if delay == 100 else ""
                print(f"{size_mb:>5}MB {delay:>5}ms {telethon:>12.1f} {ours:>9.1f} {telethon / ours:>6.1f}x{mark}",
                      flush=True)
        if 100 in delays:
            print(f"\nparts in flight, {sizes[0]} MB at 100 ms: tgvid seconds")
            for parallel in (int(p) for p in options.parallel.split(",")):
                print(f"{parallel:>3}: {upload_leg('tgvid', sources[sizes[0]], 100, parallel):.1f}", flush=True)
        if not options.no_kill:
            print(f"\nSIGKILL half-way, restart ({sizes[0]} MB, 100 ms): bytes received / file size")
            ratio = kill_leg(sources[sizes[0]], 100, work)
            print(f"{ratio:.3f}{' ok' if ratio <= RESEND_TARGET else ' over'}")


if __name__ == "__main__":
    main()
