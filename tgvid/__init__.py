"""The pieces both daemons use: settings, durable writes, the error family, logging and sd_notify."""
