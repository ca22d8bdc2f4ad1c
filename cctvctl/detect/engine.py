"""Judge count rows against causal references and turn the verdicts into flags.

The moments come from a :class:`MomentSource` (the aggregation's own queries over the database);
this module only chooses which moments form each interval's reference and applies the rules of
:mod:`cctvctl.detect.methods`, vectorised over all rows at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from typing import Protocol
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from cctvctl.detect.methods import (METRICS, Judgement, SeasonalParams, ThresholdParams,
                                    day_ordinals, judge_seasonal, judge_threshold, period_label,
                                    seasonal_baseline, threshold_refs)
from cctvctl.detect.model import Flag
from cctvctl.detect.robust import (CLASS_NAMES, RobustParams, judge_robust, like_class, needed_hours,
                                   robust_baseline)
from cctvctl.periods import local_midnight_utc
from cctvctl.stats.moments import EPOCH_ORDINAL, combine, figures, offset_segments

ROW_COLUMNS = ["camera", "start_utc", "people", "vehicle"]
#: robust: judging fewer days than this reads only the like days their references use
FEW_DAYS = 8


class MomentSource(Protocol):
    """Where references come from: moments of stored counts (see ``source.DbMoments``)."""

    def hourly(self, start_utc: int, end_utc: int, cameras: list[str],
               collapse: tuple[int, int] | None = None,
               only_days: list[tuple[int, int, list[int]]] | None = None) -> pd.DataFrame: ...

    def daily(self, start_utc: int, end_utc: int, cameras: list[str]) -> pd.DataFrame: ...

    def first_days(self, cameras: list[str]) -> pd.Series: ...


@dataclass
class Evaluation:
    """Flags of the rows judged, and how each row was judged (masks aligned with the rows)."""

    flags: list[Flag]
    judged: np.ndarray  # some metric of the row had a reference
    fallback: np.ndarray  # some metric was judged by the threshold fallback
    #: some metric of the row is outside its band
    flagged: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    #: per metric: the row's value had a reference / was judged by the threshold fallback
    judged_by: dict[str, np.ndarray] = field(default_factory=dict)
    fallback_by: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def evaluated(self) -> int:
        return len(self.judged)


def local_day_hour(start_utc: np.ndarray, tz: ZoneInfo) -> tuple[np.ndarray, np.ndarray]:
    """Local day (date ordinal) and wall hour of each epoch, as the aggregation buckets them."""
    t = np.asarray(start_utc, dtype=np.int64)
    if not len(t):
        return t.copy(), t.copy()
    segments = offset_segments(tz, int(t.min()), int(t.max()) + 1)
    starts = np.array([s.start for s in segments], dtype=np.int64)
    offsets = np.array([s.offset for s in segments], dtype=np.int64)
    wall = t + offsets[np.searchsorted(starts, t, side="right") - 1]
    return wall // 86400 + EPOCH_ORDINAL, (wall % 86400) // 3600


def collapse_hint(params: SeasonalParams, first: int, last: int) -> tuple[int, int] | None:
    """Days ``[lo, hi)`` in the window of every day ``first..last``: their moments may be summed.

    Only with one slot for all days (``hour``): then a day's weekday does not matter.
    """
    window = params.window_days
    if params.slot != "hour" or last - first >= window:
        return None
    return last - window, first


@lru_cache(maxsize=65_536)
def midnight_of(ordinal: int, tz: ZoneInfo) -> int:
    """The first instant of a local day (memoised: a run asks for the same few days per camera)."""
    return local_midnight_utc(date.fromordinal(int(ordinal)), tz)


@lru_cache(maxsize=65_536)
def local_day_of(epoch: int, tz: ZoneInfo) -> int:
    """The local day (date ordinal) of one instant: :func:`local_day_hour` for a single value."""
    return datetime.fromtimestamp(int(epoch), tz).toordinal()


def _with_ordinals(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    frame["day"] = day_ordinals(frame["day"])
    return frame


def evaluate(rows: pd.DataFrame, tz: ZoneInfo, method: str, params, source: MomentSource,
             make_flags: bool = True, narrow: bool = True) -> Evaluation:
    """Judge every row of ``rows`` (``ROW_COLUMNS``; ``day`` and ``hour`` if already known).

    ``make_flags=False`` only fills the masks (a pre-screen needs no Flag objects);
    ``narrow=False`` reads robust's whole reference window (the plain path of its narrowed read).
    """
    if rows.empty:
        return Evaluation([], np.zeros(0, dtype=bool), np.zeros(0, dtype=bool))
    rows = rows.reset_index(drop=True)
    if "day" not in rows:
        rows["day"], rows["hour"] = local_day_hour(rows["start_utc"].to_numpy(), tz)
    judged = np.zeros(len(rows), dtype=bool)
    fallback_rows = np.zeros(len(rows), dtype=bool)
    flagged = np.zeros(len(rows), dtype=bool)
    judged_by = {m: np.zeros(len(rows), dtype=bool) for m in METRICS}
    fallback_by = {m: np.zeros(len(rows), dtype=bool) for m in METRICS}
    flags: list[Flag] = []

    def take(metric, verdict: Judgement, use: np.ndarray, method_name: str, params_of) -> None:
        nonlocal judged, flagged, flags
        judged |= use
        judged_by[metric] |= use
        hit = use & (verdict.direction != "")
        flagged |= hit
        if make_flags:
            flags += _flags(rows, metric, verdict, hit, method_name, params_of)

    if method == "seasonal":
        verdicts, short = _seasonal(rows, tz, params, source)
        fallback = ThresholdParams()
        refs = _threshold(rows, tz, fallback, source, only=short) if short.any() else {}
        for i, metric in enumerate(METRICS):
            seasonal = verdicts[metric]
            take(metric, seasonal, seasonal.judged & ~short[:, i], "seasonal",
                 _seasonal_params(params, seasonal))
            if metric in refs:
                thr = refs[metric]
                use = thr.judgement.judged & short[:, i]
                take(metric, thr.judgement, use, "seasonal", _fallback_params(fallback, thr, params))
                fallback_rows |= use
                fallback_by[metric] |= use
    elif method == "robust":
        for metric, (verdict, learning) in _robust(rows, tz, params, source, narrow).items():
            take(metric, verdict, verdict.judged, "robust", _robust_params(params, verdict, rows))
            fallback_rows |= learning & verdict.judged
            fallback_by[metric] |= learning & verdict.judged
    else:
        for metric, thr in _threshold(rows, tz, params, source, only=None).items():
            take(metric, thr.judgement, thr.judgement.judged, "threshold", _threshold_params(params, thr))
    return Evaluation(flags, judged, fallback_rows, flagged, judged_by, fallback_by)


def _keys(rows: pd.DataFrame, with_hour: bool) -> tuple[pd.DataFrame, np.ndarray]:
    """The distinct (camera, day[, hour]) of ``rows`` and, per row, the index of its key."""
    codes, cameras = pd.factorize(rows["camera"])
    day = rows["day"].to_numpy(np.int64)
    first, ndays = int(day.min()), int(day.max() - day.min()) + 1
    key = codes.astype(np.int64) * ndays + (day - first)
    if with_hour:
        key = key * 24 + rows["hour"].to_numpy(np.int64)
    unique, inverse = np.unique(key, return_inverse=True)
    frame = pd.DataFrame()
    if with_hour:
        frame_hour, unique = unique % 24, unique // 24
    frame["camera"] = np.asarray(cameras, dtype=object)[unique // ndays]
    frame["day"] = unique % ndays + first
    if with_hour:
        frame["hour"] = frame_hour
    return frame, inverse


# -- seasonal -------------------------------------------------------------------------------

@dataclass
class _Seasonal(Judgement):
    baseline_n: np.ndarray = None
    baseline_days: np.ndarray = None


def _seasonal(rows: pd.DataFrame, tz: ZoneInfo, params: SeasonalParams,
              source: MomentSource) -> tuple[dict[str, _Seasonal], np.ndarray]:
    """Per metric the seasonal verdict of each row, and which rows have too short a history."""
    cameras = sorted(rows["camera"].unique().tolist())
    first, last = int(rows["day"].min()), int(rows["day"].max())
    hourly = source.hourly(midnight_of(first - params.window_days, tz), midnight_of(last, tz), cameras,
                           collapse_hint(params, first, last))
    keys, at = _keys(rows, with_hour=True)
    base = seasonal_baseline(_with_ordinals(hourly), keys, params)
    verdicts: dict[str, _Seasonal] = {}
    short = np.zeros((len(rows), len(METRICS)), dtype=bool)
    for i, metric in enumerate(METRICS):
        fig = figures(base[f"{metric}_bn"], base[f"{metric}_bsum"], base[f"{metric}_bsumsq"])
        observed = rows[metric].to_numpy(dtype=np.float64)
        n = base[f"{metric}_bn"].to_numpy(np.int64)[at]
        days = base[f"{metric}_bdays"].to_numpy(np.int64)[at]
        j = judge_seasonal(observed, fig.mean.to_numpy()[at], fig.std.to_numpy()[at], n, params)
        verdicts[metric] = _Seasonal(**j.__dict__, baseline_n=n, baseline_days=days)
        short[:, i] = ~np.isnan(observed) & (days < params.required_days)
    return verdicts, short


def _seasonal_params(params: SeasonalParams, v: _Seasonal):
    base = params.as_dict()

    def build(i: int) -> dict:
        return {**base, "baseline_n": int(v.baseline_n[i]), "baseline_days": int(v.baseline_days[i])}

    return build


# -- robust ---------------------------------------------------------------------------------

@dataclass
class _Robust(Judgement):
    silent: np.ndarray = None
    run: np.ndarray = None
    run_expected: np.ndarray = None
    sigma: np.ndarray = None
    days: np.ndarray = None


def _robust(rows: pd.DataFrame, tz: ZoneInfo, params: RobustParams, source: MomentSource,
            narrow: bool = True) -> dict[str, tuple[_Robust, np.ndarray]]:
    """Per metric the robust verdict of each row (in the rows' order) and its learning mask.

    ``narrow``: over a few days, read only the like-day hours the rows' references use
    (:func:`~cctvctl.detect.robust.needed_hours`), not every stored hour of the window."""
    cameras = sorted(rows["camera"].unique().tolist())
    first, last = int(rows["day"].min()), int(rows["day"].max())
    only = needed_hours(rows["day"].to_numpy(), rows["hour"].to_numpy(), params) \
        if narrow and last - first < FEW_DAYS else None
    hourly = source.hourly(midnight_of(first - params.window_days, tz), midnight_of(last, tz), cameras,
                           only_days=only)
    keys, at = _keys(rows, with_hour=True)
    base = robust_baseline(_with_ordinals(hourly), keys, params)
    codes = pd.factorize(rows["camera"])[0]
    start = rows["start_utc"].to_numpy(np.int64)
    order = np.lexsort((start, codes))
    back = np.empty_like(order)
    back[order] = np.arange(len(order))
    cam = codes[order].astype(np.int64)  # camera codes: equal codes, equal cameras
    length = rows["length"].to_numpy(np.int64) if "length" in rows else np.full(len(rows), 3600)
    out = {}
    for metric in METRICS:
        b = base[metric]
        centre, sigma, days = b.centre[at], b.sigma[at], b.days[at]
        observed = rows[metric].to_numpy(dtype=np.float64)
        v = judge_robust(cam, start[order], observed[order],
                         type(b)(centre[order], sigma[order], days[order]), params, length[order])
        direction = v.direction[back]
        f = np.clip(length / 3600, 1e-3, 1)
        reach = np.maximum(params.k * np.sqrt(f) * sigma, np.maximum(params.abs_min * f, params.rel * np.abs(centre)))
        j = _Robust(direction, centre, centre - reach, centre + reach, v.score[back], v.judged[back],
                    silent=v.silent[back], run=v.run[back], run_expected=v.run_expected[back],
                    sigma=sigma, days=days)
        out[metric] = (j, v.learning[back])
    return out


def _robust_params(params: RobustParams, v: _Robust, rows: pd.DataFrame):
    base = params.as_dict()
    day, hour = rows["day"].to_numpy(np.int64), rows["hour"].to_numpy(np.int64)
    names = CLASS_NAMES[params.days]
    length = rows["length"].to_numpy(np.int64) if "length" in rows else np.full(len(rows), 3600)

    def build(i: int) -> dict:
        learning = int(v.days[i]) < params.min_days
        extra = {"kind": "silent" if v.silent[i] else "outlier", "like": names[like_class(day[i:i + 1], hour[i:i + 1], params)[0]],
                 "like_days": int(v.days[i]), "sigma": round(float(v.sigma[i]), 3),
                 "run_length": int(v.run[i]), "learning": learning, "interval_s": int(length[i])}
        if v.silent[i]:
            extra["run_expected"] = round(float(v.run_expected[i]), 1)
        return {**base, **extra}

    return build


# -- threshold ------------------------------------------------------------------------------

@dataclass
class _ThresholdRefs:
    judgement: Judgement
    grain: np.ndarray
    period: np.ndarray


def _threshold(rows: pd.DataFrame, tz: ZoneInfo, params: ThresholdParams, source: MomentSource,
               only: np.ndarray | None) -> dict[str, _ThresholdRefs]:
    """Per metric the threshold verdict of each row (rows outside ``only`` are not judged)."""
    mask = np.ones(len(rows), dtype=bool) if only is None else only.any(axis=1)
    picked = np.flatnonzero(mask)
    wanted = rows.iloc[picked]
    cameras = sorted(wanted["camera"].unique().tolist())
    first, last = int(wanted["day"].min()), int(wanted["day"].max())
    lo = date(date.fromordinal(first).year - 1, 1, 1).toordinal()
    daily = _with_ordinals(source.daily(midnight_of(lo, tz), midnight_of(last, tz), cameras))
    keys, at = _keys(wanted, with_hour=False)
    refs = threshold_refs(daily, source.first_days(cameras), keys, combine)
    out = {}
    for i, metric in enumerate(METRICS):
        fig = figures(refs[f"{metric}_rn"], refs[f"{metric}_rsum"], refs[f"{metric}_rsumsq"], params.k)
        observed = np.full(len(rows), np.nan)
        observed[picked] = wanted[metric].to_numpy(dtype=np.float64)
        if only is not None:
            observed[~only[:, i]] = np.nan
        n = np.zeros(len(rows), dtype=np.int64)
        n[picked] = refs[f"{metric}_rn"].to_numpy(np.int64)[at]
        mean, std = np.full(len(rows), np.nan), np.full(len(rows), np.nan)
        mean[picked], std[picked] = fig.mean.to_numpy()[at], fig.std.to_numpy()[at]
        grain = np.full(len(rows), "", dtype=object)
        period = np.zeros(len(rows), dtype=np.int64)
        grain[picked] = refs[f"{metric}_grain"].to_numpy()[at]
        period[picked] = refs[f"{metric}_period"].to_numpy(np.int64)[at]
        out[metric] = _ThresholdRefs(judge_threshold(observed, mean, std, n, params), grain, period)
    return out


def _threshold_params(params: ThresholdParams, thr: _ThresholdRefs):
    base = params.as_dict()

    def build(i: int) -> dict:
        grain = str(thr.grain[i])
        return {**base, "grain": grain, "period": period_label(grain, thr.period[i])}

    return build


def _fallback_params(fallback: ThresholdParams, thr: _ThresholdRefs, seasonal: SeasonalParams):
    plain = _threshold_params(fallback, thr)
    extra = {"fallback": "threshold", "min_days": seasonal.required_days, "weeks": seasonal.weeks,
             "slot": seasonal.slot}

    def build(i: int) -> dict:
        return {**plain(i), **extra}

    return build


# -- flags ----------------------------------------------------------------------------------

def _flags(rows: pd.DataFrame, metric: str, j: Judgement, hit: np.ndarray, method: str,
           params_of) -> list[Flag]:
    """Flags for the rows where ``hit`` holds (their end is filled in later)."""
    out = []
    cam = rows["camera"].to_numpy()
    start = rows["start_utc"].to_numpy()
    observed = rows[metric].to_numpy(dtype=np.float64)
    for i in np.flatnonzero(hit):
        low = float(j.band_low[i])
        out.append(Flag(
            camera=str(cam[i]), start_utc=int(start[i]), end_utc=None, metric=metric,
            direction=str(j.direction[i]), observed=float(observed[i]),
            expected=float(j.expected[i]), band_low=None if np.isnan(low) else low,
            band_high=float(j.band_high[i]), score=float(j.score[i]), method=method,
            params=params_of(i)))
    return out
