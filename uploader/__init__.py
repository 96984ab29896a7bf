"""The uploader: watches outbox/ and sends each finished file to Telegram (or delivered/) exactly once."""
