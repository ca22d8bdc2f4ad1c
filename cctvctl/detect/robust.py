"""The robust seasonal method's maths on arrays (no database).

An interval is compared with the same camera's same local hour on *like days* (Mon–Thu, Fri,
Sat, Sun; a day runs from 05:00 so a Friday night stays a Friday): the last ~12 of them within
the trailing weeks:

- centre = the median of those days' hour means, spread = the width of the tightest window
  holding 40% of them (scaled to σ), plus the median within-hour spread, floored at
  max(sqrt(centre), 1): recurring surges and past outliers cannot inflate it;
- practical significance: at least ``rel`` (50%) and ``abs_min`` (20 counts) away from the centre;
- persistence: one interval alone needs ``k_single`` σ, a run of ``run`` consecutive intervals
  ``k`` σ each (only earlier intervals count, so the verdict is causal);
- ``silent``: zeros (2+ intervals) or one non-zero value repeated (:data:`STUCK_RUN`+) where
  the like days expect at least ``silent_min`` more counts over the run, and at least twice
  what it holds (looked back at most :data:`LOOKBACK` seconds);
- learning: a camera-hour with fewer than ``min_days`` like days is judged on extremes only
  (``k_learning`` σ, no runs, no silence).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from cctvctl.detect.methods import METRICS, weekday_of
from cctvctl import validate
from cctvctl.errors import UsageError

#: how the week is split into like days
DAY_CLASSES = ("week4", "daytype")
CLASS_NAMES = {"week4": ("Mon–Thu", "Fri", "Sat", "Sun"), "daytype": ("workday", "weekend")}
#: seconds of earlier intervals a verdict may look back at (runs and silences); also what an
#: evaluation must read before the first interval it judges
LOOKBACK = 6 * 3600
#: intervals further apart than this do not continue a run
MAX_GAP = 3600
#: a repeated non-zero value is a stuck counter only after this many intervals (two equal
#: hourly counts in a row happen by chance; two zeros where dozens are expected do not)
STUCK_RUN = 4


@dataclass(frozen=True)
class RobustParams:
    """Parameters of the robust method (defaults chosen across all visible sets, docs/detection.md)."""

    k: float = 10.0
    k_single: float = 20.0
    run: int = 2
    weeks: int = 8
    days: str = "week4"
    day_start: int = 5
    rel: float = 0.5
    abs_min: float = 20.0
    min_days: int = 3
    k_learning: float = 20.0
    silent_min: float = 20.0
    share: float = 0.4
    #: like days a reference aims at: a class looks back ceil(like_days / its days a week)
    #: weeks, at most ``weeks`` (Mon–Thu: 3 weeks; Fri, Sat, Sun: 8)
    like_days: int = 12

    def __post_init__(self) -> None:
        for name in ("k", "k_single", "k_learning"):
            validate.k_factor(getattr(self, name), positive=True)
        if not 1 <= self.weeks <= 104:
            raise UsageError("--weeks must be between 1 and 104")
        if self.days not in DAY_CLASSES:
            raise UsageError(f"--days must be one of {', '.join(DAY_CLASSES)}")
        if not 1 <= self.run <= 3:
            raise UsageError("--run must be 1, 2 or 3")  # LOOKBACK covers 3 hourly intervals
        if not 0 <= self.day_start <= 12 or self.min_days < 1 or not 0 < self.share <= 1:
            raise UsageError("day_start, min_days or share out of range")

    @property
    def window_days(self) -> int:
        return self.weeks * 7

    def as_dict(self) -> dict:
        return asdict(self)

    def class_windows(self) -> np.ndarray:
        """Days looked back, per like-day class."""
        per_week = np.array(CLASS_DAYS[self.days])
        return 7 * np.minimum(self.weeks, -(-self.like_days // per_week))


#: calendar days a week of each like-day class
CLASS_DAYS = {"week4": (4, 1, 1, 1), "daytype": (5, 2)}


def needed_hours(day: np.ndarray, hour: np.ndarray, params: RobustParams) -> list[tuple[int, int, list[int]]]:
    """``(first hour, last hour, calendar days)`` clauses naming the stored hour rows the
    references of the (local day, hour) pairs given use: per judged day, its hours from
    ``day_start`` on and those before it (which belong to the day before). A day judged only
    from 18:00 on (the look-back into the day before) needs only those hours of its like days."""
    windows = params.class_windows()
    clauses: dict[tuple[int, int], set[int]] = {}
    frame = pd.DataFrame({"day": np.asarray(day, dtype=np.int64), "hour": np.asarray(hour, dtype=np.int64)})
    for d, (h_min, h_max) in frame.groupby("day")["hour"].agg(["min", "max"]).iterrows():
        for lo, hi in ((max(h_min, params.day_start), h_max), (h_min, min(h_max, params.day_start - 1))):
            if lo > hi:
                continue
            cls = like_class(np.array([d]), np.array([lo]), params)[0]
            back = np.arange(d - windows[cls], d)
            like = back[like_class(back, np.full(len(back), lo), params) == cls]
            clauses.setdefault((int(lo), int(hi)), set()).update(like.tolist())
    return [(lo, hi, sorted(days)) for (lo, hi), days in sorted(clauses.items())]


def like_class(day: np.ndarray, hour: np.ndarray, params: RobustParams) -> np.ndarray:
    """The like-day class of (local day, hour): hours before ``day_start`` belong to the day before."""
    wd = weekday_of(np.asarray(day, dtype=np.int64) - (np.asarray(hour) < params.day_start))
    if params.days == "daytype":
        return (wd >= 5).astype(np.int64)
    return np.where(wd <= 3, 0, wd - 3).astype(np.int64)


@dataclass
class Baseline:
    """Per query key and metric: centre, σ and how many like days it came from."""

    centre: np.ndarray
    sigma: np.ndarray
    days: np.ndarray


def robust_baseline(hourly: pd.DataFrame, keys: pd.DataFrame, params: RobustParams) -> dict[str, Baseline]:
    """For each (camera, day, hour) of ``keys``: the like-day reference of each metric.

    ``hourly`` has one row per (camera, day, hour) with the moments ``{metric}_n/_sum/_sumsq``
    (``day`` a date ordinal); only days before each key's day, within the window, are used.
    """
    out = {}
    q_day, q_hour = keys["day"].to_numpy(np.int64), keys["hour"].to_numpy(np.int64)
    q_cls = like_class(q_day, q_hour, params)
    for metric in METRICS:
        hist = hourly[hourly[f"{metric}_n"].to_numpy() > 0]
        n = hist[f"{metric}_n"].to_numpy(np.float64)
        mean = hist[f"{metric}_sum"].to_numpy(np.float64) / np.maximum(n, 1)
        within = np.maximum(hist[f"{metric}_sumsq"].to_numpy(np.float64) / np.maximum(n, 1) - mean ** 2, 0)
        h_day, h_hour = hist["day"].to_numpy(np.int64), hist["hour"].to_numpy(np.int64)
        values, m = _gather(hist["camera"], h_day, h_hour, like_class(h_day, h_hour, params),
                            keys["camera"], q_day, q_hour, q_cls, params.class_windows()[q_cls],
                            np.stack([mean, within], axis=1))
        centre = _median(values[..., 0], m)
        sigma_between = _shorth_sigma(values[..., 0], m, params.share)
        sigma_within = np.sqrt(np.maximum(_median(values[..., 1], m), 0))
        floor = np.maximum(np.sqrt(np.maximum(centre, 0)), 1.0)
        sigma = np.maximum(np.sqrt(sigma_between ** 2 + sigma_within ** 2), floor)
        out[metric] = Baseline(np.where(m > 0, centre, np.nan), sigma, m)
    return out


def _gather(h_cam, h_day, h_hour, h_cls, q_cam, q_day, q_hour, q_cls, window: np.ndarray,
            values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per query: the history values of its (camera, hour, class) in ``[day - window, day)``
    (``window`` per query),
    sorted ascending along axis 1 (``inf`` padding), and how many there are."""
    nq = len(q_day)
    if not len(h_day) or not nq:
        return np.full((nq, 1, values.shape[1]), np.inf), np.zeros(nq, dtype=np.int64)
    codes, _ = pd.factorize(pd.concat([pd.Series(np.asarray(h_cam, dtype=object)),
                                       pd.Series(np.asarray(q_cam, dtype=object))], ignore_index=True))
    cam_h, cam_q = codes[:len(h_day)].astype(np.int64), codes[len(h_day):].astype(np.int64)
    day0 = int(min(h_day.min(), q_day.min())) - int(window.max()) - 1
    span = int(max(h_day.max(), q_day.max())) - day0 + 1
    key_h = ((cam_h * 24 + h_hour) * 8 + h_cls) * span + (h_day - day0)
    key_q = ((cam_q * 24 + q_hour) * 8 + q_cls) * span + (q_day - day0)
    order = np.argsort(key_h, kind="stable")
    key_h, values = key_h[order], values[order]
    hi = np.searchsorted(key_h, key_q, side="left")
    lo = np.searchsorted(key_h, key_q - window, side="left")
    m = hi - lo
    cap = max(int(m.max()), 1)
    idx = lo[:, None] + np.arange(cap)[None, :]
    valid = np.arange(cap)[None, :] < m[:, None]
    picked = values[np.minimum(idx, len(key_h) - 1)]
    picked[~valid] = np.inf
    picked.sort(axis=1)
    return picked, m


def _median(sorted_values: np.ndarray, m: np.ndarray) -> np.ndarray:
    rows = np.arange(len(m))
    a = sorted_values[rows, np.maximum((m - 1) // 2, 0)]
    b = sorted_values[rows, np.maximum(m // 2, 0)]
    with np.errstate(invalid="ignore"):
        return np.where(m > 0, (a + b) / 2, np.nan)


def _shorth_sigma(sorted_values: np.ndarray, m: np.ndarray, share: float) -> np.ndarray:
    """σ from the tightest window holding ``share`` (at least 3) of each row's values, divided by
    the width that window has on average for ``m`` draws of a standard normal."""
    w = shorth_size(m, share)
    rows = np.arange(len(m))
    best = np.full(len(m), np.inf)
    for i in range(sorted_values.shape[1]):
        j = i + w - 1
        ok = j < m
        if not ok.any():
            break
        with np.errstate(invalid="ignore"):
            width = sorted_values[rows, np.minimum(j, sorted_values.shape[1] - 1)] - sorted_values[:, i]
        best = np.where(ok & (width < best), width, best)
    pairs, inverse = np.unique(np.stack([w, m], axis=1), axis=0, return_inverse=True)
    factor = np.array([normal_shorth_width(int(a), int(b)) for a, b in pairs])[np.asarray(inverse).reshape(-1)]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((m > 1) & (factor > 0), best / np.where(factor > 0, factor, 1), 0.0)


def shorth_size(m: np.ndarray, share: float) -> np.ndarray:
    """Values in the window: ``share`` of them, at least 3 (or all, if fewer)."""
    m = np.asarray(m, dtype=np.int64)
    return np.maximum(np.maximum(np.ceil(share * m).astype(np.int64), np.minimum(m, 3)), 1)


_WIDTH: dict[tuple[int, int], float] = {}


def normal_shorth_width(w: int, m: int) -> float:
    """Mean width of the tightest ``w`` of ``m`` standard normal draws (a fixed-seed simulation,
    so every run and process gets the same constant; the quantile formula is ~2× too wide for
    the few like days a method has, which made σ half what it is)."""
    if w < 2 or m < 2:
        return 0.0
    if (w, m) not in _WIDTH:
        x = np.sort(np.random.default_rng(20260101).standard_normal((4000, m)), axis=1)
        _WIDTH[(w, m)] = float(np.mean(np.min(x[:, w - 1:] - x[:, :m - w + 1], axis=1)))
    return _WIDTH[(w, m)]


@dataclass
class RobustVerdict:
    """Per row (in the rows' order) of one metric."""

    direction: np.ndarray  # "high", "low" or ""
    silent: np.ndarray  # bool: the low flag is a silence
    score: np.ndarray
    run: np.ndarray  # consecutive qualifying intervals ending here (or the silent run length)
    run_expected: np.ndarray  # silent: counts the like days expect over the run
    judged: np.ndarray
    learning: np.ndarray


def judge_robust(camera: np.ndarray, start: np.ndarray, observed: np.ndarray, base: Baseline,
                 params: RobustParams, length: np.ndarray | None = None) -> RobustVerdict:
    """The verdicts of rows sorted by camera then start (``observed`` NaN = unknown; ``camera``
    names or integer codes, one per camera).

    The σ figures and the absolute guard are for hour-long intervals; a shorter interval of
    ``length`` seconds (a share f of the hour) needs k·√f σ and f·``abs_min`` counts, so that
    an hour of such intervals carries the evidence one hourly interval needs (a 5-minute
    interval: 2.9σ and 1.7 counts for a run, 5.8σ alone).
    """
    c, sigma, days = base.centre, base.sigma, base.days
    f = np.ones(len(observed)) if length is None else np.clip(np.asarray(length, dtype=np.float64) / 3600, 1e-3, 1)
    root = np.sqrt(f)
    known = ~np.isnan(observed) & (days > 0)
    normal = known & (days >= params.min_days)
    learning = known & ~normal
    with np.errstate(invalid="ignore"):
        score = np.where(known, (observed - c) / sigma, np.nan)
        need = np.maximum(params.abs_min * f, params.rel * np.abs(c))
        high_ok = known & (observed - c >= need)
        low_ok = known & (c - observed >= need)
        single = np.where(normal, params.k_single, params.k_learning) * root
    same_camera = np.r_[False, camera[1:] == camera[:-1]]
    consecutive = same_camera & np.r_[False, np.diff(start) <= MAX_GAP]
    runs = {}
    code = np.zeros(len(observed), dtype=np.int8)  # index into DIRECTIONS
    for name, ok, sign, value in (("high", high_ok, 1, 1), ("low", low_ok, -1, 2)):
        candidate = normal & ok & (sign * score >= params.k * root)
        runs[name] = _run_length(candidate, consecutive)
        hit = (ok & (sign * score >= single)) | (candidate & (runs[name] >= params.run))
        code[hit] = value
    run = np.where(code == 1, runs["high"], runs["low"])
    silent, silent_run, expected = _silences(camera, start, observed, c, normal, consecutive, params)
    code[silent] = 2
    run = np.where(silent, silent_run, run)
    return RobustVerdict(DIRECTIONS[code], silent, score, run, expected, known, learning)


#: a verdict's direction by code (high and low exclude each other; a silence is low)
DIRECTIONS = np.array(["", "high", "low"])


def _run_length(flag: np.ndarray, consecutive: np.ndarray) -> np.ndarray:
    """How many rows in a row (consecutive, all ``flag``) end at each row; 0 where not ``flag``."""
    idx = np.arange(len(flag))
    begins = np.where(~flag, idx + 1, np.where(~consecutive, idx, -1))
    first = np.maximum.accumulate(begins) if len(flag) else idx
    return np.where(flag, idx - first + 1, 0)


def _silences(camera, start, observed, centre, normal, consecutive, params: RobustParams):
    """Rows ending a run of one repeated value (within :data:`LOOKBACK`) that misses at least
    ``silent_min`` counts the like days expect and is at most half of it."""
    n = len(observed)
    if not n:
        z = np.zeros(0)
        return z.astype(bool), z.astype(np.int64), z
    same = consecutive & np.r_[False, observed[1:] == observed[:-1]] & normal & np.r_[False, normal[:-1]]
    idx = np.arange(n)
    run_start = np.maximum.accumulate(np.where(~same, idx, 0))
    codes = camera.astype(np.int64) if np.issubdtype(np.asarray(camera).dtype, np.integer) \
        else pd.factorize(pd.Series(camera, dtype=object))[0].astype(np.int64)
    key = codes * (1 << 40) + (start - start.min())
    look = np.searchsorted(key, key - LOOKBACK, side="left")
    begin = np.maximum(run_start, look)
    c_eff = np.where(normal, np.nan_to_num(centre), 0.0)
    cum_c = np.r_[0.0, np.cumsum(c_eff)]
    expected = cum_c[idx + 1] - cum_c[begin]
    length = idx + 1 - begin
    value = np.nan_to_num(observed)
    got = value * length

    def verdict(exp):
        return (normal & (length >= np.where(value == 0, 2, STUCK_RUN))
                & (exp - got >= params.silent_min) & (got <= 0.5 * exp))

    # The running sum's rounding depends on which rows come before (the rows read differ between
    # an import, a detect range and a batch), so rows near the rule are summed exactly:
    # math.fsum is correctly rounded, whatever the order — the same verdict from every path.
    slack = 1e-6 * (1.0 + float(np.abs(cum_c).max()))
    near = np.flatnonzero(normal & (length >= 2) & (expected - got >= params.silent_min - slack)
                          & (got <= 0.5 * expected + slack))
    checked = np.zeros(n, dtype=bool)
    checked[near] = True
    for i in near:
        expected[i] = math.fsum(c_eff[begin[i]:i + 1])
    return verdict(expected) & checked, length, expected
