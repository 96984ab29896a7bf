"""The transcoder's status as `tgvid status` shows it: the queue by class, the running job's progress (speed,
ETA), the counters (deferred conversions, success rate, average conversion time, recoveries, disk used by work files).

Read from folders and files only (work/history.msgpack, the checkpoints, inbox/), never from the running
daemon, so it works whether the daemon runs or not.
"""

import os
import time
from pathlib import Path

from tgvid import arrivals, instance
from tgvid.errors import CheckpointError
from tgvid.units import MIB
from transcoder import checkpoint, history
from transcoder.queue import CLASS_NAMES, work_class
from transcoder.verdict import Kind


def _folder_bytes(folder: Path) -> int:
    total = 0
    for directory, _, files in os.walk(folder):
        for name in files:
            try:
                total += (Path(directory) / name).stat().st_size
            except FileNotFoundError:
                continue  # removed while we looked
    return total


def job_progress(job_dir: Path) -> dict | None:
    """Segments done/total, percent, speed (× real time) and ETA from a job's checkpoint."""
    try:
        state = checkpoint.load(job_dir)
    except CheckpointError.NewerVersion as error:
        return {"job_id": job_dir.name, "unreadable": error.message}
    except CheckpointError as error:
        if not checkpoint.path_in(job_dir).exists():
            return None  # a job that has not written its first checkpoint yet
        return {"job_id": job_dir.name,
                "unreadable": f"checkpoint damaged ({error.reason}); the job sets it aside and starts afresh"}
    done = [s for s in state.segments if s.state == checkpoint.UnitState.DONE]
    total = len(state.segments)
    media_seconds = sum((s.end_seconds if s.end_seconds is not None else state.duration_seconds) - s.start_seconds
                        for s in done)
    work_seconds = sum(s.encode_seconds for s in done)
    speed = media_seconds / work_seconds if work_seconds else None
    remaining = max(0.0, state.duration_seconds - media_seconds)
    return {
        "job_id": state.job_id, "source": Path(state.source["path"]).name, "verdict": state.verdict["kind"],
        "state": str(state.state), "segments_done": len(done), "segments_total": total,
        "percent": round(100 * len(done) / total) if total else None,
        "speed_x_realtime": round(speed, 2) if speed else None,
        "eta_seconds": round(remaining / speed) if speed else None,
        "attempts": state.attempts, "last_error": state.last_error,
        "source_gone": not Path(state.source["path"]).exists(),
    }


def collect(config) -> dict:
    root = Path(config.root)
    work = root / "work"
    past = history.load(work) if work.is_dir() else history.History()
    queued = {item["relpath"]: item for item in past.queue}
    waiting = {name: [] for name in CLASS_NAMES.values()}
    waiting["not yet looked at"] = []
    daemon_running = instance.is_running(root, "transcoder")
    running = past.running if daemon_running else None
    if past.running and not daemon_running:
        queued[past.running["relpath"]] = past.running  # stopped mid-job: it waits like the others
    for seen in arrivals.walk(root / "inbox") if (root / "inbox").is_dir() else []:
        if running and running["relpath"] == seen.relpath:
            continue
        item = queued.get(seen.relpath)
        group = CLASS_NAMES[work_class(Kind(item["kind"]))] if item else "not yet looked at"
        waiting[group].append(seen.relpath)
    jobs = [job_progress(entry) for entry in sorted(work.iterdir()) if entry.is_dir()] if work.is_dir() else []
    return {
        "daemon_running": daemon_running,
        "daemon_updated_at": past.updated_at,
        "running": running,
        "waiting": waiting,
        "jobs": [job for job in jobs if job is not None],
        "deferred": past.deferred,
        "completed": past.completed,
        "failed_attempts": past.failed,
        "quarantined": past.quarantined,
        "success_rate": past.success_rate(),
        "average_conversion_seconds": past.average_conversion_seconds(),
        "recoveries": past.recoveries,
        "recoveries_succeeded": past.recoveries_succeeded,
        "sources_gone": past.sources_gone,
        "work_bytes": _folder_bytes(work) if work.is_dir() else 0,
    }


def render(report: dict) -> str:
    lines = ["transcoder" if report["daemon_running"] else "transcoder (not running)"]
    if report["daemon_updated_at"]:
        age = time.time() - report["daemon_updated_at"]
        lines.append(f"  last activity   {int(age)} s ago")
    running = report["running"]
    lines.append(f"  running         {running['relpath']} ({running['kind']})" if running else "  running         -")
    lines += [f"  job {job['job_id']}: {job['unreadable']}" for job in report["jobs"] if "unreadable" in job]
    jobs = [job for job in report["jobs"] if job.get("segments_total")]
    if jobs:
        lines.append("  checkpointed transcodes")
    for job in jobs:
        if running and running.get("job_id") == job["job_id"]:
            speed = f"{job['speed_x_realtime']}x real time" if job["speed_x_realtime"] else "speed not known yet"
            eta = f", ETA {job['eta_seconds'] // 60}:{job['eta_seconds'] % 60:02d}" if job["eta_seconds"] is not None else ""
            doing = f"running, {speed}{eta}"
        elif job["source_gone"]:
            doing = "its source is gone from the inbox; the transcoder removes the job"
        else:
            doing = "waiting its turn; resumes from its checkpoint"
        lines.append(f"    {job['source']} (job {job['job_id']}): segment {job['segments_done']}/{job['segments_total']}"
                     f" ({job['percent']} %), {doing}")
        if job["last_error"]:
            lines.append(f"      last error: {job['last_error']}")
    for group, names in report["waiting"].items():
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        lines.append(f"  waiting {group + ':':<24} {len(names)}" + (f"  ({shown})" if names else ""))
    rate = report["success_rate"]
    average = report["average_conversion_seconds"]
    lines += [
        f"  completed       {report['completed']}"
        + (f"  (success rate {rate:.0%}, average {average:.1f} s)" if rate is not None and average else ""),
        f"  quarantined     {report['quarantined']}  (failed attempts {report['failed_attempts']})",
        f"  deferred        {report['deferred']}  (transcodes that yielded to cheaper work)",
        f"  recoveries      {report['recoveries']}  ({report['recoveries_succeeded']} finished)",
        f"  sources gone    {report['sources_gone']}  (deleted or moved away before their job ended)",
        f"  work files      {report['work_bytes'] / MIB:.1f} MiB",
    ]
    return "\n".join(lines)
