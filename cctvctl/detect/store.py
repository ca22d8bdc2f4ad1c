"""The SQL of detection: the rows to judge and the ``outliers`` table.

Rows are read one camera and one UTC range at a time (the primary-key path on SQLite, the
``camera, start_utc`` index on MySQL). The moments of references come from
:mod:`cctvctl.detect.source`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from itertools import chain, islice

import numpy as np
import pandas as pd

from cctvctl.db.database import Database
from cctvctl.detect.methods import params_json
from cctvctl.detect.model import Flag, params_from_json, with_labels

#: unknown counts come back as -1 (counts are never negative), so every value is an int and a
#: camera's rows decode in one C pass
SELECT_ROWS = ("SELECT start_utc, COALESCE(people, -1), COALESCE(vehicle, -1), end_utc - start_utc "
               "FROM counts WHERE camera = ? AND start_utc >= ? AND start_utc < ?")
SELECT_ROWS_BY_TIME = ("SELECT camera, start_utc, COALESCE(people, -1), COALESCE(vehicle, -1), "
                       "end_utc - start_utc FROM counts WHERE start_utc >= ? AND start_utc < ? "
                       "AND camera IN ({marks})")
_ROW_FIELDS = ["start_utc", "COALESCE(people, -1)", "COALESCE(vehicle, -1)", "end_utc - start_utc"]
PACKED_ROWS_BY_TIME = ("SELECT camera, COUNT(*), CONCAT({packed}, ',;') FROM counts "
                       "WHERE start_utc >= ? AND start_utc < ? AND camera IN ({marks}) GROUP BY camera")
#: seeks in one UNION ALL (SQLite allows 500 terms of a compound SELECT)
SEEK_BATCH = 400
COUNT_ROWS_IN = "SELECT COUNT(*) FROM counts WHERE start_utc >= ? AND start_utc < ? AND camera IN ({marks})"
COUNT_ROWS_BY_CAMERA = ("SELECT camera, COUNT(*) FROM counts WHERE start_utc >= ? AND start_utc < ? "
                        "AND camera IN ({marks}) GROUP BY camera")
#: cameras named in one query
CAMERA_BATCH = 500
#: cameras named in one COUNT (each query scans the whole time range on MariaDB)
COUNT_BATCH = 5000
SELECT_DETAILS = ("SELECT start_utc, end_utc, import_id FROM counts "
                  "WHERE camera = ? AND start_utc IN ({marks})")
DETAIL_BATCH = 500
IMPORT_DAYS = "SELECT camera, utc_day FROM import_days WHERE import_id = ?"
LAST_START = "SELECT MAX(start_utc) FROM counts WHERE camera = ?"
CAMERAS_IN_DAYS = "SELECT DISTINCT camera FROM import_days WHERE utc_day >= ? AND utc_day <= ?"
DELETE_FLAGS = ("DELETE FROM outliers WHERE camera = ? AND start_utc >= ? AND start_utc < ? "
                "AND method = ?")
OUTLIER_COLUMNS = ["camera", "start_utc", "metric", "method", "direction", "observed", "expected",
                   "band_low", "band_high", "score", "params", "detected_at"]
OUTLIER_KEYS = ["camera", "start_utc", "metric", "method"]
SELECT_FLAGS = (
    "SELECT o.camera, o.start_utc, c.end_utc, o.metric, o.direction, o.observed, o.expected, "
    "o.band_low, o.band_high, o.score, o.method, o.params FROM {table} o "
    "LEFT JOIN counts c ON c.camera = o.camera AND c.start_utc = o.start_utc "
    "WHERE o.start_utc >= ? AND o.start_utc < ?{cameras}{method}")

# -- flag runs (schema 7): how an account without DELETE on outliers replaces flags ----------
#: a run of ``outlier_runs`` covering flag ``o`` (same camera and method, its interval inside)
COVERING = ("r.camera = o.camera AND r.method = o.method AND r.start_utc <= o.start_utc "
            "AND r.end_utc > o.start_utc")
RUN_COLUMNS = ["camera", "method", "start_utc", "end_utc", "run_id", "import_id", "written_at"]
NEXT_RUN = "SELECT COALESCE(MAX(run_id), 0) + 1 FROM outlier_runs"
ANY_RUN = "SELECT 1 FROM outlier_runs LIMIT 1"
RUNS = "SELECT camera, method, start_utc, end_utc, run_id FROM outlier_runs ORDER BY run_id, camera, start_utc"
FOLD_DELETE = "DELETE FROM outliers WHERE camera = ? AND method = ? AND start_utc >= ? AND start_utc < ?"
FOLD_COPY = ("INSERT INTO outliers (" + ", ".join(OUTLIER_COLUMNS) + ") SELECT "
             + ", ".join(OUTLIER_COLUMNS) + " FROM outlier_log WHERE camera = ? AND method = ? "
             "AND run_id = ? AND start_utc >= ? AND start_utc < ?")
FOLD_FORGET = ("DELETE FROM outlier_log", "DELETE FROM outlier_runs")
PROBE_DELETE = "DELETE FROM outliers WHERE 1 = 0"


def current_flags_sql(select: str) -> str:
    """``select`` (over ``{table} o``) for the flags in force: rows of ``outliers`` no run
    covers, and rows of ``outlier_log`` of the latest run that covers them."""
    return (select.replace("{table}", "outliers") + f" AND NOT EXISTS (SELECT 1 FROM outlier_runs r WHERE {COVERING})"
            + " UNION ALL " + select.replace("{table}", "outlier_log")
            + f" AND o.run_id = (SELECT MAX(r.run_id) FROM outlier_runs r WHERE {COVERING})")


def _current(db: Database, select: str, params: list) -> tuple[str, list]:
    """The flags in force, by interval start then camera (before schema 7: ``outliers``)."""
    if not db.table_exists("outlier_runs"):
        return select.replace("{table}", "outliers") + " ORDER BY 2, 1", params
    return current_flags_sql(select) + " ORDER BY 2, 1", params + params


def may_delete_flags(db: Database) -> bool:
    """Whether this account may delete from ``outliers`` (cron, the administrator, SQLite);
    the ingest account of ``cctvctl db grants`` may not. Asked once per connection."""
    return db.may(PROBE_DELETE)


def append_run(db: Database, spans: list[Span], method: str, rows: list[tuple],
               import_id: int | None, now: int) -> None:
    """Replace the method's flags in the spans with INSERTs only: a new run claims the spans
    and holds the flags (readers take the latest run; :func:`fold_runs` settles them)."""
    run_id = int(db.scalar(NEXT_RUN))  # under the import lock: no other writer between
    db.executemany(f"INSERT INTO outlier_runs ({', '.join(RUN_COLUMNS)}) VALUES "
                   f"({', '.join('?' for _ in RUN_COLUMNS)})",
                   [(s.camera, method, s.start_utc, s.end_utc, run_id, import_id, now) for s in spans])
    columns = OUTLIER_COLUMNS + ["run_id"]
    db.executemany(f"INSERT INTO outlier_log ({', '.join(columns)}) VALUES "
                   f"({', '.join('?' for _ in columns)})", [r + (run_id,) for r in rows])


def fold_runs(db: Database) -> int:
    """Apply every appended run to ``outliers`` in run order (each replaces the flags of its
    spans), then empty the run tables: ``outliers`` alone holds the flags again. Needs DELETE;
    returns the runs folded."""
    if not db.table_exists("outlier_runs") or db.query_one(ANY_RUN) is None:
        return 0
    runs = db.query(RUNS)
    for camera, method, start, end, run_id in runs:
        db.execute(FOLD_DELETE, (camera, method, start, end))
        db.execute(FOLD_COPY, (camera, method, run_id, start, end))
    for sql in FOLD_FORGET:
        db.execute(sql)
    return len({r[4] for r in runs})


@dataclass(frozen=True)
class Span:
    """One camera's UTC range ``[start_utc, end_utc)`` to judge (and whose flags it replaces)."""

    camera: str
    start_utc: int
    end_utc: int


def read_rows(db: Database, spans: list[Span]) -> pd.DataFrame:
    """The stored counts of every span: camera, start_utc, people, vehicle (NULL → NaN) and
    each interval's length in seconds.

    Only what judging needs is read (one query per span, three columns): this is the hot path
    of detection at import time.
    """
    if db.dialect.time_first_counts:
        return _read_by_time(db, spans)
    cameras, starts, people, vehicle, length = [], [], [], [], []
    for span in spans:
        records = db.query(SELECT_ROWS, (span.camera, span.start_utc, span.end_utc))
        if not records:
            continue
        values = np.fromiter(chain.from_iterable(records), dtype=np.int64,
                             count=4 * len(records)).reshape(-1, 4)
        cameras.append(np.full(len(values), span.camera, dtype=object))
        starts.append(values[:, 0])
        people.append(np.where(values[:, 1] < 0, np.nan, values[:, 1]))
        vehicle.append(np.where(values[:, 2] < 0, np.nan, values[:, 2]))
        length.append(values[:, 3])
    if not starts:
        return pd.DataFrame({"camera": pd.Series(dtype=object), "start_utc": pd.Series(dtype=np.int64),
                             "people": pd.Series(dtype=np.float64), "vehicle": pd.Series(dtype=np.float64),
                             "length": pd.Series(dtype=np.int64)})
    return pd.DataFrame({"camera": np.concatenate(cameras), "start_utc": np.concatenate(starts),
                         "people": np.concatenate(people), "vehicle": np.concatenate(vehicle),
                         "length": np.concatenate(length)})


def _read_by_time(db: Database, spans: list[Span]) -> pd.DataFrame:
    """:func:`read_rows` where the counts key starts with time: the cameras of spans with the
    same bounds (a night's spans) in one range query, not one secondary-index walk each."""
    packed = db.dialect.packed_scan
    if packed:
        db.allow_long_concat()
        select = PACKED_ROWS_BY_TIME.replace("{packed}", db.dialect.packed_concat(_ROW_FIELDS))
    cameras, texts, records = [], [], []
    for (lo, hi), names in spans_by_bounds(spans).items():
        for i in range(0, len(names), CAMERA_BATCH):
            batch = names[i:i + CAMERA_BATCH]
            marks = ", ".join("?" for _ in batch)
            if not packed:
                records += db.query(SELECT_ROWS_BY_TIME.format(marks=marks), [lo, hi] + batch)
                continue
            # one text per camera: the driver decodes a few rows, numpy the numbers
            for camera, n, text in db.query(select.format(marks=marks), [lo, hi] + batch):
                text = text.decode() if isinstance(text, (bytes, bytearray)) else text
                if not _whole(text, int(n)):  # the server cut it (max_allowed_packet): row by row
                    records += db.query(SELECT_ROWS_BY_TIME.format(marks="?"), [lo, hi, camera])
                    continue
                cameras.append(str(camera))
                texts.append(text[:-len(_END)])
    values = np.fromiter(chain.from_iterable(islice(r, 1, None) for r in records), dtype=np.int64,
                         count=4 * len(records)).reshape(-1, 4)
    names = np.array([r[0] for r in records], dtype=object)
    if texts:
        values = np.concatenate([values, np.fromstring(",".join(texts), dtype=np.int64, sep=",").reshape(-1, 4)])
        names = np.concatenate([names, np.repeat(np.array(cameras, dtype=object),
                                                 [(t.count(",") + 1) // 4 for t in texts])])
    return pd.DataFrame({"camera": names, "start_utc": values[:, 0],
                         "people": np.where(values[:, 1] < 0, np.nan, values[:, 1]),
                         "vehicle": np.where(values[:, 2] < 0, np.nan, values[:, 2]),
                         "length": values[:, 3]})


#: ends every packed text: a text the server cut short (at ``max_allowed_packet``: a warning,
#: not an error) lacks it, or the CONCAT around it is NULL
_END = ",;"


def _whole(text: str | None, rows: int) -> bool:
    """The packed text of ``rows`` rows arrived whole."""
    return (text is not None and text.endswith(_END)
            and text.count(",") == 4 * rows - 1 + _END.count(","))


def spans_by_bounds(spans: list[Span]) -> dict[tuple[int, int], list[str]]:
    """The cameras of the spans, grouped by identical ``(start_utc, end_utc)``."""
    out: dict[tuple[int, int], list[str]] = {}
    for s in spans:
        out.setdefault((s.start_utc, s.end_utc), []).append(s.camera)
    return out


def spans_holding(db: Database, spans: dict[Span, int]) -> set[Span]:
    """The spans that hold exactly the given number of stored rows, knowing each holds at least
    that many (an import's own rows): per group of cameras with the same bounds, one COUNT of
    them all; only a group whose total is larger is counted camera by camera."""
    out: set[Span] = set()
    for (lo, hi), names in spans_by_bounds(list(spans)).items():
        for i in range(0, len(names), COUNT_BATCH):
            batch = [Span(c, lo, hi) for c in names[i:i + COUNT_BATCH]]
            marks = ", ".join("?" for _ in batch)
            values = [lo, hi] + [s.camera for s in batch]
            if int(db.scalar(COUNT_ROWS_IN.format(marks=marks), values) or 0) == sum(spans[s] for s in batch):
                out.update(batch)
                continue
            found = {str(c): int(n) for c, n in db.query(COUNT_ROWS_BY_CAMERA.format(marks=marks), values)}
            out.update(s for s in batch if found.get(s.camera, 0) == spans[s])
    return out


@dataclass(frozen=True)
class IntervalDetail:
    end_utc: int
    import_id: int


def interval_details(db: Database, keys: set[tuple[str, int]]) -> dict[tuple[str, int], IntervalDetail]:
    """End and import of a few stored intervals (the flagged ones), in batched queries."""
    by_camera: dict[str, list[int]] = {}
    for camera, start in keys:
        by_camera.setdefault(camera, []).append(start)
    found = {}
    for camera, starts in by_camera.items():
        starts.sort()
        for i in range(0, len(starts), DETAIL_BATCH):
            batch = starts[i:i + DETAIL_BATCH]
            sql = SELECT_DETAILS.format(marks=", ".join("?" for _ in batch))
            for start, end, import_id in db.query(sql, [camera] + batch):
                found[(camera, int(start))] = IntervalDetail(int(end), int(import_id))
    return found


def import_days(db: Database, import_id: int) -> list[tuple[str, int]]:
    return [(str(c), int(d)) for c, d in db.query(IMPORT_DAYS, (import_id,))]


def last_starts(db: Database, cameras: list[str]) -> dict[str, int]:
    """Start of each camera's latest stored interval: one index seek per camera, a few hundred
    seeks to a statement (a GROUP BY over the camera index read every fresh row of an import in
    its own transaction on MariaDB: 2.7 s for 100 cameras of 35 days)."""
    found = {}
    for i in range(0, len(cameras), SEEK_BATCH):
        batch = cameras[i:i + SEEK_BATCH]
        sql = " UNION ALL ".join(f"SELECT {j}, ({LAST_START})" for j in range(len(batch)))
        for j, value in db.query(sql, batch):
            if value is not None:
                found[batch[int(j)]] = int(value)
    return found


def cameras_between(db: Database, start_utc: int, end_utc: int) -> list[str]:
    """Cameras with imported data in the UTC range (from the small ``import_days`` ledger)."""
    rows = db.query(CAMERAS_IN_DAYS, (start_utc // 86400, (end_utc - 1) // 86400))
    return sorted(str(r[0]) for r in rows)


def replace_flags(db: Database, spans: list[Span], method: str, flags: list[Flag],
                  import_id: int | None = None) -> None:
    """Delete the method's flags in the spans, then upsert the new ones (one transaction).

    An account that may not delete (the ingest account) appends a run instead
    (:func:`append_run`); one that may first folds any appended runs into ``outliers``.
    """
    now = int(time.time())
    rows = [(f.camera, f.start_utc, f.metric, f.method, f.direction, f.observed, f.expected,
             f.band_low, f.band_high, f.score, params_json(f.params), now) for f in flags]
    with db.atomic():
        if not may_delete_flags(db):
            append_run(db, spans, method, rows, import_id, now)
            return
        fold_runs(db)
        db.executemany(DELETE_FLAGS, [(s.camera, s.start_utc, s.end_utc, method) for s in spans])
        db.executemany(db.dialect.upsert("outliers", OUTLIER_COLUMNS, OUTLIER_KEYS), rows)


def load_flags(db: Database, start_utc: int, end_utc: int, cameras: list[str] | None = None,
               method: str | None = None) -> list[Flag]:
    """Stored flags whose interval starts in ``[start_utc, end_utc)``, labelled (for reports)."""
    params: list = [start_utc, end_utc]
    camera_sql = method_sql = ""
    if cameras:
        camera_sql = " AND o.camera IN (" + ", ".join("?" for _ in cameras) + ")"
        params += list(cameras)
    if method:
        method_sql = " AND o.method = ?"
        params.append(method)
    select = SELECT_FLAGS.replace("{cameras}", camera_sql).replace("{method}", method_sql)
    select, params = _current(db, select, params)
    rows = db.query(select, params)
    flags = [Flag(camera=str(r[0]), start_utc=int(r[1]), end_utc=None if r[2] is None else int(r[2]),
                  metric=str(r[3]), direction=str(r[4]), observed=float(r[5]), expected=float(r[6]),
                  band_low=None if r[7] is None else float(r[7]),
                  band_high=None if r[8] is None else float(r[8]), score=float(r[9]),
                  method=str(r[10]), params=params_from_json(r[11])) for r in rows]
    return with_labels(flags)


SELECT_IMPORT_FLAGS = (
    "SELECT o.camera, o.start_utc, c.end_utc, o.metric, o.direction, o.observed, o.expected, "
    "o.band_low, o.band_high, o.score, o.method, o.params FROM {table} o "
    "JOIN counts c ON c.camera = o.camera AND c.start_utc = o.start_utc "
    "WHERE c.import_id = ?")


def flags_of_import(db: Database, import_id: int) -> list[Flag]:
    """The stored flags of the intervals one import wrote (what ``serve`` answers a post with)."""
    select, params = SELECT_IMPORT_FLAGS, [import_id]
    select, params = _current(db, select, params)
    rows = db.query(select, params)
    return with_labels([Flag(camera=str(r[0]), start_utc=int(r[1]), end_utc=int(r[2]),
                             metric=str(r[3]), direction=str(r[4]), observed=float(r[5]),
                             expected=float(r[6]), band_low=None if r[7] is None else float(r[7]),
                             band_high=None if r[8] is None else float(r[8]), score=float(r[9]),
                             method=str(r[10]), params=params_from_json(r[11])) for r in rows])
