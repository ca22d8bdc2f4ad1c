"""The detection maths on DataFrames, no database: trailing seasonal baselines and threshold refs.

Inputs are moment frames (``n``, ``sum``, ``sumsq`` per metric) as the aggregation computes them,
keyed by camera and local day (an ``int`` date ordinal here) and, for the seasonal method, the
local wall hour. Every reference is *causal*: it is built only from whole local days before the
day of the interval judged, so judging an interval at import time or months later gives the
same answer as long as the earlier data did not change.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

from cctvctl import validate
from cctvctl.errors import UsageError

METRICS = ("people", "vehicle")
#: how the day is split before the hour: one slot per hour; workday vs weekend; each weekday
SLOTS = ("hour", "daytype-hour", "weekday-hour")
#: the σ floor: ``sqrt`` = max(sqrt(mean), 1) (Poisson noise of counts); ``one`` = 1 only
FLOORS = ("sqrt", "one")
GRAIN_ORDER = ("year", "month", "week", "day")


@dataclass(frozen=True)
class SeasonalParams:
    """Parameters of the seasonal method; the defaults were chosen on real data (README)."""

    k: float = 4.0
    weeks: int = 8
    slot: str = "hour"
    floor: str = "sqrt"
    #: fewer days than this with data in the slot's window → fall back to ``threshold``
    min_days: int = 7

    def __post_init__(self) -> None:
        validate.k_factor(self.k, positive=True)
        if not 1 <= self.weeks <= 104:
            raise UsageError("--weeks must be between 1 and 104")
        if self.slot not in SLOTS:
            raise UsageError(f"--slot must be one of {', '.join(SLOTS)}")
        if self.floor not in FLOORS:
            raise UsageError(f"--floor must be one of {', '.join(FLOORS)}")
        if self.min_days < 1:
            raise UsageError("min_days must be at least 1")

    @property
    def window_days(self) -> int:
        return self.weeks * 7

    @property
    def required_days(self) -> int:
        """Days of slot history needed: ``min_days``, or fewer if the slot cannot have that many."""
        possible = {"hour": 7, "daytype-hour": 2, "weekday-hour": 1}[self.slot] * self.weeks
        return min(self.min_days, possible)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ThresholdParams:
    """The original rule, corrected: high only, above mean + k·std of the last complete period."""

    k: float = 1.5

    def __post_init__(self) -> None:
        validate.k_factor(self.k, positive=True)

    def as_dict(self) -> dict:
        return asdict(self)


# -- days ----------------------------------------------------------------------------------

def day_ordinals(days: pd.Series) -> np.ndarray:
    """Local days (``date``, 'YYYY-MM-DD' text or ordinal) → int64 date ordinals."""
    if days.empty:
        return np.zeros(0, dtype=np.int64)
    if pd.api.types.is_integer_dtype(days):
        return days.to_numpy(dtype=np.int64)
    if isinstance(days.iloc[0], date):
        return np.fromiter((d.toordinal() for d in days), dtype=np.int64, count=len(days))
    return np.fromiter((date.fromisoformat(str(d)[:10]).toordinal() for d in days),
                       dtype=np.int64, count=len(days))


def weekday_of(ordinals: np.ndarray) -> np.ndarray:
    """0 = Monday (``date(1, 1, 1)``, ordinal 1, was a Monday)."""
    return (np.asarray(ordinals, dtype=np.int64) - 1) % 7


def slot_class(ordinals: np.ndarray, slot: str) -> np.ndarray:
    """Which days share a baseline: all (hour), workdays vs weekends, or the same weekday."""
    if slot == "hour":
        return np.zeros(len(ordinals), dtype=np.int64)
    wd = weekday_of(ordinals)
    return (wd >= 5).astype(np.int64) if slot == "daytype-hour" else wd


# -- trailing windows -------------------------------------------------------------------

@dataclass
class TrailingSums:
    """Per query row: moments of the trailing window and the number of days that had data."""

    n: np.ndarray
    sum: np.ndarray
    sumsq: np.ndarray
    days: np.ndarray


def trailing_sums(history: pd.DataFrame, group_cols: list[str], queries: pd.DataFrame,
                  window: int, metric: str) -> TrailingSums:
    """Sum of ``metric`` moments over the ``window`` days before each query's day, per group.

    ``history`` and ``queries`` both carry ``group_cols`` (already integer codes) and ``day``
    (ordinal). History rows are unique per (group, day). Exact integer cumulative sums and two
    binary searches per query: no loop over rows, no dense calendar.
    """
    nq = len(queries)
    zeros = np.zeros(nq, dtype=np.int64)
    hist = history[history[f"{metric}_n"] > 0]
    if hist.empty or nq == 0:
        return TrailingSums(zeros, zeros.copy(), zeros.copy(), zeros.copy())
    day0 = int(min(hist["day"].min(), queries["day"].min()))
    span = int(max(hist["day"].max(), queries["day"].max())) - day0 + window + 2
    gid_h, gid_q = _group_ids(hist, queries, group_cols)
    key_h = gid_h * span + (hist["day"].to_numpy(np.int64) - day0)
    order = np.argsort(key_h, kind="stable")
    key_h = key_h[order]

    def csum(col: str) -> np.ndarray:
        values = hist[col].to_numpy(dtype=np.int64)[order]
        return np.concatenate(([0], np.cumsum(values)))

    c_n, c_s, c_ss = csum(f"{metric}_n"), csum(f"{metric}_sum"), csum(f"{metric}_sumsq")
    # a row may stand for several days summed up (``{metric}_days``); otherwise for one
    c_d = csum(f"{metric}_days") if f"{metric}_days" in hist else np.arange(len(order) + 1)
    key_q = gid_q * span + (queries["day"].to_numpy(np.int64) - day0)
    hi = np.searchsorted(key_h, key_q, side="left")
    lo = np.searchsorted(key_h, key_q - window, side="left")
    unknown = gid_q < 0
    out = TrailingSums(c_n[hi] - c_n[lo], c_s[hi] - c_s[lo], c_ss[hi] - c_ss[lo], c_d[hi] - c_d[lo])
    for arr in (out.n, out.sum, out.sumsq, out.days):
        arr[unknown] = 0
    return out


def _group_ids(hist: pd.DataFrame, queries: pd.DataFrame, cols: list[str]):
    """Integer group ids shared by history and queries (-1: a query group with no history).

    ``cols`` are the camera (any hashable) followed by small non-negative integer codes.
    """
    codes, cameras = pd.factorize(pd.concat([hist[cols[0]], queries[cols[0]]], ignore_index=True))
    gid = codes.astype(np.int64)
    for col in cols[1:]:
        values = np.concatenate([hist[col].to_numpy(np.int64), queries[col].to_numpy(np.int64)])
        gid = gid * (int(values.max()) + 1 if len(values) else 1) + values
    gid_h, gid_q = gid[:len(hist)], gid[len(hist):]
    known = np.isin(gid_q, gid_h)
    return gid_h, np.where(known, gid_q, -1)


# -- seasonal -------------------------------------------------------------------------------

def seasonal_baseline(hourly: pd.DataFrame, queries: pd.DataFrame,
                      params: SeasonalParams) -> pd.DataFrame:
    """For each query (camera, day, hour): the trailing same-slot moments of each metric.

    Returns ``queries`` with ``{metric}_bn``, ``_bsum``, ``_bsumsq``, ``_bdays`` added.
    """
    out = queries[["camera", "day", "hour"]].copy()
    hist = hourly.copy()
    hist["slot"] = slot_class(hist["day"].to_numpy(np.int64), params.slot)
    out["slot"] = slot_class(out["day"].to_numpy(np.int64), params.slot)
    for metric in METRICS:
        sums = trailing_sums(hist, ["camera", "slot", "hour"], out, params.window_days, metric)
        out[f"{metric}_bn"] = sums.n
        out[f"{metric}_bsum"] = sums.sum
        out[f"{metric}_bsumsq"] = sums.sumsq
        out[f"{metric}_bdays"] = sums.days
    return out.drop(columns="slot")


@dataclass
class Judgement:
    """Per row and metric: the verdict of one method, in arrays aligned with the rows."""

    direction: np.ndarray  # "high", "low" or "" (not flagged)
    expected: np.ndarray
    band_low: np.ndarray  # NaN = no lower bound
    band_high: np.ndarray
    score: np.ndarray
    judged: np.ndarray  # bool: a reference existed


def judge_seasonal(observed: np.ndarray, mean: np.ndarray, std: np.ndarray, n: np.ndarray,
                   params: SeasonalParams) -> Judgement:
    """Two-sided ``mean ± k·σ`` with σ = max(std, floor); floor = max(sqrt(mean), 1) or 1."""
    mean = np.asarray(mean, dtype=np.float64)
    std = np.asarray(std, dtype=np.float64)
    floor = np.maximum(np.sqrt(np.maximum(mean, 0)), 1.0) if params.floor == "sqrt" else 1.0
    sigma = np.maximum(std, floor)
    low, high = mean - params.k * sigma, mean + params.k * sigma
    judged = (np.asarray(n) > 0) & ~np.isnan(observed)
    with np.errstate(invalid="ignore"):
        score = (observed - mean) / sigma
        direction = np.where(judged & (observed > high), "high",
                             np.where(judged & (observed < low), "low", ""))
    return Judgement(direction, mean, low, high, score, judged)


def judge_threshold(observed: np.ndarray, mean: np.ndarray, std: np.ndarray, n: np.ndarray,
                    params: ThresholdParams) -> Judgement:
    """High only: above ``ref = mean + k·std`` (score in std units, std floored at 1)."""
    mean = np.asarray(mean, dtype=np.float64)
    std = np.asarray(std, dtype=np.float64)
    ref = mean + params.k * std
    judged = (np.asarray(n) > 0) & ~np.isnan(observed)
    with np.errstate(invalid="ignore"):
        score = (observed - mean) / np.maximum(std, 1.0)
        direction = np.where(judged & (observed > ref), "high", "")
    return Judgement(direction, mean, np.full(len(mean), np.nan), ref, score, judged)


# -- threshold references -------------------------------------------------------------------

def previous_periods(ordinals: np.ndarray) -> pd.DataFrame:
    """For each local day: first and last day (ordinals) of the previous year, month, week, day."""
    rows = []
    for o in np.unique(ordinals):
        d = date.fromordinal(int(o))
        month_start = d.replace(day=1)
        prev_month_start = (month_start - timedelta(days=1)).replace(day=1)
        week_start = d - timedelta(days=d.weekday())
        rows.append({
            "day": int(o),
            "year_start": date(d.year - 1, 1, 1).toordinal(),
            "year_end": date(d.year, 1, 1).toordinal(),
            "month_start": prev_month_start.toordinal(), "month_end": month_start.toordinal(),
            "week_start": (week_start - timedelta(days=7)).toordinal(),
            "week_end": week_start.toordinal(),
            "day_start": int(o) - 1, "day_end": int(o),
        })
    return pd.DataFrame(rows, columns=["day"] + [f"{g}_{e}" for g in GRAIN_ORDER
                                                  for e in ("start", "end")])


def period_start_of(ordinals: np.ndarray, grain: str) -> np.ndarray:
    """First day (ordinal) of the ``grain`` period containing each day."""
    out = np.empty(len(ordinals), dtype=np.int64)
    cache: dict[int, int] = {}
    for i, o in enumerate(np.asarray(ordinals, dtype=np.int64)):
        o = int(o)
        if o not in cache:
            d = date.fromordinal(o)
            if grain == "year":
                start = date(d.year, 1, 1)
            elif grain == "month":
                start = d.replace(day=1)
            elif grain == "week":
                start = d - timedelta(days=d.weekday())
            else:
                start = d
            cache[o] = start.toordinal()
        out[i] = cache[o]
    return out


def threshold_refs(daily: pd.DataFrame, first_day: pd.Series, queries: pd.DataFrame,
                   combine) -> pd.DataFrame:
    """The reference moments for each (camera, day) query: of the highest complete grain.

    A previous year/month/week/day is *complete* for a camera when the camera's history starts
    on or before its first day and the metric has data in it. ``combine(frame, by)`` is the exact
    roll-up of moments (the aggregation's). Adds per metric ``{metric}_rn``, ``_rsum``,
    ``_rsumsq`` and ``{metric}_grain`` ('' where no grain qualifies) plus ``{metric}_period``.
    """
    out = queries[["camera", "day"]].drop_duplicates().reset_index(drop=True)
    prev = previous_periods(out["day"].to_numpy(np.int64))
    out = out.merge(prev, on="day", how="left")
    firsts = out["camera"].map(first_day).to_numpy(dtype=np.float64)
    hist = daily.copy()
    hist_days = hist["day"].to_numpy(np.int64)
    for metric in METRICS:
        for col in ("rn", "rsum", "rsumsq"):
            out[f"{metric}_{col}"] = 0
        out[f"{metric}_grain"] = ""
        out[f"{metric}_period"] = 0
    for grain in GRAIN_ORDER:
        hist["period"] = period_start_of(hist_days, grain)
        rolled = combine(hist, ["camera", "period"])
        merged = out[["camera", f"{grain}_start"]].merge(
            rolled, left_on=["camera", f"{grain}_start"], right_on=["camera", "period"], how="left")
        complete_history = firsts <= out[f"{grain}_start"].to_numpy(dtype=np.float64)
        for metric in METRICS:
            n = merged[f"{metric}_n"].fillna(0).to_numpy(np.int64)
            take = (out[f"{metric}_grain"].to_numpy() == "") & complete_history & (n > 0)
            if not take.any():
                continue
            out.loc[take, f"{metric}_rn"] = n[take]
            out.loc[take, f"{metric}_rsum"] = merged[f"{metric}_sum"].to_numpy()[take].astype(np.int64)
            out.loc[take, f"{metric}_rsumsq"] = merged[f"{metric}_sumsq"].to_numpy()[take].astype(np.int64)
            out.loc[take, f"{metric}_grain"] = grain
            out.loc[take, f"{metric}_period"] = out.loc[take, f"{grain}_start"]
    keep = ["camera", "day"] + [f"{m}_{c}" for m in METRICS
                                for c in ("rn", "rsum", "rsumsq", "grain", "period")]
    return out[keep]


def period_label(grain: str, ordinal: int) -> str:
    """'2014', '2014-01', '2014-W05' or '2014-01-31' for the period starting on ``ordinal``."""
    d = date.fromordinal(int(ordinal))
    if grain == "year":
        return str(d.year)
    if grain == "month":
        return f"{d.year}-{d.month:02d}"
    if grain == "week":
        y, w, _ = d.isocalendar()
        return f"{y}-W{w:02d}"
    return d.isoformat()


def params_json(params: dict) -> str:
    """Compact, key-sorted JSON (stored with each flag; fits the 512-character column)."""
    return json.dumps(params, sort_keys=True, separators=(",", ":"))
