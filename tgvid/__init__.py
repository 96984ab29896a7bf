"""The pieces both daemons use: settings, durable writes, the error family, the sidecar format, logging and
sd_notify."""
