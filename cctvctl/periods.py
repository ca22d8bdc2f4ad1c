"""Local calendar periods ↔ UTC ranges, labels, and "the last complete period".

A period is a span of local calendar days: a day (midnight to midnight, 23 or 25 hours on DST
days), an ISO week (Monday–Sunday, label ``2021-W31``), a month or a year. SQL only ever sees
the UTC ``[start, end)`` range of a period, in epoch seconds, so it stays index-friendly and
DST-correct on every backend.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

from cctvctl import validate
from cctvctl.errors import UsageError

GRAINS = ("day", "week", "month", "year")
UTC = timezone.utc


@dataclass(frozen=True, order=True)
class Period:
    """Local days ``[start, end)`` of one grain."""

    grain: str
    start: date
    end: date

    @property
    def label(self) -> str:
        if self.grain == "day":
            return self.start.isoformat()
        if self.grain == "week":
            y, w, _ = self.start.isocalendar()
            return f"{y}-W{w:02d}"
        if self.grain == "month":
            return f"{self.start.year}-{self.start.month:02d}"
        return str(self.start.year)

    @property
    def days(self) -> list[date]:
        """Every calendar day, including one the zone skipped (see :meth:`local_days`)."""
        return [self.start + timedelta(days=i) for i in range((self.end - self.start).days)]

    def local_days(self, tz: ZoneInfo) -> list[date]:
        """The days that happened in ``tz``: a skipped day (Pacific/Apia 2011-12-30) is left out."""
        return [d for d in self.days if day_seconds(d, tz) > 0]

    def utc_range(self, tz: ZoneInfo) -> tuple[int, int]:
        return local_midnight_utc(self.start, tz), local_midnight_utc(self.end, tz)

    def previous(self) -> "Period":
        return period_containing(self.grain, self.start - timedelta(days=1))

    def next(self) -> "Period":
        return period_containing(self.grain, self.end)

    def same_last_year(self) -> "Period":
        if self.grain == "week":
            y, w, _ = self.start.isocalendar()
            try:
                return period_containing("week", date.fromisocalendar(y - 1, w, 1))
            except ValueError:  # week 53 with no twin: the last week of that year
                return period_containing("week", date(y - 1, 12, 28))
        d = self.start
        try:
            d = d.replace(year=d.year - 1)
        except ValueError:  # 29 February
            d = d.replace(year=d.year - 1, day=28)
        return period_containing(self.grain, d)


def local_midnight_utc(d: date, tz: ZoneInfo) -> int:
    """Epoch seconds of the first instant whose local date is ``d`` or later.

    Usually local midnight; where midnight falls in a DST gap (e.g. America/Santiago) the day
    starts at the transition, and where midnight repeats, at its first occurrence. A day the zone
    skipped entirely (Pacific/Apia 2011-12-30, Kwajalein 1993-08-21) starts where the next day
    starts, so it is a zero-length ``[t, t)`` range that holds no interval.
    """
    naive = datetime.combine(d, time(0))
    try:
        utcs = [int(naive.replace(tzinfo=tz, fold=fold).astimezone(UTC).timestamp()) for fold in (0, 1)]
    except (OverflowError, ValueError):  # the ends of Python's calendar (years 1 and 9999)
        validate.day_in_range(d, "day")
        raise
    valid = [t for t in utcs if local_date(t, tz) == d]
    if valid:
        return min(valid)
    # Midnight does not exist: the offset jumps forward across it. The two readings of the
    # missing wall time bracket the jump; the day starts at the jump (first second on or past d).
    lo, hi = min(utcs), max(utcs)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if local_date(mid, tz) >= d:
            hi = mid
        else:
            lo = mid
    return hi


def period_containing(grain: str, d: date) -> Period:
    if grain == "day":
        return Period("day", d, d + timedelta(days=1))
    if grain == "week":
        start = d - timedelta(days=d.weekday())
        return Period("week", start, start + timedelta(days=7))
    if grain == "month":
        start = d.replace(day=1)
        end = date(start.year + (start.month == 12), start.month % 12 + 1, 1)
        return Period("month", start, end)
    if grain == "year":
        return Period("year", date(d.year, 1, 1), date(d.year + 1, 1, 1))
    raise UsageError(f"unknown grain {grain!r} (day, week, month or year)")


_PATTERNS = {
    "day": re.compile(r"^(\d{4})-(\d{2})-(\d{2})$"),
    "week": re.compile(r"^(\d{4})-?W(\d{1,2})$", re.I),
    "month": re.compile(r"^(\d{4})-(\d{1,2})$"),
    "year": re.compile(r"^(\d{4})$"),
}
_EXAMPLES = {"day": "2021-08-01", "week": "2021-W31", "month": "2021-08", "year": "2021"}


def parse_period(grain: str, text: str) -> Period:
    """``2021-08-01`` / ``2021-W31`` / ``2021-08`` / ``2021`` → Period; UsageError otherwise."""
    m = _PATTERNS[grain].match(text.strip())
    bad = UsageError(f"invalid {grain} {text!r} (expected e.g. {_EXAMPLES[grain]})")
    if not m:
        raise bad
    try:
        if grain == "day":
            d = date(int(m[1]), int(m[2]), int(m[3]))
        elif grain == "week":
            d = date.fromisocalendar(int(m[1]), int(m[2]), 1)
        elif grain == "month":
            d = date(int(m[1]), int(m[2]), 1)
        else:
            d = date(int(m[1]), 1, 1)
    except ValueError:
        raise bad from None
    validate.days_in_range(d, d, f"--{grain}", text.strip())  # before: year 9999 has no end
    period = period_containing(grain, d)
    validate.days_in_range(period.start, period.end, f"--{grain}", text.strip())
    return period


def parse_date(text: str, flag: str = "date") -> date:
    """``YYYY-MM-DD`` → date within the days cctvctl handles; UsageError (naming ``flag``) else."""
    try:
        d = date.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"invalid date {text!r} (expected YYYY-MM-DD)") from None
    return validate.day_in_range(d, flag)


def periods_between(grain: str, first: date, last: date) -> list[Period]:
    """Every period of ``grain`` that contains a day in ``[first, last]`` (inclusive)."""
    out = []
    p = period_containing(grain, first)
    while p.start <= last:
        out.append(p)
        p = p.next()
    return out


def local_date(epoch: int, tz: ZoneInfo) -> date:
    return datetime.fromtimestamp(epoch, tz).date()


def local_datetime(epoch: int, tz: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(epoch, tz)


def local_iso(epoch: int, tz: ZoneInfo) -> str:
    """ISO timestamp with offset, e.g. ``2021-08-01T09:00:00+09:00``."""
    return datetime.fromtimestamp(epoch, tz).isoformat()


def today(tz: ZoneInfo, now: float | None = None) -> date:
    now = datetime.now(UTC).timestamp() if now is None else now
    return local_date(int(now), tz)


def last_complete(grain: str, tz: ZoneInfo, now: float | None = None) -> Period | None:
    """The latest period of ``grain`` that ended before ``now``, judged in local time."""
    current = period_containing(grain, today(tz, now))
    return current.previous()


@lru_cache(maxsize=8192)
def day_span(d: date, tz: ZoneInfo) -> tuple[int, int]:
    """UTC ``[start, end)`` of local day ``d``; ``start == end`` for a day the zone skipped."""
    return local_midnight_utc(d, tz), local_midnight_utc(d + timedelta(days=1), tz)


def day_seconds(d: date, tz: ZoneInfo) -> int:
    """Real length of local day ``d`` in seconds: 0 for a skipped day, else usually 82,800–90,000."""
    a, b = day_span(d, tz)
    return b - a


def hours_of_day(d: date, tz: ZoneInfo) -> float:
    """Real length of a local day in hours: 23, 24 or 25 (or 23.5 etc. in odd zones, 0 if skipped)."""
    return day_seconds(d, tz) / 3600


def expected_slots(seconds, interval):
    """Intervals of length ``interval`` expected in ``seconds`` of real time.

    At least one for any span that exists (a camera reporting daily still owes one interval in
    a 23-hour day), none for one that does not (a skipped day or hour). Works on ints and on
    numpy/pandas arrays alike.
    """
    import numpy as np  # not at import time: periods is on every command's start-up path

    if isinstance(seconds, (int, np.integer)) and isinstance(interval, (int, np.integer)):
        return 0 if seconds <= 0 else max(1, int(seconds) // int(interval))
    seconds = np.asarray(seconds, dtype="int64")
    return np.where(seconds > 0, np.maximum(seconds // np.asarray(interval, dtype="int64"), 1), 0)


def day_runs(days, limit: int | None = None) -> list[tuple]:
    """Days (dates or day numbers; any order, repeats allowed) → inclusive ``(first, last)`` runs
    of consecutive days, each at most ``limit`` days long.

    The one helper for cutting work into runs: aggregation, detection, recomputes and undo each
    read a run with one range query instead of one query per day.
    """
    runs: list[list] = []  # [first, last, length]
    for d in sorted(set(days)):
        step = timedelta(days=1) if isinstance(d, date) else 1
        if runs and d == runs[-1][1] + step and (limit is None or runs[-1][2] < limit):
            runs[-1][1] = d
            runs[-1][2] += 1
        else:
            runs.append([d, d, 1])
    return [(first, last) for first, last, _ in runs]
