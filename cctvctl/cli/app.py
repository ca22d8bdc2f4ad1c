"""The Typer app, its root options and the mapping of library errors to exit codes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import typer
from typer.core import TyperCommand, TyperGroup

from cctvctl import __version__
from cctvctl.cli import fastparams, help
from cctvctl.cli.options import DbOpt, QuietOpt, RootOptions, TzOpt, VerboseOpt
from cctvctl.cli.output import error_line
from cctvctl.errors import CctvError

if TYPE_CHECKING:  # Typer >= 0.20 vendors its own Click; the package may not be installed
    import click


def _verbose_requested(ctx: click.Context) -> bool:
    """``-v`` at the root, or on the subcommand (``Settings.from_options`` records it on the root).

    Not ``sys.argv``: that is pytest's under CliRunner, and ``--camera -v`` is a value, not a flag.
    """
    root = ctx.find_root().obj
    return isinstance(root, RootOptions) and root.verbose


#: Exits and usage errors, which Click handles. Typer >= 0.20 vendors its own Click
#: (``typer._click``), whose exceptions derive from ``typer.TyperException``.
_PASS_THROUGH = (typer.Exit, typer.Abort, typer.TyperException)


class HelpCommand(TyperCommand):
    """A command whose ``--help`` is drawn by :mod:`cctvctl.cli.help` (fast Rich panels)."""

    def format_help(self, ctx: click.Context, formatter) -> None:
        help.render(self, ctx)

    def get_usage(self, ctx: click.Context) -> str:  # also the first line of a usage error
        return help.value_name(super().get_usage(ctx))


class HelpGroup(TyperGroup):
    """A command group whose ``--help`` is drawn by :mod:`cctvctl.cli.help`."""

    def format_help(self, ctx: click.Context, formatter) -> None:
        help.render(self, ctx)

    def get_usage(self, ctx: click.Context) -> str:
        return help.value_name(super().get_usage(ctx))


class CctvTyper(typer.Typer):
    """A Typer app whose commands are :class:`HelpCommand` unless told otherwise."""

    def command(self, *args, cls=None, **kwargs):
        return super().command(*args, cls=cls or HelpCommand, **kwargs)


class ErrorMappingGroup(HelpGroup):
    """Turns library errors into the documented exit codes, for every subcommand."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        fastparams.install(self)  # start-up: no Pydantic import for values that need no coercion
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except _PASS_THROUGH:
            raise
        except CctvError as exc:
            if _verbose_requested(ctx):
                import traceback

                traceback.print_exc()
            error_line(str(exc))
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            error_line("interrupted")
            raise typer.Exit(130) from None
        except BrokenPipeError:
            raise typer.Exit(0) from None
        except Exception as exc:  # a bug: still one line, traceback with -v
            if _verbose_requested(ctx):
                import traceback

                traceback.print_exc()
            error_line(f"unexpected {type(exc).__name__}: {exc} (run with -v for the traceback)")
            raise typer.Exit(1) from None


app = CctvTyper(
    cls=ErrorMappingGroup,
    name="cctvctl",
    no_args_is_help=True,
    rich_markup_mode=None,  # help: cctvctl.cli.help; usage errors: Click's three plain lines
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"cctvctl {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    db: DbOpt = None,
    tz: TzOpt = None,
    verbose: VerboseOpt = False,
    quiet: QuietOpt = False,
    version: Optional[bool] = typer.Option(None, "--version", callback=_version, is_eager=True,
                                           help="Print the version and exit."),
) -> None:
    """Import, aggregate, check and report CCTV people/vehicle counts (SQLite or MySQL/MariaDB).

    Exit codes: 0 success, 1 runtime failure (database unreachable, lock timeout),
    2 bad usage or rejected input.

    Example:
        cctvctl demo
    """
    ctx.obj = RootOptions(db=db, tz=tz, verbose=verbose, quiet=quiet)
