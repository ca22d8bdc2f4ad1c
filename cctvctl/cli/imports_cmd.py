"""`cctvctl imports …`: list the import ledger and undo one import."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from cctvctl.cli import app, complete
from cctvctl.cli.app import CctvTyper, HelpGroup
from cctvctl.cli.options import DbOpt, QuietOpt, Settings, VerboseOpt
from cctvctl.cli.output import print_json, stdout_console, text_cell
from cctvctl.errors import UsageError

imports_app = CctvTyper(cls=HelpGroup, help="List the imports and undo one.", no_args_is_help=True,
                        rich_markup_mode=None)
app.add_typer(imports_app, name="imports")


def _format(fmt: str) -> str:
    if fmt not in ("table", "json"):
        raise UsageError("--format must be table or json")
    return fmt


@imports_app.command("list")
def list_command(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(help="Show the newest N imports; 0 shows every one.")] = 50,
    status: Annotated[Optional[str], typer.Option(help="Only imports with this status: ok, rejected or undone.", autocompletion=complete.IMPORT_STATUS)] = None,
    fmt: Annotated[str, typer.Option("--format", help="table or json.", autocompletion=complete.TABLE_JSON)] = "table",
    db: DbOpt = None, verbose: VerboseOpt = False,
) -> None:
    """List imports, newest first: id, source, when, rows and status.

    Status ok: stored; rejected: refused, nothing stored; undone: taken back by
    cctvctl imports undo.

    Example:
        cctvctl imports list --limit 10
        cctvctl imports list --status ok --format json
    """
    from cctvctl.api import open_database
    from cctvctl.ledger import list_imports

    fmt = _format(fmt)
    if limit < 0:
        raise UsageError("--limit must be 0 (every import) or a positive number")
    from cctvctl import validate

    validate.integer(limit, "--limit", low=0, high=validate.BIGINT_MAX)
    settings = Settings.from_options(ctx, db, None, verbose)
    with open_database(settings.db_url, create=False) as database:
        records = list_imports(database, limit=limit or None, status=status)
    if fmt == "json":
        print_json([r.as_dict() for r in records])
        return
    if not records:
        typer.echo("no imports" + (f" with status {status}" if status else ""))
        return
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    for name, justify in (("id", "right"), ("source", "left"), ("started (UTC)", "left"),
                          ("read", "right"), ("inserted", "right"), ("dup", "right"),
                          ("replaced", "right"), ("rejected", "right"), ("status", "left")):
        table.add_column(name, justify=justify, overflow="fold", no_wrap=name != "source")
    for r in records:
        started = (r.as_dict()["started_at"] or "")[:16].replace("T", " ")
        table.add_row(str(r.id), text_cell(r.source), started, f"{r.read:,}", f"{r.inserted:,}",
                      f"{r.duplicates:,}", f"{r.replaced:,}", f"{r.rejected:,}", r.status)
    stdout_console().print(table)


@imports_app.command("undo")
def undo_command(
    ctx: typer.Context,
    import_id: Annotated[int, typer.Argument(metavar="ID", help="The import's id (cctvctl imports list).")],
    detect: Annotated[bool, typer.Option("--detect/--no-detect", help="Re-judge outliers of the days the import touched.")] = True,
    fmt: Annotated[str, typer.Option("--format", help="table or json.", autocompletion=complete.TABLE_JSON)] = "table",
    db: DbOpt = None, verbose: VerboseOpt = False, quiet: QuietOpt = False,
) -> None:
    """Take back one import: remove the rows it inserted, restore the values it
    replaced, recompute statistics and outlier flags of the days it touched.

    One transaction: interrupted, nothing changes. An import whose rows a later
    --replace import overwrote is refused until that later import is undone. Needs
    an account that may delete counts (the administrator's, not cctv_ingest).

    Example:
        cctvctl imports list
        cctvctl imports undo 42
    """
    from cctvctl.api import open_database
    from cctvctl.ledger import undo_import
    from cctvctl.safetext import shown

    fmt = _format(fmt)
    settings = Settings.from_options(ctx, db, None, verbose, quiet)
    with open_database(settings.db_url, create=False) as database:
        result = undo_import(database, import_id, detect=detect)
    if fmt == "json":
        print_json(result.as_dict())
    elif not settings.quiet:
        typer.echo(f"undid import #{result.import_id} ({shown(result.source)}): "
                   f"removed {result.removed}, restored {result.restored}, statistics rows "
                   f"recomputed {result.stats_rows}, flags removed {result.flags_removed} "
                   f"({result.seconds:.1f} s)")
