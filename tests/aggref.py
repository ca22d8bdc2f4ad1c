"""Test support for aggregation: synthetic raw counts and an independent pandas reference.

The reference never touches our tables or our statistics code: it takes the raw rows, converts
their starts to local time with pandas, groups by local day / hour / ISO week / month / year /
weekday and computes n, sums, mean, population std, ref and coverage directly.
"""

from __future__ import annotations

from functools import lru_cache
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from cctvctl.ingest import ImportOptions, import_rows

METRICS = ("people", "vehicle")
FIGS = ("n", "sum", "sumsq", "mean", "std", "ref")


@lru_cache(maxsize=None)
def local_midnight(d: date, tz: str) -> pd.Timestamp:
    """First instant whose local date is ``d`` or later (pandas' UTC→local conversion, not ours).

    Found by scanning UTC instants around the day (every minute, then every second of the
    minute found) and converting them with ``tz_convert``, which is exact. Not
    ``tz_localize(nonexistent="shift_forward")``: pandas shifts a skipped midnight by one hour,
    which is wrong for a zone that skipped a whole day (Pacific/Apia 2011-12-30 became
    2011-12-31 01:00 and Pacific/Fakaofo's became 2011-12-29 01:00).
    """
    naive = int(pd.Timestamp(d).tz_localize("UTC").timestamp())
    minutes = np.arange(naive - 40 * 3600, naive + 40 * 3600, 60, dtype="int64")
    first = minutes[_on_or_after(minutes, d, tz)][0]
    seconds = np.arange(first - 59, first + 1, dtype="int64")
    return pd.Timestamp(int(seconds[_on_or_after(seconds, d, tz)][0]), unit="s", tz="UTC").tz_convert(tz)


def _on_or_after(utc: np.ndarray, d: date, tz: str) -> np.ndarray:
    local = pd.to_datetime(utc, unit="s", utc=True).tz_convert(tz).tz_localize(None)
    return np.asarray(local >= pd.Timestamp(d))


def make_counts(tz: str, first: date, last: date, camera: str, interval: int = 300, *,
                seed: int = 0, gaps: list[tuple[date, int, int]] = (), drop_days: list[date] = (),
                vehicle: bool = True, null_share: float = 0.02) -> pd.DataFrame:
    """Intervals of ``camera`` every ``interval`` s over local days ``first..last``.

    ``gaps`` removes (day, from hour, to hour) local spans; ``drop_days`` whole days;
    ``null_share`` of vehicle values are unknown (NULL: imported from a file without that column).
    """
    rng = np.random.default_rng(seed)
    start = local_midnight(first, tz)
    end = local_midnight(last + timedelta(days=1), tz)
    starts = np.arange(int(start.timestamp()), int(end.timestamp()), interval, dtype="int64")
    frame = pd.DataFrame({"camera": camera, "start_utc": starts, "end_utc": starts + interval})
    local = pd.to_datetime(frame["start_utc"], unit="s", utc=True).dt.tz_convert(tz)
    hour = local.dt.hour.to_numpy()
    day = local.dt.date
    keep = ~day.isin(list(drop_days)).to_numpy()
    for d, h0, h1 in gaps:
        keep &= ~((day == d).to_numpy() & (hour >= h0) & (hour < h1))
    level = 5 + 40 * np.exp(-((hour - 13) ** 2) / 18.0)
    frame["people"] = pd.array(rng.poisson(level), dtype="Int64")
    frame["vehicle"] = (pd.array(rng.poisson(level / 3), dtype="Int64") if vehicle
                        else pd.array([pd.NA] * len(frame), dtype="Int64"))
    frame.loc[rng.random(len(frame)) < null_share, "vehicle"] = pd.NA
    return frame[keep].reset_index(drop=True)


def import_frame(db, frame: pd.DataFrame, tz: str, source: str = "<test>") -> list:
    """Import raw rows through the real import path (UTC ISO timestamps with offset).

    Rows whose vehicle count is unknown go in a second import without that column, which is
    how a NULL metric reaches the database.
    """
    results = []
    has_vehicle = frame["vehicle"].notna()
    for part, columns in ((frame[has_vehicle], ["people", "vehicle"]), (frame[~has_vehicle], ["people"])):
        if part.empty:
            continue
        rows = {"camera": part["camera"].tolist()}
        for col, name in (("start_utc", "start"), ("end_utc", "end")):
            rows[name] = pd.to_datetime(part[col], unit="s", utc=True).dt.strftime(
                "%Y-%m-%dT%H:%M:%S+00:00").tolist()
        for c in columns:
            rows[c] = [int(v) for v in part[c]]
        records = [dict(zip(rows, values)) for values in zip(*rows.values())]
        results.append(import_rows(db, records, ImportOptions(tz=ZoneInfo(tz), detect=False),
                                   source=f"{source}:{'+'.join(columns)}"))
    return results


@lru_cache(maxsize=None)
def _slots(d: date, tz: str, interval: int) -> np.ndarray:
    """Local hours of every interval slot of local day ``d`` (the expected intervals)."""
    a, b = local_midnight(d, tz), local_midnight(d + timedelta(days=1), tz)
    utc = np.arange(int(a.timestamp()), int(b.timestamp()), interval, dtype="int64")
    return np.asarray(pd.to_datetime(utc, unit="s", utc=True).tz_convert(tz).hour)


def reference(frame: pd.DataFrame, tz: str, intervals: dict[str, int], k: float = 1.5) -> pd.DataFrame:
    """Every statistic row we expect, computed from raw rows: one row per (grain, camera, key)."""
    raw = frame.copy()
    local = pd.to_datetime(raw["start_utc"], unit="s", utc=True).dt.tz_convert(tz)
    raw["day"] = local.dt.date
    raw["hour"] = local.dt.hour
    raw["weekday"] = local.dt.day_of_week
    raw["week"] = [d - timedelta(days=d.weekday()) for d in raw["day"]]
    raw["month"] = [d.replace(day=1) for d in raw["day"]]
    raw["year"] = [date(d.year, 1, 1) for d in raw["day"]]
    for m in METRICS:
        # NaN = unknown; counts are small integers, so float arithmetic on them is exact
        raw[m] = pd.to_numeric(raw[m].astype(object).where(raw[m].notna(), None)).astype("float64")
        raw[f"{m}_sq"] = raw[m] ** 2
    aggs = {"n": ("start_utc", "size")}
    for m in METRICS:
        aggs.update({f"{m}_n": (m, "count"), f"{m}_sum": (m, "sum"), f"{m}_sumsq": (f"{m}_sq", "sum"),
                     f"{m}_mean": (m, "mean")})
    out = []
    specs = [("day", ["day"]), ("hour", ["day", "hour"]), ("week", ["week"]), ("month", ["month"]),
             ("year", ["year"]), ("month_weekday", ["month", "weekday"]),
             ("year_weekday", ["year", "weekday"])]
    for grain, keys in specs:
        grouped = raw.groupby(["camera"] + keys, sort=True)
        g = grouped.agg(**aggs)
        for m in METRICS:
            g[f"{m}_std"] = grouped[m].std(ddof=0)  # population standard deviation
        g = g.reset_index()
        g["grain"] = grain
        g["period_start"] = [d.isoformat() for d in g[keys[0]]]
        g["hour"] = g["hour"] if grain == "hour" else None
        g["weekday"] = g["weekday"] if grain.endswith("weekday") else None
        for m in METRICS:
            unknown = g[f"{m}_n"] == 0
            g[f"{m}_ref"] = g[f"{m}_mean"] + k * g[f"{m}_std"]
            for f in FIGS[1:]:
                g[f"{m}_{f}"] = g[f"{m}_{f}"].astype(object).where(~unknown, None)
        g["expected"] = [_expected(grain, c, date.fromisoformat(s), h, w, tz, intervals[c])
                         for c, s, h, w in zip(g["camera"], g["period_start"], g["hour"], g["weekday"])]
        g["coverage"] = (g["n"] / g["expected"]).clip(upper=1.0)
        out.append(g.drop(columns=[c for c in ("day", "week", "month", "year") if c in g]))
    return pd.concat(out, ignore_index=True)


def _period_days(grain: str, start: date) -> list[date]:
    if grain == "week":
        end = start + timedelta(days=7)
    elif grain.startswith("month"):
        end = date(start.year + (start.month == 12), start.month % 12 + 1, 1)
    elif grain.startswith("year"):
        end = date(start.year + 1, 1, 1)
    else:
        end = start + timedelta(days=1)
    return [start + timedelta(days=i) for i in range((end - start).days)]


def _expected(grain, camera, start, hour, weekday, tz, interval) -> int:
    """Interval slots in the period: real local day lengths, every day counted (gaps too)."""
    if grain == "hour":
        return int((_slots(start, tz, interval) == hour).sum())
    days = _period_days(grain, start)
    if grain.endswith("weekday"):
        days = [d for d in days if d.weekday() == weekday]
    return sum(len(_slots(d, tz, interval)) for d in days)


STORED_SQL = {
    "stats": "SELECT * FROM stats",
    "weekday_stats": "SELECT * FROM weekday_stats",
}


def stored(db) -> pd.DataFrame:
    """Our tables in the reference's shape (grain names as in --format json)."""
    out = []
    for table in ("stats", "weekday_stats"):
        cur = db.conn.cursor()
        cur.execute(STORED_SQL[table])
        names = [c[0] for c in cur.description]
        frame = pd.DataFrame([tuple(r) for r in cur.fetchall()], columns=names)
        cur.close()
        if table == "stats":
            frame["weekday"] = None
            frame["hour"] = frame["hour"].where(frame["grain"] == "hour", None)
        else:
            frame["grain"] = frame["scope"] + "_weekday"
            frame["hour"] = None
        out.append(frame)
    return pd.concat(out, ignore_index=True)


def _keyed(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for c in ("hour", "weekday"):
        out[c] = pd.to_numeric(out[c].astype(object).where(out[c].notna(), None)).fillna(-1).astype("int64")
    out["camera"] = out["camera"].astype(str)
    return out.set_index(["grain", "camera", "period_start", "hour", "weekday"])


def compare(got: pd.DataFrame, want: pd.DataFrame, grains=None) -> list[str]:
    """Differences between stored rows and the reference (empty when they agree exactly)."""
    if grains is not None:
        got = got[got["grain"].isin(grains)]
        want = want[want["grain"].isin(grains)]
    g, w = _keyed(got), _keyed(want)
    problems = [f"missing {k}" for k in w.index.difference(g.index)[:20]]
    problems += [f"unexpected {k}" for k in g.index.difference(w.index)[:20]]
    both = g.index.intersection(w.index)
    cols = ["n", "expected", "coverage"] + [f"{m}_{f}" for m in METRICS for f in FIGS]
    for c in cols:
        a = pd.to_numeric(g.loc[both, c].astype(object).where(g.loc[both, c].notna(), None)).astype("float64")
        b = pd.to_numeric(w.loc[both, c].astype(object).where(w.loc[both, c].notna(), None)).astype("float64")
        same = np.isclose(a.to_numpy(), b.to_numpy(), rtol=1e-9, atol=1e-9, equal_nan=True)
        for key in both[~same][:20]:
            problems.append(f"{key} {c}: stored {g.loc[key, c]!r}, pandas {w.loc[key, c]!r}")
    return problems
