"""The uploader daemon: sends each finished file in outbox/ to Telegram (or a local folder) exactly once."""
