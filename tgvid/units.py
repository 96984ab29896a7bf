"""Units of size in bytes, as the logs, limits and status lines count them."""

MIB = 1024 * 1024
