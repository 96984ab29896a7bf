"""`tgvid transcode`: one file converted now, in the foreground, resumable by running it again.

The output goes beside the source as NAME.tg.mp4 unless -o says otherwise; the job folder is OUT.work
beside the output and is removed once the output is in place. On a terminal a progress bar shows segments
done, percent and ETA; elsewhere each step is a plain log line.
"""

import logging
import shutil
import sys
from pathlib import Path

from tgvid import config as settings_file
from tgvid import durable, logs
from tgvid.errors import EXIT_OK, Interrupted
from transcoder.checkpoint import Checkpoint
from transcoder.job import EngineSettings, run_job
from transcoder.pool import PoolSettings
from transcoder.verdict import Kind

log = logging.getLogger(__name__)


def default_output(source: Path) -> Path:
    return source.with_name(f"{source.stem}.tg.mp4")


class ProgressBar(logging.Filter):
    """One line redrawn on a terminal: segments done/total, percent and ETA.

    As a filter on the log handlers it takes the place of the per-segment log lines (records marked
    `progress`) and clears the bar before any other line is written, so the two never interleave.
    """

    def __init__(self, stream, name: str):
        super().__init__()
        self.stream, self.name = stream, name
        for handler in logging.getLogger().handlers:
            handler.addFilter(self)

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "progress", False):
            return False
        self.stream.write("\r\033[K")
        return True

    def __call__(self, state: Checkpoint) -> None:
        total, done = len(state.segments), state.segments_done()
        eta = round(state.eta_seconds() or 0)  # as `tgvid status` shows it: workers side by side counted once
        width = 30
        filled = width * done // total
        bar = "#" * filled + "-" * (width - filled)
        self.stream.write(f"\r\033[K{self.name}: [{bar}] {done}/{total} segments {100 * done // total:3d} %  "
                          f"ETA {eta // 60}:{eta % 60:02d} ")
        if done == total:
            self.stream.write("\n")
        self.stream.flush()


def run(args) -> int:
    """Convert args.source as the `transcode` sub-command asks; returns the exit code."""
    config = settings_file.load(args.config, overrides={
        "transcoder.segment_seconds": args.segment_seconds, "transcoder.crf": args.crf,
        "transcoder.preset": args.preset, "transcoder.max_height": args.max_height,
        "transcoder.salvage": args.salvage, "transcoder.workers": args.workers,
        "transcoder.cluster": args.cluster, "log_level": args.log_level,
    })
    logs.setup(config.log_level)
    source = args.source
    output = args.output or default_output(source)
    job_dir = args.work or output.with_name(output.name + ".work")
    engine = EngineSettings.from_config(config.transcoder)
    progress = ProgressBar(sys.stderr, source.name) if sys.stderr.isatty() else (lambda state: None)
    try:
        result = run_job(source, job_dir, output, engine, label=source.name, on_progress=progress,
                         segment_pool=PoolSettings.from_config(config.transcoder), verify_mode=config.transcoder.verify)
    except KeyboardInterrupt:
        if sys.stderr.isatty():
            sys.stderr.write("\n")  # below the progress bar
        raise Interrupted(source, f"the finished segments are kept in {job_dir}; run the same command again to "
                                  "resume") from None
    if result.verdict.kind == Kind.IMAGE:
        print(f"{source}: a still image; Telegram sends it as a photo, nothing to convert")
        return EXIT_OK
    if result.verdict.kind == Kind.PASS:
        # The source already plays and streams as it is: a copy leaves the source untouched.
        scratch = durable.temp_path_for(output)
        shutil.copyfile(source, scratch)
        durable.atomic_rename(scratch, output)
    shutil.rmtree(job_dir, ignore_errors=True)
    print(f"{output}: {result.verdict.kind.value}, {result.duration_seconds:.2f} s, {result.width}x{result.height}"
          f"{'' if result.has_audio else ', no audio'}")
    return EXIT_OK
