"""Where references come from: the moments the aggregation computes and stores.

Hourly moments of days the nightly aggregation has already stored (``stats`` rows of grain
``hour``, up to ``through:day``) are read from there — a few rows per camera and day instead of
a scan of every interval — unless an import newer than the aggregation's watermark touched the
day (late data), in which case, as for the days after, they are computed from raw counts by
:func:`cctvctl.stats.moments.hourly_moments`. Both give the same exact integers, so a flag never
depends on whether cron has run.
"""

from __future__ import annotations

from datetime import date, timedelta
from itertools import chain, islice
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from cctvctl.db.database import Database
from cctvctl.detect.engine import local_day_hour
from cctvctl.detect.methods import METRICS, day_ordinals
from cctvctl.periods import day_runs, local_date, local_midnight_utc
from cctvctl.stats.moments import (DAY, EPOCH_ORDINAL, HOUR, MOMENTS, bucket_rows, camera_filter,
                                   daily_moments, hourly_moments, int_array)
from cctvctl.stats.dayhours import unpack
from cctvctl.stats.state import AggState

#: the same moments summed over a span of days, with how many days had each metric
COLLAPSED_HOURS = ("SELECT camera, hour, " + ", ".join(f"SUM({m})" for m in MOMENTS) + ", "
                   + ", ".join(f"SUM(CASE WHEN {m}_n > 0 THEN 1 ELSE 0 END)" for m in METRICS)
                   + " FROM stats WHERE camera = ? AND grain = 'hour' AND period_start >= ? "
                   "AND period_start < ? GROUP BY camera, hour")
#: hourly moments of raw counts plus each metric's extremes: what the judged hours need
JUDGED_HOURS_SQL = (
    "SELECT camera, (start_utc + ?) - ((start_utc + ?) % ?) AS bucket, COUNT(*), "
    "COUNT(people), CAST(SUM(people) AS SIGNED), CAST(SUM(people * people) AS SIGNED), "
    "COUNT(vehicle), CAST(SUM(vehicle) AS SIGNED), CAST(SUM(vehicle * vehicle) AS SIGNED), "
    "MIN(people), MAX(people), MIN(vehicle), MAX(vehicle), "
    "SUM(CASE WHEN people IS NULL AND vehicle IS NULL THEN 1 ELSE 0 END) "
    "FROM counts WHERE start_utc >= ? AND start_utc < ?{cameras} "
    "GROUP BY camera, bucket")
EXTREMES = tuple(f"{m}_{e}" for m in METRICS for e in ("min", "max"))
#: intervals of the hour with no value at all (with n and each ``{metric}_n``, every row's
#: pattern of known metrics is counted: the judged/fallback tallies are per row, not per hour)
NO_VALUE = "none_n"
STORED_HOURS = ("SELECT camera, period_start, hour, " + ", ".join(MOMENTS) + " FROM stats "
                "WHERE grain = 'hour' AND period_start >= ? AND period_start < ?{cameras}")
#: the same rows packed: per camera one text of "YYYYMMDD,hour,<moments>,…" (numpy parses it in
#: C; a month of 1,000 cameras' hours is ~720,000 rows, each decoded field by field otherwise)
_PACKED_FIELDS = ["REPLACE(period_start, '-', '')", "hour"] + [f"COALESCE({m}, 0)" for m in MOMENTS]
#: the dialect's packed_concat of _PACKED_FIELDS goes in {packed}
PACKED_HOURS = ("SELECT camera, {packed} FROM stats WHERE grain = 'hour' AND period_start >= ? "
                "AND period_start < ?{cameras} GROUP BY camera")
#: packed hour rows of stored days (cctvctl.stats.dayhours), and which days have stats at all
DAY_HOURS = ("SELECT period_start, camera, moments FROM day_hours WHERE period_start >= ? "
             "AND period_start < ?{cameras}")
COUNT_STORED_DAYS = ("SELECT COUNT(*) FROM stats WHERE grain = 'day' AND hour = -1 "
                     "AND period_start >= ? AND period_start < ?{cameras}")
STORED_DAYS = ("SELECT camera, period_start FROM stats WHERE grain = 'day' AND hour = -1 "
               "AND period_start >= ? AND period_start < ?{cameras}")
TOUCHED_SINCE = "SELECT DISTINCT camera, utc_day FROM import_days WHERE import_id > ?"
FIRST_START = "SELECT MIN(start_utc) FROM counts WHERE camera = ?"


class DbMoments:
    """The :class:`~cctvctl.detect.engine.MomentSource` over a database (one detection run)."""

    def __init__(self, db: Database, tz: ZoneInfo, day_hours: bool = True):
        """``day_hours=False`` reads stored days from their ``stats`` hour rows only (the plain
        path the packed ``day_hours`` read is tested against)."""
        self.db = db
        self.tz = tz
        self.day_hours = day_hours
        self._day_hours_table: bool | None = None
        self._state: tuple[date, int] | None | bool = False  # False: not read yet

    # -- hourly ---------------------------------------------------------------------------
    def hourly(self, start_utc: int, end_utc: int, cameras: list[str],
               collapse: tuple[int, int] | None = None,
               only_days: list[tuple[int, int, list[int]]] | None = None) -> pd.DataFrame:
        """Columns of :func:`~cctvctl.stats.moments.hourly_moments`, ``day`` as a date ordinal.

        ``only_days = [(first hour, last hour, days), …]``: only those hours of those days
        (ordinals) are needed (others may be left out; see :func:`~cctvctl.detect.robust.needed_hours`).

        ``collapse = (lo, hi)`` (ordinals) allows stored days ``[lo, hi)`` to come back summed
        into one row per camera and hour, dated ``hi - 1``, with ``{metric}_days`` saying how
        many days it stands for (every judged day has all of them in its window).
        """
        first, end = local_date(start_utc, self.tz), local_date(end_utc, self.tz)
        self._only_days = only_days
        state = self._stored_state()
        aligned = (start_utc == local_midnight_utc(first, self.tz)
                   and end_utc == local_midnight_utc(end, self.tz))
        if state is None or not aligned or first > state[0] or not cameras:
            return keep_hours(_ordinals(hourly_moments(self.db, self.tz, start_utc, end_utc, cameras)), only_days)
        through, watermark = state
        mid = min(end, through + timedelta(days=1))
        stale = {(c, d) for c, d in self._touched_since(watermark) if first <= d < mid and c in cameras}
        parts = []
        c_lo, c_hi, clean = first, first, []
        if collapse is not None:
            c_lo = max(first, date.fromordinal(collapse[0]))
            c_hi = max(c_lo, min(mid, date.fromordinal(collapse[1])))
            dirty = {c for c, d in stale if c_lo <= d < c_hi}
            clean = [c for c in cameras if c not in dirty] if c_lo < c_hi else []
        if clean:
            parts.append(self._collapsed(c_lo, c_hi, clean))
            parts.append(self._stored(first, c_lo, clean, stale))
            parts.append(self._stored(c_hi, mid, clean, stale))
        others = [c for c in cameras if c not in set(clean)]
        if others:
            parts.append(self._stored(first, mid, others, stale))
        for run in day_runs({d for _, d in stale}):
            names = sorted({c for c, d in stale if run[0] <= d <= run[1]})
            raw = hourly_moments(self.db, self.tz, local_midnight_utc(run[0], self.tz),
                                 local_midnight_utc(run[1] + timedelta(days=1), self.tz), names)
            keep = np.array([(c, d) in stale for c, d in zip(raw["camera"], raw["day"])], dtype=bool)
            parts.append(_ordinals(raw[keep]))  # a boolean array: an empty list would pick columns
        if mid < end:
            parts.append(_ordinals(hourly_moments(self.db, self.tz, local_midnight_utc(mid, self.tz),
                                                  end_utc, cameras)))
        for part in parts:
            for metric in METRICS:
                if f"{metric}_days" not in part:
                    part[f"{metric}_days"] = (part[f"{metric}_n"] > 0).astype(np.int64)
        return keep_hours(pd.concat(parts, ignore_index=True), only_days)

    def _stored_state(self) -> tuple[date, int] | None:
        """(last day the aggregation completed, its import watermark) if usable in this zone."""
        if self._state is False:
            state = AggState(self.db)
            through, watermark = state.through("day"), state.watermark("day")
            usable = through is not None and watermark is not None and state.get("tz") == self.tz.key
            self._state = (through, watermark) if usable else None
        return self._state

    def _touched_since(self, watermark: int) -> set[tuple[str, date]]:
        """(camera, local day) pairs an import after the watermark may have changed (a superset)."""
        rows = self.db.query(TOUCHED_SINCE, (watermark,))
        if not rows:
            return set()
        cameras = [str(r[0]) for r in rows]
        first_second = np.array([int(r[1]) for r in rows], dtype=np.int64) * 86400
        out = set()
        for seconds in (first_second, first_second + 86399):  # a UTC day spans two local days
            for camera, ordinal in zip(cameras, local_day_hour(seconds, self.tz)[0]):
                out.add((camera, date.fromordinal(int(ordinal))))
        return out

    def _stored(self, first: date, end: date, cameras: list[str],
                stale: set[tuple[str, date]]) -> pd.DataFrame:
        """Stored hour rows of local days ``[first, end)``, without the stale ones."""
        columns = ["camera", "day", "hour"] + list(MOMENTS)
        frame = None
        if first < end and self.day_hours and self._has_day_hours():
            frame = self._from_day_hours(first, end, cameras)
        elif first < end:
            frame = self._hour_rows(first, end, cameras)
        if frame is None or frame.empty:
            return pd.DataFrame({c: pd.Series(dtype=object if c == "camera" else np.int64)
                                 for c in columns})
        if stale:
            gone = pd.MultiIndex.from_tuples([(c, d.toordinal()) for c, d in stale])
            frame = frame[~pd.MultiIndex.from_frame(frame[["camera", "day"]]).isin(gone)]
        return frame

    def _hour_rows(self, first: date, end: date, cameras: list[str]) -> pd.DataFrame | None:
        """Stored ``stats`` hour rows of ``[first, end)``, in the dialect's cheaper shape."""
        if self.db.dialect.packed_scan:
            return self._packed(first, end, cameras)
        return self._plain(first, end, cameras)

    def _has_day_hours(self) -> bool:
        if self._day_hours_table is None:
            self._day_hours_table = self.db.table_exists("day_hours")
        return self._day_hours_table

    def _from_day_hours(self, first: date, end: date, cameras: list[str]) -> pd.DataFrame | None:
        """Stored hour rows of ``[first, end)`` from the packed ``day_hours`` rows; a stored day
        without one (aggregated before schema 8) from its ``stats`` rows."""
        where, names = camera_filter(cameras)
        more, values = self._wanted_days()
        bounds = [first.isoformat(), end.isoformat()]
        packed = self.db.query(DAY_HOURS.format(cameras=where + more), bounds + names + values)
        missing: set[tuple[str, str]] = set()
        if self.db.scalar(COUNT_STORED_DAYS.format(cameras=where + more), bounds + names + values) != len(packed):
            have = {(str(r[1]), str(r[0])) for r in packed}
            stored = self.db.query(STORED_DAYS.format(cameras=where + more), bounds + names + values)
            missing = {(str(c), str(d)) for c, d in stored} - have
        ordinals = {text: date.fromisoformat(text).toordinal() for text in {str(r[0]) for r in packed}}
        days = np.array([ordinals[str(r[0])] for r in packed], dtype=np.int64)
        frame = unpack(packed, days, _hour_mask(days, self._only_days))
        if missing:
            lo = min(date.fromisoformat(d) for _, d in missing)
            hi = max(date.fromisoformat(d) for _, d in missing) + timedelta(days=1)
            older = self._hour_rows(lo, hi, sorted({c for c, _ in missing}))
            if older is not None and not older.empty:
                wanted = pd.MultiIndex.from_tuples([(c, date.fromisoformat(d).toordinal()) for c, d in missing])
                older = older[pd.MultiIndex.from_frame(older[["camera", "day"]]).isin(wanted)]
                frame = pd.concat([frame, older[list(frame.columns)]], ignore_index=True)
        return frame

    def _wanted_days(self) -> tuple[str, list]:
        """SQL (and values) keeping only the days ``only_days`` names (their hours are picked
        after reading)."""
        only = getattr(self, "_only_days", None)
        if only is None:
            return "", []
        days = sorted({d for _, _, ds in only for d in ds})
        if not days:
            return " AND 0 = 1", []
        return (f" AND period_start IN ({', '.join('?' for _ in days)})",
                [date.fromordinal(d).isoformat() for d in days])

    def _days_filter(self) -> tuple[str, list]:
        """SQL (and values) keeping only the hours ``only_days`` asks for."""
        only = getattr(self, "_only_days", None)
        if only is None:
            return "", []
        clauses, values = [], []
        for lo, hi, days in only:
            if days:
                clauses.append(f"(hour >= ? AND hour <= ? AND period_start IN ({', '.join('?' for _ in days)}))")
                values += [lo, hi] + [date.fromordinal(d).isoformat() for d in days]
        return (" AND (" + " OR ".join(clauses) + ")", values) if clauses else (" AND 0 = 1", [])

    def _plain(self, first: date, end: date, cameras: list[str]) -> pd.DataFrame | None:
        """Stored hour rows of ``[first, end)``, one driver row each (SQLite: its C rows are
        cheaper than building one text per camera)."""
        where, names = camera_filter(cameras)
        more, values = self._days_filter()
        rows = self.db.query(STORED_HOURS.format(cameras=where) + more,
                             [first.isoformat(), end.isoformat()] + names + values)
        if not rows:
            return None
        cams, texts = zip(*((r[0], r[1]) for r in rows))
        days = {text: date.fromisoformat(text).toordinal() for text in set(texts)}
        frame = pd.DataFrame({"camera": np.array(cams, dtype=object),
                              "day": np.array([days[t] for t in texts], dtype=np.int64)})
        for name, values in zip(("hour",) + tuple(MOMENTS), _int_columns(rows, 1 + len(MOMENTS), skip=2)):
            frame[name] = values
        return frame

    def _packed(self, first: date, end: date, cameras: list[str]) -> pd.DataFrame:
        """Stored hour rows of ``[first, end)`` read as one packed text per camera."""
        self.db.allow_long_concat()
        where, names = camera_filter(cameras)
        more, values = self._days_filter()
        packed = self.db.dialect.packed_concat(_PACKED_FIELDS)
        rows = self.db.query(PACKED_HOURS.format(packed=packed, cameras=where + more),
                             [first.isoformat(), end.isoformat()] + names + values)
        width = 2 + len(MOMENTS)
        texts = [r[1] for r in rows if r[1]]
        if not texts:
            return None
        sep = b"," if isinstance(texts[0], (bytes, bytearray)) else ","
        flat = np.fromstring(sep.join(texts), dtype=np.int64, sep=",")
        table = flat.reshape(-1, width)
        sizes = np.array([t.count(sep) + 1 for t in texts], dtype=np.int64) // width
        cams = np.repeat(np.array([r[0] for r in rows if r[1]], dtype=object), sizes)
        ymd = table[:, 0]
        keys, inverse = np.unique(ymd, return_inverse=True)
        ordinals = np.array([date(int(k) // 10000, int(k) // 100 % 100, int(k) % 100).toordinal()
                             for k in keys], dtype=np.int64)
        frame = pd.DataFrame({"camera": cams, "day": ordinals[np.asarray(inverse).reshape(-1)],
                              "hour": table[:, 1]})
        for i, name in enumerate(MOMENTS):
            frame[name] = table[:, 2 + i]
        return frame

    def _collapsed(self, first: date, end: date, cameras: list[str]) -> pd.DataFrame:
        """Stored hour rows of ``[first, end)`` summed per camera and hour, dated ``end - 1``.

        One query per camera: each is a primary-key range (MariaDB otherwise walks the
        ``grain, period_start`` index and sorts every row of the window).
        """
        rows = []
        for camera in cameras:
            rows += self.db.query(COLLAPSED_HOURS, [camera, first.isoformat(), end.isoformat()])
        columns = ["hour"] + list(MOMENTS) + [f"{m}_days" for m in METRICS]
        if not rows:
            return _frame([], [], columns, [[] for _ in columns])
        data = list(zip(*rows))
        return _frame(data[0], [end.toordinal() - 1] * len(rows), columns, data[1:])

    # -- the rest -------------------------------------------------------------------------
    def daily(self, start_utc: int, end_utc: int, cameras: list[str]) -> pd.DataFrame:
        return daily_moments(self.db, self.tz, start_utc, end_utc, cameras)

    def first_days(self, cameras: list[str]) -> pd.Series:
        """Local day (ordinal) of each camera's first stored interval."""
        firsts = {}
        for camera in cameras:
            value = self.db.scalar(FIRST_START, (camera,))
            if value is not None:
                firsts[camera] = local_date(int(value), self.tz).toordinal()
        return pd.Series(firsts, dtype="float64")


def hours_with_extremes(db: Database, tz: ZoneInfo, start_utc: int, end_utc: int,
                 cameras: list[str]) -> pd.DataFrame:
    """Hourly moments of raw counts with ``{metric}_min``/``_max`` (NaN where unknown).

    The columns of :meth:`DbMoments.hourly` plus :data:`EXTREMES`, in one scan of the judged
    rows: the extremes tell which hours can hold a flag without reading their rows.
    """
    columns = (["camera", "day", "hour"] + list(MOMENTS) + [f"{m}_days" for m in METRICS]
               + list(EXTREMES) + [NO_VALUE])
    rows = bucket_rows(db, JUDGED_HOURS_SQL, tz, int(start_utc), int(end_utc), cameras, HOUR) \
        if cameras else []
    if not rows:
        return pd.DataFrame({c: pd.Series(dtype=object if c == "camera" else
                                          np.float64 if c in EXTREMES else np.int64) for c in columns})
    data = list(zip(*rows))
    bucket = int_array(data[1])
    frame = pd.DataFrame({"camera": np.array(data[0], dtype=object),
                          "day": bucket // DAY + EPOCH_ORDINAL, "hour": bucket % DAY // HOUR})
    for name, values in zip(MOMENTS, data[2:2 + len(MOMENTS)]):
        frame[name] = int_array(values)
    for name, values in zip(EXTREMES, data[2 + len(MOMENTS):]):
        frame[name] = np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)
    frame[NO_VALUE] = int_array(data[-1])
    if frame.duplicated(["camera", "day", "hour"]).any():  # a repeated wall hour (DST fall-back)
        how = {**{m: "sum" for m in MOMENTS + (NO_VALUE,)}, **{e: e.rsplit("_", 1)[1] for e in EXTREMES}}
        frame = frame.groupby(["camera", "day", "hour"], as_index=False, sort=False).agg(how)
    frame = frame.sort_values(["camera", "day", "hour"], kind="stable")
    for metric in METRICS:
        frame[f"{metric}_days"] = (frame[f"{metric}_n"] > 0).astype(np.int64)
    return frame[columns].reset_index(drop=True)


def _hour_mask(days: np.ndarray, only_days) -> np.ndarray | None:
    """Per day given, which of its 24 hours ``only_days`` asks for (None: all)."""
    if only_days is None:
        return None
    mask = np.zeros((len(days), 24), dtype=bool)
    for lo, hi, wanted in only_days:
        mask[np.isin(days, wanted), lo:hi + 1] = True
    return mask


def keep_hours(frame: pd.DataFrame, only_days) -> pd.DataFrame:
    """The rows of ``frame`` that ``only_days`` (see :meth:`DbMoments.hourly`) asks for."""
    if only_days is None or frame.empty:
        return frame
    h = frame["hour"].to_numpy(np.int64)
    day = frame["day"].to_numpy(np.int64)
    keep = np.zeros(len(frame), dtype=bool)
    for lo, hi, days in only_days:
        keep |= (h >= lo) & (h <= hi) & np.isin(day, days)
    return frame[keep].reset_index(drop=True)


def _int_columns(rows: list[tuple], width: int, skip: int) -> list[np.ndarray]:
    """Columns ``skip … skip+width-1`` of driver rows as int64 (NULL → 0), in one C pass where
    every value is an int."""
    try:
        flat = np.fromiter(chain.from_iterable(islice(r, skip, None) for r in rows), dtype=np.int64,
                           count=len(rows) * width)
        return list(flat.reshape(len(rows), width).T.copy())
    except (TypeError, ValueError, OverflowError):
        columns = list(zip(*rows))
        return [int_array(values) for values in columns[skip:skip + width]]


def _frame(cameras, days, names: list[str], columns) -> pd.DataFrame:
    """A moments frame from query columns (NULL sums → 0; MySQL's DECIMAL sums → int)."""
    frame = pd.DataFrame({"camera": np.array(cameras, dtype=object),
                          "day": np.array(days, dtype=np.int64)})
    for name, values in zip(names, columns):
        frame[name] = np.array([int(v or 0) for v in values], dtype=np.int64)
    return frame


def _ordinals(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    frame["day"] = day_ordinals(frame["day"])
    return frame
