"""The status reports (transcoder.status, uploader.status) as Prometheus metrics, in the text format that
node_exporter's textfile collector reads (`tgvid status --prometheus > DIR/tgvid.prom.$$ && mv … DIR/tgvid.prom`).

Counters only grow (they come from the daemons' history and ledger); gauges are the state at the moment.
"""

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

TRANSCODER_COUNTERS = (
    ("completed", "files converted and handed on"),
    ("quarantined", "files put in quarantine"),
    ("rejected", "of the quarantined, inputs that can never work"),
    ("failed_attempts", "attempts that failed"),
    ("deferred", "transcodes that yielded to cheaper work"),
    ("recoveries", "jobs resumed after a restart"),
    ("sources_gone", "sources deleted or moved away before their job ended"),
    ("conversion_seconds", "wall time of the completed conversions, every stretch summed"),
)


class _Report:
    """A prometheus_client collector over one status report (the dict `tgvid status --json` prints)."""

    def __init__(self, report: dict):
        self.report = report

    def collect(self):
        transcoder, uploader = self.report["transcoder"], self.report["uploader"]
        for daemon, part in (("transcoder", transcoder), ("uploader", uploader)):
            yield GaugeMetricFamily(f"tgvid_{daemon}_up", f"1 when the {daemon} daemon runs on this root",
                                    value=int(part["daemon_running"]))
        for name, help_text in TRANSCODER_COUNTERS:
            yield CounterMetricFamily(f"tgvid_transcoder_{name}", help_text, value=transcoder[name])
        waiting = GaugeMetricFamily("tgvid_transcoder_waiting", "files waiting in the inbox, by class",
                                    labels=["class"])
        for group, names in transcoder["waiting"].items():
            waiting.add_metric([group], len(names))
        yield waiting
        yield GaugeMetricFamily("tgvid_transcoder_running", "1 while a job runs", value=int(bool(transcoder["running"])))
        eta = transcoder["queue_eta"]
        yield GaugeMetricFamily("tgvid_transcoder_queue_media_seconds", "media still to convert",
                                value=eta["media_seconds"])
        if eta["seconds"] is not None:
            yield GaugeMetricFamily("tgvid_transcoder_queue_eta_seconds", "time to convert the queue at the measured "
                                    "speed", value=eta["seconds"])
        if transcoder["last_activity_at"]:
            yield GaugeMetricFamily("tgvid_transcoder_last_activity_timestamp_seconds", "the last checkpoint or "
                                    "heartbeat (Unix time)", value=transcoder["last_activity_at"])
        disk = transcoder["disk"]
        folders = GaugeMetricFamily("tgvid_folder_bytes", "bytes in a folder of the root", labels=["folder"])
        for folder, size_bytes in disk["folders_bytes"].items():
            folders.add_metric([folder], size_bytes)
        yield folders
        if disk["free_bytes"] is not None:
            yield GaugeMetricFamily("tgvid_free_bytes", "free bytes on the root's file system", value=disk["free_bytes"])
        yield GaugeMetricFamily("tgvid_uploader_pending", "files in outbox/ waiting to be sent",
                                value=len(uploader["pending"]))
        yield GaugeMetricFamily("tgvid_uploader_failed", "files the uploader gave up on", value=len(uploader["failed"]))
        if uploader["sent_total"] is not None:
            yield CounterMetricFamily("tgvid_uploader_sent", "files sent", value=uploader["sent_total"])


def text(report: dict) -> str:
    """`report` in the Prometheus text exposition format."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Report(report))
    return generate_latest(registry).decode()
