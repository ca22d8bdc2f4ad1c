"""Options shared by many commands, declared once (STYLE habit 5).

Commands take these as ``Annotated`` parameters; ``Settings.from_options`` resolves them against
the root options (``cctvctl --db … import …``), the environment and the defaults.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from cctvctl import config
from cctvctl.cli import complete

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from cctvctl.db.database import Database
    from cctvctl.zone import Zone

DbOpt = Annotated[Optional[str], typer.Option(
    "--db", envvar=config.ENV_DB, show_envvar=True,
    help="Database URL: sqlite:///path/cctv.db or mysql://user@host:3306/cctv "
         "(password from CCTV_DB_PASSWORD or ~/.my.cnf). Default: ~/.local/share/cctvctl/cctv.db.")]
TzOpt = Annotated[Optional[str], typer.Option(
    "--tz", envvar=config.ENV_TZ, show_envvar=True,
    help="IANA time zone for local times and periods. A database keeps one zone (recorded on "
         "db init or its first import) and refuses another; default: the database's zone, "
         "else the system zone.", autocompletion=complete.zones)]
VerboseOpt = Annotated[bool, typer.Option("-v", "--verbose", help="Debug logging and tracebacks.")]
QuietOpt = Annotated[bool, typer.Option("-q", "--quiet", help="Print nothing on success (for cron).")]
def _camera_names(values):
    from cctvctl.validate import camera_names

    return camera_names(values or None) if values else values


CameraOpt = Annotated[Optional[list[str]], typer.Option(
    "--camera", help="Only this camera (repeat for several).", callback=_camera_names)]
SinceOpt = Annotated[Optional[str], typer.Option("--since", help="First local day, YYYY-MM-DD.")]
UntilOpt = Annotated[Optional[str], typer.Option("--until", help="Last local day, YYYY-MM-DD (inclusive).")]


@dataclass
class RootOptions:
    db: str | None = None
    tz: str | None = None
    verbose: bool = False
    quiet: bool = False


@dataclass
class Settings:
    db_url: str
    tz_requested: str | None  # --tz or CCTV_TZ (checked to be a zone), else None
    verbose: bool
    quiet: bool
    tz: ZoneInfo | None = None  # set by zone(): the database decides

    def zone(self, database: Database) -> Zone:
        """The zone of ``database`` (a differing --tz/CCTV_TZ is refused); also sets ``tz``."""
        from cctvctl.zone import resolve_zone

        found = resolve_zone(database, self.tz_requested)
        self.tz = found.tz
        return found

    @classmethod
    def from_options(cls, ctx: typer.Context | None, db: str | None = None, tz: str | None = None,
                     verbose: bool = False, quiet: bool = False) -> "Settings":
        root = (ctx.find_root().obj if ctx is not None else None) or RootOptions()
        verbose = root.verbose = verbose or root.verbose  # the error handler reads it there
        configure_logging(verbose)
        return cls(db_url=config.resolve_db_url(_pick(ctx, "db", db, root.db)),
                   tz_requested=_requested_zone(_pick(ctx, "tz", tz, root.tz)),
                   verbose=verbose, quiet=quiet or root.quiet)


def _requested_zone(flag: str | None) -> str | None:
    """--tz, else CCTV_TZ: checked now (a typo fails before the database opens), used later."""
    name = flag or os.environ.get(config.ENV_TZ) or None
    return config.load_zone(name).key if name else None


def _from_command_line(ctx, name: str) -> bool:
    try:
        source = ctx.get_parameter_source(name)
    except Exception:  # not a parameter of this context
        return False
    return getattr(source, "name", "") == "COMMANDLINE"


def _pick(ctx, name: str, own, root_value):
    """A flag typed on the command line wins at either level (``cctvctl --db X import`` and
    ``cctvctl import --db X``); only then the environment (``CCTV_DB``), which both levels read.
    Without this, CCTV_DB filled the subcommand's option and silently beat ``cctvctl --db X``."""
    if ctx is None:
        return own or root_value
    if own is not None and _from_command_line(ctx, name):
        return own
    if root_value is not None and _from_command_line(ctx.find_root(), name):
        return root_value
    return own or root_value


def configure_logging(verbose: bool) -> None:
    if verbose:
        import logging
        import warnings

        logging.basicConfig(level=logging.DEBUG, stream=sys.stderr,
                            format="%(asctime)s %(name)s %(levelname)s %(message)s")
        warnings.simplefilter("default")
        logging.captureWarnings(True)  # -v: warnings as log records, with the rest of the debug output
