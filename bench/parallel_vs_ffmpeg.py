"""Benchmark: segments in parallel (local workers, and a Dask LocalCluster) against the ffmpeg command line.

One source, with audio as users send it: 720p HEVC with Opus audio, made with the ffmpeg command line. Legs, all
libx264 CRF 23, preset veryfast, stitchable=1, audio to AAC, verification included where tgvid verifies:

  parallel       transcoder.job.run_job with the default pool (one worker per core) and packet verification
  parallel-full  the same with transcoder.verify = "full" (the whole joined file decoded again)
  one-worker     run_job with one worker (x264 gets every core) and full verification: the path before the pool
  dask           run_job on a distributed.LocalCluster of 2 single-threaded worker processes (started in the leg)
  ffmpeg         Debian's /usr/bin/ffmpeg with the same x264 and AAC settings

Each leg runs in a child process, which reports getrusage for itself and its finished children (CPU = user +
system; peak RSS of the coordinator and of the largest child, i.e. one worker). The parent measures wall time
around the child. Legs run `--repeat` times in rotating order; the table shows medians. It never asserts on time.

    python bench/parallel_vs_ffmpeg.py [--seconds S] [--repeat N] [--legs a,b,...]
"""

import argparse
import json
import logging
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FFMPEG = "/usr/bin/ffmpeg"
LEGS = ("parallel", "parallel-full", "one-worker", "dask", "ffmpeg")
NOISE = "noise=alls=8:allf=t"
TARGETS = {"wall": 0.80, "CPU": 1.10}
SIZE_TARGET = 0.03
MIB = 1024 * 1024


def make_source(folder: Path, seconds: int) -> Path:
    path = folder / f"720p-hevc-opus-{seconds}s.mkv"
    subprocess.run([FFMPEG, "-nostdin", "-loglevel", "error", "-y",
                    "-f", "lavfi", "-i", f"testsrc2=size=1280x720:rate=30:duration={seconds},{NOISE}",
                    "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}",
                    "-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=error", "-pix_fmt", "yuv420p",
                    "-c:a", "libopus", "-b:a", "96k", str(path)], check=True)
    return path


def ffmpeg_command(source: Path, output: Path) -> list[str]:
    return [FFMPEG, "-nostdin", "-loglevel", "error", "-y", "-i", str(source), "-map", "0:v:0", "-map", "0:a:0",
            "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-x264-params", "stitchable=1",
            "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k", "-ac", "2", "-movflags", "+faststart", str(output)]


def cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run_leg(leg: str, source: Path, output: Path) -> None:
    from transcoder.job import EngineSettings, run_job
    from transcoder.pool import PoolSettings

    logging.basicConfig(level=logging.WARNING)
    where = ""
    with tempfile.TemporaryDirectory(prefix="job-", dir=output.parent) as job_dir:
        if leg == "ffmpeg":
            subprocess.run(ffmpeg_command(source, output), check=True)
        elif leg == "dask":
            from distributed import LocalCluster

            logging.getLogger("distributed").setLevel(logging.ERROR)  # its own handlers say every step at INFO
            with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                              dashboard_address=":0", silence_logs=logging.ERROR) as cluster:
                run_job(source, Path(job_dir), output, EngineSettings(),
                        segment_pool=PoolSettings(cluster=cluster.scheduler_address))
        else:
            workers = 1 if leg == "one-worker" else 0
            verify = "packets" if leg == "parallel" else "full"
            run_job(source, Path(job_dir), output, EngineSettings(), segment_pool=PoolSettings(workers=workers),
                    verify_mode=verify)
        if leg != "ffmpeg":
            from transcoder import checkpoint

            segments = checkpoint.load(Path(job_dir)).segments
            where = ", ".join(sorted({s.encoded_on.split(" pid")[0] for s in segments}))
            encode = [s.encode_seconds for s in segments]
            where += f"; segment seconds {min(encode):.1f}-{max(encode):.1f}, {len(segments)} segments"
    print(json.dumps({"cpu_seconds": cpu_seconds(), "where": where,
                      "own_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                      "child_rss_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))


def measure(leg: str, source: Path, folder: Path) -> dict:
    output = folder / f"{leg}.mp4"
    started = time.monotonic()
    child = subprocess.run([sys.executable, __file__, "--leg", leg, str(source), str(output)], cwd=ROOT,
                           stdout=subprocess.PIPE, text=True, check=True)
    report = json.loads(child.stdout.strip().splitlines()[-1])
    return {**report, "wall_seconds": time.monotonic() - started, "size_bytes": output.stat().st_size}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=20, help="source length (default 20)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of every leg (default 3); medians shown")
    parser.add_argument("--legs", default=",".join(LEGS), help=f"which legs (default {','.join(LEGS)})")
    parser.add_argument("--leg", nargs=3, metavar=("LEG", "SOURCE", "OUTPUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    if args.leg:
        run_leg(args.leg[0], Path(args.leg[1]), Path(args.leg[2]))
        return 0
    legs = tuple(args.legs.split(","))
    import av

    from transcoder import pool

    print(f"tgvid parallel benchmark, {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC, {pool.cores()} cores, "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}, each leg {args.repeat} time(s): medians")
    print(f"PyAV {av.__version__} (FFmpeg {av.ffmpeg_version_info}); reference "
          f"{subprocess.run([FFMPEG, '-version'], stdout=subprocess.PIPE, text=True).stdout.splitlines()[0]}")
    print(f"  {' '.join(ffmpeg_command(Path('SRC'), Path('OUT')))}")
    folder = Path(tempfile.mkdtemp(prefix="tgvid-bench-"))
    try:
        source = make_source(folder, args.seconds)
        runs: dict[str, list[dict]] = {leg: [] for leg in legs}
        for round_number in range(args.repeat):
            for leg in legs[round_number % len(legs):] + legs[:round_number % len(legs)]:
                runs[leg].append(measure(leg, source, folder))
        print(f"\n720p HEVC + Opus, {args.seconds} s, 30 fps")
        print(f"  {'leg':<14} {'wall s':>7} {'CPU s':>7} {'size MiB':>9} {'RSS MiB coord/worker':>21}  "
              f"{'wall/ff':>7} {'CPU/ff':>7} {'size/ff':>7}  where")
        reference = {key: statistics.median(r[key] for r in runs["ffmpeg"]) for key in ("wall_seconds", "cpu_seconds",
                                                                                          "size_bytes")} \
            if "ffmpeg" in runs else None
        for leg in legs:
            typical = {key: statistics.median(r[key] for r in runs[leg])
                       for key in ("wall_seconds", "cpu_seconds", "size_bytes")}
            own = max(r["own_rss_kib"] for r in runs[leg]) / 1024
            child = max(r["child_rss_kib"] for r in runs[leg]) / 1024
            ratios = ""
            if reference:
                wall, cpu, size = (typical[k] / reference[k] for k in ("wall_seconds", "cpu_seconds", "size_bytes"))
                ratios = (f"{wall:>7.3f} {cpu:>7.3f} {size:>7.3f}  " if leg != "ffmpeg" else f"{'':>23}  ")
                if leg == "parallel":
                    marks = (f"wall {'ok' if wall <= TARGETS['wall'] else 'over'}, CPU "
                             f"{'ok' if cpu <= TARGETS['CPU'] else 'over'}, size "
                             f"{'ok' if abs(size - 1) <= SIZE_TARGET else 'over'}")
            print(f"  {leg:<14} {typical['wall_seconds']:>7.2f} {typical['cpu_seconds']:>7.2f} "
                  f"{typical['size_bytes'] / MIB:>9.2f} {own:>10.0f}/{child:<10.0f}  {ratios}{runs[leg][0]['where']}")
        if reference and "parallel" in legs:
            print(f"  targets for parallel/ffmpeg: wall <= {TARGETS['wall']}, CPU <= {TARGETS['CPU']}, size within "
                  f"{SIZE_TARGET:.0%}: {marks}")
        print(f"load average at the end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    finally:
        shutil.rmtree(folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
