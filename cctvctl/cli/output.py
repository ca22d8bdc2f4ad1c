"""Consoles and the error line: the only place that decides what reaches the terminal."""

from __future__ import annotations

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


def error_line(message: str) -> None:
    """One line on stderr: red on a terminal, plain text elsewhere."""
    err = stderr_console()
    if err.is_terminal:
        err.print(f"[bold red]error:[/] {message}", markup=True, highlight=False)
    else:
        sys.stderr.write(f"error: {message}\n")
        sys.stderr.flush()


def print_json(obj) -> None:
    import json

    sys.stdout.write(json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n")
