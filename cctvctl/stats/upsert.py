"""Write statistics rows: ``executemany`` of an upsert, or the server's bulk path when large.

A first ``aggregate all`` writes an hour row per camera and hour — 876,000 rows for a year of
100 cameras. Through PyMySQL every value of a multi-row INSERT is escaped in Python (about half
the run on MariaDB), so on MySQL large batches go through ``LOAD DATA LOCAL INFILE … REPLACE`` of
a tab-separated file (guarded: only that file may be sent). Where the server
refuses LOCAL INFILE, or on SQLite (whose ``executemany`` is already the bulk path), rows go
through the dialect's upsert. Both store the same values: every column is written, so REPLACE
equals the upsert.
"""

from __future__ import annotations

import os
import tempfile
import weakref

import numpy as np
import pandas as pd

from cctvctl import safefile
from cctvctl.db.database import Database
from cctvctl.errors import DatabaseError
from cctvctl.stats.moments import METRICS

#: smaller writes stay on executemany (no temporary file)
BULK_MIN_ROWS = 2000
#: temporary folders of bulk loads, named with their process (swept once it is gone)
STATS_SPOOL = "cctvctl-stats-"
_swept: list[bool] = []
_refused: "weakref.WeakKeyDictionary[Database, bool]" = weakref.WeakKeyDictionary()


def upsert_frame(db: Database, table: str, columns: list[str], keys: list[str],
                 frame: pd.DataFrame) -> None:
    """Insert or replace ``frame``'s rows (a metric without values stores NULL sums)."""
    upsert_frames(db, table, columns, keys, [frame])


def upsert_frames(db: Database, table: str, columns: list[str], keys: list[str],
                  frames: list[pd.DataFrame]) -> None:
    """:func:`upsert_frame` of several frames in one statement (one bulk file, or one
    ``executemany``): the day and hour rows of a step go to ``stats`` together."""
    frames = [f for f in frames if len(f)]
    if not frames:
        return
    if not _swept:  # once a process: folders of killed aggregations (SIGKILL skips cleanup)
        safefile.sweep_temp(STATS_SPOOL)
        _swept.append(True)
    if sum(len(f) for f in frames) >= BULK_MIN_ROWS and not _refused.get(db, False) \
            and db.local_infile:
        try:
            if _load(db, table, columns, frames):
                return
        except DatabaseError as exc:
            if "LOCAL" not in str(exc).upper() or "refused the server" in str(exc):
                raise
            _refused[db] = True  # the server disallows LOCAL INFILE: upserts from now on
    rows = records(frames[0], columns)
    for frame in frames[1:]:
        rows += records(frame, columns)
    db.executemany(db.dialect.upsert(table, columns, keys), rows)


def _load(db: Database, table: str, columns: list[str], frames: list[pd.DataFrame]) -> bool:
    """Bulk-load ``frames`` (one file); False where the dialect has no bulk path."""
    spool = tempfile.mkdtemp(prefix=safefile.pid_named(STATS_SPOOL))
    path = os.path.join(spool, f"{table}.tsv")
    statement = db.dialect.bulk_replace(table, columns)
    if statement is None:
        os.rmdir(spool)
        return False
    try:
        with open(path, "w", encoding="utf-8", newline="\n") as fh:
            for frame in frames:
                fh.write(tsv(frame, columns))
        db.load_file(statement, path, (path,)).check(path, sum(len(f) for f in frames))
    finally:
        if os.path.exists(path):
            os.unlink(path)
        os.rmdir(spool)
    return True


NULL_TEXT = "\\N"


def _text(series: pd.Series, name: str) -> list[str]:
    """One column as the file's text: integers as digits, floats in Python's shortest
    round-trip form (the server reads back the same double), NULL/NaN as ``\\N``, and text
    with its backslashes doubled (the file's escape character; names hold no control
    characters, the import refuses them).

    Each distinct value is formatted once (a column of 24,000 hour rows holds a few hundred to
    a few thousand distinct values, and constant columns one): ``repr`` of every float was
    half the time of writing the file.
    """
    values = series.to_numpy()
    kind = values.dtype.kind
    if kind == "f" and bool(np.any(np.signbit(values) & (values == 0))):
        return _text_each(series, name)  # -0.0 and 0.0 are one key below, but print apart
    if kind not in "iubf" and not pd.api.types.is_string_dtype(series):
        return _text_each(series, name)  # mixed objects: 1, 1.0 and True would be one key
    codes, uniques = pd.factorize(values)  # NaN / None / NA → code -1
    uniques = np.asarray(uniques)
    if kind in "iub":
        texts = list(map(str, uniques.tolist()))
    elif kind == "f":
        texts = list(map(repr, uniques.tolist()))
    else:
        texts = [str(v) for v in uniques.tolist()]
        if name == "camera":
            texts = [v.replace("\\", "\\\\") if "\\" in v else v for v in texts]
    table = np.array(texts + [NULL_TEXT], dtype=object)  # code -1 → the last entry, NULL
    return table[codes].tolist()


def _text_each(series: pd.Series, name: str) -> list[str]:
    """:func:`_text` value by value (the reference the factorized form must equal)."""
    values = series.to_numpy()
    kind = values.dtype.kind
    if kind in "iub":
        return list(map(str, values.tolist()))
    if kind == "f":
        out = list(map(repr, values.tolist()))
        if np.isnan(values).any():
            out = [NULL_TEXT if v == "nan" else v for v in out]
        return out
    missing = series.isna().to_numpy().tolist()
    out = [NULL_TEXT if m else str(v) for v, m in zip(series.astype(object).tolist(), missing)]
    if name == "camera":
        out = [v.replace("\\", "\\\\") if "\\" in v else v for v in out]
    return out


def _whole(series: pd.Series) -> list[str]:
    """A float column of whole numbers (sums) as digits, NaN as NULL. (Not through ``Int64``:
    pandas 3 turns an Int64 column holding NA back into floats, ``1.0``.)"""
    return [NULL_TEXT if v != v else str(int(v)) for v in series.to_numpy(dtype=np.float64).tolist()]


def tsv(frame: pd.DataFrame, columns: list[str]) -> str:
    """The bulk file of ``frame``: tab-separated ``columns``, one row a line; a metric without
    values stores NULL sums (as :func:`records`)."""
    data = {c: _text(frame[c], c) for c in columns}
    for m in METRICS:
        for c in (f"{m}_sum", f"{m}_sumsq"):
            if frame[c].dtype.kind == "f":  # whole numbers stay whole (and exact)
                data[c] = _whole(frame[c])
        unknown = (frame[f"{m}_n"] <= 0).to_numpy()
        if not unknown.any():
            continue
        for c in (f"{m}_sum", f"{m}_sumsq"):
            data[c] = [NULL_TEXT if u else v for v, u in zip(data[c], unknown.tolist())]
    return "\n".join(map("\t".join, zip(*(data[c] for c in columns)))) + "\n"


def _column(series: pd.Series) -> list:
    """Python values (int, float, str) with None for NaN/NA: what both drivers bind."""
    values = series.to_numpy()
    if values.dtype.kind in "iub":
        return values.tolist()
    if values.dtype.kind == "f":
        if not np.isnan(values).any():
            return values.tolist()
        return [None if v != v else v for v in values.tolist()]  # NaN → NULL
    return series.astype(object).where(series.notna(), None).tolist()


def records(frame: pd.DataFrame, columns: list[str]) -> list[tuple]:
    """Frame → tuples for the upsert; a metric with no values stores NULL sums and figures."""
    data = {c: _column(frame[c]) for c in columns}
    for m in METRICS:
        known = (frame[f"{m}_n"] > 0).to_numpy()
        if known.all():
            continue
        for c in (f"{m}_sum", f"{m}_sumsq"):
            data[c] = [v if k else None for v, k in zip(data[c], known.tolist())]
    return list(zip(*(data[c] for c in columns)))
