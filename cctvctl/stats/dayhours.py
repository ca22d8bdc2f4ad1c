"""A (camera, local day)'s hour moments packed into one ``day_hours`` row (schema 8).

Detection's reference for one night reads about twenty like days of every camera's 24 hours;
as ``stats`` rows that is ~300,000 driver rows on 1,000 cameras, and decoding them cost more
than the import itself. Packed, the same integers are one row per camera and day: a
``24 × len(MOMENTS)`` matrix, little-endian, hour ``h`` in row ``h`` and all zeros where the
day has no ``stats`` row for that hour (every stored hour has ``n ≥ 1``) — int32 where every
value of the day fits (672 bytes, the usual case), else int64 (1,344 bytes).

The packed row is written by the same statement batch, in the same transaction, as the day's
``stats`` rows (:func:`write_day_hours`) and deleted with them, so it never says anything the
``stats`` rows do not; a day aggregated before schema 8 has none and is read from ``stats``.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import numpy as np
import pandas as pd

from cctvctl.db.database import Database
from cctvctl.errors import DatabaseError
from cctvctl.stats.moments import MOMENTS

COLUMNS = ["period_start", "camera", "moments"]
KEYS = ["period_start", "camera"]
WIDTH = len(MOMENTS)
#: bytes of one packed day, by item size
SIZES = {24 * WIDTH * 4: "<i4", 24 * WIDTH * 8: "<i8"}
_INT32 = np.iinfo(np.int32)
DELETE = "DELETE FROM day_hours WHERE camera = ? AND period_start = ?"


def pack(hour_rows: pd.DataFrame) -> list[tuple[str, str, bytes]]:
    """``(period_start, camera, moments)`` of every (camera, day) in ``hour_rows`` (columns
    ``camera``, ``period_start``, ``hour`` and :data:`MOMENTS`; NULL sums count as 0, as every
    reader of ``stats`` takes them). Each (camera, day) must come with all its hours."""
    if hour_rows.empty:
        return []
    keys = pd.MultiIndex.from_arrays([hour_rows["period_start"].to_numpy(), hour_rows["camera"].to_numpy()])
    codes, uniques = pd.factorize(keys)
    table = np.zeros((len(uniques), 24, WIDTH), dtype="<i8")
    values = hour_rows[list(MOMENTS)].fillna(0).to_numpy(dtype=np.int64)
    table[codes, hour_rows["hour"].to_numpy(np.int64)] = values
    small = (table.min(axis=(1, 2)) >= _INT32.min) & (table.max(axis=(1, 2)) <= _INT32.max)
    return [(str(day), str(camera), table[i].astype("<i4").tobytes() if small[i] else table[i].tobytes())
            for i, (day, camera) in enumerate(uniques)]


def unpack(rows: list[tuple], days: np.ndarray | None = None, hours: np.ndarray | None = None) -> pd.DataFrame:
    """``(period_start, camera, moments)`` rows → one row per stored hour: ``camera``,
    ``period_start``, ``hour`` and :data:`MOMENTS` (int64), as the ``stats`` rows read.
    ``days`` (one value per row): a ``day`` column of those values instead of ``period_start``;
    ``hours`` (rows × 24 booleans): only those hours."""
    first = "period_start" if days is None else "day"
    columns = ["camera", first, "hour"] + list(MOMENTS)
    if not rows:
        return pd.DataFrame({c: pd.Series(dtype=object if c in ("camera", "period_start") else np.int64)
                             for c in columns})
    blobs = [bytes(r[2]) for r in rows]
    sizes = np.array([len(b) for b in blobs])
    if not np.isin(sizes, list(SIZES)).all():
        raise ValueError("day_hours row of the wrong size")
    table = np.zeros((len(rows), 24, WIDTH), dtype=np.int64)
    for size, dtype in SIZES.items():
        at = np.flatnonzero(sizes == size)
        if len(at):
            table[at] = np.frombuffer(b"".join(blobs[i] for i in at), dtype=dtype).reshape(len(at), 24, WIDTH)
    present = table[:, :, 0] > 0  # n: intervals in the hour
    row, hour = np.nonzero(present if hours is None else present & hours)
    per_row = np.array([r[0] for r in rows], dtype=object) if days is None else np.asarray(days)
    frame = pd.DataFrame({"camera": np.array([r[1] for r in rows], dtype=object)[row],
                          first: per_row[row], "hour": hour.astype(np.int64)})
    picked = table[row, hour]
    for i, name in enumerate(MOMENTS):
        frame[name] = picked[:, i].astype(np.int64)
    return frame


def write_day_hours(db: Database, hour_rows: pd.DataFrame) -> None:
    """Upsert the packed rows of the (camera, day)s in ``hour_rows`` (in the caller's transaction)."""
    rows = pack(hour_rows)
    if rows:
        with granted():
            db.executemany(db.dialect.upsert("day_hours", COLUMNS, KEYS), rows)


def delete_day_hours(db: Database, keys: list[tuple[str, str]]) -> None:
    """Delete the packed rows of (camera, period_start)s whose ``stats`` rows go."""
    with granted():
        db.executemany(DELETE, keys)


@contextmanager
def granted() -> Iterator[None]:
    """An account granted its privileges before schema 8 has none on ``day_hours``: the
    statement is refused (the whole run rolls back, never stats without their packed row) with
    the one step that fixes it."""
    try:
        yield
    except DatabaseError as exc:
        if "denied" not in str(exc):
            raise
        raise DatabaseError(f"{exc} (day_hours is new in schema 8: run `cctvctl db grants --apply` "
                            "with the administrator's account to grant it)") from None
