"""Consoles and the error line: the only place that decides what reaches the terminal."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console


def stdout_console() -> Console:
    from rich.console import Console  # imported on use: start-up time

    return Console(file=sys.stdout, highlight=False, soft_wrap=False)


def stderr_console() -> Console:
    from rich.console import Console

    return Console(file=sys.stderr, highlight=False, soft_wrap=True)


def _redacted(message: str) -> str:
    """A last guard: no password from the environment (CCTV_*PASSWORD) in any error line."""
    for key, value in os.environ.items():
        if key.startswith("CCTV_") and key.endswith("PASSWORD") and len(value) >= 4:
            message = message.replace(value, "***")
    return message


def error_line(message: str) -> None:
    """One line on stderr: red on a terminal, plain text elsewhere; hostile names escaped."""
    from cctvctl.safetext import shown

    message = shown(_redacted(message))
    err = stderr_console()
    if err.is_terminal:
        from rich.text import Text

        err.print(Text.assemble(("error:", "bold red"), " ", message), highlight=False)
    else:
        sys.stderr.write(f"error: {message}\n")
        sys.stderr.flush()


def print_json(obj) -> None:
    """Indented JSON; unsafe characters in names as ``\\uXXXX`` escapes (values stay exact)."""
    from cctvctl.safetext import json_text

    sys.stdout.write(json_text(obj, indent=2, default=str) + "\n")


def text_cell(value):
    """A Rich table cell that shows ``value`` literally: no markup, hostile characters escaped."""
    from rich.text import Text

    from cctvctl.safetext import shown

    return Text(shown(value))
