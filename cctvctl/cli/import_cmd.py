"""`cctvctl import`: load count files or standard input."""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer

from cctvctl.cli import app, complete
from cctvctl.cli.options import DbOpt, QuietOpt, Settings, TzOpt, VerboseOpt
from cctvctl.cli.output import error_line
from cctvctl import validate
from cctvctl.errors import UsageError
from cctvctl.safetext import shown


@app.command("import")
def import_command(
    ctx: typer.Context,
    files: Annotated[list[str], typer.Argument(help="Count files (CSV/TSV); - reads standard input.")],
    camera: Annotated[Optional[str], typer.Option(help="Camera name for every row (sets or overrides the camera column).")] = None,
    map_: Annotated[Optional[list[str]], typer.Option("--map", help="FIELD=COLUMN for a column with another name (repeat). Fields: camera, start, end, date, time, hour, people, vehicle, car, truck, bus, bicycle, motorcycle, scooter.")] = None,
    columns: Annotated[Optional[str], typer.Option(help="The file has no header row: these are its columns, comma-separated, e.g. camera,start,people (- for a column to ignore).")] = None,
    na: Annotated[Optional[list[str]], typer.Option("--na", help="A cell text meaning 'unknown' in count columns, e.g. -1 or NA (repeat; '' for empty cells): stored as NULL, never 0. A row with no known count is not stored.")] = None,
    wide: Annotated[Optional[list[str]], typer.Option("--wide", help="COLUMN=CAMERA: a wide file's count column and the camera it counts (repeat).")] = None,
    wide_metric: Annotated[str, typer.Option(help="What the --wide columns count: people or vehicle.", autocompletion=complete.WIDE_METRIC)] = "people",
    interval: Annotated[Optional[float], typer.Option(help="Interval length in minutes where the file has no end column (default: the usual spacing of its rows, said in the summary; a file whose rows disagree with --interval is refused).", show_default=False)] = None,
    encoding: Annotated[str, typer.Option(help="Text encoding of the file, e.g. cp949 for Korean spreadsheet exports.")] = "utf-8-sig",
    delimiter: Annotated[Optional[str], typer.Option(help="Field delimiter (default: detected from the header: , tab ; |).")] = None,
    on_error: Annotated[str, typer.Option(help="reject: refuse the whole file if any row is bad; skip: import good rows, write bad ones to FILE.rejected.csv.", autocompletion=complete.ON_ERROR)] = "reject",
    rejected: Annotated[Optional[str], typer.Option(help="Where --on-error skip writes bad rows (default FILE.rejected.csv).")] = None,
    replace: Annotated[bool, typer.Option("--replace", help="Overwrite stored rows whose counts differ (whatever earlier imports of the file did; undoable).")] = False,
    nonexistent: Annotated[str, typer.Option(help="Local times in a DST gap: reject, shift-forward or shift-backward.", autocompletion=complete.NONEXISTENT)] = "reject",
    ambiguous: Annotated[str, typer.Option(help="Local times repeated at the DST change: infer (1st = earlier, 2nd = later), earliest, latest or reject.", autocompletion=complete.AMBIGUOUS)] = "infer",
    dayfirst: Annotated[bool, typer.Option("--dayfirst", help="Read 01/02/2021 as 1 February (default: the order the file's dates prove).")] = False,
    monthfirst: Annotated[bool, typer.Option("--monthfirst", help="Read 01/02/2021 as 2 January.")] = False,
    time_format: Annotated[Optional[str], typer.Option(help="strptime format of the timestamp column, e.g. '%d.%m.%Y %H:%M'; epoch (Unix seconds) or epoch_ms.")] = None,
    max_count: Annotated[int, typer.Option(help="Sanity bound: a count above this is rejected.")] = 100_000,
    detect: Annotated[bool, typer.Option("--detect/--no-detect", help="Flag outliers among the imported rows.")] = True,
    fmt: Annotated[str, typer.Option("--format", help="table or json (one JSON object per file, one per line).", autocompletion=complete.TABLE_JSON)] = "table",
    db: DbOpt = None, tz: TzOpt = None, verbose: VerboseOpt = False, quiet: QuietOpt = False,
) -> None:
    """Import count files into the database, validating every row.

    A file with any bad row is rejected whole (exit 2, nothing written) unless
    --on-error skip. Re-importing identical content is a no-op, except with
    --replace, which compares the file with the stored rows again. Each file is one
    transaction; cctvctl imports undo ID takes one back. With several files a
    refused one does not undo the others: exit 2, and a summary line on
    stderr names every file committed and every file not imported.

    Example:
        cctvctl import counts.csv
        detector-export | cctvctl import - --camera gate-1
        cctvctl import pedestriancounts_melbourne.csv --tz Australia/Melbourne \\
            --map people=PedestrianCount --map camera=SensorID --map date=Date --map hour=Hour \\
            --interval 60 --on-error skip
        cctvctl import FremontBridge.csv --tz America/Los_Angeles --interval 60 \\
            --map start=Date --wide "West Sidewalk=west" --wide "East Sidewalk=east" --na ''
        cctvctl import headerless.csv --columns camera,start,people --na -1
    """
    from cctvctl import api

    if fmt not in ("table", "json"):
        raise UsageError("--format must be table or json")
    if files.count("-") > 1:
        raise UsageError("standard input (-) can be given only once")
    if rejected and on_error != "skip":
        raise UsageError("--rejected only makes sense with --on-error skip")
    if rejected and len(files) > 1:
        raise UsageError("--rejected names one file; import one file at a time to use it")
    settings = Settings.from_options(ctx, db, tz, verbose, quiet)
    layout = api.FileLayout(camera=camera, mapping=map_ or [], columns=columns, wide=wide or [],
                            wide_metric=wide_metric, encoding=encoding, delimiter=delimiter)
    times = api.TimeReading(
        interval=None if interval is None else validate.interval_minutes(interval),
        nonexistent=nonexistent, ambiguous=ambiguous, dayfirst=dayfirst, monthfirst=monthfirst,
        time_format=time_format)
    checks = api.RowChecks(max_count=max_count, na=tuple(na or ()), on_error=on_error,
                           rejected_path=rejected)
    failed = 0
    outcome = _Outcome(files)

    def started(path: str) -> _progress:
        outcome.current = path
        return _progress(path, settings.quiet)

    with api.import_files(files, db=settings.db_url, tz=settings.tz_requested, layout=layout,
                          time=times, checks=checks, policy=api.ImportPolicy(replace, detect),
                          progress=started) as run, outcome:
        where = shown(f"{run.database}, {run.zone.describe()}")
        for done in run.files:
            if done.refused is not None:
                failed += 1
                outcome.refused.append(done.path)
                for line in done.refused.problems:
                    sys.stderr.write(shown(line) + "\n")
                error_line(str(done.refused))
                if fmt == "json" and getattr(done.refused, "result", None) is not None:
                    _json_line(done.refused.result.as_dict())
                continue
            result = done.result
            outcome.committed.append(result)
            for line in result.warnings:
                sys.stderr.write(shown(f"warning: {line}") + "\n")
            if fmt == "json":
                _json_line({**result.as_dict(), "database": run.database, "zone": run.zone.key})
            elif not settings.quiet:
                typer.echo(_summary(result) + f"\n  into {where}")
            if result.rejected and settings.quiet:
                # skipped rows must reach someone, also under cron (which mails stderr); the
                # summary and the JSON object say it otherwise
                sys.stderr.write(shown(f"warning: {result.source}: {result.rejected} bad row(s) "
                                       f"skipped, listed with reasons in {result.rejected_file}") + "\n")
    if failed:
        raise typer.Exit(2)


class _Outcome:
    """What a run of several files committed: said last on stderr where a file was not imported
    (each file is its own transaction, so "nothing was written" is about that file only)."""

    def __init__(self, files: list[str]):
        self.files = files
        self.committed: list = []
        self.refused: list[str] = []
        self.current: str | None = None

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb) -> bool:
        if len(self.files) < 2:
            return False
        stopped = kind is not None and self.current is not None
        if stopped and self.current not in self.refused:
            self.refused.append(self.current)  # the error stopped the run at this file
        if not self.refused:
            return False
        untried = self.files[self.files.index(self.current) + 1:] if stopped else []
        parts = [_committed(r) for r in self.committed]
        text = (f"{len(self.committed)} of {len(self.files)} files committed"
                + (": " + ", ".join(parts) if parts else "")
                + "; not imported: " + ", ".join(self.refused + untried))
        sys.stderr.write(shown(f"summary: {text}") + "\n")
        return False


def _committed(r) -> str:
    if r.status == "unchanged":
        return f"{r.source} (already imported as #{r.previous_import})"
    what = f"inserted {r.inserted}" + (f", replaced {r.replaced}" if r.replaced else "")
    return f"{r.source} (import #{r.import_id}, {what})"


def _json_line(obj: dict) -> None:
    """One compact JSON object per file and line (JSON Lines: several files stay parseable)."""
    from cctvctl.safetext import json_text

    sys.stdout.write(json_text(obj) + "\n")


def _summary(r) -> str:
    if r.status == "unchanged":
        return (f"{shown(r.source)}: already imported (import #{r.previous_import}, same content and "
                "options); nothing to do")
    parts = [f"read {r.read}", f"inserted {r.inserted}", f"duplicates {r.duplicates}"]
    if r.replaced:
        parts.append(f"replaced {r.replaced}")
    parts.append(f"rejected {r.rejected}")
    if r.unknown:
        parts.append(f"unknown {r.unknown} (no known count, not stored)")
    parts.append(f"outliers {r.outliers}")
    text = f"{shown(r.source)}: " + ", ".join(parts) + f" (import #{r.import_id}, {r.seconds:.1f} s)"
    dst = {k: v for k, v in (r.dst or {}).items() if v}
    if dst:
        text += "\n  DST rules applied: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in dst.items())
    if r.interval_source in ("file", "default", "stored"):
        how = {"file": "inferred from the spacing of its rows",
               "default": "the default: too few rows per camera to tell",
               "stored": "too few rows per camera to tell: the interval of their stored rows"
               }[r.interval_source]
        text += f"\n  interval {r.interval // 60:g} min ({how}; --interval sets it)"
    if r.rejected_file:
        text += f"\n  bad rows with reasons: {shown(r.rejected_file)}"
    return text


class _progress:
    """A Rich progress bar on stderr when it is a terminal; nothing under cron or pipes."""

    def __init__(self, path: str, quiet: bool):
        self.path = path
        self.enabled = not quiet and sys.stderr.isatty()
        self.bar = None

    def __enter__(self):
        if not self.enabled:
            return None
        from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

        from cctvctl.cli.output import stderr_console

        self.bar = Progress("[progress.description]{task.description}", BarColumn(),
                            DownloadColumn(), TimeRemainingColumn(), console=stderr_console(),
                            transient=True)
        self.bar.start()
        task = self.bar.add_task(f"importing {self.path}", total=None)

        def update(done: int, total: int) -> None:
            self.bar.update(task, completed=done, total=total)

        return update

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.stop()
        return False
