"""`cctvctl db …`: create/migrate the schema and show what a database holds."""

from __future__ import annotations

from typing import Annotated

import typer

from cctvctl.cli import app, complete
from cctvctl.cli.app import CctvTyper, HelpGroup
from cctvctl.cli.options import DbOpt, QuietOpt, Settings, TzOpt, VerboseOpt
from cctvctl.cli.output import print_json, stdout_console, text_cell
from cctvctl.errors import UsageError
from cctvctl.safetext import shown

db_app = CctvTyper(cls=HelpGroup, help="Create, migrate and inspect the database.", no_args_is_help=True,
                   rich_markup_mode=None)
app.add_typer(db_app, name="db")


@db_app.command("init")
def init_command(ctx: typer.Context, db: DbOpt = None, tz: TzOpt = None,
                 verbose: VerboseOpt = False, quiet: QuietOpt = False) -> None:
    """Create the tables or apply pending migrations (safe to run again) and record the zone.

    The database keeps one zone for its local times and periods: --tz (or
    CCTV_TZ, else the system zone) is recorded unless one is recorded
    already, and a different --tz is then refused.

    Example:
        cctvctl db init --db sqlite:///var/lib/cctv/cctv.db --tz Asia/Seoul
    """
    from cctvctl.db import connect
    from cctvctl.db.schema import LATEST, migrate
    from cctvctl.zone import record_zone

    settings = Settings.from_options(ctx, db, tz, verbose, quiet)
    with connect(settings.db_url, migrate=False) as database:
        applied = migrate(database)
        where = shown(database.url.display())  # a path from the user: escaped
        zone = settings.zone(database)
        if zone.origin != "stored":
            with database.lock("import", timeout=600), database.atomic():
                record_zone(database, zone.tz)
    if not settings.quiet:
        recorded = "recorded now" if not zone.stored else "recorded"
        said = f"zone {zone.key} ({recorded})"
        if applied:
            typer.echo(f"{where}: applied migration(s) {', '.join(map(str, applied))}; schema version "
                       f"{LATEST}; {said}")
        else:
            typer.echo(f"{where}: schema is up to date (version {LATEST}); {said}")


@db_app.command("set-zone")
def set_zone_command(
    ctx: typer.Context,
    zone: Annotated[str, typer.Argument(help="IANA zone, e.g. Asia/Seoul.", show_default=False,
                                        autocompletion=complete.zones)],
    force: Annotated[bool, typer.Option("--force", help="Also when the database holds counts: drops its statistics and stored flags.")] = False,
    db: DbOpt = None, verbose: VerboseOpt = False, quiet: QuietOpt = False,
) -> None:
    """Change the zone the database keeps (the deliberate way; see docs/zone.md).

    Without counts the zone is simply recorded. With counts --force is
    needed: stored instants stay as they are (they are UTC), and the
    statistics and flags cut in the old zone's local periods are dropped in
    one transaction; run `cctvctl aggregate all` (and `detect`) afterwards.
    Rows that were read in a wrong zone are not moved: undo and re-import.

    Example:
        cctvctl db set-zone Asia/Seoul --force
    """
    from cctvctl.api import open_database
    from cctvctl.zone import set_zone

    settings = Settings.from_options(ctx, db, None, verbose, quiet)
    with open_database(settings.db_url, create=False) as database:
        change = set_zone(database, zone, force=force)
        where = shown(database.url.display())  # a path from the user: escaped
    if settings.quiet:
        return
    if change.old == change.new:
        typer.echo(f"{where}: zone is {change.new} (unchanged)")
        return
    dropped = ", ".join(f"{n} {t}" for t, n in change.dropped.items() if n)
    typer.echo(f"{where}: zone {change.old or 'none'} → {change.new}"
               + (f"; dropped {dropped}: run `cctvctl aggregate all`" if dropped else ""))


@db_app.command("status")
def status_command(
    ctx: typer.Context,
    fmt: Annotated[str, typer.Option("--format", help="table or json.", autocompletion=complete.TABLE_JSON)] = "table",
    db: DbOpt = None, tz: TzOpt = None, verbose: VerboseOpt = False,
) -> None:
    """Show backend, schema version, cameras, rows, time range covered and the last import.

    Example:
        cctvctl db status --format json
    """
    from cctvctl import api

    if fmt not in ("table", "json"):
        raise UsageError("--format must be table or json")
    settings = Settings.from_options(ctx, db, tz, verbose)
    status = api.status(db=settings.db_url, tz=settings.tz_requested)
    zone = status.zone
    if fmt == "json":
        print_json({**status.as_dict(), "zone": zone.key, "zone_recorded": zone.stored})
        return
    from rich.table import Table

    table = Table(show_header=False, box=None)
    table.add_column()
    table.add_column(overflow="fold")  # a long path is wrapped, never cut short
    li = status.last_import
    for name, value in (
        ("database", status.url),
        ("backend", status.backend),
        ("zone", zone.key if zone.stored else f"{zone.key} ({zone.how}; not recorded yet)"),
        ("schema", f"version {status.schema_version} (latest {status.schema_latest})"),
        ("cameras", str(status.cameras)),
        ("rows", f"{status.rows:,}"),
        ("covers", f"{status.first} … {status.last}" if status.first else "no data"),
        ("last import", f"#{li['id']} {li['source']} ({li['status']}, {li['inserted']} inserted, "
                        f"{li['finished']})" if li else "none"),
        *((("cluster", _cluster_line(status.cluster)),) if status.cluster else ()),
    ):  # file names and URLs are shown literally, hostile characters escaped
        table.add_row(name, text_cell(value))
    stdout_console().print(table)


def _cluster_line(c: dict) -> str:
    return (f"Galera, {c['size']} node(s), {c['status']}; connected to {c['node']} at "
            f"{c['connected_to']} ({c['state']})")
