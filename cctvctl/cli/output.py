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


#: bidirectional overrides and isolates: they reorder what follows on the terminal
_BIDI = set(range(0x202A, 0x202F)) | set(range(0x2066, 0x206A)) | {0x200E, 0x200F, 0x061C}


def printable(text: str) -> str:
    """``text`` safe for a terminal: control characters (C0, DEL, C1 such as CSI U+009B) and
    bidi overrides become visible ``\\xNN``/``\\uNNNN`` escapes, so a hostile camera or file
    name can neither move the cursor nor disguise itself. Backslashes are doubled so an escape
    cannot be forged."""
    out = []
    for ch in text:
        code = ord(ch)
        if ch == "\\":
            out.append("\\\\")
        elif code < 0x20 or 0x7F <= code < 0xA0:
            out.append(f"\\x{code:02x}")
        elif code in _BIDI:
            out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)
