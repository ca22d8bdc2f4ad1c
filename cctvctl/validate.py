"""Limits of option values, checked in one place for the CLI and the library.

A value at the edge (``--year 9999``, ``--interval inf``, ``--k 1e308``, ``--seed -5``,
``--encoding rot13``) must be refused up front with one line that names the option and what it
accepts (a UsageError, exit 2), not overflow deep inside a conversion as an "unexpected" error.
Nothing heavy is imported here: this runs on every command's start-up path.
"""

from __future__ import annotations

import io
import math
from datetime import date

from cctvctl.errors import UsageError

#: the local days cctvctl works with: the range import stores (1970–2099, see ingest.timeparse)
FIRST_DAY = date(1970, 1, 1)
LAST_DAY = date(2099, 12, 31)
#: reference factor k (ref = mean + k·std; detection bands in σ): larger is meaningless and
#: 1e308·std is infinity, which SQLite stores as Inf and MariaDB refuses
K_MAX = 100.0
#: the longest interval a file without an end column can have: one local day
INTERVAL_MAX = 86_400
#: the longest a stored row may span (an end column): a day plus the hour a DST change adds;
#: rows starting this long before a time cannot reach it (the overlap checks' window)
ROW_SPAN_MAX = 25 * 3600
#: random seeds: what numpy's generators take (non-negative), bounded so it stays an integer
SEED_MAX = 2**64 - 1
#: row ids and counts of rows (import ids, --limit): what a BIGINT (SQLite's INTEGER) holds;
#: a larger Python int overflows the driver (SQLite) or the SQL text (LIMIT) instead
BIGINT_MAX = 2**63 - 1


def day_in_range(d: date, flag: str = "date") -> date:
    """``d`` itself when cctvctl can work with it, else a UsageError naming ``flag``."""
    if not FIRST_DAY <= d <= LAST_DAY:
        raise UsageError(f"{flag} {d.isoformat()} is outside the days cctvctl handles "
                         f"({FIRST_DAY} … {LAST_DAY})")
    return d


def days_in_range(first: date, end: date, flag: str, label: str) -> None:
    """A period's days ``[first, end)`` all within range (``label`` is how the user wrote it)."""
    if first < FIRST_DAY or end > date(LAST_DAY.year + 1, 1, 1):
        raise UsageError(f"{flag} {label} is outside the days cctvctl handles "
                         f"({FIRST_DAY} … {LAST_DAY})")


def finite(value) -> float | None:
    """``value`` as a finite float, or None (inf, nan, text, a number too large for a float)."""
    if isinstance(value, bool):
        return None
    try:
        x = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return x if math.isfinite(x) else None


def integer(value, flag: str, *, low: int, high: int) -> int:
    """An int in ``[low, high]`` (bools and floats refused: they are not what was meant)."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise UsageError(f"{flag} must be a whole number from {low:,} to {high:,}, not {value!r}")
    return value


def k_factor(k, flag: str = "--k", *, positive: bool = False) -> float:
    """The reference factor: 0 (aggregate) or more than 0 (detection bands), at most K_MAX."""
    x = finite(k)
    if positive and (x is None or x <= 0):
        raise UsageError(f"{flag} must be a positive number")
    if not positive and (x is None or x < 0):
        raise UsageError(f"{flag} must be a finite number ≥ 0")
    if x > K_MAX:
        raise UsageError(f"{flag} must be at most {K_MAX:g} (got {x:g})")
    return x


def interval_minutes(minutes, flag: str = "--interval") -> int:
    """Interval length given in minutes → whole seconds, 1 s to one day."""
    x = finite(minutes)
    if x is None or x <= 0 or x * 60 != int(x * 60):
        raise UsageError(f"{flag} must be a positive number of minutes (whole seconds)")
    if x * 60 > INTERVAL_MAX:
        raise UsageError(f"{flag} must be at most {INTERVAL_MAX // 60} minutes (one day), not {minutes!r}")
    return int(x * 60)


def interval_seconds(seconds, flag: str = "--interval") -> int:
    """Interval length in seconds (the library's unit), 1 s to one day."""
    if isinstance(seconds, float) and seconds.is_integer():
        seconds = int(seconds)
    if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds <= 0:
        raise UsageError(f"{flag} must be a positive number of minutes")
    if seconds > INTERVAL_MAX:
        raise UsageError(f"{flag} must be at most {INTERVAL_MAX // 60} minutes (one day)")
    return seconds


def row_id(value, flag: str = "ID") -> int:
    """A row id (an import's): 1 to BIGINT_MAX."""
    return integer(value, flag, low=1, high=BIGINT_MAX)


def seed(value, flag: str = "--seed") -> int:
    return integer(value, flag, low=0, high=SEED_MAX)


def encoding(name: str, flag: str = "--encoding") -> str:
    """A text encoding Python knows (``rot13`` and ``base64`` are codecs but not text)."""
    try:
        io.TextIOWrapper(io.BytesIO(), encoding=name)  # what reading the file will do
    except LookupError as exc:
        if "not a text encoding" in str(exc):
            raise UsageError(f"{flag} {name!r} is not a text encoding (e.g. utf-8, cp949, latin-1)") from None
        raise UsageError(f"unknown {flag} {name!r} (e.g. utf-8, cp949, latin-1)") from None
    except (TypeError, ValueError):
        raise UsageError(f"unknown {flag} {name!r} (e.g. utf-8, cp949, latin-1)") from None
    return name


def camera_names(names, flag: str = "--camera"):
    """Camera names asked for (a filter) as given, or a UsageError: a stored name never has
    leading or trailing spaces (import refuses them), and MariaDB's PAD SPACE collation would
    match ``'gate '`` to ``gate`` where SQLite matches nothing — refused on both instead."""
    if names is None:
        return None
    for name in names:
        if not name or name != name.strip():
            raise UsageError(f"{flag} {name[:80]!r}: a camera name never starts or ends with "
                             "a space (import refuses such names)")
    return names
