"""`cctvctl db grants`: print or apply least-privilege MySQL accounts."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from cctvctl.cli.db_cmd import db_app
from cctvctl.cli.options import DbOpt, QuietOpt, Settings, VerboseOpt
from cctvctl.errors import UsageError


@db_app.command("grants")
def grants_command(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Host pattern the accounts may connect from, e.g. 10.0.0.% (never % unless you mean it).")] = "localhost",
    prefix: Annotated[str, typer.Option(help="Account name prefix: PREFIXingest, PREFIXcron, PREFIXanalyst.")] = "cctv_",
    database: Annotated[str, typer.Option(help="Database to grant on (default: the one in --db).")] = "",
    apply: Annotated[bool, typer.Option("--apply", help="Create the accounts now (passwords from CCTV_INGEST_PASSWORD, CCTV_CRON_PASSWORD, CCTV_ANALYST_PASSWORD).")] = False,
    db: DbOpt = None, verbose: VerboseOpt = False, quiet: QuietOpt = False,
) -> None:
    """Print (or with --apply run) least-privilege MySQL grants for ingest, cron and analyst accounts.

    The ingest account may insert counts but cannot delete or touch statistics; the cron
    account writes statistics and outlier flags but cannot change counts; the analyst account
    can only read. Passwords are never printed: the SQL shows '<password>' placeholders.

    --apply converges existing accounts too: it sets the password, revokes every other
    privilege (an old GRANT ALL included), grants the list and verifies the result; what it
    cannot take away (a role, a proxy grant) is named and the command exits 1.

    Example:
        cctvctl db grants --db mysql://admin@db:3306/cctv --host '10.0.0.%'
        CCTV_INGEST_PASSWORD=… CCTV_CRON_PASSWORD=… CCTV_ANALYST_PASSWORD=… \\
            cctvctl db grants --db mysql://admin@db:3306/cctv --host '10.0.0.%' --apply
    """
    from cctvctl.db import parse_url
    from cctvctl.grants import apply_grants, grants_script, plan_grants

    settings = Settings.from_options(ctx, db, None, verbose, quiet)
    url = parse_url(settings.db_url)
    name = database or url.database
    if not name:
        raise UsageError("name the MySQL database: --db mysql://user@host:3306/NAME or --database NAME")
    accounts = plan_grants(name, host=host, prefix=prefix)
    if not apply:
        typer.echo(grants_script(accounts), nl=False)
        return
    from cctvctl.api import open_database

    passwords = {a.role: os.environ.get(f"CCTV_{a.role.upper()}_PASSWORD", "") for a in accounts}
    with open_database(settings.db_url) as database_conn:
        apply_grants(database_conn, accounts, passwords)
    if not settings.quiet:
        typer.echo("converged (password set, exactly the documented privileges, verified): "
                   + ", ".join(f"{a.user}@{a.host} ({a.role})" for a in accounts))
