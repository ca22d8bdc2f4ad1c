"""Rows of one camera whose intervals overlap another row of it: refused, never stored.

Two rows of a camera with different starts and overlapping ``[start, end)`` (an hourly row and a
5-minute row inside it, two end-column rows half an hour apart) were both stored and counted
twice by every statistic, and one short row turned the whole day "5-minute" in coverage. A chunk
is checked, before it is written, against the stored rows of its cameras near its time range
(one range query a chunk: :data:`STORED_NEAR`; earlier chunks of the same file are stored by
then, inside the import's transaction) and against its own rows. A row with the start of a
stored row is not an overlap but the same key (a duplicate, a conflict or, with ``--replace``,
a replacement), judged by the writer as before.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from cctvctl import validate
from cctvctl.periods import local_iso

#: stored rows that start this long before a chunk's first start cannot reach into it (the
#: reader refuses longer rows)
REACH = validate.ROW_SPAN_MAX
#: the stored rows a chunk could overlap (cameras in batches: SQLite caps bound parameters)
STORED_NEAR = ("SELECT camera, start_utc, end_utc, import_id FROM counts WHERE camera IN ({marks}) "
               "AND start_utc > ? AND start_utc < ? AND end_utc > ?")
CAMERA_BATCH = 500
_SHIFT = np.int64(1) << np.int64(34)  # camera code × 2^34 + time: one sortable key (to 2514)


def stored_near(db, rows: pd.DataFrame) -> pd.DataFrame:
    """Stored rows of ``rows``' cameras that end after its first start and start before its
    last end (camera, start_utc, end_utc, import_id); the start bound lets the index narrow
    the scan (a row spans at most REACH), the end bound leaves out the day before."""
    cameras = pd.unique(rows["camera"]).tolist()
    first = int(rows["start_utc"].min())
    lo, hi = first - REACH, int(rows["end_utc"].max())
    found = []
    for i in range(0, len(cameras), CAMERA_BATCH):
        batch = cameras[i:i + CAMERA_BATCH]
        sql = STORED_NEAR.format(marks=", ".join("?" for _ in batch))
        found.extend(tuple(r) for r in db.query(sql, batch + [lo, hi, first]))
    frame = pd.DataFrame(found, columns=["camera", "start_utc", "end_utc", "import_id"])
    return frame.astype({"start_utc": "int64", "end_utc": "int64", "import_id": "int64"})


def overlaps(rows: pd.DataFrame, stored: pd.DataFrame, import_id: int,
             tz: ZoneInfo) -> list[tuple[int, str]]:
    """(position in ``rows``, reason) of each row that overlaps a stored row of its camera (not
    of its start) or an earlier-starting row of ``rows`` that is kept. Vectorised; the rare
    camera with overlaps within the chunk is settled row by row."""
    if rows.empty:
        return []
    codes, names = pd.factorize(rows["camera"], sort=False)
    starts = rows["start_utc"].to_numpy(np.int64)
    ends = rows["end_utc"].to_numpy(np.int64)
    keys = codes.astype(np.int64) * _SHIFT + starts
    found: dict[int, str] = {}
    if len(stored):
        scodes = pd.Index(names).get_indexer(stored["camera"])
        skeys = scodes.astype(np.int64) * _SHIFT + stored["start_utc"].to_numpy(np.int64)
        other = (scodes >= 0) & ~np.isin(skeys, keys)  # a row of the same start: the same key
        if other.any():
            found.update(_against_stored(rows, keys, codes, stored[other], skeys[other],
                                         scodes[other], import_id, tz))
    # within the chunk: a row starting before another row of its camera ends
    order = np.argsort(keys, kind="stable")
    sorted_ends = ends[order] + codes[order].astype(np.int64) * _SHIFT
    reach = np.maximum.accumulate(sorted_ends)
    prior = np.concatenate([[-1], reach[:-1]])  # (times are never negative)
    clash = prior - codes[order].astype(np.int64) * _SHIFT > starts[order]
    for code in np.unique(codes[order][clash]).tolist():
        found.update(_settle(rows, np.flatnonzero(codes == code), found, tz))
    return sorted(found.items())


def _against_stored(rows, keys, codes, s, skeys, scodes, import_id, tz) -> dict[int, str]:
    """Rows overlapping a stored row that starts before them (reaching past their start) or
    after them (before their end); stored rows of one key each, none of a row's own key."""
    starts = rows["start_utc"].to_numpy(np.int64)
    ends = rows["end_utc"].to_numpy(np.int64)
    order = np.argsort(skeys, kind="stable")
    skeys, s = skeys[order], s.iloc[order]
    sends = s["end_utc"].to_numpy(np.int64) + scodes[order].astype(np.int64) * _SHIFT
    reach = np.maximum.accumulate(sends)  # per camera, as later cameras' keys are larger
    # per stored row, the one (at or before it) whose end is the running maximum
    furthest = np.maximum.accumulate(np.where(sends == reach, np.arange(len(sends)), 0))
    base = codes.astype(np.int64) * _SHIFT
    before = np.searchsorted(skeys, keys, side="left") - 1  # the last stored start < the row's
    nxt = np.minimum(before + 1, len(skeys) - 1)  # the first after it (equal ones left out)
    hit_before = (before >= 0) & (reach[np.maximum(before, 0)] - base > starts)
    hit_after = (before + 1 < len(skeys)) & (skeys[nxt] > keys) & (skeys[nxt] - base < ends)
    return {pos: _reason(rows, pos, s.iloc[int(furthest[before[pos]]) if hit_before[pos]
                                           else int(nxt[pos])], import_id, tz)
            for pos in np.flatnonzero(hit_before | hit_after).tolist()}


def _settle(rows: pd.DataFrame, positions: np.ndarray, refused: dict[int, str],
            tz: ZoneInfo) -> dict[int, str]:
    """One camera's rows in start order: each overlapping the latest-ending row kept so far is
    refused (a refused row blocks nothing)."""
    starts = rows["start_utc"].to_numpy(np.int64)
    ends = rows["end_utc"].to_numpy(np.int64)
    lines = rows["line"].to_numpy(np.int64)
    out: dict[int, str] = {}
    kept = None  # position of the kept row reaching furthest
    for pos in positions[np.argsort(starts[positions], kind="stable")].tolist():
        if pos in refused:
            continue
        if kept is not None and ends[kept] > starts[pos]:
            out[pos] = (f"{_span(starts[pos], ends[pos], tz)} overlaps line {int(lines[kept])} "
                        f"({_span(starts[kept], ends[kept], tz)}) of camera "
                        f"{rows['camera'].iat[pos]!r}: rows of one camera may not overlap; fix the file")
            continue
        if kept is None or ends[pos] > ends[kept]:
            kept = pos
    return out


def _reason(rows: pd.DataFrame, pos: int, other, import_id: int, tz: ZoneInfo) -> str:
    mine = _span(int(rows["start_utc"].iat[pos]), int(rows["end_utc"].iat[pos]), tz)
    theirs = _span(int(other["start_utc"]), int(other["end_utc"]), tz)
    camera = rows["camera"].iat[pos]
    owner = int(other["import_id"])
    if owner == import_id:
        return (f"{mine} overlaps an earlier row of this file ({theirs}) of camera {camera!r}: rows "
                "of one camera may not overlap; fix the file")
    return (f"{mine} overlaps the stored row {theirs} of camera {camera!r} (import #{owner}): rows "
            "of one camera may not overlap, and --replace does not apply (it replaces a row of the "
            f"same start): undo that import (cctvctl imports undo {owner}) or fix the file")


def _span(start: int, end: int, tz: ZoneInfo) -> str:
    return f"{local_iso(int(start), tz)}–{local_iso(int(end), tz)}"
