"""Gather the report of one local period as data: SELECT only, exact figures, missing stays missing.

Moments come from :mod:`cctvctl.report.source` (the stats table when current, else computed
now); the maths is :func:`cctvctl.stats.moments.figures` on combined integer moments; flags are
the stored ones (:func:`cctvctl.detect.store.load_flags`). A peak interval and the vehicle-class
totals are the only figures read from raw counts here (one GROUP BY over the period's counts),
since no aggregate holds them.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pandas as pd

from cctvctl.db.database import Database
from cctvctl.db.schema import METRICS, VEHICLE_CLASSES
from cctvctl.errors import UsageError
from cctvctl.periods import Period, expected_slots, local_midnight_utc
from cctvctl.report.cameras import CameraTable, stat_of
from cctvctl.report.model import (BREAKDOWN, COMPARE_MODES, WEEKDAYS, BreakdownRow, Compare, Episode,
                                  ProfileRow, Report, Stat)
from cctvctl.report.source import (DEFAULT_INTERVAL, DEFAULT_K, Moments, StoredPeriod, computed,
                                  counted_cameras, expected_intervals, stored_check, stored_frames)
from cctvctl.stats.moments import combine

DEFAULT_TOP = 20
#: cameras read and summarised at a time (as ``aggregate``'s camera batches)
CAMERA_BATCH = 2_000

#: Per camera in one pass over the period's counts: each metric's peak and the vehicle classes.
#: A peak is the largest count, the earliest interval on ties; MAX of ``value·2³² + (end −
#: start)`` finds both at once (counts are 32-bit, a period is shorter than 2³² s, so the
#: 64-bit integer is exact on every engine).
RAW_SQL = ("SELECT camera, "
           + ", ".join(f"MAX({m} * 4294967296 + (? - start_utc))" for m in METRICS) + ", "
           + ", ".join(f"COUNT({c}), SUM({c})" for c in VEHICLE_CLASSES)
           + " FROM counts WHERE start_utc >= ? AND start_utc < ?{cameras} GROUP BY camera")
KNOWN_CAMERA_SQL = "SELECT 1 FROM counts WHERE camera = ? LIMIT 1"


def build_report(db: Database, period: Period, tz: ZoneInfo, *, cameras: list[str] | None = None,
                 compare: str = "previous", top: int = DEFAULT_TOP,
                 use_stats: bool = True, per_camera: int = 0,
                 camera_batch: int = CAMERA_BATCH) -> Report:
    """Everything the report of ``period`` shows, read with SELECT statements only.

    ``cameras`` limits the report (default: every camera with data in the period or the compared
    one); ``top`` keeps the flagged intervals with the largest |score| (0 keeps all);
    ``use_stats=False`` ignores the stats table and computes everything from raw counts;
    ``per_camera`` cameras (in report order) also get a breakdown of their own (for the chart);
    cameras are read ``camera_batch`` at a time (memory stays flat with many cameras).
    """

    if compare not in COMPARE_MODES:
        raise UsageError(f"--compare must be one of {', '.join(COMPARE_MODES)}")
    if top < 0:
        raise UsageError("--top must be 0 (every outlier) or more")
    if cameras:
        cameras = list(dict.fromkeys(cameras))
        unknown = [c for c in cameras if db.query_one(KNOWN_CAMERA_SQL, (c,)) is None]
        if unknown:
            raise UsageError(f"no counts for camera {', '.join(map(repr, unknown))} in this database")
    from cctvctl.report.source import stats_readable

    readable = stats_readable(db)
    try:
        return _build(db, period, tz, cameras, compare, top, use_stats and readable, use_stats,
                      "schema not migrated" if use_stats and not readable else None,
                      per_camera, camera_batch)
    except _Incomplete as gone:  # a batch's stats rows do not add up: compute all of it now
        return _build(db, period, tz, cameras, compare, top, False, use_stats, gone.reason,
                      per_camera, camera_batch)


class _Incomplete(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason


def _source(db: Database, period: Period, tz: ZoneInfo, cameras: list[str] | None,
            use_stats: bool) -> tuple[StoredPeriod | None, str, list[str]]:
    """Where a period's moments come from: the stats table (checked once for every camera) or
    raw counts; the reason when not the stats table; the cameras that have moments there."""
    found = stored_check(db, period, tz, cameras) if use_stats else "stats not used"
    if isinstance(found, StoredPeriod):
        return found, "", found.cameras
    names = counted_cameras(db, period, tz)
    if cameras:
        wanted = set(cameras)
        names = [n for n in names if n in wanted]
    return None, found, names


def _moments(db: Database, period: Period, tz: ZoneInfo, checked: StoredPeriod | None,
             batch: list[str], hours: bool) -> Moments:
    if checked is None:
        return computed(db, period, tz, batch, hours=hours)
    found = stored_frames(db, period, checked, batch, hours=hours)
    if isinstance(found, str):
        raise _Incomplete(found)
    return found


def _build(db: Database, period: Period, tz: ZoneInfo, cameras: list[str] | None, compare: str,
           top: int, main_stats: bool, compare_stats: bool, reason: str | None, per_camera: int,
           camera_batch: int) -> Report:
    """The report, ``camera_batch`` cameras at a time: memory holds one batch's moments, the
    compact per-camera rows and the period-wide sums (additive: moments and expected counts)."""
    from cctvctl.detect.store import load_flags

    checked, why, names = _source(db, period, tz, cameras, main_stats)
    reason = reason or (why if checked is None else None)
    cmp = cmp_checked = None
    cmp_names: list[str] = []
    if compare != "none":
        other = period.previous() if compare == "previous" else period.same_last_year()
        cmp = Compare(compare, other)
        cmp_checked, _, cmp_names = _source(db, other, tz, cameras, compare_stats)
    names = cameras or sorted(set(names) | set(cmp_names), key=natural_key)
    del cmp_names
    start, end = period.utc_range(tz)
    flags = load_flags(db, start, end, names if cameras else None)
    flagged: dict[str, set[int]] = {}
    for f in flags:
        flagged.setdefault(f.camera, set()).add(f.start_utc)
    k = checked.k if checked else DEFAULT_K
    mode = None if compare == "none" else compare
    table = CameraTable(k, end, mode)
    grain = BREAKDOWN[period.grain]
    breakdown: list[BreakdownRow] | None = None
    days, hours, chart = [], [], {}
    for lo in range(0, len(names), max(1, camera_batch)):
        batch = names[lo:lo + max(1, camera_batch)]
        moments = _moments(db, period, tz, checked, batch, True)
        cmp_moments = _moments(db, cmp.period, tz, cmp_checked, batch, False) if cmp else None
        intervals = {n: moments.interval(n) or (cmp_moments.interval(n) if cmp_moments else None)
                     or DEFAULT_INTERVAL for n in batch}
        raw = _raw_figures(db, period, tz, batch)
        for n in batch:
            row = moments.period_row(n)
            expected = row.get("expected")
            if expected is None:  # no data in the period at all: every interval is missing
                expected = expected_intervals(moments.days.iloc[0:0], period.days, {n: intervals[n]}, tz)
            table.add(n, row, cmp_moments.period_row(n) if cmp_moments else {}, raw.get(n),
                      expected, len(flagged.get(n, ())))
        breakdown = _add_rows(breakdown, _breakdown(moments, period, tz, grain, intervals))
        days.append(combine(moments.days.drop(columns=["camera"]), ["day"]))
        hours.append(combine(moments.hours.drop(columns=["camera"]), ["hour"]))
        for n in batch:
            if len(chart) < per_camera and moments.period_row(n).get("n"):
                chart[n] = _breakdown(_one_camera(moments, n), period, tz, grain, {n: intervals[n]})
        del moments, cmp_moments, raw
    if breakdown is None:  # no camera at all: the empty breakdown
        empty = computed(db, period, tz, None, hours=True)
        breakdown = _breakdown(empty, period, tz, grain, {})
        days, hours = [empty.days.drop(columns=["camera"])], [empty.hours.drop(columns=["camera"])]
    day_sums = combine(pd.concat(days, ignore_index=True), ["day"])
    hour_sums = combine(pd.concat(hours, ignore_index=True), ["hour"])
    sums = Moments("computed", k, day_sums, day_sums, hour_sums)
    episodes = group_episodes(flags)
    return Report(
        period=period, tz=tz, source="stats" if checked else "computed", k=k, cameras=table,
        breakdown_grain=grain, breakdown=breakdown,
        weekday_profile=_weekday_profile(sums, period, tz), hour_profile=_hour_profile(sums),
        episodes=_top(episodes, top), outliers_total=len(flags),
        outliers_intervals=sum(len(v) for v in flagged.values()), episodes_total=len(episodes),
        top=top, overall=_profile_stats(day_sums, k), compare=cmp,
        computed_at=checked.computed_at if checked else None, source_note=reason, all_flags=flags,
        camera_breakdown=chart)


def _add_rows(total: list[BreakdownRow] | None, part: list[BreakdownRow]) -> list[BreakdownRow]:
    """Breakdown rows of two sets of cameras added up (same buckets; a total stays None only
    where neither has a value)."""
    if total is None:
        return part
    for t, p in zip(total, part):
        t.intervals += p.intervals
        t.expected += p.expected
        for m in METRICS:
            t.n[m] = t.n.get(m, 0) + p.n.get(m, 0)
            if p.totals.get(m) is not None:
                t.totals[m] = (t.totals.get(m) or 0) + p.totals[m]
    return total


def _one_camera(moments: Moments, name: str) -> Moments:
    """The moments of one camera (days and hours filtered; the rest as it is)."""
    from dataclasses import replace

    hours = moments.hours
    return replace(moments, days=moments.days[moments.days["camera"] == name],
                   hours=None if hours is None else hours[hours["camera"] == name], _rows=None)


def natural_key(name: str) -> list:
    """Camera order for people: 2 before 10, cam-9 before cam-10."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part)
            for part in re.split(r"(\d+)", name) if part]


def _raw_figures(db: Database, period: Period, tz: ZoneInfo, names: list[str]) -> dict[str, tuple]:
    """camera → its RAW_SQL row (peaks and classes), for the cameras with counts in the period."""
    if not names:
        return {}
    start, end = period.utc_range(tz)
    marks = ", ".join("?" for _ in names)
    sql = RAW_SQL.format(cameras=f" AND camera IN ({marks})")
    return {row[0]: row[1:] for row in db.query(sql, [end] * len(METRICS) + [start, end] + names)}


def _totals(frame: pd.DataFrame) -> dict[str, int | None]:
    """Per metric the sum over ``frame``, or None where no interval has a value."""
    return {m: (int(frame[f"{m}_sum"].sum()) if int(frame[f"{m}_n"].sum()) else None) for m in METRICS}


def _ns(frame: pd.DataFrame) -> dict[str, int]:
    return {m: int(frame[f"{m}_n"].sum()) for m in METRICS}


def _months(period: Period) -> list[tuple[date, date, str]]:
    out = []
    d = period.start
    while d < period.end:
        nxt = date(d.year + (d.month == 12), d.month % 12 + 1, 1)
        out.append((d, nxt, f"{d.year}-{d.month:02d}"))
        d = nxt
    return out


def _breakdown(moments: Moments, period: Period, tz: ZoneInfo, grain: str,
               intervals: dict[str, int]) -> list[BreakdownRow]:
    if grain == "hour":
        return _hour_breakdown(moments, period.start, tz, intervals)
    days = moments.days
    buckets = ([(d, d + timedelta(days=1), d.isoformat()) for d in period.local_days(tz)]
               if grain == "day" else _months(period))
    rows = []
    for first, after, label in buckets:
        part = days[[first <= d < after for d in days["day"]]] if len(days) else days
        span = [first + timedelta(days=i) for i in range((after - first).days)]
        rows.append(BreakdownRow(
            label=label, start_utc=local_midnight_utc(first, tz), end_utc=local_midnight_utc(after, tz),
            intervals=int(part["n"].sum()), expected=expected_intervals(part, span, intervals, tz),
            totals=_totals(part), n=_ns(part), weekday=first.weekday() if grain == "day" else None))
    return rows


def _hour_breakdown(moments: Moments, day: date, tz: ZoneInfo,
                    intervals: dict[str, int]) -> list[BreakdownRow]:
    """The wall hours of one local day (a repeated hour holds both; a skipped one is absent)."""
    from cctvctl.stats.rows import hour_spans

    hours = moments.hours
    rows = []
    for hour, (first, after, seconds) in sorted(hour_spans(day, tz).items()):
        part = hours[hours["hour"] == hour]
        rows.append(BreakdownRow(
            label=f"{hour:02d}:00", start_utc=first, end_utc=after, intervals=int(part["n"].sum()),
            expected=sum(expected_slots(seconds, iv) for iv in intervals.values()), totals=_totals(part),
            n=_ns(part)))
    return rows


def _profile_stats(frame: pd.DataFrame, k: float) -> dict[str, Stat | None]:
    return {m: stat_of(int(frame[f"{m}_n"].sum()), int(frame[f"{m}_sum"].sum()),
                     int(frame[f"{m}_sumsq"].sum()), k) for m in METRICS}


def _weekday_profile(moments: Moments, period: Period, tz: ZoneInfo) -> list[ProfileRow]:
    days = moments.days
    weekday = pd.Series([d.weekday() for d in days["day"]], index=days.index, dtype="int64")
    out = []
    local_days = period.local_days(tz)
    for wd in range(7):
        count = sum(1 for d in local_days if d.weekday() == wd)
        if count:
            part = days[weekday == wd]
            out.append(ProfileRow(key=wd, name=WEEKDAYS[wd], intervals=int(part["n"].sum()),
                                  stats=_profile_stats(part, moments.k), days=count))
    return out


def _hour_profile(moments: Moments) -> list[ProfileRow]:
    hours = moments.hours
    return [ProfileRow(key=h, name=f"{h:02d}:00", intervals=int(hours.loc[hours["hour"] == h, "n"].sum()),
                       stats=_profile_stats(hours[hours["hour"] == h], moments.k)) for h in range(24)]


def group_episodes(flags: list) -> list[Episode]:
    """Consecutive flagged intervals of a camera (each starting where the last ended) → episodes."""
    from cctvctl.detect.episodes import chain
    from cctvctl.detect.model import interval_label

    at: dict[tuple[str, int], list] = {}  # the flags of one interval of one camera (all metrics)
    for f in flags:
        at.setdefault((f.camera, f.start_utc), []).append(f)
    runs = chain(at.values(), lambda g: g[0].camera, lambda g: g[0].start_utc, lambda g: g[0].end_utc)
    episodes = [_episode(run[0][0].camera, run, interval_label) for run in runs]
    return sorted(episodes, key=lambda e: (e.start_utc, natural_key(e.camera)))


def _episode(camera: str, run: list[list], interval_label) -> Episode:
    flags = [f for group in run for f in group]
    kinds = {}
    for f in flags:
        kinds.setdefault((f.metric, f.direction), f)
    worst = max(flags, key=lambda f: (abs(f.score), -f.start_utc))
    last = run[-1][0]
    end = last.end_utc if last.end_utc is not None else last.start_utc
    return Episode(camera=camera, start_utc=run[0][0].start_utc, end_utc=end, intervals=len(run),
                   label=interval_label(list(kinds.values())), worst=worst, flags=flags)


def _top(episodes: list[Episode], top: int) -> list[Episode]:
    """The ``top`` episodes with the largest |score| (all with 0), in time order."""
    if not top or len(episodes) <= top:
        return episodes
    ranked = sorted(range(len(episodes)), key=lambda i: (-abs(episodes[i].worst.score), i))[:top]
    return [episodes[i] for i in sorted(ranked)]
