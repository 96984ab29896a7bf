"""The transcoder's status as `tgvid status` shows it: the queue by class with its ETA, each job's phase and progress
(speed, ETA), the counters (deferred conversions, success rate, conversion time, recoveries), the disk.

Read from folders and files only (work/history.msgpack, the checkpoints, inbox/), never from the running
daemon, so it works whether the daemon runs or not.
"""

import os
import shutil
import time
from pathlib import Path

from tgvid import arrivals, instance
from tgvid.errors import CheckpointError
from tgvid.shownname import shortened
from tgvid.units import MIB
from transcoder import checkpoint, handoff, history, unpack
from transcoder.queue import CLASS_NAMES, work_class
from transcoder.verdict import Kind


def folder_bytes(folder: Path) -> int:
    """The bytes the files under `folder` take (0 when it is missing). A file of several names counts once: the
    local-folder sender links each file it delivers under its receipt in `.receipts/` as well (uploader.folder)."""
    total, counted = 0, set()
    for directory, _, files in os.walk(folder):
        for name in files:
            try:
                stat = (Path(directory) / name).stat()
            except FileNotFoundError:
                continue  # removed while we looked
            if (stat.st_dev, stat.st_ino) not in counted:
                counted.add((stat.st_dev, stat.st_ino))
                total += stat.st_size
    return total


def job_progress(job_dir: Path, running: dict | None = None) -> dict | None:
    """Segments done/total, percent, speed (× real time), ETA and phase from a job's checkpoint. `running`: the
    running job's map from the history when this is its folder (its phase is then what it does now)."""
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
    speed, eta = state.speed_x_realtime(), state.eta_seconds()
    return {
        "job_id": state.job_id, "source": Path(state.source["path"]).name, "source_path": state.source["path"],
        "verdict": state.verdict["kind"],
        "state": str(state.state), "phase": running_phase(job_dir, running) if running else checkpoint.phase(state),
        "segments_done": len(done), "segments_total": total,
        "percent": round(100 * len(done) / total) if total else None,
        "encoding_wall_seconds": round(state.encoding_wall_seconds, 2),
        "speed_x_realtime": round(speed, 2) if speed else None,
        "remaining_media_seconds": state.remaining_media_seconds(),
        "eta_seconds": round(eta) if eta is not None else None,
        "attempts": state.attempts, "last_error": state.last_error,
        "source_gone": not Path(state.source["path"]).exists(),
        "encoded_on": _places(done),
    }


def running_phase(job_dir: Path, running: dict) -> str:
    """What the running job does now: probing, planning, encoding segment k/n, audio, joining, verifying, handing
    off, unpacking. A checkpoint older than the job's start is of an earlier run: the job is still probing."""
    if (job_dir / handoff.MARKER).exists():
        return "handing off"
    if unpack.path_in(job_dir).exists():
        return "unpacking"
    try:
        state = checkpoint.load(job_dir)
    except CheckpointError:
        return "probing"
    if state.updated_at < running["started_at"]:
        return "probing"
    phase = checkpoint.phase(state)
    return "planning" if phase == checkpoint.JobState.PLANNED else phase


def last_activity_at(work: Path, past: history.History) -> float:
    """When the transcoder last showed a sign of life: its history written, or a job's checkpoint written or
    touched by the job's heartbeat (transcoder.heartbeat); 0 when never."""
    latest = past.updated_at
    if past.running:
        job_dir = work / past.running["job_id"]
        for path in (checkpoint.path_in(job_dir), unpack.path_in(job_dir)):
            try:
                latest = max(latest, path.stat().st_mtime)
            except FileNotFoundError:
                continue  # not written yet, or the job just ended
    return latest


def disk(root: Path) -> dict:
    """Bytes in every folder of the root, and the free bytes of its file system."""
    folders = sorted(entry for entry in root.iterdir() if entry.is_dir()) if root.is_dir() else []
    return {"folders_bytes": {folder.name: folder_bytes(folder) for folder in folders},
            "free_bytes": shutil.disk_usage(root).free if root.is_dir() else None}


def _places(done: list) -> dict:
    """Where the done segments were encoded: {place: {"segments": count, "encode_seconds": total}}."""
    places: dict = {}
    for segment in done:
        if segment.encoded_on:
            place = places.setdefault(segment.encoded_on, {"segments": 0, "encode_seconds": 0.0})
            place["segments"] += 1
            place["encode_seconds"] = round(place["encode_seconds"] + segment.encode_seconds, 2)
    return places


def collect(config) -> dict:
    """A JSON-able report of the transcoder's state under `config.root` (see the module docstring)."""
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
    jobs, left_by_relpath = [], {}  # a checkpointed transcode's media still to convert, by inbox path
    for entry in sorted(work.iterdir()) if work.is_dir() else []:
        if entry.is_dir():
            is_running = running is not None and running["job_id"] == entry.name
            job = job_progress(entry, running if is_running else None)
            if job is None:
                continue
            relpath = _inbox_relpath(root, job)
            if relpath:
                job |= past.jobs.get(relpath, {})
                if job["segments_total"]:
                    left_by_relpath[relpath] = job["remaining_media_seconds"]
            jobs.append(job)
    queued_media_seconds = 0.0
    for seen in arrivals.walk(root / "inbox") if (root / "inbox").is_dir() else []:
        if running and running["relpath"] == seen.relpath:
            continue
        item = queued.get(seen.relpath)
        group = CLASS_NAMES[work_class(Kind(item["kind"]))] if item else "not yet looked at"
        waiting[group].append(seen.relpath)
        if item:
            whole = past.jobs.get(seen.relpath, {}).get("media_seconds", 0.0)
            queued_media_seconds += left_by_relpath.get(seen.relpath, whole)
    if running:
        job_dir = work / running["job_id"]
        running = running | {"phase": running_phase(job_dir, running)}
    return {
        "daemon_running": daemon_running,
        "last_activity_at": last_activity_at(work, past) if work.is_dir() else 0.0,
        "running": running,
        "waiting": waiting,
        "jobs": jobs,
        "queue_eta": _queue_eta(past, running, jobs, queued_media_seconds),
        "deferred": past.deferred,
        "completed": past.completed,
        "failed_attempts": past.failed,
        "quarantined": past.quarantined,
        "rejected": past.rejected,
        "success_rate": past.success_rate(),
        "average_conversion_seconds": past.average_conversion_seconds(),
        "conversion_seconds": past.conversion_seconds,
        "recoveries": past.recoveries,
        "recoveries_succeeded": past.recoveries_succeeded,
        "sources_gone": past.sources_gone,
        "disk": disk(root),
    }


def _inbox_relpath(root: Path, job: dict) -> str | None:
    """The inbox path of a job's source (the history's key for it), or None for a damaged job or another root's."""
    if "source_path" not in job:
        return None
    source, inbox = Path(job["source_path"]), root / "inbox"
    for inside, folder in ((source, inbox), (source.resolve(), inbox.resolve())):
        if inside.is_relative_to(folder):
            return inside.relative_to(folder).as_posix()
    return None


def _queue_eta(past: history.History, running: dict | None, jobs: list[dict], queued_media_seconds: float) -> dict:
    """The media still to convert (the running job's rest and every queued file) and the time that takes at the
    measured speed: the running transcode's, else that of every conversion completed so far, else that of a job
    stopped part-way (before the first conversion completes)."""
    remaining = queued_media_seconds
    speed = past.speed_x_realtime() or next((job["speed_x_realtime"] for job in jobs if job.get("speed_x_realtime")),
                                            None)
    if running:
        job = next((job for job in jobs if job["job_id"] == running["job_id"] and "unreadable" not in job), None)
        if job and job["segments_total"]:
            remaining += job["remaining_media_seconds"]
            speed = job["speed_x_realtime"] or speed
        else:
            remaining += past.jobs.get(running["relpath"], {}).get("media_seconds", 0.0)
    return {"media_seconds": remaining, "speed_x_realtime": speed,
            "seconds": round(remaining / speed) if speed and remaining else (0 if not remaining else None)}


def clock_text(seconds: float) -> str:
    """1:02:03, or 2:03 under an hour."""
    minutes, second = divmod(round(seconds), 60)
    hours, minute = divmod(minutes, 60)
    return f"{hours}:{minute:02d}:{second:02d}" if hours else f"{minute}:{second:02d}"


def bytes_text(size_bytes: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", MIB), ("KiB", 1 << 10)):
        if size_bytes >= size:
            return f"{size_bytes / size:.1f} {unit}"
    return f"{size_bytes} B"


def _job_text(job: dict, is_running: bool) -> str:
    """One job's line: its segments, what it does (or why it waits), its retries and deferrals."""
    if is_running:
        doing = job["phase"]
        if doing.startswith("encoding"):
            speed = f"{job['speed_x_realtime']}x real time" if job["speed_x_realtime"] else "speed not known yet"
            eta = f", ETA {clock_text(job['eta_seconds'])}" if job["eta_seconds"] is not None else ""
            doing = f"{doing}, {speed}{eta}"
        doing = f"running: {doing}"
    elif job["source_gone"]:
        doing = "its source is gone from the inbox; the transcoder removes the job"
    else:
        doing = f"waiting its turn at {job['phase']}; resumes from its checkpoint"
    tries = [f"{count} {word}{'s' if count != 1 else ''}" for count, word in
             ((job.get("failed_attempts", 0), "failed attempt"), (job.get("deferrals", 0), "deferral")) if count]
    return (f"    {shortened(job['source'])} (job {job['job_id']}): segment {job['segments_done']}/{job['segments_total']}"
            f" ({job['percent']} %), {doing}" + (f"  [{', '.join(tries)}]" if tries else ""))


def render(report: dict) -> str:
    lines = ["transcoder" if report["daemon_running"] else "transcoder (not running)"]
    if report["last_activity_at"]:
        age = max(0.0, time.time() - report["last_activity_at"])
        lines.append(f"  last activity   {round(age)} s ago" if age < 60 else f"  last activity   {clock_text(age)} ago")
    running = report["running"]
    lines.append(f"  running         {shortened(running['relpath'])} ({running['kind']}): {running['phase']}" if running
                 else "  running         -")
    lines += [f"  job {job['job_id']}: {job['unreadable']}" for job in report["jobs"] if "unreadable" in job]
    jobs = [job for job in report["jobs"] if job.get("segments_total")]
    if jobs:
        lines.append("  checkpointed transcodes")
    for job in jobs:
        lines.append(_job_text(job, bool(running) and running.get("job_id") == job["job_id"]))
        if job.get("encoded_on"):
            lines.append("      encoded on " + "; ".join(f"{place}: {n['segments']} segment(s), {n['encode_seconds']:.1f} s"
                                                    for place, n in job["encoded_on"].items()))
        if job["last_error"]:
            lines.append(f"      last error: {job['last_error']}")
    for group, names in report["waiting"].items():
        shown = ", ".join(shortened(name) for name in names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        lines.append(f"  waiting {group + ':':<24} {len(names)}" + (f"  ({shown})" if names else ""))
    eta = report["queue_eta"]
    if eta["media_seconds"]:
        at = f" at {eta['speed_x_realtime']:.2f}x real time" if eta["speed_x_realtime"] else ""
        when = clock_text(eta["seconds"]) if eta["seconds"] is not None else "not known until a conversion is measured"
        lines.append(f"  queue ETA       {when}  ({clock_text(eta['media_seconds'])} of media to convert{at})")
    rate = report["success_rate"]
    average = report["average_conversion_seconds"]
    failed_conversions = report["quarantined"] - report["rejected"]
    lines += [
        f"  completed       {report['completed']}"
        + (f"  (success rate {rate:.0%}, average conversion {clock_text(average)})" if rate is not None and average
           else ""),
        f"  quarantined     {report['quarantined']}  ({report['rejected']} rejected input(s), {failed_conversions} "
        f"failed conversion(s); {report['failed_attempts']} failed attempt(s) in all)",
        f"  deferred        {report['deferred']}  (transcodes that yielded to cheaper work)",
        f"  recoveries      {report['recoveries']}  ({report['recoveries_succeeded']} finished)",
        f"  sources gone    {report['sources_gone']}  (deleted or moved away before their job ended)",
    ]
    disk_report = report["disk"]
    folders = ", ".join(f"{name} {bytes_text(size)}" for name, size in disk_report["folders_bytes"].items())
    lines.append(f"  disk            {folders or '-'}")
    if disk_report["free_bytes"] is not None:
        lines.append(f"                  {bytes_text(disk_report['free_bytes'])} free on the root's file system")
    return "\n".join(lines)
