"""How much CPU an idle daemon spends on files it leaves alone: each daemon as a real process, measured from
/proc/<pid>/stat (user + system ticks) over a stretch of seconds after it settled, in two cases:

- downloads: 2000 partial downloads (`.part` files, in 40 folders of 50) in its folder. They stay for as long as
  the download runs (a browser or torrent client writing into inbox/, a copy tool into outbox/), and neither daemon
  takes them, so both keep scanning past them.
- album (uploader only): 2000 finished files with their sidecars in outbox/trip/, while inbox/trip/ still holds a
  file (the transcoder busy on the album's long video): the album waits to be whole, so every file stays.
- album, big inbox (uploader only): the same, with as many files again in 40 other folders of inbox/ (a queue the
  transcoder has yet to reach): what asking inbox/ whether the album is whole costs.

The test suite asserts no number; this prints them. Run from the repository root (`--code DIR`: the daemon.py of
another checkout, for a before/after comparison):

    .venv/bin/python bench/idle.py [--files 2000] [--seconds 20] [--polling] [--code DIR]
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = {"transcoder": "inbox", "uploader": "outbox"}
FILES_PER_FOLDER = 50
sys.path.insert(0, str(ROOT))

from tgvid import sidecar  # noqa: E402 - after the path is set


def cpu_ticks(pid: int) -> int:
    """utime + stime of `pid`, in clock ticks (fields 14 and 15 of /proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return int(fields[11]) + int(fields[12])


def downloads(root: Path, daemon: str, files: int) -> None:
    for number in range(files):
        path = root / FOLDERS[daemon] / f"download{number // FILES_PER_FOLDER:03d}" / f"clip{number:05d}.mp4.part"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"partial")


def album(root: Path, daemon: str, files: int) -> None:
    (root / "inbox" / "trip").mkdir(parents=True)
    (root / "inbox" / "trip" / "long.mp4").write_bytes(b"the album's video, still being converted")
    (root / "outbox" / "trip").mkdir(parents=True)
    for number in range(files):
        path = root / "outbox" / "trip" / f"photo{number:05d}.jpg"
        path.write_bytes(b"jpeg")
        sidecar.write(sidecar.path_for(path), sidecar.Sidecar(sidecar.MediaKind.IMAGE, 4, width=1, height=1))


def album_big_inbox(root: Path, daemon: str, files: int) -> None:
    album(root, daemon, files)
    for number in range(files):
        path = root / "inbox" / f"queued{number // FILES_PER_FOLDER:03d}" / f"clip{number:05d}.mp4"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"queued")


def idle_percent(daemon: str, files: int, seconds: float, polling: bool, code: Path, case=downloads,
                 settle_seconds: float = 5.0) -> float:
    """The daemon's CPU use while idle, in % of one core."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "root"
        case(root, daemon, files)
        env = {name: value for name, value in os.environ.items() if name != "NOTIFY_SOCKET"}
        env[f"TGVID_{daemon.upper()}_FORCE_POLLING"] = "true" if polling else "false"
        process = subprocess.Popen([sys.executable, str(code / "daemon.py"), daemon, "--root", str(root)], env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(settle_seconds)  # start-up: imports, the first full walk
            before, started = cpu_ticks(process.pid), time.monotonic()
            time.sleep(seconds)
            used = (cpu_ticks(process.pid) - before) / os.sysconf("SC_CLK_TCK")
            return 100 * used / (time.monotonic() - started)
        finally:
            process.terminate()
            process.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--polling", action="store_true", help="force_polling, as on storage without inotify")
    parser.add_argument("--code", type=Path, default=ROOT, help="the checkout whose daemon.py runs")
    args = parser.parse_args()
    print(f"idle CPU in % of a core over {args.seconds:.0f} s, {'polling' if args.polling else 'inotify'}, "
          f"{args.files} files, code of {args.code}; load average {os.getloadavg()[0]:.2f}")
    for daemon in FOLDERS:
        empty = idle_percent(daemon, 0, args.seconds, args.polling, args.code)
        full = idle_percent(daemon, args.files, args.seconds, args.polling, args.code)
        print(f"  {daemon:<10}  empty {FOLDERS[daemon]}/: {empty:5.2f}   downloads: {full:5.2f}")
    held = idle_percent("uploader", args.files, args.seconds, args.polling, args.code, album)
    print(f"  uploader    album waiting for its inbox folder: {held:5.2f}")
    queued = idle_percent("uploader", args.files, args.seconds, args.polling, args.code, album_big_inbox)
    print(f"  uploader    the same, {args.files} more files in inbox/: {queued:5.2f}")


if __name__ == "__main__":
    main()
