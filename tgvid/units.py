"""Units of size in bytes (MIB): one definition for every count of bytes a person reads."""

MIB = 1024 * 1024
