"""`cctvctl aggregate`: write the statistics that are due (the job cron runs)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from cctvctl.cli import app, complete
from cctvctl.cli.options import CameraOpt, DbOpt, QuietOpt, Settings, SinceOpt, TzOpt, UntilOpt, VerboseOpt
from cctvctl.cli.output import print_json
from cctvctl.errors import UsageError

GRAIN_CHOICES = ("day", "week", "month", "year", "weekday", "all")


@app.command("aggregate")
def aggregate_command(
    ctx: typer.Context,
    grain: Annotated[str, typer.Argument(help="day, week, month, year, weekday or all.",
                                         autocompletion=complete.GRAINS,
                                         show_default=False)],
    date: Annotated[Optional[str], typer.Option("--date", help="Recompute the period containing this local day (YYYY-MM-DD).")] = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    camera: CameraOpt = None,
    k: Annotated[float, typer.Option("--k", help="Reference factor: ref = mean + k·std.")] = 1.5,
    fmt: Annotated[str, typer.Option("--format", help="table (a summary) or json (every row written).", autocompletion=complete.TABLE_JSON)] = "table",
    db: DbOpt = None, tz: TzOpt = None, verbose: VerboseOpt = False, quiet: QuietOpt = False,
) -> None:
    """Compute day, week, month, year and weekday statistics that are due.

    Without dates every grain catches up: each complete period since the
    last one computed (the first run starts at the first data), and every
    period that received late data - day first, then the week, month, year
    and weekday rows that contain it. Running again is a no-op.
    --date or --since/--until recompute the periods that
    contain those local days from raw counts (backfill, or a new
    --k). A lock keeps two runs from overlapping. The statistics
    of one database use one zone: another --tz is refused.

    Example:
        cctvctl aggregate all --quiet
        cctvctl aggregate day --date 2021-08-01 --camera gate-1
        cctvctl aggregate month --since 2021-01-01 --until 2021-06-30 \\
            --format json
    """
    from cctvctl import api

    if grain not in GRAIN_CHOICES:
        raise UsageError(f"unknown grain {grain!r}: use {', '.join(GRAIN_CHOICES)}")
    if fmt not in ("table", "json"):
        raise UsageError("--format must be table or json")
    settings = Settings.from_options(ctx, db, tz, verbose, quiet)
    result = api.aggregate(grain, db=settings.db_url, tz=settings.tz_requested, k=k, date=date,
                           since=since, until=until, cameras=camera, keep_rows=fmt == "json")
    if fmt == "json":
        print_json(result.rows)
    elif not settings.quiet:
        _render(result)


def _render(result) -> None:
    """A few plain lines: what was written per grain, and how far catch-up has got."""
    if result.nothing_due:
        typer.echo(result.message)
        return
    lines = [f"statistics written in {result.tz} (k={result.k:g}):"]
    for s in result.summary:
        if not s.rows:
            continue
        span = s.first if s.first == s.last else f"{s.first} … {s.last}"
        late = f", {s.late} for late data" if s.late else ""
        lines.append(f"  {s.grain:<13} {s.rows:>9,} rows  {span} ({s.periods} "
                     f"period{'s' if s.periods != 1 else ''}, {s.cameras} camera"
                     f"{'s' if s.cameras != 1 else ''}{late})")
    through = ", ".join(f"{s.grain} {s.through}" for s in result.summary if s.through)
    if through:
        lines.append(f"  complete through: {through}")
    typer.echo("\n".join(lines))
