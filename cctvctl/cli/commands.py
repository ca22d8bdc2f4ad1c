"""Registers every command module on the app (each module owns one command group)."""

from cctvctl.cli import db_cmd, import_cmd, imports_cmd  # noqa: F401
from cctvctl.cli import grants_cmd  # noqa: F401,E402  (after db_cmd: adds `db grants`)
from cctvctl.cli import detect_cmd  # noqa: F401,E402
from cctvctl.cli import report_cmd  # noqa: F401,E402
from cctvctl.cli import demo_cmd, sample_cmd  # noqa: F401,E402
from cctvctl.cli import aggregate_cmd, cron_cmd  # noqa: F401,E402
from cctvctl.cli import alerts_cmd  # noqa: F401,E402
from cctvctl.cli import serve_cmd  # noqa: F401,E402
