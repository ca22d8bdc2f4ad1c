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
from cctvctl.detect.source import NO_VALUE, DbMoments, hours_with_extremes, keep_hours
from cctvctl.detect.store import Span, read_rows, spans_holding
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


class RowsFirst:
    """Robust's hourly moments where the rows already read for judging hold whole local days:
    from those rows; everything before them from the database.

    A first import of weeks of history judges every day against the days before it inside the
    same file: the rows read for judging are those days, so a second scan of them (a GROUP BY
    over every interval) only repeats what is in memory. Exact: the same integer sums of the
    same rows, bucketed by the same local wall hour (tests/test_detect_differential.py holds it
    to the plain path, which reads every moment from the database).
    """

    def __init__(self, source: DbMoments, rows: pd.DataFrame, covered: dict[str, tuple[int, int]],
                 tz: ZoneInfo):
        self.source, self.rows, self.covered, self.tz = source, rows, covered, tz
        self._codes = self._names = None

    def hourly(self, start_utc: int, end_utc: int, cameras: list[str],
               collapse: tuple[int, int] | None = None, only_days=None) -> pd.DataFrame:
        d0, d1 = local_day_of(start_utc, self.tz), local_day_of(end_utc, self.tz)
        aligned = start_utc == midnight_of(d0, self.tz) and end_utc == midnight_of(d1, self.tz)
        if not aligned or collapse is not None or not cameras or any(c not in self.covered for c in cameras):
            return self.source.hourly(start_utc, end_utc, cameras, collapse, only_days=only_days)
        first = max(max(self.covered[c][0] for c in cameras), d0)  # every camera's rows hold days ≥ first
        if first >= d1:
            return self.source.hourly(start_utc, end_utc, cameras, only_days=only_days)
        parts = [self._from_rows(first, d1, cameras)]
        if first > d0:
            parts.insert(0, self.source.hourly(start_utc, midnight_of(first, self.tz), cameras, only_days=only_days))
        return keep_hours(pd.concat(parts, ignore_index=True), only_days)

    def _from_rows(self, first: int, end: int, cameras: list[str]) -> pd.DataFrame:
        """Moments of days ``[first, end)`` (each camera's up to its last whole day) of the rows."""
        rows = self.rows
        if self._codes is None:
            self._codes, self._names = pd.factorize(rows["camera"])
        wanted = set(cameras)
        ends = np.array([min(end, self.covered[c][1]) if c in wanted else first for c in self._names], dtype=np.int64)
        day = rows["day"].to_numpy(np.int64)
        pick = np.flatnonzero((day >= first) & (day < ends[self._codes]))
        codes, names = self._codes[pick], self._names
        day, hour = day[pick], rows["hour"].to_numpy(np.int64)[pick]
        span = int(day.max()) - first + 1 if len(day) else 1
        key = (codes.astype(np.int64) * span + (day - first)) * 24 + hour
        order = np.argsort(key, kind="stable")
        key = key[order]
        starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if len(key) else np.zeros(0, dtype=np.int64)
        first_of = order[starts]
        data = {"camera": np.asarray(names, dtype=object)[codes[first_of]], "day": day[first_of],
                "hour": hour[first_of], "n": np.diff(np.r_[starts, len(key)]).astype(np.int64)}
        for metric in METRICS:  # integer sums over each run of equal keys
            value = rows[metric].to_numpy(np.float64)[pick][order]
            known = ~np.isnan(value)
            whole = np.where(known, value, 0).astype(np.int64)
            for name, column in (("n", known.astype(np.int64)), ("sum", whole), ("sumsq", whole * whole)):
                data[f"{metric}_{name}"] = np.add.reduceat(column, starts) if len(key) else column
            data[f"{metric}_days"] = (data[f"{metric}_n"] > 0).astype(np.int64)
        return pd.DataFrame(data)

    def daily(self, start_utc: int, end_utc: int, cameras: list[str]) -> pd.DataFrame:
        return self.source.daily(start_utc, end_utc, cameras)

    def first_days(self, cameras: list[str]) -> pd.Series:
        return self.source.first_days(cameras)


def _covered_days(wide: list[Span], tz: ZoneInfo) -> dict[str, tuple[int, int]]:
    """Per camera read as one span: the whole local days ``[first, end)`` its rows hold."""
    out: dict[str, tuple[int, int]] = {}
    several = set()
    for s in wide:
        if s.camera in out:
            several.add(s.camera)
        first = local_day_of(s.start_utc, tz)
        if midnight_of(first, tz) != s.start_utc:
            first += 1
        out[s.camera] = (first, local_day_of(s.end_utc, tz))
    return {c: v for c, v in out.items() if c not in several and v[0] < v[1]}


def judge_chunk(db: Database, tz: ZoneInfo, spans: list[Span], method: str, params,
                prescreen: bool = True, written: pd.DataFrame | None = None) -> ChunkResult:
    """Flags and counts of the stored intervals of ``spans`` (one chunk of time).

    ``prescreen=False`` is the plain path: every row read and judged one by one, robust's
    references from every stored hour of the window (what the pre-screen and robust's narrowed
    read are tested against, tests/test_detect_differential.py).
    """
    source = DbMoments(db, tz, day_hours=prescreen)
    if method == "robust":
        return _judge_with_lookback(db, tz, spans, params, source, narrow=prescreen,
                                    written=written if prescreen else None)
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
                         source: DbMoments, narrow: bool = True,
                         written: pd.DataFrame | None = None) -> ChunkResult:
    """Robust: every row of the spans, plus :data:`LOOKBACK` before each (runs and silences look
    back that far), judged; flags and tallies only of the rows inside the spans.

    Cameras are judged in batches of about :data:`BATCH_ROWS` rows: each camera's verdicts
    depend on its own rows only, and arrays that fit the CPU's caches are judged faster than
    one set of arrays over every row (and peak memory stays bounded)."""
    wide: list[Span] = []
    for s in sorted(spans, key=lambda s: (s.camera, s.start_utc)):
        if wide and wide[-1].camera == s.camera and s.start_utc - LOOKBACK <= wide[-1].end_utc:
            wide[-1] = Span(s.camera, wide[-1].start_utc, max(wide[-1].end_utc, s.end_utc))
        else:
            wide.append(Span(s.camera, s.start_utc - LOOKBACK, s.end_utc))
    own = _Written(written, db, wide) if written is not None else None
    result = ChunkResult([], 0, 0, 0)
    for batch in _camera_batches(wide):
        names = {s.camera for s in batch}
        part = _judge_batch(db, tz, batch, [s for s in spans if s.camera in names], params, source,
                            narrow, own)
        result.flags += part.flags
        result.evaluated += part.evaluated
        result.fallback += part.fallback
        result.unjudged += part.unjudged
    return result


#: rows judged at a time (estimated from the spans at one row per 5 minutes)
BATCH_ROWS = 250_000


def _camera_batches(wide: list[Span]) -> list[list[Span]]:
    """``wide`` (sorted by camera) cut into batches of whole cameras of ~:data:`BATCH_ROWS` rows."""
    batches: list[list[Span]] = []
    size = 0
    for s in wide:
        rows = max(1, (s.end_utc - s.start_utc) // 300)
        new_camera = not batches or batches[-1][-1].camera != s.camera
        if not batches or (new_camera and size + rows > BATCH_ROWS):
            batches.append([])
            size = 0
        batches[-1].append(s)
        size += rows
    return batches


def _judge_batch(db: Database, tz: ZoneInfo, wide: list[Span], spans: list[Span], params,
                 source: DbMoments, narrow: bool, written: "_Written | None") -> ChunkResult:
    rows = read_rows(db, wide) if written is None else written.rows_of(db, wide)
    if rows.empty:
        return ChunkResult([], 0, 0, 0)
    if narrow:  # the fast path: moments of the days these rows hold come from them
        rows["day"], rows["hour"] = local_day_hour(rows["start_utc"].to_numpy(), tz)
        source = RowsFirst(source, rows, _covered_days(wide, tz), tz)
    ev = evaluate(rows, tz, "robust", params, source, narrow=narrow)
    inside = _in_spans(rows["camera"].to_numpy(), rows["start_utc"].to_numpy(np.int64), spans)
    flags = ev.flags
    if flags:  # the look-back's rows only inform the verdicts of the spans' own rows
        mine = _in_spans(np.array([f.camera for f in flags], dtype=object),
                         np.array([f.start_utc for f in flags], dtype=np.int64), spans)
        flags = [f for f, ok in zip(flags, mine) if ok]
    return ChunkResult(flags, int(inside.sum()), int(ev.fallback[inside].sum()),
                       int((~ev.judged[inside]).sum()))


class _Written:
    """An import's own rows (see ``CountWriter.written_rows``), by camera and start."""

    def __init__(self, written: pd.DataFrame, db: Database, wide: list[Span]):
        self.frame = written.sort_values(["camera", "start_utc"], kind="stable", ignore_index=True)
        starts = self.frame["start_utc"].to_numpy(np.int64)
        bounds = {c: (lo, hi) for c, lo, hi in zip(*_sorted_groups(self.frame["camera"].to_numpy()))}
        mine: dict[Span, tuple[Span, int, int]] = {}
        for span in wide:
            lo, hi = bounds.get(span.camera, (0, 0))
            a = lo + int(np.searchsorted(starts[lo:hi], span.start_utc, side="left"))
            b = lo + int(np.searchsorted(starts[lo:hi], span.end_utc, side="left"))
            if a < b:
                mine[Span(span.camera, int(starts[a]), span.end_utc)] = (span, a, b)
        exact = spans_holding(db, {own: b - a for own, (_, a, b) in mine.items()})
        #: wide span → (own rows' first start, their positions) where the database holds only them
        self.own = {span: (own.start_utc, a, b) for own, (span, a, b) in mine.items() if own in exact}

    def rows_of(self, db: Database, wide: list[Span]) -> pd.DataFrame:
        """:func:`read_rows` of the spans, taking the import's own rows from memory where the
        database holds exactly them in their range; the rest is read."""
        kept, reads = [], []
        for span in wide:
            if span not in self.own:  # no own rows, or other imports' rows in the range too
                reads.append(span)
                continue
            first, a, b = self.own[span]
            kept.append(self.frame.iloc[a:b])
            if span.start_utc < first:
                reads.append(Span(span.camera, span.start_utc, first))
        read = read_rows(db, reads)
        return pd.concat([read] + kept, ignore_index=True) if kept else read


def _sorted_groups(names: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct values of a sorted array with where each run of them starts and ends."""
    if not len(names):
        return names, np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    cuts = np.flatnonzero(names[1:] != names[:-1]) + 1
    lo, hi = np.r_[0, cuts], np.r_[cuts, len(names)]
    return names[lo], lo, hi


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
