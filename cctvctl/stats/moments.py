"""Integer moments (n, sum, sum of squares) per local hour or day, computed in the database.

The database only ever sees UTC ranges: the requested range is split where the zone's UTC offset
changes, and inside one constant-offset piece a local wall-clock bucket is plain integer
arithmetic (``start_utc + offset`` rounded down to the hour or day), which SQLite, MariaDB and
MySQL evaluate identically. Python turns the buckets back into local dates and hours. Because
moments are integers, every roll-up (:func:`combine`) and every statistic (:func:`figures`) is
exact: a month's mean and standard deviation equal those computed over all its raw intervals.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import pandas as pd

from cctvctl.db.database import Database

METRICS = ("people", "vehicle")
MOMENTS = ("n", "people_n", "people_sum", "people_sumsq", "vehicle_n", "vehicle_sum",
           "vehicle_sumsq")
HOUR = 3600
DAY = 86400
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_UTC = timezone.utc
#: offsets are probed this often; zones never change offset twice within it
_PROBE = 6 * HOUR

MOMENTS_SQL = (
    "SELECT camera, (start_utc + ?) - ((start_utc + ?) % ?) AS bucket, COUNT(*), "
    "COUNT(people), SUM(people), SUM(people * people), "
    "COUNT(vehicle), SUM(vehicle), SUM(vehicle * vehicle) "
    "FROM counts WHERE start_utc >= ? AND start_utc < ?{cameras} "
    "GROUP BY camera, bucket")
INTERVALS_SQL = (
    "SELECT camera, (start_utc + ?) - ((start_utc + ?) % ?) AS bucket, "
    "end_utc - start_utc AS length, COUNT(*) "
    "FROM counts WHERE start_utc >= ? AND start_utc < ?{cameras} "
    "GROUP BY camera, bucket, length")


@dataclass(frozen=True)
class Segment:
    """A UTC range ``[start, end)`` during which the zone keeps one UTC offset (seconds)."""

    start: int
    end: int
    offset: int


@dataclass
class Figures:
    """Mean, population standard deviation and reference ``mean + k·std`` of a metric."""

    mean: object
    std: object
    ref: object


def _offset(tz: ZoneInfo, epoch: int) -> int:
    return int(datetime.fromtimestamp(epoch, _UTC).astimezone(tz).utcoffset().total_seconds())


def offset_segments(tz: ZoneInfo, start_utc: int, end_utc: int) -> list[Segment]:
    """Split ``[start_utc, end_utc)`` at the zone's offset changes (found by bisection)."""
    segments: list[Segment] = []
    seg_start = start_utc
    current = _offset(tz, start_utc)
    probe = start_utc
    while probe < end_utc:
        nxt = min(probe + _PROBE, end_utc)
        off = _offset(tz, nxt) if nxt < end_utc else current
        if off != current:
            lo, hi = probe, nxt  # offset(lo) == current, offset(hi) != current
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if _offset(tz, mid) == current:
                    lo = mid
                else:
                    hi = mid
            segments.append(Segment(seg_start, hi, current))
            seg_start, current = hi, _offset(tz, hi)
            probe = hi
            continue
        probe = nxt
    if seg_start < end_utc:
        segments.append(Segment(seg_start, end_utc, current))
    return segments


def local_day(bucket_seconds: int) -> date:
    """Local wall-clock seconds since 1970-01-01 00:00 (local) → that local date."""
    return date.fromordinal(_EPOCH_ORDINAL + bucket_seconds // DAY)


def camera_filter(cameras: list[str] | None) -> tuple[str, list]:
    """`` AND camera IN (?, …)`` and its values; nothing for None (all cameras)."""
    if cameras is None:
        return "", []
    return " AND camera IN (" + ", ".join("?" for _ in cameras) + ")", list(cameras)


def _bucket_rows(db: Database, sql: str, tz: ZoneInfo, start_utc: int, end_utc: int,
                 cameras: list[str] | None, size: int) -> list[tuple]:
    where, values = camera_filter(cameras)
    statement = sql.format(cameras=where)
    rows: list[tuple] = []
    for seg in offset_segments(tz, start_utc, end_utc):
        rows.extend(db.query(statement, [seg.offset, seg.offset, size, seg.start, seg.end] + values))
    return rows


def _empty(columns: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype="int64") for c in columns})
    frame["camera"] = pd.Series(dtype=object)
    if "day" in frame:
        frame["day"] = pd.Series(dtype=object)
    return frame[columns]


def _moments(db: Database, tz: ZoneInfo, start_utc: int, end_utc: int,
             cameras: list[str] | None, size: int) -> pd.DataFrame:
    hourly = size == HOUR
    keys = ["camera", "day", "hour"] if hourly else ["camera", "day"]
    columns = keys + list(MOMENTS)
    if cameras is not None and not cameras:
        return _empty(columns)
    rows = _bucket_rows(db, MOMENTS_SQL, tz, int(start_utc), int(end_utc), cameras, size)
    if not rows:
        return _empty(columns)
    raw = pd.DataFrame(rows, columns=["camera", "bucket"] + list(MOMENTS))
    for c in ["bucket"] + list(MOMENTS):
        raw[c] = raw[c].fillna(0).astype("int64")
    raw["camera"] = raw["camera"].astype(object)
    days = {b: local_day(b) for b in (raw["bucket"] // DAY * DAY).unique().tolist()}
    raw["day"] = (raw["bucket"] // DAY * DAY).map(days).astype(object)
    if hourly:
        raw["hour"] = ((raw["bucket"] % DAY) // HOUR).astype("int64")
    # A repeated wall hour (DST fall-back) comes from two offset segments: add them up.
    out = raw.groupby(keys, as_index=False, sort=True)[list(MOMENTS)].sum()
    return out[columns].reset_index(drop=True)


def hourly_moments(db: Database, tz: ZoneInfo, start_utc: int, end_utc: int,
                   cameras: list[str] | None = None) -> pd.DataFrame:
    """Moments per (camera, local day, local wall hour 0–23) of intervals starting in the range.

    Columns: camera, day (``datetime.date``), hour, n, people_n, people_sum, people_sumsq,
    vehicle_n, vehicle_sum, vehicle_sumsq (int64; ``*_n`` counts non-NULL values, and sums are 0
    where a metric is unknown). Only buckets with data appear. On a fall-back day the repeated
    hour holds both of its real hours; on a spring-forward day the skipped hour is absent.
    """
    return _moments(db, tz, start_utc, end_utc, cameras, HOUR)


def daily_moments(db: Database, tz: ZoneInfo, start_utc: int, end_utc: int,
                  cameras: list[str] | None = None) -> pd.DataFrame:
    """Moments per (camera, local day): the columns of :func:`hourly_moments` without hour."""
    return _moments(db, tz, start_utc, end_utc, cameras, DAY)


def daily_intervals(db: Database, tz: ZoneInfo, start_utc: int, end_utc: int,
                    cameras: list[str] | None = None) -> pd.DataFrame:
    """The usual interval length per (camera, local day): the most common ``end - start``.

    Columns camera, day, interval_s. Ties go to the shorter length (more expected intervals,
    so coverage is never overstated).
    """
    columns = ["camera", "day", "interval_s"]
    if cameras is not None and not cameras:
        return _empty(columns)
    rows = _bucket_rows(db, INTERVALS_SQL, tz, int(start_utc), int(end_utc), cameras, DAY)
    if not rows:
        return _empty(columns)
    raw = pd.DataFrame(rows, columns=["camera", "bucket", "interval_s", "count"])
    for c in ("bucket", "interval_s", "count"):
        raw[c] = raw[c].astype("int64")
    raw = raw.groupby(["camera", "bucket", "interval_s"], as_index=False)["count"].sum()
    raw = raw.sort_values(["camera", "bucket", "count", "interval_s"],
                          ascending=[True, True, False, True])
    best = raw.drop_duplicates(["camera", "bucket"], keep="first").copy()
    best["camera"] = best["camera"].astype(object)
    best["day"] = best["bucket"].map(local_day).astype(object)
    return best[columns].reset_index(drop=True)


def combine(frame: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Exact roll-up: sums of n, sum and sum of squares (and ``expected``) grouped ``by``."""
    additive = [c for c in frame.columns if c in MOMENTS or c == "expected"]
    if frame.empty:
        return frame[list(by) + additive].iloc[0:0].reset_index(drop=True)
    return frame.groupby(list(by), as_index=False, sort=True)[additive].sum()


def figures(n, s, ss, k: float = 1.5) -> Figures:
    """Exact mean, population std and ``ref = mean + k·std`` from integer moments.

    Works on scalars (NaN where n is 0) and on pandas Series. The variance numerator
    ``n·ss − s²`` is formed in exact integer arithmetic, so no cancellation error creeps in.
    """
    if isinstance(n, pd.Series):
        index = n.index
        ns = [int(v) for v in n.tolist()]
        sums = [int(v) for v in pd.Series(s, index=index).tolist()]
        sqs = [int(v) for v in pd.Series(ss, index=index).tolist()]
        nan = float("nan")
        mean = pd.Series([a / c if c > 0 else nan for a, c in zip(sums, ns)], index=index,
                         dtype="float64")
        var = pd.Series([(c * q - a * a) / (c * c) if c > 0 else nan
                         for a, q, c in zip(sums, sqs, ns)], index=index, dtype="float64")
        std = var.clip(lower=0.0) ** 0.5
        return Figures(mean=mean, std=std, ref=mean + k * std)
    n, s, ss = int(n), int(s), int(ss)
    if n <= 0:
        nan = float("nan")
        return Figures(nan, nan, nan)
    mean = s / n
    std = max((n * ss - s * s) / (n * n), 0.0) ** 0.5
    return Figures(mean, std, mean + k * std)
