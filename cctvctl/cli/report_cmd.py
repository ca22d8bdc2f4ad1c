"""`cctvctl report`: one local period as a table, markdown, csv, json and optionally a PNG chart."""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer

from cctvctl.cli import complete
from cctvctl.cli.app import app
from cctvctl.cli.options import CameraOpt, DbOpt, Settings, TzOpt, VerboseOpt
from cctvctl.cli.output import stdout_console
from cctvctl.errors import UsageError

_PERIOD_HELP = "Report {}; give exactly one of --day, --week, --month, --year."


@app.command("report")
def report_command(
    ctx: typer.Context,
    day: Annotated[Optional[str], typer.Option(help=_PERIOD_HELP.format("one local day, YYYY-MM-DD"))] = None,
    week: Annotated[Optional[str], typer.Option(help=_PERIOD_HELP.format("one ISO week, YYYY-Www"))] = None,
    month: Annotated[Optional[str], typer.Option(help=_PERIOD_HELP.format("one month, YYYY-MM"))] = None,
    year: Annotated[Optional[str], typer.Option(help=_PERIOD_HELP.format("one year, YYYY"))] = None,
    camera: CameraOpt = None,
    compare: Annotated[str, typer.Option(help="Change against the previous period, the same period last year (last-year), or none.", autocompletion=complete.COMPARE)] = "previous",
    fmt: Annotated[str, typer.Option("--format", help="table, markdown, csv or json.", autocompletion=complete.REPORT_FORMATS)] = "table",
    section: Annotated[Optional[list[str]], typer.Option(help="Only these sections (repeat): period, cameras, summary, classes, breakdown, weekday, hour, outliers. With csv and one section the output is that plain table.", autocompletion=complete.SECTIONS)] = None,
    plot: Annotated[Optional[str], typer.Option(metavar="FILE.png", help="Also write a PNG chart: one panel per camera (at most 6), mean per interval over the breakdown with low-coverage bars hatched, the reference band and every flag (needs pip install 'cctvctl[plot]').")] = None,
    top: Annotated[int, typer.Option(help="Show the N most extreme outlier episodes (runs of consecutive flagged intervals); 0 shows all.")] = 20,
    db: DbOpt = None, tz: TzOpt = None, verbose: VerboseOpt = False,
) -> None:
    """Report one local period: coverage, per-camera figures, breakdown, profiles, outliers.

    Figures come from the stats table where cctvctl aggregate has computed the period,
    and are otherwise computed now, read-only (the header says which): an account with SELECT
    rights is enough. Missing data is shown as missing, never as 0.

    Example:
        cctvctl report --month 2021-08
        cctvctl report --week 2021-W34 --camera gate-north --format markdown
        cctvctl report --year 2021 --compare last-year --format json
        cctvctl report --month 2021-08 --format csv --section breakdown --plot aug.png
    """
    from cctvctl import api
    from cctvctl.render import (FORMATS, check_plot, check_sections, print_table, to_markdown,
                                write_csv, write_json, write_plot)
    from cctvctl.report.model import CHART_CAMERAS

    if fmt not in FORMATS:
        raise UsageError(f"--format must be one of {', '.join(FORMATS)}")
    sections = check_sections(section, fmt)
    if plot:
        check_plot(plot)
    settings = Settings.from_options(ctx, db, tz, verbose)
    report = api.report(day=day, week=week, month=month, year=year, db=settings.db_url,
                        tz=settings.tz_requested, cameras=camera, compare=compare, top=top,
                        per_camera=CHART_CAMERAS if plot else 0)
    if plot:
        drawn = write_plot(report, plot)
        from cctvctl.safetext import shown

        sys.stderr.write(f"chart written to {shown(plot)}: {shown(drawn.line())}\n")
    if fmt == "table":
        print_table(report, stdout_console(), sections)
    elif fmt == "markdown":
        sys.stdout.write(to_markdown(report, sections))
    elif fmt == "csv":
        write_csv(report, sys.stdout, sections)
    else:
        write_json(report, sys.stdout)
