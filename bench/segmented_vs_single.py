"""Benchmark: the segmented path against a single-pass PyAV encode and the ffmpeg command line.

This script owns the whole measurement: it makes its own video-only test sources with the ffmpeg command
line (a 720p HEVC and a 1080p MPEG-2 source, plus a long 720p HEVC one for the memory comparison), runs
every leg in a child process of its own and prints tables of ratios measured in this one run. It never
asserts on timing: targets are marked ok/over, and the exit status says only whether every leg ran.

Legs, all with the engine's default settings (libx264, CRF 23, preset veryfast, stitchable=1, no audio):
  segmented    transcoder.job.run_job: probe, verdict, segments of 10 s, join and verification decode
  single-pass  transcoder.segment.encode_segment over the whole file (same filters and x264 options), after probe
  ffmpeg       the ffmpeg command line (Debian's /usr/bin/ffmpeg, `apt-get install ffmpeg`) with the same x264 options

Each child reports its own getrusage (itself plus its children): CPU = user + system seconds, peak RSS =
ru_maxrss. The parent measures wall time around the child, interpreter start-up included for every leg.
The PyAV children also time the engine's steps (`_encode_segments`, `join`, `verify`, wrapped, not changed), so
the tables show where the segmented path spends more than single-pass: encoding, or the work around it.
Every leg runs `--repeat` times in rotating order; the tables show medians (peak RSS: the largest).

    python bench/segmented_vs_single.py [--quick] [--repeat N] [--keep DIR]
"""

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FFMPEG = "/usr/bin/ffmpeg"
TIME_TARGET = 0.05  # segmented may take at most 5 % longer than single-pass
SIZE_TARGET = 0.03  # and write at most 3 % more bytes
FLAT_MEMORY_RATIO = 1.10  # long/short peak RSS up to this counts as "does not grow with the length"
FULL_SECONDS, FULL_LONG_SECONDS = 20, 120
QUICK_SECONDS, QUICK_LONG_SECONDS = 6, 30
NOISE = "noise=alls=8:allf=t"  # moving grain: x264 gets real work instead of a flat test card
LEGS = ("segmented", "single-pass", "ffmpeg")
# Functions of transcoder.job whose wall and CPU time the PyAV legs report, under these step names.
TIMED_STEPS = {"encode": "_encode_segments", "join": "join", "verify": "verify"}
STEP_FIELDS = tuple(f"{step}_{clock}_seconds" for step in TIMED_STEPS for clock in ("wall", "cpu"))
MIB = 1024 * 1024


@dataclass(frozen=True)
class Source:
    name: str
    width: int
    height: int
    seconds: int
    codec_args: tuple[str, ...]
    suffix: str


@dataclass(frozen=True)
class Measurement:
    wall_seconds: float
    cpu_seconds: float
    size_bytes: int
    peak_rss_bytes: int
    # Parts of the wall and CPU time above (TIMED_STEPS); 0 where a leg has no such step.
    encode_wall_seconds: float = 0.0
    encode_cpu_seconds: float = 0.0
    join_wall_seconds: float = 0.0
    join_cpu_seconds: float = 0.0
    verify_wall_seconds: float = 0.0
    verify_cpu_seconds: float = 0.0

    @staticmethod
    def typical(runs: list["Measurement"]) -> "Measurement":
        """Medians of the repeated runs of one leg; peak RSS is the largest seen."""
        def median(field: str) -> float:
            return statistics.median(getattr(run, field) for run in runs)
        return Measurement(median("wall_seconds"), median("cpu_seconds"), round(median("size_bytes")),
                           max(run.peak_rss_bytes for run in runs), *(median(step) for step in STEP_FIELDS))


def hevc_720p(seconds: int) -> Source:
    return Source(f"720p HEVC {seconds} s", 1280, 720, seconds,
                  ("-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=error"), ".mp4")


def mpeg2_1080p(seconds: int) -> Source:
    return Source(f"1080p MPEG-2 {seconds} s", 1920, 1080, seconds, ("-c:v", "mpeg2video", "-q:v", "4"), ".mkv")


def make_source(source: Source, folder: Path) -> Path:
    """Write a video-only test source with the ffmpeg command line; exits when the engine would not transcode it."""
    path = folder / (source.name.replace(" ", "-") + source.suffix)
    picture = f"testsrc2=size={source.width}x{source.height}:rate=30:duration={source.seconds},{NOISE}"
    subprocess.run([FFMPEG, "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i", picture,
                    *source.codec_args, "-pix_fmt", "yuv420p", str(path)], check=True)
    from transcoder.probe import probe
    from transcoder.verdict import Kind, decide
    verdict = decide(probe(path))
    if verdict.kind != Kind.TRANSCODE:
        sys.exit(f"{path.name}: the engine would {verdict.kind.value} it, not transcode ({'; '.join(verdict.reasons)})")
    return path


def ffmpeg_command(source: Path, output: Path) -> list[str]:
    return [FFMPEG, "-nostdin", "-loglevel", "error", "-y", "-i", str(source), "-map", "0:v:0", "-c:v", "libx264",
            "-preset", "veryfast", "-crf", "23", "-x264-params", "stitchable=1", "-pix_fmt", "yuv420p",
            "-movflags", "+faststart", str(output)]


# ---- child side: one leg, then its own resource usage as a JSON line on stdout ----

def process_cpu_seconds() -> float:
    """User and system time of this process and its finished children, all threads included."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed(steps: dict[str, float], step: str, function):
    """`function`, adding the wall and CPU seconds of every call to `steps`."""
    def wrapper(*args, **kwargs):
        wall_started, cpu_started = time.monotonic(), process_cpu_seconds()
        try:
            return function(*args, **kwargs)
        finally:
            steps[f"{step}_wall_seconds"] += time.monotonic() - wall_started
            steps[f"{step}_cpu_seconds"] += process_cpu_seconds() - cpu_started
    return wrapper


def run_leg(leg: str, source: Path, output: Path) -> None:
    steps = dict.fromkeys(STEP_FIELDS, 0.0)
    if leg == "segmented":
        from transcoder import job

        for step, name in TIMED_STEPS.items():
            setattr(job, name, timed(steps, step, getattr(job, name)))
        with tempfile.TemporaryDirectory(prefix="job-", dir=output.parent) as job_dir:
            job.run_job(source, Path(job_dir), output, job.EngineSettings())
    elif leg == "single-pass":
        from transcoder.job import EngineSettings, encoder_settings
        from transcoder.probe import probe
        from transcoder.segment import SegmentSource, SegmentWork, encode_segment
        probed = probe(source)
        encoder = encoder_settings(probed, EngineSettings(), output.parent)
        video = SegmentSource(source, probed.video.position, probed.video.time_base, probed.index.has_timestamps)
        whole_file = SegmentWork(probed.index.first_pts, None, None)
        timed(steps, "encode", encode_segment)(video, whole_file, encoder, output)
    else:
        subprocess.run(ffmpeg_command(source, output), check=True)
    peak_rss_kib = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                       resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    print(json.dumps({"cpu_seconds": process_cpu_seconds(), "peak_rss_kib": peak_rss_kib, **steps}))


# ---- parent side ----

def measure(leg: str, source: Path, output: Path) -> Measurement:
    started = time.monotonic()
    child = subprocess.run([sys.executable, __file__, "--leg", leg, str(source), str(output)], cwd=ROOT,
                           stdout=subprocess.PIPE, text=True, check=True)
    wall_seconds = time.monotonic() - started
    usage = json.loads(child.stdout.strip().splitlines()[-1])
    return Measurement(wall_seconds, usage["cpu_seconds"], output.stat().st_size, usage["peak_rss_kib"] * 1024,
                       *(usage[field] for field in STEP_FIELDS))


def measure_legs(source: Path, repeat: int) -> dict[str, list[Measurement]]:
    """Every leg `repeat` times, the order rotated each round so that no leg always runs first."""
    runs: dict[str, list[Measurement]] = {leg: [] for leg in LEGS}
    for round_number in range(repeat):
        for leg in LEGS[round_number % len(LEGS):] + LEGS[:round_number % len(LEGS)]:
            runs[leg].append(measure(leg, source, source.with_name(f"{source.stem}.{leg}.mp4")))
    return runs


def describe_rss(runs: list[Measurement]) -> str:
    peaks = sorted(run.peak_rss_bytes / MIB for run in runs)
    return f"{statistics.median(peaks):.1f} MiB (runs {', '.join(f'{peak:.1f}' for peak in peaks)})"


def mark(ratio: float, target: float) -> str:
    return "ok" if ratio <= 1 + target else "over"


def ratio_cells(pairs) -> str:
    cells = []
    for ours, theirs, target in pairs:
        ratio = ours / theirs
        cells.append(f"{ratio:>8.3f} {mark(ratio, target):<4}")
    return " ".join(cells)


def print_source_tables(title: str, results: dict[str, Measurement]) -> None:
    print(f"\n{title}")
    print(f"  {'leg':<12} {'wall s':>8} {'CPU s':>8} {'size MiB':>9} {'peak RSS MiB':>12}")
    for leg in LEGS:
        m = results[leg]
        print(f"  {leg:<12} {m.wall_seconds:>8.2f} {m.cpu_seconds:>8.2f} {m.size_bytes / MIB:>9.2f} "
              f"{m.peak_rss_bytes / MIB:>12.1f}")
    segmented, single = results["segmented"], results["single-pass"]
    print("  steps (wall s / CPU s): segmented: encode "
          f"{segmented.encode_wall_seconds:.2f} / {segmented.encode_cpu_seconds:.2f}, join "
          f"{segmented.join_wall_seconds:.2f} / {segmented.join_cpu_seconds:.2f}, verification decode "
          f"{segmented.verify_wall_seconds:.2f} / {segmented.verify_cpu_seconds:.2f}; single-pass: encode "
          f"{single.encode_wall_seconds:.2f} / {single.encode_cpu_seconds:.2f}")
    print(f"  {'ratio':<35} {'wall':>13} {'CPU':>13} {'size':>13}")
    for reference in ("single-pass", "ffmpeg"):
        other = results[reference]
        print(f"  {'segmented/' + reference:<35} " + ratio_cells((
            (segmented.wall_seconds, other.wall_seconds, TIME_TARGET),
            (segmented.cpu_seconds, other.cpu_seconds, TIME_TARGET),
            (segmented.size_bytes, other.size_bytes, SIZE_TARGET))))
    print(f"  {'segmented encode/single-pass encode':<35} " + ratio_cells((
        (segmented.encode_wall_seconds, single.encode_wall_seconds, TIME_TARGET),
        (segmented.encode_cpu_seconds, single.encode_cpu_seconds, TIME_TARGET))))
    print(f"  {'(segmented - verify)/single-pass':<35} " + ratio_cells((
        (segmented.wall_seconds - segmented.verify_wall_seconds, single.wall_seconds, TIME_TARGET),
        (segmented.cpu_seconds - segmented.verify_cpu_seconds, single.cpu_seconds, TIME_TARGET))))


def load_average() -> str:
    return " ".join(f"{load:.2f}" for load in os.getloadavg())


def describe_setup(quick: bool, repeat: int) -> None:
    import av
    version = subprocess.run([FFMPEG, "-version"], stdout=subprocess.PIPE, text=True, check=True).stdout.splitlines()[0]
    print(f"tgvid benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, {'quick' if quick else 'full'} run, "
          f"each leg {repeat} time(s): medians")
    print(f"PyAV {av.__version__} with FFmpeg {av.ffmpeg_version_info} (segmented, single-pass)")
    print(f"load average at the start: {load_average()} (wall times are only as quiet as the machine; CPU times are steadier)")
    print(f"outside reference: {FFMPEG} ({version})")
    print(f"  {' '.join(ffmpeg_command(Path('SRC'), Path('OUT')))}")
    print("sources are video-only (no audio in any leg); x264: CRF 23, preset veryfast, stitchable=1, yuv420p")
    print(f"targets: segmented within {TIME_TARGET:.0%} of the reference in wall and CPU time, {SIZE_TARGET:.0%} in size"
          " (ratio above 1 + target: over)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK_SECONDS} s and {QUICK_LONG_SECONDS} s sources: a smoke run")
    parser.add_argument("--repeat", type=int, default=3, help="runs of every leg; the tables show medians (default 3)")
    parser.add_argument("--keep", type=Path, help="make sources and outputs in this folder and keep them")
    parser.add_argument("--leg", nargs=3, metavar=("LEG", "SOURCE", "OUTPUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    if args.leg:
        leg, source, output = args.leg
        run_leg(leg, Path(source), Path(output))
        return 0
    if not Path(FFMPEG).exists():
        sys.exit(f"{FFMPEG} is missing: apt-get install ffmpeg")

    seconds, long_seconds = (QUICK_SECONDS, QUICK_LONG_SECONDS) if args.quick else (FULL_SECONDS, FULL_LONG_SECONDS)
    describe_setup(args.quick, args.repeat)
    folder = Path(tempfile.mkdtemp(prefix="tgvid-bench-")) if args.keep is None else args.keep
    folder.mkdir(parents=True, exist_ok=True)
    try:
        started = time.monotonic()
        short = [hevc_720p(seconds), mpeg2_1080p(seconds)]
        long = hevc_720p(long_seconds)
        paths = {source: make_source(source, folder) for source in [*short, long]}
        print(f"sources made in {time.monotonic() - started:.0f} s")

        segmented_runs = {}
        for source in short:
            runs = measure_legs(paths[source], args.repeat)
            print_source_tables(f"{source.name} ({source.width}x{source.height}, 30 fps)",
                                {leg: Measurement.typical(runs[leg]) for leg in LEGS})
            if source.name.startswith("720p"):
                segmented_runs[source.seconds] = runs["segmented"]
        long_output = folder / f"{paths[long].stem}.segmented.mp4"
        segmented_runs[long.seconds] = [measure("segmented", paths[long], long_output) for _ in range(args.repeat)]

        short_rss, long_rss = (statistics.median(run.peak_rss_bytes for run in segmented_runs[length])
                               for length in (seconds, long_seconds))
        ratio = long_rss / short_rss
        print(f"\nsegmented peak RSS against the source's length (720p HEVC, medians; ratio {FLAT_MEMORY_RATIO} or less "
              "counts as flat)")
        print(f"  {seconds} s: {describe_rss(segmented_runs[seconds])}")
        print(f"  {long_seconds} s: {describe_rss(segmented_runs[long_seconds])}")
        print(f"  ratio {ratio:.3f} {'flat' if ratio <= FLAT_MEMORY_RATIO else 'grows'}")
        print(f"\ntotal {time.monotonic() - started:.0f} s; load average at the end: {load_average()}")
    finally:
        if args.keep is None:
            shutil.rmtree(folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
