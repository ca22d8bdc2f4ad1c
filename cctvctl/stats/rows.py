"""Moments → statistics rows: coverage, figures, upserts into ``stats``/``weekday_stats``, JSON.

Day and hour rows come from raw counts (:func:`day_rows`); week, month, year and the weekday
profiles are rolled up exactly from stored day rows (:func:`period_rows`). Expected intervals
use each camera's usual interval length and the real length of every local day or hour
(23/24/25 hours around DST changes), so a period with missing data shows coverage below 1.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from zoneinfo import ZoneInfo

import pandas as pd

from cctvctl.db.database import Database
from cctvctl.periods import Period, day_seconds, day_span, expected_slots, period_containing
from cctvctl.stats.moments import (HOUR, METRICS, MOMENTS, camera_filter, combine, figures,
                                   hourly_with_intervals, offset_segments)
from cctvctl.stats.dayhours import write_day_hours
from cctvctl.stats.upsert import upsert_frames

#: grains of the JSON rows → (table, key column, key value)
WEEKDAY_GRAINS = {"month_weekday": "month", "year_weekday": "year"}
#: the calendar grain whose periods each stored grain covers
CALENDAR = {"day": "day", "hour": "day", "week": "week", "month": "month", "year": "year",
            "month_weekday": "month", "year_weekday": "year"}

FIGURE_COLUMNS = ["n", "expected", "coverage", "interval_s"]
for _m in METRICS:
    FIGURE_COLUMNS += [f"{_m}_n", f"{_m}_sum", f"{_m}_sumsq", f"{_m}_mean", f"{_m}_std", f"{_m}_ref"]
FIGURE_COLUMNS += ["k", "start_utc", "end_utc", "computed_at"]
STATS_COLUMNS = ["camera", "grain", "period_start", "hour"] + FIGURE_COLUMNS
WEEKDAY_COLUMNS = ["camera", "scope", "period_start", "weekday"] + FIGURE_COLUMNS
STATS_KEYS = ["camera", "grain", "period_start", "hour"]
WEEKDAY_KEYS = ["camera", "scope", "period_start", "weekday"]

DAY_ROWS_SQL = (
    "SELECT camera, period_start, n, expected, interval_s, people_n, people_sum, people_sumsq, "
    "vehicle_n, vehicle_sum, vehicle_sumsq FROM stats "
    "WHERE grain = 'day' AND hour = -1 AND period_start >= ? AND period_start < ?{cameras}")

#: keys of one ``--format json`` row, in order (documented; scripts rely on them)
JSON_KEYS = ["camera", "grain", "period", "period_start", "weekday", "hour", "n", "expected",
             "coverage", "interval_s"]
for _m in METRICS:
    JSON_KEYS += [f"{_m}_n", f"{_m}_sum", f"{_m}_sumsq", f"{_m}_mean", f"{_m}_std", f"{_m}_ref"]
JSON_KEYS += ["k"]


@dataclass
class Written:
    """Rows written by one step: how many per grain, and (when kept) the JSON objects."""

    counts: dict[str, int] = field(default_factory=dict)
    periods: dict[str, set[str]] = field(default_factory=dict)
    cameras: dict[str, set[str]] = field(default_factory=dict)
    rows: list[dict] = field(default_factory=list)

    def add(self, other: "Written") -> None:
        for g, c in other.counts.items():
            self.counts[g] = self.counts.get(g, 0) + c
        for g, s in other.periods.items():
            self.periods.setdefault(g, set()).update(s)
        for g, s in other.cameras.items():
            self.cameras.setdefault(g, set()).update(s)
        self.rows.extend(other.rows)


@lru_cache(maxsize=8192)
def hour_spans(d: date, tz: ZoneInfo) -> dict[int, tuple[int, int, int]]:
    """Each local wall hour of day ``d`` → (first UTC second, end, real seconds).

    A repeated hour (DST fall-back) spans 7200 s; a skipped hour is absent.
    """
    start, end = day_span(d, tz)
    out: dict[int, tuple[int, int, int]] = {}
    for seg in offset_segments(tz, start, end):
        t = seg.start
        while t < seg.end:
            wall = t + seg.offset
            nxt = min(seg.end, t + (HOUR - wall % HOUR))
            hour = (wall % 86400) // HOUR
            a, b, s = out.get(hour, (t, nxt, 0))
            out[hour] = (min(a, t), max(b, nxt), s + nxt - t)
            t = nxt
    return out


def _finish(frame: pd.DataFrame, k: float) -> pd.DataFrame:
    """Add coverage and per-metric figures; metrics with no values get NULL sums."""
    out = frame.copy()
    expected = out["expected"].astype("float64")
    cov = (out["n"].astype("float64") / expected.where(expected > 0)).clip(upper=1.0)
    out["coverage"] = cov
    for m in METRICS:
        f = figures(out[f"{m}_n"], out[f"{m}_sum"], out[f"{m}_sumsq"], k)
        out[f"{m}_mean"], out[f"{m}_std"], out[f"{m}_ref"] = f.mean, f.std, f.ref
    out["k"] = float(k)
    out["computed_at"] = int(time.time())
    return out


def _clean(value):
    if value is None:
        return None
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if hasattr(value, "item"):  # numpy scalar
        value = value.item()
        if isinstance(value, float) and math.isnan(value):
            return None
    return value


def _json(frame: pd.DataFrame, grain: str) -> list[dict]:
    rows = []
    cal = CALENDAR[grain]
    for rec in frame.to_dict("records"):
        start = date.fromisoformat(rec["period_start"])
        obj = {key: _clean(rec.get(key)) for key in JSON_KEYS}
        obj["grain"] = grain
        obj["period"] = period_containing(cal, start).label
        obj["hour"] = int(rec["hour"]) if grain == "hour" else None
        obj["weekday"] = int(rec["weekday"]) if grain in WEEKDAY_GRAINS else None
        for m in METRICS:
            if not obj[f"{m}_n"]:
                obj[f"{m}_sum"] = obj[f"{m}_sumsq"] = None
        rows.append(obj)
    return rows


def _write(db: Database, frame: pd.DataFrame, grain: str, keep: bool) -> Written:
    return _write_all(db, [(frame, grain)], keep)


def _write_all(db: Database, parts: list[tuple[pd.DataFrame, str]], keep: bool) -> Written:
    """Upsert frames of several grains, one statement per table (the day and hour rows of a
    step are one bulk file or one ``executemany``, not two)."""
    w = Written()
    tables: dict[str, list[pd.DataFrame]] = {}
    shaped = []
    for frame, grain in parts:
        if frame.empty:
            continue
        if grain in WEEKDAY_GRAINS:
            frame = frame.assign(scope=WEEKDAY_GRAINS[grain])
            tables.setdefault("weekday_stats", []).append(frame)
        else:
            frame = frame.assign(grain=grain)
            if "hour" not in frame:
                frame = frame.assign(hour=-1)
            tables.setdefault("stats", []).append(frame)
        shaped.append((frame, grain))
    for table, frames in tables.items():
        if table == "stats":
            upsert_frames(db, table, STATS_COLUMNS, STATS_KEYS, frames)
        else:
            upsert_frames(db, table, WEEKDAY_COLUMNS, WEEKDAY_KEYS, frames)
    for frame, grain in shaped:
        if grain == "hour":  # the same hours packed per (camera, day), for detection's reads
            write_day_hours(db, frame)
    for frame, grain in shaped:
        w.counts[grain] = len(frame)
        w.periods[grain] = set(frame["period_start"].unique().tolist())
        w.cameras[grain] = set(frame["camera"].unique().tolist())
        if keep:
            w.rows.extend(_json(frame, grain))
    return w


def day_rows(db: Database, tz: ZoneInfo, first: date, last: date, *, k: float,
             cameras: list[str] | None = None, only: set[tuple[str, date]] | None = None,
             keep: bool = False) -> Written:
    """Compute and upsert day and hour rows for local days ``first..last`` from raw counts.

    ``only`` restricts the written rows to those (camera, day) pairs (late data).
    """
    start, end = day_span(first, tz)[0], day_span(last, tz)[1]
    scan = hourly_with_intervals(db, tz, start, end, cameras)
    hourly, intervals = scan.hourly, scan.intervals
    if only is not None and not hourly.empty:
        mask = [(c, d) in only for c, d in zip(hourly["camera"], hourly["day"])]
        hourly = hourly[mask]
    if hourly.empty:
        return Written()
    hourly = hourly.merge(intervals, on=["camera", "day"], how="left")
    daily = combine(hourly, ["camera", "day"]).merge(intervals, on=["camera", "day"], how="left")

    # Spans per distinct day (and hour), joined on: a few rows of Python, not one per row.
    day_list = sorted(set(daily["day"]))
    days = pd.DataFrame({"day": day_list, "period_start": [d.isoformat() for d in day_list],
                         "start_utc": [day_span(d, tz)[0] for d in day_list],
                         "end_utc": [day_span(d, tz)[1] for d in day_list]})
    daily = daily.merge(days, on="day", how="left")
    daily["expected"] = expected_slots(daily["end_utc"] - daily["start_utc"], daily["interval_s"])
    hours = pd.DataFrame([(d, h, a, b, sec) for d in day_list for h, (a, b, sec) in hour_spans(d, tz).items()],
                         columns=["day", "hour", "start_utc", "end_utc", "seconds"])
    hours = hours.merge(days[["day", "period_start"]], on="day")
    hourly = hourly.merge(hours, on=["day", "hour"], how="left")
    missing = hourly["seconds"].isna()  # cannot happen: every bucket is a wall hour of its day
    hourly.loc[missing, ["start_utc", "end_utc", "seconds"]] = (0, 0, HOUR)
    hourly = hourly.astype({"start_utc": "int64", "end_utc": "int64", "seconds": "int64"})
    hourly["expected"] = expected_slots(hourly["seconds"], hourly["interval_s"])
    hourly = hourly.drop(columns=["seconds"])

    with db.atomic():
        return _write_all(db, [(_finish(daily, k), "day"), (_finish(hourly, k), "hour")], keep)


def stored_days(db: Database, first: date, end: date, cameras: list[str] | None) -> pd.DataFrame:
    """Stored day rows for local days ``[first, end)``: moments, expected and interval."""
    cols = ["camera", "period_start", "n", "expected", "interval_s"] + list(MOMENTS[1:])
    if cameras is not None and not cameras:
        return pd.DataFrame(columns=cols)
    where, values = camera_filter(cameras)
    rows = db.query(DAY_ROWS_SQL.format(cameras=where), [first.isoformat(), end.isoformat()] + values)
    if not rows:
        return pd.DataFrame(columns=cols)
    frame = pd.DataFrame(rows, columns=cols)
    for c in cols[2:]:
        frame[c] = frame[c].fillna(0).astype("int64")
    frame["camera"] = frame["camera"].astype(object)
    frame["day"] = frame["period_start"].map(date.fromisoformat).astype(object)
    return frame


def _usual_interval(days: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Per group, the interval length that covers most intervals (ties: the shorter)."""
    weights = days.groupby(by + ["interval_s"], as_index=False)["n"].sum()
    weights = weights.sort_values(by + ["n", "interval_s"], ascending=[True] * len(by) + [False, True])
    return weights.drop_duplicates(by, keep="first")[by + ["interval_s"]]


def period_rows(db: Database, tz: ZoneInfo, grain: str, periods: list[Period], *, k: float,
                cameras: list[str] | None = None, only: set[tuple] | None = None,
                keep: bool = False) -> Written:
    """Roll stored day rows up into ``grain`` rows (week, month, year or a weekday profile).

    ``only`` restricts the rows to (camera, period, weekday or None) keys (late data).
    Expected intervals count every day of the period, including days a camera sent nothing
    (at the camera's usual interval), so gaps lower coverage instead of disappearing.
    """
    if not periods:
        return Written()
    first = min(p.start for p in periods)
    end = max(p.end for p in periods)
    days = stored_days(db, first, end, cameras)
    if days.empty:
        return Written()
    by_day = {}
    for p in periods:
        for d in p.days:
            by_day[d] = p
    days = days[[d in by_day for d in days["day"]]].copy()
    days["period"] = [by_day[d] for d in days["day"]]
    weekday = grain in WEEKDAY_GRAINS
    if only is not None:
        days = days[[(c, p, d.weekday() if weekday else None) in only
                     for c, p, d in zip(days["camera"], days["period"], days["day"])]]
    if days.empty:
        return Written()
    days["period_start"] = [p.start.isoformat() for p in days["period"]]
    if weekday:
        days["weekday"] = [d.weekday() for d in days["day"]]
    keys = ["camera", "period_start"] + (["weekday"] if weekday else [])

    # Expected intervals: every calendar day of the period at the camera's usual interval,
    # except days with a stored row, which expect what that row says. A base per (period,
    # interval[, weekday]) plus a correction per stored day row gives exactly that without a
    # camera × day table (100,000 one-row cameras × 365 days of a year was 4 GB).
    usual = _usual_interval(days, ["camera", "period_start"])
    cal = pd.DataFrame([(p.start.isoformat(), d.weekday(), day_seconds(d, tz))
                        for p in sorted(set(days["period"])) for d in p.days],
                       columns=["period_start", "weekday", "seconds"])
    by_interval = ["period_start", "interval_s"] + (["weekday"] if weekday else [])
    base = cal.merge(pd.DataFrame({"interval_s": usual["interval_s"].unique()}), how="cross")
    base["base"] = expected_slots(base["seconds"], base["interval_s"])
    base = base.groupby(by_interval, as_index=False)["base"].sum()
    seconds = {d: day_seconds(d, tz) for d in set(days["day"])}
    stored = days[keys + ["day", "expected"]].merge(usual, on=["camera", "period_start"])
    stored["fix"] = stored["expected"] - expected_slots(stored["day"].map(seconds), stored["interval_s"])
    fix = stored.groupby(keys, as_index=False)["fix"].sum()

    moments = combine(days.drop(columns=["expected"]), keys)
    out = moments.merge(usual, on=["camera", "period_start"]).merge(base, on=by_interval)
    out = out.merge(fix, on=keys, how="left")
    out["expected"] = (out.pop("base") + out.pop("fix").fillna(0)).astype("int64")
    ranges = {p.start.isoformat(): p.utc_range(tz) for p in set(days["period"])}
    out["start_utc"] = [ranges[s][0] for s in out["period_start"]]
    out["end_utc"] = [ranges[s][1] for s in out["period_start"]]
    with db.atomic():
        return _write(db, _finish(out, k), grain, keep)
