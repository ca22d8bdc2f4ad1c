"""Judge a chunk of spans while reading as few count rows as possible.

One aggregate scan of the judged rows gives each hour's moments (the baseline of later days
needs them anyway) and each metric's smallest and largest value. An hour's intervals share one
reference band, so an hour can hold a flag only if its extremes leave the band: each hour is
first judged on its two extremes with the very same rules, and only those "suspect" hours
have their rows read (in merged ranges, or the camera's whole span where that is cheaper) and
judged one by one — on a typical night a few hundred of 24,000 camera-hours. Spans that do not
start and end at local midnights are judged from all their rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from cctvctl.db.database import Database
from cctvctl.detect.engine import (_with_ordinals, collapse_hint, evaluate, local_day_hour,
                                   local_day_of, midnight_of)
from cctvctl.detect.methods import METRICS
from cctvctl.detect.model import Flag
from cctvctl.detect.robust import LOOKBACK
from cctvctl.detect.source import NO_VALUE, DbMoments, hours_with_extremes
from cctvctl.detect.store import Span, read_rows
from cctvctl.stats.moments import EPOCH_ORDINAL, offset_segments

#: suspect hours closer than this are read with one query
MERGE_GAP = 3 * 3600
#: one more query costs about as much as reading this many more rows (SQLite and MariaDB alike)
QUERY_COST_ROWS = 100


@dataclass
class ChunkResult:
    flags: list[Flag]
    evaluated: int  # intervals in the chunk
    fallback: int  # of which judged by the threshold fallback
    unjudged: int  # of which had no reference


class CachedMoments:
    """Hourly moments served from the frame read for the chunk; daily ones from the database."""

    def __init__(self, db_source: DbMoments, hourly: pd.DataFrame, first_day: int, end_day: int,
                 tz: ZoneInfo):
        self.db = db_source
        self.frame = hourly
        self.first_day, self.end_day = first_day, end_day
        self.tz = tz

    def hourly(self, start_utc: int, end_utc: int, cameras: list[str],
               collapse: tuple[int, int] | None = None) -> pd.DataFrame:
        d0, d1 = local_day_of(start_utc, self.tz), local_day_of(end_utc, self.tz)
        if (self.first_day <= d0 and d1 <= self.end_day and start_utc == midnight_of(d0, self.tz)
                and end_utc == midnight_of(d1, self.tz)):
            f = self.frame
            return f[(f["day"] >= d0) & (f["day"] < d1) & f["camera"].isin(cameras)]
        return self.db.hourly(start_utc, end_utc, cameras, collapse)

    def daily(self, start_utc: int, end_utc: int, cameras: list[str]) -> pd.DataFrame:
        return self.db.daily(start_utc, end_utc, cameras)

    def first_days(self, cameras: list[str]) -> pd.Series:
        return self.db.first_days(cameras)


def judge_chunk(db: Database, tz: ZoneInfo, spans: list[Span], method: str, params,
                prescreen: bool = True) -> ChunkResult:
    """Flags and counts of the stored intervals of ``spans`` (one chunk of time).

    ``prescreen=False`` is the plain path: every row read and judged one by one, robust's
    references from every stored hour of the window (what the pre-screen and robust's narrowed
    read are tested against, tests/test_detect_differential.py).
    """
    source = DbMoments(db, tz, day_hours=prescreen)
    if method == "robust":
        return _judge_with_lookback(db, tz, spans, params, source, narrow=prescreen)
    days = [_days_of(s, tz) for s in spans]
    if not prescreen or any(d is None for d in days):
        ev = evaluate(read_rows(db, spans), tz, method, params, source)
        return ChunkResult(ev.flags, ev.evaluated, int(ev.fallback.sum()), int((~ev.judged).sum()))
    first, end = min(d[0] for d in days), max(d[1] for d in days)
    window = params.window_days if method == "seasonal" else 0
    cameras = sorted({s.camera for s in spans})
    hint = collapse_hint(params, first, end - 1) if method == "seasonal" else None
    judged_hours = hours_with_extremes(db, tz, midnight_of(first, tz), midnight_of(end, tz), cameras)
    history = source.hourly(midnight_of(first - window, tz), midnight_of(first, tz), cameras, hint) \
        if window else judged_hours.iloc[:0]
    hourly = pd.concat([_with_ordinals(history), judged_hours[list(history.columns)]], ignore_index=True)
    cached = CachedMoments(source, hourly, first - window, end, tz)
    current = _inside(judged_hours, spans, days)
    if current.empty:
        return ChunkResult([], 0, 0, 0)
    ev = evaluate(_bounds(current), tz, method, params, cached, make_flags=False)
    k = len(current)
    suspect = current[ev.flagged[:k] | ev.flagged[k:]]
    flags: list[Flag] = []
    if not suspect.empty:
        rows = _suspect_rows(db, tz, suspect, current, spans)
        flags = evaluate(rows, tz, method, params, cached).flags
    evaluated, fallback, unjudged = _tallies(current, ev, k)
    return ChunkResult(flags, evaluated, fallback, unjudged)


def _judge_with_lookback(db: Database, tz: ZoneInfo, spans: list[Span], params,
                         source: DbMoments, narrow: bool = True) -> ChunkResult:
    """Robust: every row of the spans, plus :data:`LOOKBACK` before each (runs and silences look
    back that far), judged; flags and tallies only of the rows inside the spans."""
    wide: list[Span] = []
    for s in sorted(spans, key=lambda s: (s.camera, s.start_utc)):
        if wide and wide[-1].camera == s.camera and s.start_utc - LOOKBACK <= wide[-1].end_utc:
            wide[-1] = Span(s.camera, wide[-1].start_utc, max(wide[-1].end_utc, s.end_utc))
        else:
            wide.append(Span(s.camera, s.start_utc - LOOKBACK, s.end_utc))
    rows = read_rows(db, wide)
    if rows.empty:
        return ChunkResult([], 0, 0, 0)
    ev = evaluate(rows, tz, "robust", params, source, narrow=narrow)
    inside = _in_spans(rows["camera"].to_numpy(), rows["start_utc"].to_numpy(np.int64), spans)
    flags = ev.flags
    if flags:  # the look-back's rows only inform the verdicts of the spans' own rows
        mine = _in_spans(np.array([f.camera for f in flags], dtype=object),
                         np.array([f.start_utc for f in flags], dtype=np.int64), spans)
        flags = [f for f, ok in zip(flags, mine) if ok]
    return ChunkResult(flags, int(inside.sum()), int(ev.fallback[inside].sum()),
                       int((~ev.judged[inside]).sum()))


def _in_spans(cameras: np.ndarray, starts: np.ndarray, spans: list[Span]) -> np.ndarray:
    """Which rows start inside one of the (per camera disjoint) spans."""
    codes, _ = pd.factorize(pd.Series(np.concatenate([np.asarray(cameras, dtype=object),
                                                      np.array([s.camera for s in spans], dtype=object)])))
    row_code, span_code = codes[:len(starts)].astype(np.int64), codes[len(starts):].astype(np.int64)
    lo = np.array([s.start_utc for s in spans], dtype=np.int64)
    hi = np.array([s.end_utc for s in spans], dtype=np.int64)
    order = np.lexsort((lo, span_code))
    span_code, lo, hi = span_code[order], lo[order], hi[order]
    shift = 1 << 40
    at = np.searchsorted(span_code * shift + lo, row_code * shift + starts, side="right") - 1
    ok = at >= 0
    at = np.maximum(at, 0)
    return ok & (span_code[at] == row_code) & (starts < hi[at])


def _tallies(current: pd.DataFrame, ev, k: int) -> tuple[int, int, int]:
    """Intervals evaluated, judged by the fallback, and without any reference — per row, as
    judging every row counts them. Within an hour a metric is judged (or falls back) alike for
    every row that has it, so each pattern of known metrics is counted from the hour's n's."""
    n = current["n"].to_numpy(np.int64)
    people, vehicle = (current[f"{m}_n"].to_numpy(np.int64) for m in METRICS)
    none = current[NO_VALUE].to_numpy(np.int64)
    both = people + vehicle - (n - none)
    only = {"people": people - both, "vehicle": vehicle - both}
    judged = {m: ev.judged_by[m][:k] | ev.judged_by[m][k:] for m in METRICS}
    fell = {m: ev.fallback_by[m][:k] | ev.fallback_by[m][k:] for m in METRICS}
    fallback = both * (fell["people"] | fell["vehicle"]) + sum(only[m] * fell[m] for m in METRICS)
    unjudged = (none + both * ~(judged["people"] | judged["vehicle"])
                + sum(only[m] * ~judged[m] for m in METRICS))
    return int(n.sum()), int(fallback.sum()), int(unjudged.sum())


def _days_of(span: Span, tz: ZoneInfo) -> tuple[int, int] | None:
    """The span as local days ``[first, end)``, or None where it does not start/end at midnight."""
    first, end = local_day_of(span.start_utc, tz), local_day_of(span.end_utc, tz)
    if midnight_of(first, tz) != span.start_utc or midnight_of(end, tz) != span.end_utc:
        return None
    return first, end


def _inside(hourly: pd.DataFrame, spans: list[Span], days: list[tuple[int, int]]) -> pd.DataFrame:
    """The hours of ``hourly`` whose camera and day lie in one of the spans."""
    ranges = pd.DataFrame({"camera": [s.camera for s in spans], "first": [d[0] for d in days],
                           "end": [d[1] for d in days]})
    pairs = hourly.reset_index().merge(ranges, on="camera")
    inside = pairs[(pairs["day"] >= pairs["first"]) & (pairs["day"] < pairs["end"])]
    keep = np.unique(inside["index"].to_numpy())
    return hourly.iloc[keep].reset_index(drop=True)


def _bounds(current: pd.DataFrame) -> pd.DataFrame:
    """Two pseudo-rows per hour: its largest and its smallest value of each metric."""
    k = len(current)
    out = {"camera": np.concatenate([current["camera"].to_numpy()] * 2),
           "start_utc": np.zeros(2 * k, dtype=np.int64),  # not used: day and hour are given
           "day": np.concatenate([current["day"].to_numpy(np.int64)] * 2),
           "hour": np.concatenate([current["hour"].to_numpy(np.int64)] * 2)}
    for metric in METRICS:  # NaN where the metric is unknown
        out[metric] = np.concatenate([current[f"{metric}_max"].to_numpy(np.float64),
                                      current[f"{metric}_min"].to_numpy(np.float64)])
    return pd.DataFrame(out)


def _suspect_rows(db: Database, tz: ZoneInfo, suspect: pd.DataFrame, current: pd.DataFrame,
                  spans: list[Span]) -> pd.DataFrame:
    """The stored rows of the suspect hours, with day and hour.

    Per camera the suspect hours are read as merged ranges, unless one query for the camera's
    whole span is cheaper (many scattered suspects).
    """
    days = current["day"].to_numpy(np.int64)
    segments = offset_segments(tz, midnight_of(int(days.min()), tz), midnight_of(int(days.max()) + 1, tz))
    lo_off = min(s.offset for s in segments)
    hi_off = max(s.offset for s in segments)
    wall = ((suspect["day"].to_numpy(np.int64) - EPOCH_ORDINAL) * 86400
            + suspect["hour"].to_numpy(np.int64) * 3600)
    ranges = pd.DataFrame({"camera": suspect["camera"].to_numpy(), "lo": wall - hi_off,
                           "hi": wall + 3600 - lo_off, "n": suspect["n"].to_numpy()})
    ranges = ranges.sort_values(["camera", "lo"])
    totals = current.groupby("camera")["n"].sum()
    reads: list[Span] = []
    for camera, group in ranges.groupby("camera", sort=True):
        merged: list[Span] = []
        for lo, hi in zip(group["lo"].tolist(), group["hi"].tolist()):
            if merged and lo <= merged[-1].end_utc + MERGE_GAP:
                merged[-1] = Span(merged[-1].camera, merged[-1].start_utc, max(merged[-1].end_utc, hi))
            else:
                merged.append(Span(str(camera), lo, hi))
        if len(merged) * QUERY_COST_ROWS + int(group["n"].sum()) >= int(totals[camera]):
            merged = [s for s in spans if s.camera == camera]
        reads += merged
    rows = read_rows(db, reads)
    rows["day"], rows["hour"] = local_day_hour(rows["start_utc"].to_numpy(), tz)
    wanted = pd.MultiIndex.from_frame(suspect[["camera", "day", "hour"]])
    have = pd.MultiIndex.from_frame(rows[["camera", "day", "hour"]])
    return rows[have.isin(wanted)].reset_index(drop=True)
