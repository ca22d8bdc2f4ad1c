"""Camera names from a file or an option: trimmed, and refused when empty, too long or holding
control characters.

Camera names are hostile input: they reach SQL parameters, file names, terminals and HTML. One
module says what a valid name is, for the rows of a file (checked once per distinct name, with a
reason per row) and for ``--camera``/``--wide`` (a usage error).
"""

from __future__ import annotations

import re

import pandas as pd

from cctvctl.errors import UsageError

CAMERA_MAX = 64
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def check_cameras(raw: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Camera names trimmed and checked once per distinct value; (names, reason per row)."""
    reasons = pd.Series(None, index=raw.index, dtype=object)
    fixed: dict[str, str] = {}
    bad: dict[str, str] = {}
    for value in pd.unique(raw):
        text = "" if value is None else str(value)
        name = text.strip()
        if name != text:
            fixed[text] = name
        if name == "":
            bad[text] = "missing camera"
        elif len(name) > CAMERA_MAX:
            bad[text] = f"camera name longer than {CAMERA_MAX} characters"
        elif _CONTROL.search(name):
            bad[text] = "camera name contains control characters"
    names = raw.replace(fixed) if fixed else raw
    if bad:
        mask = raw.isin(list(bad))
        reasons[mask] = raw[mask].map(bad)
    return names, reasons


def validate_camera_name(name: str) -> None:
    if not name.strip() or len(name) > CAMERA_MAX or _CONTROL.search(name) or name != name.strip():
        raise UsageError(f"invalid camera name {name[:80]!r}: 1–{CAMERA_MAX} characters, no control "
                         "characters, no leading or trailing spaces")
