"""`cctvctl db …`: create/migrate the schema and show what a database holds."""

from __future__ import annotations

from typing import Annotated

import typer

from cctvctl.cli import app
from cctvctl.cli.app import CctvTyper, HelpGroup
from cctvctl.cli.options import DbOpt, QuietOpt, Settings, TzOpt, VerboseOpt
from cctvctl.cli.output import print_json, stdout_console, text_cell
from cctvctl.errors import UsageError

db_app = CctvTyper(cls=HelpGroup, help="Create, migrate and inspect the database.", no_args_is_help=True,
                   rich_markup_mode=None)
app.add_typer(db_app, name="db")


@db_app.command("init")
def init_command(ctx: typer.Context, db: DbOpt = None, verbose: VerboseOpt = False,
                 quiet: QuietOpt = False) -> None:
    """Create the tables or apply pending migrations (safe to run again).

    Example:
        cctvctl db init --db sqlite:///var/lib/cctv/cctv.db
    """
    from cctvctl.db import connect
    from cctvctl.db.schema import LATEST, migrate

    settings = Settings.from_options(ctx, db, None, verbose, quiet)
    with connect(settings.db_url, migrate=False) as database:
        applied = migrate(database)
        where = database.url.display()
    if not settings.quiet:
        if applied:
            typer.echo(f"{where}: applied migration(s) {', '.join(map(str, applied))}; schema version {LATEST}")
        else:
            typer.echo(f"{where}: schema is up to date (version {LATEST})")


@db_app.command("status")
def status_command(
    ctx: typer.Context,
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
    db: DbOpt = None, tz: TzOpt = None, verbose: VerboseOpt = False,
) -> None:
    """Show backend, schema version, cameras, rows, time range covered and the last import.

    Example:
        cctvctl db status --format json
    """
    from cctvctl.api import open_database
    from cctvctl.status import db_status

    if fmt not in ("table", "json"):
        raise UsageError("--format must be table or json")
    settings = Settings.from_options(ctx, db, tz, verbose)
    with open_database(settings.db_url, create=False) as database:
        status = db_status(database, settings.tz)
    if fmt == "json":
        print_json(status.as_dict())
        return
    from rich.table import Table

    table = Table(show_header=False, box=None)
    table.add_column()
    table.add_column(overflow="fold")  # a long path is wrapped, never cut short
    li = status.last_import
    for name, value in (
        ("database", status.url),
        ("backend", status.backend),
        ("schema", f"version {status.schema_version} (latest {status.schema_latest})"),
        ("cameras", str(status.cameras)),
        ("rows", f"{status.rows:,}"),
        ("covers", f"{status.first} … {status.last}" if status.first else "no data"),
        ("last import", f"#{li['id']} {li['source']} ({li['status']}, {li['inserted']} inserted, "
                        f"{li['finished']})" if li else "none"),
    ):  # file names and URLs are shown literally, hostile characters escaped
        table.add_row(name, text_cell(value))
    stdout_console().print(table)
