"""`cctvctl cron`: crontab lines for this installation (paths, database, zone)."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path
from typing import Annotated

import typer

from cctvctl import config
from cctvctl.cli import app
from cctvctl.cli.options import DbOpt, Settings, TzOpt
from cctvctl.errors import UsageError

_AT = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def executable() -> str:
    """Absolute path of the installed ``cctvctl`` script (the one beside this Python first)."""
    beside = Path(sys.executable).parent / "cctvctl"
    if beside.exists():
        return str(beside.absolute())
    found = shutil.which("cctvctl")
    if found:
        return str(Path(found).absolute())
    return f"{Path(sys.executable).absolute()} -m cctvctl"


def _zone(settings) -> str:
    """The database's zone where it can be read now (a differing --tz is refused), else --tz /
    CCTV_TZ or the system zone (the first import will record it)."""
    from cctvctl.errors import DatabaseError
    from cctvctl.report import open_for_reading
    from cctvctl.zone import system_zone_name

    try:
        database = open_for_reading(settings.db_url)
    except DatabaseError:  # not created yet, or not reachable from here
        return settings.tz_requested or system_zone_name()
    with database:
        return settings.zone(database).key


def crontab_lines(exe: str, db_url: str, zone: str, hour: int, minute: int) -> list[str]:
    """The crontab: zone for the schedule and the command, database, one nightly run."""
    return [
        "# cctvctl: nightly aggregation. Install with `crontab -e` (or save under /etc/cron.d/",
        "# with a user field). Catch-up makes a missed night harmless; --quiet keeps mail for failures.",
        "# MySQL passwords belong in the cron user's ~/.my.cnf, never in this file.",
        f"CRON_TZ={zone}",
        f"{config.ENV_TZ}={zone}",
        f"{config.ENV_DB}={db_url}",
        "# every 10 minutes: episodes and dark cameras nobody has been told yet (mailed by cron)",
        f"*/10 * * * * {exe} alerts --consumer cron-mail --quiet",
        f"{minute} {hour} * * * {exe} aggregate all --quiet",
    ]


@app.command("cron")
def cron_command(
    ctx: typer.Context,
    at: Annotated[str, typer.Option("--at", help="Local time of the nightly run, HH:MM.")] = "00:15",
    db: DbOpt = None, tz: TzOpt = None,
) -> None:
    """Print crontab lines: the nightly aggregation and alerts every 10 minutes.

    The lines name this installation's absolute cctvctl path, the database
    URL (CCTV_DB) and the zone (CRON_TZ for the schedule,
    CCTV_TZ for the periods), and run aggregate all --quiet
    (cron mails only failures) and alerts --consumer cron-mail
    (cron mails each new episode once).

    Example:
        cctvctl cron --db sqlite:///var/lib/cctv/cctv.db --tz Asia/Seoul
        (crontab -l; cctvctl cron --at 00:30) | crontab -
    """
    m = _AT.match(at.strip())
    if not m:
        raise UsageError(f"invalid --at {at!r} (expected HH:MM, e.g. 00:15)")
    settings = Settings.from_options(ctx, db, tz)
    from cctvctl.db import parse_url

    url = parse_url(settings.db_url)  # refuses a URL holding a password: a crontab must never hold one
    db_url = url.anchored(settings.db_url)  # cron starts in $HOME
    for line in crontab_lines(executable(), db_url, _zone(settings), int(m[1]), int(m[2])):
        typer.echo(line)
