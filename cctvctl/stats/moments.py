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
from datetime import date, datetime, timedelta, timezone
from itertools import chain, islice
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from cctvctl.db.database import Database
from cctvctl.periods import day_runs, local_midnight_utc

METRICS = ("people", "vehicle")
MOMENTS = ("n", "people_n", "people_sum", "people_sumsq", "vehicle_n", "vehicle_sum",
           "vehicle_sumsq")
HOUR = 3600
DAY = 86400
#: date ordinal of 1970-01-01: epoch days + EPOCH_ORDINAL = a local day's ordinal
EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_UTC = timezone.utc
#: offsets are probed this often; zones never change offset twice within it
_PROBE = 6 * HOUR
_EXACT = 2 ** 53  # integers below this convert to float64 exactly

#: SUMs cast to integers: MySQL returns DECIMAL otherwise, which PyMySQL turns into Decimal
#: objects one by one (a second or more per million groups); SQLite reads SIGNED as NUMERIC.
MOMENTS_SQL = (
    "SELECT camera, (start_utc + ?) - ((start_utc + ?) % ?) AS bucket, COUNT(*), "
    "COUNT(people), CAST(SUM(people) AS SIGNED), CAST(SUM(people * people) AS SIGNED), "
    "COUNT(vehicle), CAST(SUM(vehicle) AS SIGNED), CAST(SUM(vehicle * vehicle) AS SIGNED), "
    "MIN(end_utc - start_utc), MAX(end_utc - start_utc) "
    "FROM counts WHERE start_utc >= ? AND start_utc < ?{cameras} "
    "GROUP BY camera, bucket")
INTERVALS_SQL = (
    "SELECT camera, (start_utc + ?) - ((start_utc + ?) % ?) AS bucket, "
    "end_utc - start_utc AS length, COUNT(*) "
    "FROM counts WHERE start_utc >= ? AND start_utc < ?{cameras} "
    "GROUP BY camera, bucket, length")
#: columns of one MOMENTS_SQL row
_SCAN = ["camera", "bucket"] + list(MOMENTS) + ["len_min", "len_max"]
#: MOMENTS_SQL with the nine figures of a group in one text field (MySQL/MariaDB). PyMySQL
#: decodes the text protocol field by field in Python — 11 fields × 24,000 groups was a third
#: of a nightly ``aggregate day`` — while numpy parses one comma-joined string in C. Sums of a
#: metric without values are 0 here (CONCAT_WS skips NULLs), as :func:`int_array` makes them.
PACKED_MOMENTS_SQL = (
    "SELECT camera, (start_utc + ?) - ((start_utc + ?) % ?) AS bucket, CONCAT_WS(',', COUNT(*), "
    "COUNT(people), CAST(COALESCE(SUM(people), 0) AS SIGNED), "
    "CAST(COALESCE(SUM(people * people), 0) AS SIGNED), "
    "COUNT(vehicle), CAST(COALESCE(SUM(vehicle), 0) AS SIGNED), "
    "CAST(COALESCE(SUM(vehicle * vehicle), 0) AS SIGNED), "
    "MIN(end_utc - start_utc), MAX(end_utc - start_utc)) "
    "FROM counts WHERE start_utc >= ? AND start_utc < ?{cameras} "
    "GROUP BY camera, bucket")

#: SQLite sorts every row of a ``GROUP BY camera, bucket`` into a temporary B-tree (the bucket
#: is an expression, so the camera-first key gives no order): about half of the scan. Driving
#: the same scan from two small ordered tables — the cameras, and the local buckets as UTC
#: ranges — makes the groups arrive in (camera, bucket) order and the sort disappears
#: (a month of 100 cameras hourly: 0.63 s → 0.36 s). A repeated wall hour (DST fall-back)
#: has two ranges with one bucket; they form one group, the sum of both.
_ORDERED_TABLES = (
    "CREATE TEMP TABLE IF NOT EXISTS cctv_scan_cameras (camera VARCHAR(64) NOT NULL PRIMARY KEY)"
    " WITHOUT ROWID",
    "CREATE TEMP TABLE IF NOT EXISTS cctv_scan_buckets (bucket BIGINT NOT NULL, lo BIGINT NOT NULL,"
    " hi BIGINT NOT NULL, PRIMARY KEY (bucket, lo)) WITHOUT ROWID",
)
ORDERED_MOMENTS_SQL = (
    "SELECT cm.camera, bk.bucket, COUNT(*), "
    "COUNT(people), CAST(SUM(people) AS SIGNED), CAST(SUM(people * people) AS SIGNED), "
    "COUNT(vehicle), CAST(SUM(vehicle) AS SIGNED), CAST(SUM(vehicle * vehicle) AS SIGNED), "
    "MIN(end_utc - start_utc), MAX(end_utc - start_utc) "
    "FROM temp.cctv_scan_cameras cm CROSS JOIN temp.cctv_scan_buckets bk CROSS JOIN counts c "
    "ON c.camera = cm.camera AND c.start_utc >= bk.lo AND c.start_utc < bk.hi "
    "GROUP BY cm.camera, bk.bucket")


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
        last = nxt if nxt < end_utc else end_utc - 1  # the range's last second is probed too
        off = _offset(tz, last)
        if off != current:
            lo, hi = probe, last  # offset(lo) == current, offset(hi) != current
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
    return date.fromordinal(EPOCH_ORDINAL + bucket_seconds // DAY)


def camera_filter(cameras: list[str] | None) -> tuple[str, list]:
    """`` AND camera IN (?, …)`` and its values; nothing for None (all cameras)."""
    if cameras is None:
        return "", []
    from cctvctl.validate import camera_names

    camera_names(cameras)
    return " AND camera IN (" + ", ".join("?" for _ in cameras) + ")", list(cameras)


def _window_end(start: int, seg: Segment, size: int, buckets: int) -> int:
    """The end of ``buckets`` whole local buckets of ``size`` seconds from ``start`` in ``seg``."""
    wall = start + seg.offset
    return min(seg.end, wall - wall % size + buckets * size - seg.offset)


def bucket_rows(db: Database, sql: str, tz: ZoneInfo, start_utc: int, end_utc: int,
                 cameras: list[str] | None, size: int) -> list[tuple]:
    """Rows of ``sql`` (grouped by camera and local bucket) over ``[start_utc, end_utc)``.

    One query per constant-offset segment, cut into pieces of whole buckets where the dialect
    limits how many groups one GROUP BY should build (MariaDB/MySQL spill a large temporary
    table to disk: an hourly GROUP BY of 100 cameras × 35 days ran 3× slower in one piece than
    in weekly pieces). Without a camera list the piece size follows the groups seen so far.
    """
    if cameras is None and db.dialect.name_cameras:
        cameras = sorted(row[0] for row in db.query(db.dialect.cameras_sql))
        if not cameras:
            return []
    where, values = camera_filter(cameras)
    statement = sql.format(cameras=where)
    limit = db.dialect.max_groups
    buckets = max(1, limit // len(cameras)) if limit and cameras else 1
    rows: list[tuple] = []
    for seg in offset_segments(tz, start_utc, end_utc):
        a = seg.start
        while a < seg.end:
            b = _window_end(a, seg, size, buckets) if limit else seg.end
            got = db.query(statement, [seg.offset, seg.offset, size, a, b] + values)
            if limit and cameras is None:  # groups per bucket seen → buckets per piece
                spanned = -(-(b - a) // size)
                buckets = max(1, limit * spanned // len(got)) if got else buckets * 2
            rows.extend(got)
            a = b
    return rows


_EMPTY: dict[tuple, pd.DataFrame] = {}


def _empty(columns: list[str]) -> pd.DataFrame:
    key = tuple(columns)
    if key not in _EMPTY:
        frame = pd.DataFrame({c: pd.Series(dtype="int64") for c in columns})
        frame["camera"] = pd.Series(dtype=object)
        if "day" in frame:
            frame["day"] = pd.Series(dtype=object)
        _EMPTY[key] = frame[columns]
    return _EMPTY[key].copy()


def _ordered_rows(db: Database, tz: ZoneInfo, start_utc: int, end_utc: int,
                  cameras: list[str], size: int) -> list[tuple]:
    """MOMENTS_SQL's rows through ORDERED_MOMENTS_SQL (SQLite: no sort of the scanned rows)."""
    buckets = []
    for seg in offset_segments(tz, start_utc, end_utc):
        a = seg.start
        while a < seg.end:
            b = _window_end(a, seg, size, 1)
            buckets.append((a + seg.offset - (a + seg.offset) % size, a, b))
            a = b
    for statement in _ORDERED_TABLES:
        db.execute(statement)
    db.execute("DELETE FROM temp.cctv_scan_cameras")
    db.execute("DELETE FROM temp.cctv_scan_buckets")
    db.executemany("INSERT INTO temp.cctv_scan_cameras (camera) VALUES (?)",
                   [(c,) for c in sorted(set(cameras))])
    db.executemany("INSERT INTO temp.cctv_scan_buckets (bucket, lo, hi) VALUES (?, ?, ?)", buckets)
    return db.query(ORDERED_MOMENTS_SQL)


def _ordered(db: Database, cameras: list[str] | None) -> bool:
    """Whether the sort-free scan applies: the dialect allows it, cameras named, no group limit."""
    return db.dialect.sort_free_scan and cameras is not None and db.dialect.max_groups is None


def _scan(db: Database, tz: ZoneInfo, start_utc: int, end_utc: int,
          cameras: list[str] | None, size: int, ordered: bool = False) -> pd.DataFrame | None:
    """MOMENTS_SQL over the range as a frame with ``day`` (and ``hour``); None without rows.

    ``ordered`` lets SQLite use :data:`ORDERED_MOMENTS_SQL` (the same rows, no sort).
    """
    if cameras is not None and not cameras:
        return None
    packed = False
    if ordered and _ordered(db, cameras):
        rows = _ordered_rows(db, tz, int(start_utc), int(end_utc), cameras, size)
    elif _packs(db):
        rows = bucket_rows(db, PACKED_MOMENTS_SQL, tz, int(start_utc), int(end_utc), cameras, size)
        packed = True
    else:
        rows = bucket_rows(db, MOMENTS_SQL, tz, int(start_utc), int(end_utc), cameras, size)
    if not rows:
        return None
    columns = _packed_columns(rows) if packed else _int_columns(rows, len(_SCAN) - 1)
    raw = pd.DataFrame({"camera": np.array([r[0] for r in rows], dtype=object)})
    for name, values in zip(_SCAN[1:], columns):
        raw[name] = values
    day_start = raw["bucket"] // DAY * DAY
    days = {b: local_day(b) for b in day_start.unique().tolist()}
    raw["day"] = day_start.map(days).astype(object)
    if size == HOUR:
        raw["hour"] = ((raw["bucket"] % DAY) // HOUR).astype("int64")
    return raw


def _packs(db: Database) -> bool:
    """Whether the scan reads :data:`PACKED_MOMENTS_SQL` (MySQL/MariaDB: CONCAT_WS, and a
    driver that decodes every field in Python)."""
    return db.dialect.packed_scan


def _packed_columns(rows: list[tuple]) -> list[np.ndarray]:
    """Rows of PACKED_MOMENTS_SQL (camera, bucket, "n,people_n,…,len_max") → the int64 columns
    of :data:`_SCAN` after the camera, as :func:`_int_columns` gives them for MOMENTS_SQL."""
    width = len(_SCAN) - 2
    bucket = np.fromiter((int(r[1]) for r in rows), dtype=np.int64, count=len(rows))
    texts = [r[2] for r in rows]
    sep = b"," if texts and isinstance(texts[0], (bytes, bytearray)) else ","
    flat = np.fromstring(sep.join(texts), dtype=np.int64, sep=",")
    if flat.size != len(rows) * width:  # cannot happen: every field is a non-NULL integer
        raise ValueError(f"packed moments: {flat.size} values for {len(rows)} groups")
    return [bucket] + list(flat.reshape(len(rows), width).T.copy())


def _int_columns(rows: list[tuple], width: int) -> list[np.ndarray]:
    """Columns 1…width of driver rows as int64 arrays (what :func:`int_array` gives each).

    In one C pass where every value is an int (the usual case; NULL sums or MySQL Decimals
    take the column by column path).
    """
    try:
        flat = np.fromiter(chain.from_iterable(islice(r, 1, None) for r in rows), dtype=np.int64,
                           count=len(rows) * width)
        return list(flat.reshape(len(rows), width).T.copy())
    except (TypeError, ValueError, OverflowError):
        columns = list(zip(*rows))
        return [int_array(values) for values in columns[1:width + 1]]


def int_array(values) -> np.ndarray:
    """Driver values (int, Decimal, None or NaN) → int64, missing as 0 (an unknown metric sums
    to 0)."""
    try:  # in C: through float64, exact while every value is below 2**53
        floats = np.array(values, dtype=np.float64)
        if not len(floats) or np.nanmax(np.abs(floats), initial=0.0) < _EXACT:
            return np.nan_to_num(floats, nan=0.0).astype(np.int64)
    except (TypeError, ValueError, OverflowError):
        pass
    return np.fromiter((0 if v is None or v != v else int(v) for v in values), dtype=np.int64,
                       count=len(values))


def _strictly_increasing(raw: pd.DataFrame) -> bool:
    """Whether the scan's rows are in strictly increasing (camera, bucket) order: then every
    (camera, day[, hour]) key occurs once and in sorted order, and summing is a no-op."""
    camera = raw["camera"].to_numpy()
    bucket = raw["bucket"].to_numpy()
    if len(camera) < 2:
        return True
    same = camera[1:] == camera[:-1]
    return bool(np.all(np.where(same, bucket[1:] > bucket[:-1], camera[1:] > camera[:-1])))


def _sum_moments(raw: pd.DataFrame | None, keys: list[str]) -> pd.DataFrame:
    columns = keys + list(MOMENTS)
    if raw is None:
        return _empty(columns)
    if _strictly_increasing(raw):  # one row per key, in key order (SQLite's ordered scan)
        out = raw[columns].reset_index(drop=True)
        for key in keys:  # the key dtypes a group-by gives (pandas 3: text becomes ``str``)
            out[key] = pd.Index(out[key].to_numpy())
        return out
    # A repeated wall hour (DST fall-back) comes from two offset segments: add them up.
    out = raw.groupby(keys, as_index=False, sort=True)[list(MOMENTS)].sum()
    return out[columns].reset_index(drop=True)


def _moments(db: Database, tz: ZoneInfo, start_utc: int, end_utc: int,
             cameras: list[str] | None, size: int) -> pd.DataFrame:
    keys = ["camera", "day", "hour"] if size == HOUR else ["camera", "day"]
    return _sum_moments(_scan(db, tz, start_utc, end_utc, cameras, size), keys)


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
    rows = bucket_rows(db, INTERVALS_SQL, tz, int(start_utc), int(end_utc), cameras, DAY)
    if not rows:
        return _empty(columns)
    raw = pd.DataFrame(rows, columns=["camera", "bucket", "interval_s", "count"])
    for c in ("bucket", "interval_s", "count"):
        raw[c] = raw[c].astype("int64")
    raw["camera"] = raw["camera"].astype(object)
    raw["day"] = raw["bucket"].map(local_day).astype(object)
    return _usual(raw[["camera", "day", "interval_s", "count"]])


def _usual(lengths: pd.DataFrame) -> pd.DataFrame:
    """(camera, day, interval_s, count) → the most common length per (camera, day)."""
    lengths = lengths.groupby(["camera", "day", "interval_s"], as_index=False, sort=False)["count"].sum()
    lengths = lengths.sort_values(["camera", "day", "count", "interval_s"],
                                  ascending=[True, True, False, True])
    best = lengths.drop_duplicates(["camera", "day"], keep="first")
    return best[["camera", "day", "interval_s"]].reset_index(drop=True)


@dataclass
class HourlyScan:
    """Hourly moments and each (camera, day)'s usual interval length, from one pass."""

    hourly: pd.DataFrame  # columns of hourly_moments
    intervals: pd.DataFrame  # columns of daily_intervals


def hourly_with_intervals(db: Database, tz: ZoneInfo, start_utc: int, end_utc: int,
                          cameras: list[str] | None = None) -> HourlyScan:
    """:func:`hourly_moments` and :func:`daily_intervals` from one scan of the counts.

    Each hour group also carries the shortest and longest interval length in it. Where they
    agree (every interval of the hour has one length, the usual case) the hour's count is
    that length's count, exactly; a (camera, day) with a mixed hour is counted length by
    length with ``INTERVALS_SQL``, for those days and cameras only.
    """
    raw = _scan(db, tz, start_utc, end_utc, cameras, HOUR, ordered=True)
    hourly = _sum_moments(raw, ["camera", "day", "hour"])
    if raw is None:
        return HourlyScan(hourly, _empty(["camera", "day", "interval_s"]))
    mixed = raw["len_min"] != raw["len_max"]
    plain = raw.loc[~mixed, ["camera", "day", "len_min", "n"]]
    plain = plain.rename(columns={"len_min": "interval_s", "n": "count"})
    if not mixed.any():
        return HourlyScan(hourly, _usual(plain))
    pairs = set(zip(raw.loc[mixed, "camera"], raw.loc[mixed, "day"]))
    keep = [(c, d) not in pairs for c, d in zip(plain["camera"], plain["day"])]
    parts = [_usual(plain[keep])] if any(keep) else []
    for first, last in day_runs({d for _, d in pairs}):
        names = sorted({c for c, d in pairs if first <= d <= last})
        exact = daily_intervals(db, tz, local_midnight_utc(first, tz),
                                local_midnight_utc(last + timedelta(days=1), tz), names)
        parts.append(exact[[(c, d) in pairs for c, d in zip(exact["camera"], exact["day"])]])
    intervals = pd.concat(parts, ignore_index=True)
    return HourlyScan(hourly, intervals.sort_values(["camera", "day"]).reset_index(drop=True))



def combine(frame: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Exact roll-up: sums of n, sum and sum of squares (and ``expected``) grouped ``by``."""
    additive = [c for c in frame.columns if c in MOMENTS or c == "expected"]
    if frame.empty:
        return frame[list(by) + additive].iloc[0:0].reset_index(drop=True)
    return frame.groupby(list(by), as_index=False, sort=True)[additive].sum()


def _vector_figures(n, s, ss, index) -> tuple[pd.Series, pd.Series] | None:
    """Mean and variance with numpy, bit for bit what the exact Python formula gives.

    Only when every product involved stays below 2**53: then ``n·ss − s²`` is exact in int64,
    both operands of each division convert to float64 exactly, and an IEEE division is
    correctly rounded like Python's ``int / int``. Otherwise None (the caller loops in Python).
    """
    try:
        ni = np.asarray(pd.Series(n, index=index), dtype=np.int64)
        si = np.asarray(pd.Series(s, index=index), dtype=np.int64)
        qi = np.asarray(pd.Series(ss, index=index), dtype=np.int64)
    except (TypeError, ValueError, OverflowError):
        return None
    if not len(ni):
        empty = pd.Series([], index=index, dtype="float64")
        return empty, empty.copy()
    top_n, top_s, top_q = (int(np.abs(a).max()) for a in (ni, si, qi))
    if max(top_n * top_n, top_n * top_q, top_s * top_s, top_s) >= _EXACT:
        return None
    ok = ni > 0
    safe = np.where(ok, ni, 1)
    mean = np.where(ok, si.astype(np.float64) / safe.astype(np.float64), np.nan)
    num = ni * qi - si * si
    var = np.where(ok, num.astype(np.float64) / (safe * safe).astype(np.float64), np.nan)
    return pd.Series(mean, index=index, dtype="float64"), pd.Series(var, index=index, dtype="float64")


def figures(n, s, ss, k: float = 1.5) -> Figures:
    """Exact mean, population std and ``ref = mean + k·std`` from integer moments.

    Works on scalars (NaN where n is 0) and on pandas Series. The variance numerator
    ``n·ss − s²`` is formed in exact integer arithmetic, so no cancellation error creeps in.
    """
    if isinstance(n, pd.Series):
        index = n.index
        fast = _vector_figures(n, s, ss, index)
        if fast is not None:
            mean, var = fast
        else:
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
