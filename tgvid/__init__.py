"""Shared code: the modules both daemons use, each docstring saying what it owns."""
