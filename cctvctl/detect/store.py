"""The SQL of detection: the rows to judge and the ``outliers`` table.

Rows are read one camera and one UTC range at a time (the primary-key path on SQLite, the
``camera, start_utc`` index on MySQL). The moments of references come from
:mod:`cctvctl.detect.source`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cctvctl.db.database import Database
from cctvctl.detect.methods import params_json
from cctvctl.detect.model import Flag, params_from_json, with_labels

SELECT_ROWS = ("SELECT start_utc, people, vehicle, end_utc - start_utc FROM counts "
               "WHERE camera = ? AND start_utc >= ? AND start_utc < ?")
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
    "o.band_low, o.band_high, o.score, o.method, o.params FROM outliers o "
    "LEFT JOIN counts c ON c.camera = o.camera AND c.start_utc = o.start_utc "
    "WHERE o.start_utc >= ? AND o.start_utc < ?{cameras}{method} ORDER BY o.start_utc, o.camera")


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
    cameras, starts, people, vehicle, length = [], [], [], [], []
    for span in spans:
        records = db.query(SELECT_ROWS, (span.camera, span.start_utc, span.end_utc))
        if not records:
            continue
        values = np.array(records, dtype=np.float64)  # None (unknown) → NaN; epochs are exact
        cameras.append(np.full(len(values), span.camera, dtype=object))
        starts.append(values[:, 0].astype(np.int64))
        people.append(values[:, 1])
        vehicle.append(values[:, 2])
        length.append(values[:, 3].astype(np.int64))
    if not starts:
        return pd.DataFrame({"camera": pd.Series(dtype=object), "start_utc": pd.Series(dtype=np.int64),
                             "people": pd.Series(dtype=np.float64), "vehicle": pd.Series(dtype=np.float64),
                             "length": pd.Series(dtype=np.int64)})
    return pd.DataFrame({"camera": np.concatenate(cameras), "start_utc": np.concatenate(starts),
                         "people": np.concatenate(people), "vehicle": np.concatenate(vehicle),
                         "length": np.concatenate(length)})


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
    """Start of each camera's latest stored interval (one index seek per camera)."""
    found = {}
    for camera in cameras:
        value = db.scalar(LAST_START, (camera,))
        if value is not None:
            found[camera] = int(value)
    return found


def cameras_between(db: Database, start_utc: int, end_utc: int) -> list[str]:
    """Cameras with imported data in the UTC range (from the small ``import_days`` ledger)."""
    rows = db.query(CAMERAS_IN_DAYS, (start_utc // 86400, (end_utc - 1) // 86400))
    return sorted(str(r[0]) for r in rows)


def replace_flags(db: Database, spans: list[Span], method: str, flags: list[Flag]) -> None:
    """Delete the method's flags in the spans, then upsert the new ones (one transaction)."""
    now = int(time.time())
    rows = [(f.camera, f.start_utc, f.metric, f.method, f.direction, f.observed, f.expected,
             f.band_low, f.band_high, f.score, params_json(f.params), now) for f in flags]
    with db.atomic():
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
    rows = db.query(SELECT_FLAGS.format(cameras=camera_sql, method=method_sql), params)
    flags = [Flag(camera=str(r[0]), start_utc=int(r[1]), end_utc=None if r[2] is None else int(r[2]),
                  metric=str(r[3]), direction=str(r[4]), observed=float(r[5]), expected=float(r[6]),
                  band_low=None if r[7] is None else float(r[7]),
                  band_high=None if r[8] is None else float(r[8]), score=float(r[9]),
                  method=str(r[10]), params=params_from_json(r[11])) for r in rows]
    return with_labels(flags)


SELECT_IMPORT_FLAGS = (
    "SELECT o.camera, o.start_utc, c.end_utc, o.metric, o.direction, o.observed, o.expected, "
    "o.band_low, o.band_high, o.score, o.method, o.params FROM outliers o "
    "JOIN counts c ON c.camera = o.camera AND c.start_utc = o.start_utc "
    "WHERE c.import_id = ? ORDER BY o.start_utc, o.camera")


def flags_of_import(db: Database, import_id: int) -> list[Flag]:
    """The stored flags of the intervals one import wrote (what ``serve`` answers a post with)."""
    rows = db.query(SELECT_IMPORT_FLAGS, (import_id,))
    return with_labels([Flag(camera=str(r[0]), start_utc=int(r[1]), end_utc=int(r[2]),
                             metric=str(r[3]), direction=str(r[4]), observed=float(r[5]),
                             expected=float(r[6]), band_low=None if r[7] is None else float(r[7]),
                             band_high=None if r[8] is None else float(r[8]), score=float(r[9]),
                             method=str(r[10]), params=params_from_json(r[11])) for r in rows])
