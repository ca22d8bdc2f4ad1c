"""Where a report's moments come from: the ``stats`` table when it is current, else computed now.

The stats table is used for a period when ``aggregate`` wrote a row for it in this zone (its
stored UTC range equals the period's), for every camera that has data there, and no import
since the aggregation's watermark touched the period's days. Otherwise the same integer moments
are computed now from raw counts with :mod:`cctvctl.stats` — read-only GROUP BY queries — and
the report says so. Either way the figures are exact and equal.

Expected intervals follow the aggregation's rule: a day with data expects its real length over
the day's usual interval; a day without data expects its length over the camera's usual interval
in the period (the interval that covers most intervals, ties to the shorter).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from cctvctl.db.database import Database
from cctvctl.periods import Period, day_seconds, expected_slots
from cctvctl.stats.moments import (MOMENTS, combine, daily_intervals, daily_moments,
                                   hourly_moments, int_array)

DAY = 86400
DEFAULT_K = 1.5
DEFAULT_INTERVAL = 300

STORED_PERIODS_SQL = (
    "SELECT camera, n, expected, interval_s, people_n, people_sum, people_sumsq, vehicle_n, "
    "vehicle_sum, vehicle_sumsq, k, start_utc, end_utc, computed_at FROM stats "
    "WHERE grain = ? AND period_start = ? AND hour = -1{cameras}")
STORED_DAYS_SQL = (
    "SELECT camera, period_start, n, expected, interval_s, people_n, people_sum, people_sumsq, "
    "vehicle_n, vehicle_sum, vehicle_sumsq FROM stats "
    "WHERE grain = 'day' AND hour = -1 AND period_start >= ? AND period_start < ?{cameras}")
#: hour-of-day moments summed over the period's days (what the report shows of hours)
STORED_HOURS_SQL = (
    "SELECT camera, hour, SUM(n), SUM(people_n), SUM(people_sum), SUM(people_sumsq), "
    "SUM(vehicle_n), SUM(vehicle_sum), SUM(vehicle_sumsq) FROM stats "
    "WHERE grain = 'hour' AND period_start >= ? AND period_start < ?{cameras} "
    "GROUP BY camera, hour")
IMPORTED_CAMERAS_SQL = ("SELECT DISTINCT camera FROM import_days "
                        "WHERE utc_day >= ? AND utc_day <= ?{cameras}")
HAS_COUNTS_SQL = "SELECT 1 FROM counts WHERE camera = ? AND start_utc >= ? AND start_utc < ? LIMIT 1"
LATEST_IMPORT_SQL = "SELECT MAX(import_id) FROM import_days WHERE utc_day >= ? AND utc_day <= ?{cameras}"

_PERIOD_COLUMNS = ["camera", "n", "expected", "interval_s"] + list(MOMENTS[1:])


@dataclass
class Moments:
    """Integer moments of one period: per camera, per camera and day, per camera, day and hour."""

    source: str  # stats | computed
    k: float
    periods: pd.DataFrame  # camera, n, expected, interval_s, <metric>_n/_sum/_sumsq
    days: pd.DataFrame  # camera, day, n, expected, interval_s, moments
    hours: pd.DataFrame | None = None  # camera, hour (of day, over the whole period), moments
    computed_at: int | None = None
    #: why the stats table was not used (computed moments only)
    reason: str | None = None
    _rows: dict | None = field(default=None, repr=False, compare=False)

    @property
    def cameras(self) -> list[str]:
        return sorted(self.periods["camera"].tolist())

    def period_row(self, camera: str) -> dict:
        if self._rows is None:  # one dict per camera, built once (reports list 1,000s)
            self._rows = {r["camera"]: r for r in self.periods.to_dict("records")}
        return self._rows.get(camera, {})

    def interval(self, camera: str) -> int | None:
        value = self.period_row(camera).get("interval_s")
        return int(value) if value is not None and not pd.isna(value) else None


def _camera_filter(cameras: list[str] | None) -> tuple[str, list]:
    if not cameras:
        return "", []
    return " AND camera IN (" + ", ".join("?" for _ in cameras) + ")", list(cameras)


def _ints(frame: pd.DataFrame, columns) -> pd.DataFrame:
    for c in columns:
        frame[c] = int_array(frame[c].tolist())
    return frame


def frame_of(rows: list[tuple], columns: list[str], text: tuple[str, ...]) -> pd.DataFrame:
    """Query rows → a frame column by column: ``text`` columns as objects, the rest int64."""
    data = list(zip(*rows)) if rows else [()] * len(columns)
    return pd.DataFrame({c: (np.array(v, dtype=object) if c in text else int_array(list(v)))
                         for c, v in zip(columns, data)}, columns=columns)


def usual_interval(days: pd.DataFrame) -> dict[str, int]:
    """Per camera, the interval length covering most intervals (ties: the shorter one)."""
    if days.empty:
        return {}
    weights = days.groupby(["camera", "interval_s"], as_index=False)["n"].sum()
    weights = weights.sort_values(["camera", "n", "interval_s"], ascending=[True, False, True])
    best = weights.drop_duplicates("camera", keep="first")
    return {c: int(i) for c, i in zip(best["camera"], best["interval_s"])}


def expected_intervals(days: pd.DataFrame, span: list[date], intervals: dict[str, int],
                       tz: ZoneInfo) -> int:
    """Intervals expected from ``intervals``' cameras over the local days ``span``.

    A (camera, day) in ``days`` expects its stored count; any other expects the day's real
    length over the camera's usual interval.
    """
    known = {(c, d): int(e) for c, d, e in zip(days["camera"], days["day"], days["expected"])}
    total = 0
    for camera, interval in intervals.items():
        for d in span:
            e = known.get((camera, d))
            total += e if e is not None else expected_slots(day_seconds(d, tz), interval)
    return total


# -- computed now ---------------------------------------------------------------------------
def computed(db: Database, period: Period, tz: ZoneInfo, cameras: list[str] | None, *,
             hours: bool, k: float = DEFAULT_K) -> Moments:
    """Moments of ``period`` straight from raw counts (GROUP BY in the database, read-only)."""
    start, end = period.utc_range(tz)
    hourly = hourly_moments(db, tz, start, end, cameras) if hours else None
    daily = (combine(hourly, ["camera", "day"]) if hourly is not None
             else daily_moments(db, tz, start, end, cameras))
    iv = daily_intervals(db, tz, start, end, cameras)
    daily = daily.merge(iv, on=["camera", "day"], how="left")
    daily["interval_s"] = daily["interval_s"].fillna(DEFAULT_INTERVAL).astype("int64")
    daily["expected"] = pd.Series([expected_slots(day_seconds(d, tz), int(i))
                                   for d, i in zip(daily["day"], daily["interval_s"])],
                                  index=daily.index, dtype="int64")
    usual = usual_interval(daily)
    periods = combine(daily.drop(columns=["expected", "interval_s"]), ["camera"])
    periods["interval_s"] = [usual[c] for c in periods["camera"]]
    per_camera = {c: part for c, part in daily.groupby("camera", sort=False)}
    periods["expected"] = [expected_intervals(per_camera[c], period.days, {c: usual[c]}, tz)
                           for c in periods["camera"]]
    hours_of_day = combine(hourly, ["camera", "hour"]) if hourly is not None else None
    return Moments("computed", k, periods[_PERIOD_COLUMNS].reset_index(drop=True), daily,
                   hours_of_day)


# -- from the stats table -------------------------------------------------------------------
STORED_CHECK_SQL = ("SELECT camera, k, start_utc, end_utc, computed_at FROM stats "
                    "WHERE grain = ? AND period_start = ? AND hour = -1{cameras}")
COUNTED_CAMERAS_SQL = "SELECT DISTINCT camera FROM counts WHERE start_utc >= ? AND start_utc < ?"


@dataclass
class StoredPeriod:
    """The stats table holds ``period`` and it is current: its k, when, and for which cameras."""

    k: float
    computed_at: int
    cameras: list[str]


def stored_check(db: Database, period: Period, tz: ZoneInfo,
                 cameras: list[str] | None) -> StoredPeriod | str:
    """Whether ``aggregate`` has computed ``period`` for every camera and it is current; else
    the reason, in a few words. Reads camera names and a few numbers, not the moments."""
    from cctvctl.stats.state import AggState

    start, end = period.utc_range(tz)
    where, values = _camera_filter(cameras)
    rows = db.query(STORED_CHECK_SQL.format(cameras=where), [period.grain, period.start.isoformat()] + values)
    if not rows:
        return "not aggregated yet"
    if not all(int(r[2]) == start and int(r[3]) == end for r in rows):
        return "aggregated in another zone"
    names = [str(r[0]) for r in rows]
    days_span = [start // DAY, (end - 1) // DAY]
    imported = {r[0] for r in db.query(IMPORTED_CAMERAS_SQL.format(cameras=where), days_span + values)}
    # UTC days overhang the local period: a camera imported there may have no interval inside
    if any(db.query_one(HAS_COUNTS_SQL, (c, start, end)) for c in imported - set(names)):
        return "a camera is not aggregated"
    state = AggState(db)
    marks = [state.watermark(g) for g in {"day", period.grain}]
    latest = db.scalar(LATEST_IMPORT_SQL.format(cameras=where), days_span + values)
    if any(m is None for m in marks) or (latest is not None and int(latest) > min(marks)):
        return "new data since aggregate"
    return StoredPeriod(float(rows[0][1]), min(int(r[4]) for r in rows), names)


def stored_frames(db: Database, period: Period, checked: StoredPeriod, cameras: list[str] | None, *,
                  hours: bool) -> Moments | str:
    """The stored moments of ``cameras`` (all: None) in a period :func:`stored_check` passed;
    "stats rows incomplete" if the finer rows do not add up to the period rows."""
    where, values = _camera_filter(cameras)
    rows = db.query(STORED_PERIODS_SQL.format(cameras=where), [period.grain, period.start.isoformat()] + values)
    periods = pd.DataFrame(rows, columns=_PERIOD_COLUMNS + ["k", "start_utc", "end_utc", "computed_at"])
    periods = _ints(periods, ["n", "expected", "interval_s"] + list(MOMENTS[1:]))
    periods["camera"] = periods["camera"].astype(object)
    bounds = [period.start.isoformat(), period.end.isoformat()]
    daily = _stored_frame(db, STORED_DAYS_SQL.format(cameras=where), bounds + values,
                          ["camera", "period_start", "n", "expected", "interval_s"] + list(MOMENTS[1:]))
    hourly = None
    if hours:
        hourly = frame_of(db.query(STORED_HOURS_SQL.format(cameras=where), bounds + values),
                          ["camera", "hour", "n"] + list(MOMENTS[1:]), ("camera",))
    if not _consistent(periods, daily) or (hourly is not None and not _consistent(periods, hourly)):
        return "stats rows incomplete"
    return Moments("stats", checked.k, periods[_PERIOD_COLUMNS].copy(), daily, hourly,
                   computed_at=checked.computed_at)


def counted_cameras(db: Database, period: Period, tz: ZoneInfo) -> list[str]:
    """Cameras with at least one interval starting in the period (what computed moments hold)."""
    start, end = period.utc_range(tz)
    return [str(r[0]) for r in db.query(COUNTED_CAMERAS_SQL, (start, end))]


def _stored_frame(db: Database, sql: str, params: list, columns: list[str]) -> pd.DataFrame:
    frame = frame_of(db.query(sql, params), columns, ("camera", "period_start"))
    days = {text: date.fromisoformat(text) for text in set(frame["period_start"])}
    frame["day"] = frame["period_start"].map(days).astype(object)
    return frame.drop(columns=["period_start"])


def _consistent(periods: pd.DataFrame, parts: pd.DataFrame) -> bool:
    """The finer rows add up to the period rows (else they are from different runs)."""
    if parts.empty:
        return bool((periods["n"] == 0).all())
    sums = combine(parts, ["camera"]).set_index("camera")
    mine = periods.set_index("camera")
    cols = list(MOMENTS)
    return sums.reindex(mine.index)[cols].fillna(-1).astype("int64").equals(mine[cols].astype("int64"))


def stats_readable(db: Database) -> bool:
    """Whether the stats table has the columns a report reads (schema migrated to the latest)."""
    from cctvctl.db.schema import LATEST, current_version

    return current_version(db) >= LATEST
