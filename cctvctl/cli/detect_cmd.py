"""`cctvctl detect`: re-evaluate a range of intervals for outliers and print the flags."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from cctvctl.cli import app, complete
from cctvctl.cli.options import (CameraOpt, DbOpt, QuietOpt, Settings, SinceOpt, TzOpt, UntilOpt,
                                 VerboseOpt)
from cctvctl.cli.output import print_json, stdout_console, text_cell
from cctvctl.errors import UsageError

FORMATS = ("table", "csv", "json")


@app.command("detect")
def detect_command(
    ctx: typer.Context,
    since: SinceOpt = None,
    until: UntilOpt = None,
    camera: CameraOpt = None,
    method: Annotated[Optional[str], typer.Option(help="robust (median of like days at the same hour, runs, silences; see docs/detection.md), seasonal (mean ± k·σ of the same hour slot over the trailing weeks) or threshold (the original rule: high only, above mean + 1.5·std of the last complete year/month/week/day). Default: the method imports use.", autocompletion=complete.METHODS)] = None,
    k: Annotated[Optional[float], typer.Option("--k", help="Robust: σ a run of intervals needs (default 5); seasonal: band width in σ (default 4); threshold: the std multiplier of the reference (default 1.5).")] = None,
    weeks: Annotated[Optional[int], typer.Option(help="Robust and seasonal: trailing weeks of history (default 8).")] = None,
    slot: Annotated[Optional[str], typer.Option(help="Seasonal: hour (default), daytype-hour (workdays and weekends apart) or weekday-hour.", autocompletion=complete.SLOTS)] = None,
    floor: Annotated[Optional[str], typer.Option(help="Seasonal: σ floor, sqrt = max(sqrt(mean), 1) (default) or one = 1.", autocompletion=complete.FLOORS)] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the flags without storing them.")] = False,
    as_episodes: Annotated[bool, typer.Option("--episodes", help="Print episodes (runs of consecutive flagged intervals of a camera and metric) instead of single flags.")] = False,
    fmt: Annotated[str, typer.Option("--format", help="table, csv or json (one record per flag).", autocompletion=complete.DETECT_FORMATS)] = "table",
    db: DbOpt = None, tz: TzOpt = None, verbose: VerboseOpt = False, quiet: QuietOpt = False,
) -> None:
    """Judge the intervals of local days --since … --until; store and print the flags.

    Idempotent: the method's earlier flags in the range are replaced. The
    reference of an interval uses only data from before its day, so the flags
    equal those the imports wrote. Waits for a running import.

    Example:
        cctvctl detect --since 2021-08-01 --until 2021-08-31
        cctvctl detect --since 2014-02-22 --until 2014-02-23 --camera 4 --format json
        cctvctl detect --since 2021-08-01 --method threshold --format csv > flags.csv
        cctvctl detect --since 2021-08-01 --until 2021-08-31 --episodes
    """
    from cctvctl import api

    if fmt not in FORMATS:
        raise UsageError("--format must be table, csv or json")
    settings = Settings.from_options(ctx, db, tz, verbose, quiet)
    run = api.detect(since, until or None, db=settings.db_url, tz=settings.tz_requested,
                     cameras=camera, method=method, k=k, weeks=weeks, slot=slot, floor=floor,
                     store=not dry_run)
    result, zone, first, last = run.result, run.tz, run.first, run.last
    if settings.quiet:
        return
    if as_episodes:
        _print_episodes(run, fmt, zone, first, last)
        return
    records = [f.as_record(zone) for f in result.flags]
    if fmt == "json":
        print_json(records)
    elif fmt == "csv":
        _print_csv(records)
    else:
        _print_table(result, records, first, last)


def _print_csv(records: list[dict]) -> None:
    import csv
    import json
    import sys

    from cctvctl.detect import RECORD_KEYS
    from cctvctl.safetext import csv_cell

    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(RECORD_KEYS)
    for r in records:  # text cells through csv_cell: no spreadsheet formula, no raw control
        writer.writerow(["" if r[key] is None else
                         json.dumps(r[key], sort_keys=True) if key == "params" else csv_cell(r[key])
                         for key in RECORD_KEYS])


def _print_table(result, records: list[dict], first, last) -> None:
    from rich.table import Table

    console = stdout_console()
    if records:
        # fits 80 columns: narrow padding, short headers, only the basis wraps
        table = Table(box=None, header_style="bold", pad_edge=False, padding=(0, 1))
        for name in ("start", "camera", "flag", "obs", "exp", "band", "score", "basis"):
            right = name in ("obs", "exp", "band", "score")
            table.add_column(name, justify="right" if right else "left",
                             no_wrap=name != "basis", min_width={"score": 5, "basis": 10}.get(name))
        one_year = len({r["start"][:4] for r in records}) == 1  # then the footer names the year
        for r in records:
            high = f"{r['band_high']:.0f}"
            band = f"≤{high}" if r["band_low"] is None else f"{r['band_low']:.0f}–{high}"
            table.add_row(*map(text_cell, (
                r["start"][5 if one_year else 0:16].replace("T", " "), r["camera"],
                f"{r['metric']} {r['direction']}", f"{r['observed']:g}", f"{r['expected']:.0f}",
                band, f"{r['score']:+.1f}", r["basis"])))
        console.print(table)
    stored = "stored" if result.stored else "not stored (--dry-run)"
    how = "learning (short history: extremes only)" if result.method == "robust" \
        else "judged by the threshold fallback"
    note = f"; {result.fallback} {how}" if result.fallback else ""
    console.print(f"{first} … {last}: {result.intervals} interval(s) flagged, {len(result.flags)} "
                  f"flag(s), {result.evaluated} evaluated with {result.method}{note}; {stored}",
                  markup=False)


def _print_episodes(run, fmt: str, tz, first, last) -> None:
    from cctvctl.detect.episodes import RECORD_KEYS
    from cctvctl.safetext import csv_cell, shown

    result, found = run.result, run.episodes()
    records = [e.as_record(tz) for e in found]
    if fmt == "json":
        print_json(records)
        return
    if fmt == "csv":
        import csv
        import sys

        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(RECORD_KEYS)
        for r in records:
            writer.writerow(["" if r[key] is None else csv_cell(r[key]) for key in RECORD_KEYS])
        return
    console = stdout_console()
    for r in records:
        console.print(shown(r["summary"]), markup=False)
    console.print(f"{first} … {last}: {len(found)} episode(s) from {len(result.flags)} flag(s)",
                  markup=False)
