"""The zone a timestamp names itself, as a UTC offset: numbers, UTC/GMT, the import zone's own
abbreviations.

A timestamp may name its own zone, and the row is then read at that offset: a numeric offset
(``+09``, ``+0900``, ``+09:00``), ``Z``/``UTC``/``GMT`` (offset 0), or an abbreviation the
import's zone uses (``KST`` in Asia/Seoul, ``PST``/``PDT`` in America/Los_Angeles). Any other
abbreviation is refused with a reason — ``CST`` or ``IST`` name several zones, and dropping one
moved rows by hours. Kept apart from the shapes of the text: what a zone name means is a
question about the zone database, asked once per distinct name.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

import pandas as pd

UTC_NAMES = {"Z", "UTC", "GMT", "UT"}
MAX_OFFSET = 14 * 3600  # the largest offset in use (Pacific/Kiritimati)


def zone_offsets(tz: ZoneInfo, zone: pd.Series, offset: pd.Series, refuse) -> pd.Series:
    """Offsets (into ``offset``) of the rows that name a zone; ``refuse(mask, message)`` the
    rows whose zone is refused. Returns the rows needing a wall-time lookup
    (:func:`abbreviation_offset`: an abbreviation that meant more than one offset)."""
    pending = pd.Series(False, index=zone.index)
    upper = zone.dropna().str.upper()
    known = abbreviations(tz)
    for value in pd.unique(upper):
        rows = upper.index[upper == value]
        mask = pd.Series(zone.index.isin(rows), index=zone.index)
        if value in UTC_NAMES:
            offset[rows] = 0.0
        elif value[0] in "+-":
            digits = value[1:].replace(":", "")
            hours, minutes = int(digits[:2]), int(digits[2:] or 0)
            seconds = hours * 3600 + minutes * 60
            if minutes >= 60 or seconds > MAX_OFFSET:
                refuse(mask, lambda v, z=value: f"timestamp {v!r}: {z} is not a UTC offset")
            else:
                offset[rows] = float(seconds if value[0] == "+" else -seconds)
        elif value not in known:
            own = ", ".join(sorted(known)) or "none"
            refuse(mask, lambda v, z=value: (
                f"timestamp {v!r}: zone abbreviation {z} is not one {tz.key} uses "
                f"({own}); abbreviations are ambiguous, so only UTC/GMT and the import "
                "zone's own are read — write the offset (+09:00) or import with --tz "
                "set to the file's zone"))
        elif len(known[value]) == 1:
            offset[rows] = float(known[value][0])
        else:
            pending[rows] = True
    return pending


def abbreviation_offset(tz: ZoneInfo, name: str, wall) -> float | None:
    """The offset abbreviation ``name`` had in ``tz`` at local time ``wall``."""
    ts = pd.Timestamp(wall).to_pydatetime()
    for fold in (0, 1):
        local = ts.replace(tzinfo=tz, fold=fold)
        if (local.tzname() or "").upper() == name:
            return local.utcoffset().total_seconds()
    return None


@lru_cache(maxsize=64)
def abbreviations(tz: ZoneInfo) -> dict[str, tuple[int, ...]]:
    """Zone abbreviations ``tz`` used 1970–2099 and the offsets (seconds) each one meant."""
    seen: dict[str, set[int]] = {}
    for year in range(1970, 2100):
        for month in range(1, 13):
            for day in (1, 15):
                local = datetime(year, month, day, 12, tzinfo=tz)
                name = local.tzname() or ""
                if name.isalpha() and name.isascii():
                    seen.setdefault(name.upper(), set()).add(int(local.utcoffset().total_seconds()))
    return {k: tuple(sorted(v)) for k, v in seen.items()}
