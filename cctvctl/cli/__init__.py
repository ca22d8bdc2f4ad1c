"""The command line: a thin face over the library (parse → one library call → render).

Library errors are typed (:mod:`cctvctl.errors`); this module maps them to exit codes and one
line on stderr, with the traceback only under ``-v``. Heavy modules (pandas, PyMySQL) are
imported inside commands so ``--help`` starts fast.
"""

from __future__ import annotations

from cctvctl.cli.app import app
from cctvctl.cli import commands  # noqa: F401,E402  (each module adds its commands to `app`)


def main() -> None:
    """Entry point of the installed ``cctvctl`` command.

    SIGTERM (a stopped service, a cron timeout) becomes an orderly exit 143: transactions roll
    back and temporary files are removed, as for Ctrl-C. Python warnings (a library's
    deprecation, numpy's overflow notes) never reach stderr, whatever ``-W`` or
    ``PYTHONWARNINGS`` say: errors are one line; ``-v`` logs warnings as debug records.
    """
    import signal
    import sys
    import warnings

    warnings.simplefilter("ignore")

    def terminate(signum, frame):  # noqa: ARG001
        sys.stderr.write("error: terminated\n")
        raise SystemExit(143)

    signal.signal(signal.SIGTERM, terminate)
    app()


__all__ = ["app", "main"]
