"""`cctvctl demo`: sample data → import → aggregate → detect → the month report, in seconds."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from cctvctl.cli import complete
from cctvctl.cli.app import app
from cctvctl.cli.options import RootOptions, VerboseOpt, configure_logging
from cctvctl.cli.output import stdout_console


@app.command("demo")
def demo_command(
    ctx: typer.Context,
    db: Annotated[Optional[str], typer.Option("--db", help="Database URL for the demo (never taken from CCTV_DB: the demo writes synthetic rows). Default: a SQLite file in --dir or in a temporary folder.")] = None,
    directory: Annotated[Optional[Path], typer.Option("--dir", metavar="PATH", help="Keep the sample file, the SQLite database and the chart in this folder (default: a temporary folder, removed afterwards).")] = None,
    tz: Annotated[str, typer.Option("--tz", help="Zone of the sample data and of the report.", autocompletion=complete.zones)] = "Asia/Seoul",
    verbose: VerboseOpt = False,
) -> None:
    """Show what cctvctl does on generated counts, on a database of its own.

    Generates three months of 5-minute counts for three cameras (with four injected events),
    imports them, aggregates every grain, detects outliers and prints the report of the last
    month. It ignores CCTV_DB and the default database.

    Example:
        cctvctl demo
        cctvctl demo --dir cctv-demo
        cctvctl --db sqlite://cctv-demo/cctv.db --tz Asia/Seoul report --week 2021-W34
    """
    from cctvctl.config import load_zone
    from cctvctl.demo import run_demo
    from cctvctl.render import print_table

    root = ctx.find_root()
    options = root.obj if isinstance(root.obj, RootOptions) else RootOptions()
    options.verbose = verbose or options.verbose  # the error handler reads it there
    configure_logging(options.verbose)
    if db is None and options.db and getattr(root.get_parameter_source("db"), "name", "") == "COMMANDLINE":
        db = options.db  # `cctvctl --db URL demo`; never CCTV_DB from the environment
    zone = load_zone(tz)
    console = stdout_console()
    if directory is None:
        import tempfile

        with tempfile.TemporaryDirectory(prefix="cctvctl-demo-") as tmp:
            result = run_demo(Path(tmp), zone, db_url=db, say=console.out)
            _show(result, console, print_table, kept=None)
    else:
        result = run_demo(directory, zone, db_url=db, say=console.out)
        _show(result, console, print_table, kept=directory)


def _show(result, console, print_table, kept: Path | None) -> None:
    from cctvctl.periods import local_iso
    from cctvctl.render import write_plot
    from cctvctl import safefile
    from cctvctl.render.plot import require_matplotlib
    from cctvctl.errors import UsageError

    tz = result.report.tz
    console.out("   injected events (what detection should find):")
    for check in result.events:
        e = check.event
        mark = f"flagged ({check.flagged} intervals)" if check.flagged else "NOT flagged"
        console.out(f"   - {local_iso(e.start_utc, tz)[:16].replace('T', ' ')} {e.camera}: "
                    f"{e.description} → {mark}")
    console.out(f"5. report --month {result.period.label} ({result.seconds:.1f} s so far):")
    console.out("")
    print_table(result.report, console)
    console.out("")
    if kept is None:
        console.out("The demo database was temporary. Keep one to explore it:\n"
                    "  cctvctl demo --dir ./cctv-demo")
        return
    try:
        require_matplotlib()
        chart = kept / f"report-{result.period.label}.png"
        write_plot(result.report, str(chart), ours=safefile.png_ours)
        console.out(f"chart: {chart}")
    except UsageError:
        console.out("(install the plot extra for a chart: pip install 'cctvctl[plot]')")
    console.out(f"Explore it: cctvctl --db {result.db_url} --tz {tz.key} report --week 2021-W34")
