"""`cctvctl serve` and `cctvctl token`: the HTTP API for detector boxes and its device tokens."""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer

from cctvctl.cli import complete
from cctvctl.cli.app import CctvTyper, HelpGroup, app
from cctvctl.cli.options import DbOpt, Settings, TzOpt, VerboseOpt
from cctvctl.cli.output import print_json, stdout_console, text_cell
from cctvctl.errors import UsageError

token_app = CctvTyper(cls=HelpGroup, help="Create, list and revoke the device tokens of cctvctl serve.",
                      no_args_is_help=True, rich_markup_mode=None)
app.add_typer(token_app, name="token")


@app.command("serve")
def serve_command(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on (127.0.0.1: this machine only; put a TLS reverse proxy in front, or give --certfile/--keyfile).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port (0 picks a free one and prints it).")] = 8080,
    certfile: Annotated[Optional[str], typer.Option(help="TLS certificate (PEM); serves HTTPS with --keyfile.")] = None,
    keyfile: Annotated[Optional[str], typer.Option(help="TLS private key (PEM).")] = None,
    max_body: Annotated[int, typer.Option(help="Largest request body in bytes (413 above).")] = 10 * 1024 * 1024,
    body_timeout: Annotated[float, typer.Option(help="Seconds a client may take to send its body (408 after).")] = 30.0,
    rate: Annotated[float, typer.Option(help="Requests per second per token (429 with Retry-After above; bursts of 2×).")] = 10.0,
    lock_wait: Annotated[float, typer.Option(help="Seconds a batch waits for another import (a cron job) before 503 busy with Retry-After.")] = 10.0,
    db: DbOpt = None, tz: TzOpt = None, verbose: VerboseOpt = False,
) -> None:
    """Serve the HTTP API: detector boxes post counts with a device token.

    POST /v1/counts (text/csv or JSON rows) imports a batch like cctvctl
    import (validated, one transaction, idempotent, detection on ingest);
    GET /v1/outliers, /v1/alerts, /v1/report, /v1/status read; /healthz
    needs no token. One JSON access-log line per request on stderr (token
    names, never secrets). SIGTERM finishes in-flight batches and exits 0.

    Example:
        cctvctl token create --name box-12 --camera 'gate-*'
        cctvctl serve --host 0.0.0.0 --port 8443 --certfile cert.pem --keyfile key.pem
    """
    if not (0 <= port <= 65535):
        raise UsageError(f"--port must be 0-65535, not {port}")
    if not (1024 <= max_body <= 1 << 30):
        raise UsageError("--max-body must be between 1024 bytes and 1 GiB")
    if not (0 < body_timeout <= 3600):
        raise UsageError("--body-timeout must be between 0 and 3600 seconds")
    if not (0 < lock_wait <= 600):
        raise UsageError("--lock-wait must be between 0 and 600 seconds")
    if not (0 < rate <= 10000):
        raise UsageError("--rate must be between 0 and 10000 requests per second")
    settings = Settings.from_options(ctx, db, tz, verbose)
    try:
        from cctvctl.serve.accesslog import AccessLog
        from cctvctl.serve.app import ServeConfig
        from cctvctl.serve.run import serve
    except ImportError:
        raise UsageError("cctvctl serve needs its extra: pip install 'cctvctl[serve]'") from None
    from cctvctl.api import open_database

    # never create a database here: a mistyped path would serve an empty one (every token 401)
    with open_database(settings.db_url, create=False) as database:  # migrates; its zone applies
        zone = settings.zone(database).tz
    config = ServeConfig(db_url=settings.db_url, tz=zone, max_body=max_body, rate=rate, body_timeout=body_timeout,
                         burst=max(1, int(rate * 2)), access_log=AccessLog(sys.stderr), lock_wait=lock_wait)
    serve(config, host, port, certfile, keyfile)


@token_app.command("create")
def token_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Option("--name", help="The device's name (box-12): shown in logs and token list.")],
    camera: Annotated[list[str], typer.Option("--camera", help="Camera pattern the device may post (repeat; shell-style: 'gate-*'; '*' = all).")],
    read: Annotated[bool, typer.Option("--read", help="May also read outliers, alerts, reports and status.")] = False,
    no_write: Annotated[bool, typer.Option("--no-write", help="May not post counts (a read-only dashboard token).")] = False,
    fmt: Annotated[str, typer.Option("--format", help="table or json.", autocompletion=complete.TABLE_JSON)] = "table",
    db: DbOpt = None, tz: TzOpt = None, verbose: VerboseOpt = False,
) -> None:
    """Create a device token and print it once (only its hash is stored).

    Example:
        cctvctl token create --name box-12 --camera 'gate-*'
        cctvctl token create --name dashboard --camera '*' --read --no-write --format json
    """
    from cctvctl.api import open_database
    from cctvctl.tokens import create_token

    if fmt not in ("table", "json"):
        raise UsageError("--format must be table or json")
    settings = Settings.from_options(ctx, db, tz, verbose)
    with open_database(settings.db_url) as database:
        token, secret = create_token(database, name, camera, write=not no_write, read=read)
    if fmt == "json":
        print_json({"name": token.name, "token": secret, "cameras": list(token.cameras),
                    "write": token.can_write, "read": token.can_read})
        return
    sys.stdout.write(f"{secret}\n")
    sys.stderr.write(f"token {token.name!r} created; it is shown only now: give it to the device "
                     "(Authorization: Bearer …)\n")


@token_app.command("list")
def token_list(
    ctx: typer.Context,
    fmt: Annotated[str, typer.Option("--format", help="table or json.", autocompletion=complete.TABLE_JSON)] = "table",
    db: DbOpt = None, tz: TzOpt = None, verbose: VerboseOpt = False,
) -> None:
    """List device tokens: name, cameras, rights, created, last used, revoked (never secrets).

    Example:
        cctvctl token list
        cctvctl token list --format json
    """
    from cctvctl.api import open_database
    from cctvctl.periods import local_iso
    from cctvctl.tokens import list_tokens

    if fmt not in ("table", "json"):
        raise UsageError("--format must be table or json")
    settings = Settings.from_options(ctx, db, tz, verbose)
    with open_database(settings.db_url, create=False) as database:
        found = list_tokens(database)
        zone = settings.zone(database).tz
    if fmt == "json":
        print_json([t.as_dict() for t in found])
        return
    from rich.table import Table

    def when(epoch):
        return local_iso(epoch, zone)[:16].replace("T", " ") if epoch else ""

    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("name", "cameras", "rights", "created", "last used", "revoked"):
        table.add_column(column)
    for t in found:
        rights = "+".join(r for r, ok in (("write", t.can_write), ("read", t.can_read)) if ok)
        table.add_row(*(text_cell(v) for v in (t.name, " ".join(t.cameras), rights, when(t.created_at),
                                               when(t.last_used_at), when(t.revoked_at))))
    stdout_console().print(table) if found else stdout_console().print("no tokens", markup=False)


@token_app.command("revoke")
def token_revoke(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The token's name.")],
    db: DbOpt = None, tz: TzOpt = None, verbose: VerboseOpt = False,
) -> None:
    """Revoke a device token at once (the server checks every request).

    Example:
        cctvctl token revoke box-12
    """
    from cctvctl.api import open_database
    from cctvctl.tokens import revoke_token

    settings = Settings.from_options(ctx, db, tz, verbose)
    with open_database(settings.db_url, create=False) as database:
        revoke_token(database, name)
    sys.stderr.write(f"token {name!r} revoked\n")
