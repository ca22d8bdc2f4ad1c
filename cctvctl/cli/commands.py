"""Registers every command module on the app (each module owns one command group)."""

from cctvctl.cli import db_cmd, import_cmd  # noqa: F401
