"""The command line: a thin face over the library (parse → one library call → render).

Library errors are typed (:mod:`cctvctl.errors`); this module maps them to exit codes and one
line on stderr, with the traceback only under ``-v``. Heavy modules (pandas, PyMySQL) are
imported inside commands so ``--help`` starts fast.
"""

from __future__ import annotations

from cctvctl.cli.app import app
from cctvctl.cli import commands  # noqa: F401,E402  (each module adds its commands to `app`)


def main() -> None:
    """Entry point of the installed ``cctvctl`` command."""
    app()


__all__ = ["app", "main"]
