"""How fast a burst drains: 300 small files (200 JPEGs, 100 pass-through MP4s) dropped into inbox/ at once, timed
until all are in delivered/, with the most processes both daemons had alive at once (themselves included).

Both daemons run as `tgvid transcoder` and `tgvid uploader` (local-folder sender) on a temporary root, with their
default settings (so the inbox's 5 s quiet time is in the number). Run from the repository root:

    .venv/bin/python bench/burst.py [--images N] [--videos N]
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.media import write_image, write_video  # noqa: E402 - after the path is set


def descendants(pids: list[int]) -> set[int]:
    """`pids` and every process below them, from /proc."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue  # ended meanwhile
    found, grew = set(pids), True
    while grew:
        below = {pid for pid, parent in parents.items() if parent in found} - found
        found |= below
        grew = bool(below)
    return found


def delivered(root: Path) -> int:
    folder = root / "delivered"
    return sum(1 for p in folder.iterdir() if p.is_file()) if folder.is_dir() else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--videos", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root, staging = Path(folder) / "root", Path(folder) / "root" / "staging"
        staging.mkdir(parents=True)
        image = write_image(Path(folder) / "photo.jpg", 640, 480).read_bytes()
        video = write_video(Path(folder) / "clip.mp4", seconds=1, width=320, height=240,
                            options={"movflags": "faststart"}).read_bytes()
        names = [f"photo{n:03d}.jpg" for n in range(args.images)] + [f"clip{n:03d}.mp4" for n in range(args.videos)]
        for name in names:  # each its own file: pass-through files and images are moved, not copied
            (staging / name).write_bytes(image if name.endswith(".jpg") else video)
        daemons = [subprocess.Popen([sys.executable, str(ROOT / "daemon.py"), which, "--root", str(root)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                   for which in ("transcoder", "uploader")]
        try:
            while not (root / "inbox").is_dir() or not (root / "delivered").is_dir():
                time.sleep(0.05)
            time.sleep(3.0)  # both daemons watching
            started = time.monotonic()
            for name in names:
                os.rename(staging / name, root / "inbox" / name)
            most = 0
            while delivered(root) < len(names):
                most = max(most, len(descendants([d.pid for d in daemons])))
                if time.monotonic() - started > 900:
                    sys.exit(f"gave up after 900 s with {delivered(root)} of {len(names)} delivered")
                time.sleep(0.1)
            seconds = time.monotonic() - started
        finally:
            for daemon in daemons:
                daemon.terminate()
                daemon.wait(timeout=60)
    print(f"tgvid burst, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores, "
          f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{len(names)} files ({args.images} JPEGs {len(image) // 1024} KiB, {args.videos} pass-through MP4s "
          f"{len(video) // 1024} KiB) dropped at once: all in delivered/ after {seconds:.1f} s "
          f"({len(names) / seconds:.1f} files/s); at most {most} processes alive (both daemons and their children)")


if __name__ == "__main__":
    main()
