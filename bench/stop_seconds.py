"""How soon a transcoder daemon stops on SIGTERM in the middle of a transcode: seconds from the signal to its exit.

The README promises "within seconds"; the test suite only checks that it stops, leaving the job resumable
(tests/daemon/test_daemon_process.py), since a number would fail on a loaded machine. Run from the repository root:

    .venv/bin/python bench/stop_seconds.py [--repeat N]
"""

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.media import write_video  # noqa: E402 - after the path is set
from tgvid.errors import CheckpointError  # noqa: E402
from transcoder.checkpoint import load  # noqa: E402
from transcoder.daemon import job_id  # noqa: E402


def one_stop(folder: Path) -> float:
    source = write_video(folder / "long.mkv", seconds=20, width=640, height=360, codec="mpeg4", audio_channels=())
    env = {**os.environ, "TGVID_TRANSCODER_QUIET_SECONDS": "0.5", "TGVID_TRANSCODER_SEGMENT_SECONDS": "0.5",
           "TGVID_TRANSCODER_PRESET": "medium"}
    root = folder / "root"
    daemon = subprocess.Popen([sys.executable, str(ROOT / "daemon.py"), "transcoder", "--root", str(root)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not (root / "inbox").is_dir():
            time.sleep(0.05)
        shutil.copyfile(source, root / "inbox" / "long.mkv.part")
        os.rename(root / "inbox" / "long.mkv.part", root / "inbox" / "long.mkv")
        while True:  # the middle of a transcode: one segment done
            try:
                if load(root / "work" / job_id("long.mkv")).segments_done() >= 1:
                    break
            except CheckpointError:
                pass  # not written yet
            time.sleep(0.02)
        started = time.monotonic()
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=120)
        return time.monotonic() - started
    finally:
        daemon.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    seconds = []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as folder:
            seconds.append(one_stop(Path(folder)))
    print(f"SIGTERM to exit, mid-transcode: median {statistics.median(seconds):.2f} s, "
          f"max {max(seconds):.2f} s over {args.repeat} run(s)")


if __name__ == "__main__":
    main()
