"""`cctvctl alerts`: print (or hand to a command) the episodes a consumer has not been told."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Optional

import typer

from cctvctl.cli import app, complete
from cctvctl.cli.options import DbOpt, QuietOpt, Settings, TzOpt, VerboseOpt
from cctvctl.cli.output import error_line, print_json, stdout_console
from cctvctl.errors import CctvError, UsageError
from cctvctl.safetext import shown

FORMATS = ("table", "json")


class DeliveryFailed(CctvError):
    """Some --exec deliveries failed; they stay pending and are retried next run (exit 1)."""

    exit_code = 1


@app.command("alerts")
def alerts_command(
    ctx: typer.Context,
    consumer: Annotated[str, typer.Option("--consumer", help="Who is being told (e.g. cron-mail, pager): each consumer sees every episode once.")] = "default",
    since: Annotated[Optional[str], typer.Option("--since", help="Look at episodes starting on or after this local day, YYYY-MM-DD (default: 7 days ago).")] = None,
    dark_after: Annotated[float, typer.Option("--dark-after", help="Hours without any count after which a camera is dark (0 turns dark-camera alerts off).")] = 3.0,
    now: Annotated[Optional[str], typer.Option("--now", help="Judge as of this local time, YYYY-MM-DDTHH:MM (default: the clock); for replaying history.")] = None,
    command: Annotated[Optional[str], typer.Option("--exec", help="Run this shell command once per episode with the episode's JSON on stdin; a failure (exit ≠ 0 or timeout) is retried on the next run.")] = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds an --exec command may take.")] = 30.0,
    fmt: Annotated[str, typer.Option("--format", help="table or json (one record per episode).", autocompletion=complete.TABLE_JSON)] = "table",
    db: DbOpt = None, tz: TzOpt = None, verbose: VerboseOpt = False, quiet: QuietOpt = False,
) -> None:
    """Tell a consumer the episodes it has not been told: outliers, silent and dark cameras.

    Each episode is printed (or passed to --exec) once per consumer, then
    marked; a crash before marking sends it again on the next run, never
    loses it. Prints nothing and exits 0 when there is no news, so cron
    mails only news. Run it after each import or from cron.

    Example:
        cctvctl alerts --consumer cron-mail --quiet
        cctvctl alerts --consumer pager --exec 'mail -s "cctv alert" ops@example.org'
        cctvctl alerts --consumer chat --format json --since 2021-08-01
    """
    from cctvctl import api
    from cctvctl.periods import parse_date

    if fmt not in FORMATS:
        raise UsageError("--format must be table or json")
    moment = _parse_now(now)
    given_first = parse_date(since) if since is not None else None
    if given_first is not None and moment is not None and given_first > moment.date():
        raise UsageError(f"--since {given_first} is not before --now")
    settings = Settings.from_options(ctx, db, tz, verbose, quiet)

    def deliver(found, zone):
        _print(found, fmt, zone)
        return [(e, None) for e in found]

    run = api.alerts(consumer, db=settings.db_url, tz=settings.tz_requested, since=given_first,
                     now=moment, dark_after_hours=dark_after, deliver=deliver, command=command,
                     timeout=timeout)
    for episode, reason in run.failed:
        error_line(f"alert for camera {shown(episode.camera)} ({episode.kind}) not delivered: {reason}; "
                   "it is retried on the next run")
    if run.failed:
        raise DeliveryFailed(f"{len(run.failed)} of {len(run.pending)} alert(s) not delivered "
                             f"to {consumer!r}")
    if command is not None and run.delivered and not settings.quiet:
        stdout_console().print(f"{len(run.delivered)} alert(s) delivered to {consumer!r}",
                               markup=False)


def _parse_now(text: str | None) -> datetime | None:
    """--now as a naive local time (the database's zone applies once it is open)."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"--now {text!r} is not a local time YYYY-MM-DDTHH:MM") from None
    if moment.tzinfo is not None:
        raise UsageError("--now is a local time without an offset (the database zone applies)")
    if not (1970 < moment.year < 2100):
        raise UsageError(f"--now {text!r} is outside 1971-2099")
    return moment


def _print(found, fmt: str, zone) -> None:
    records = [e.as_record(zone) for e in found]
    if fmt == "json":
        print_json(records)
        return
    console = stdout_console()
    for record in records:
        console.print(shown(record["summary"]), markup=False, highlight=False)
