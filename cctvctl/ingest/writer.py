"""Write validated rows into ``counts`` inside the import's transaction.

Fresh rows take one bulk insert of only the columns the file has (NULL is the default for the
others): on SQLite one ``INSERT … SELECT … FROM json_each(?)`` per camera of the chunk, its
rows formatted as JSON (``executemany`` where the build lacks JSON functions); on MySQL the server's own bulk path,
``LOAD DATA LOCAL INFILE`` of a temporary file this writer wrote (guarded: see
``db/local_infile.py``), or a multi-row INSERT where the server refuses LOCAL INFILE. The
parsing thread formats each chunk (:meth:`CountWriter.stage`) before handing it to the writer
thread. Only when a chunk meets stored keys does the writer look at the stored rows, to tell
duplicates (identical: counted, not errors) from conflicts (different counts: an error, or an
overwrite with ``replace``) and from a key repeated within this same file in an earlier chunk.
Before that, rows overlapping another row of their camera are refused (:mod:`.overlap`).
An overwrite first copies the stored row into ``count_revisions`` (the revision log that
``imports undo`` restores from).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from cctvctl import safefile
from cctvctl.db.database import Database
from cctvctl.detect.engine import local_day_hour
from cctvctl.errors import DatabaseError
from cctvctl.ingest.overlap import overlaps, stored_near
from cctvctl.db.schema import COUNT_COLUMNS, VEHICLE_CLASSES
from cctvctl.periods import local_iso

INSERT_COLUMNS = list(COUNT_COLUMNS)
_VALUE_COLUMNS = [c for c in COUNT_COLUMNS if c not in ("camera", "start_utc", "import_id")]
SELECT_STORED = ("SELECT start_utc, " + ", ".join(_VALUE_COLUMNS) + ", import_id FROM counts "
                 "WHERE camera = ? AND start_utc IN ({marks})")
#: an import keeps at most this many of the rows it inserted for import-time detection, which
#: judges them from memory instead of reading them back (~40 MB a million rows)
KEEP_ROWS = 2_000_000
INSERT_IMPORT_DAYS = "INSERT INTO import_days (import_id, camera, utc_day) VALUES (?, ?, ?)"
#: the revision log (undo): a replaced row's values and owner before this import overwrote it
INSERT_REVISION = ("INSERT INTO count_revisions (import_id, camera, start_utc, "
                   + ", ".join(_VALUE_COLUMNS) + ", old_import_id) VALUES ("
                   + ", ".join("?" for _ in range(len(_VALUE_COLUMNS) + 4)) + ")")
_CLASSES = [c for c in _VALUE_COLUMNS if c in VEHICLE_CLASSES]
LOOKUP_BATCH = 500
SPOOL_PREFIX = "cctvctl-load-"
_TAB, _NEWLINE = 9, 10


def format_tsv(rows: pd.DataFrame, columns: list[str], import_id: int) -> bytes:
    """The rows as the tab-separated text LOAD DATA reads: names as UTF-8, integers in plain
    decimal (what ``str(int)`` gives), ``import_id`` as a constant column; one ``\n`` a row.
    Names hold no tab, newline or NUL (validated by the reader): no field needs quoting."""
    return _pack(rows, columns, import_id, sep=b"\t", head=b"", tail=b"\n",
                 text=lambda name: name.encode("utf-8"))


def format_json_groups(rows: pd.DataFrame, columns: list[str]) -> list[tuple[str, str]]:
    """(camera, JSON rows of the other ``columns``) for each camera of ``rows``, in first-seen
    order, each camera's rows in their order: what :func:`_json_insert` takes, the camera bound
    once per statement instead of extracted from every row."""
    codes, names = pd.factorize(rows["camera"], sort=False)
    if len(names) and (codes < 0).any():
        raise ValueError("format_json_groups: a name is missing")
    order = np.argsort(codes, kind="stable")
    other = [c for c in columns if c != "camera"]
    body = _pack(pd.DataFrame({c: rows[c].to_numpy()[order] for c in other}), other, 0, sep=b",",
                 head=b"[", tail=b"],", text=None, pad=ord(" ")).decode("ascii")
    width = len(body) // len(rows)  # padded: every row has the same length
    bounds = np.concatenate([[0], np.cumsum(np.bincount(codes, minlength=len(names)))]) * width
    return [(str(name), "[" + body[int(a):int(b) - 1] + "]")
            for name, a, b in zip(names, bounds[:-1], bounds[1:])]


def _pack(rows: pd.DataFrame, columns: list[str], import_id: int, *, sep: bytes, head: bytes,
          tail: bytes, text, pad: int | None = None) -> bytes:
    """Vectorised row formatting (about 10× pandas ``to_csv``): every field is laid out as a
    fixed-width byte matrix (digits by repeated divmod, names from a table of the chunk's few
    distinct names) with a mask of the bytes that belong to it (no leading zeros, no name
    padding), and one boolean selection packs them row by row — or, with ``pad``, the bytes
    outside the mask become ``pad`` and the matrix is the text."""
    n = len(rows)
    pieces: list[tuple[np.ndarray, np.ndarray | None]] = []  # (bytes n×w, mask n×w or None)

    def constant(data: bytes) -> None:
        if data:
            pieces.append((np.broadcast_to(np.frombuffer(data, np.uint8), (n, len(data))), None))

    constant(head)
    for k, col in enumerate(columns):
        if k:
            constant(sep)
        if col == "import_id":
            constant(str(int(import_id)).encode())
        elif col == "camera":
            pieces.append(_text_field(rows[col], text))
        else:
            nullable = col not in ("start_utc", "end_utc")
            pieces.append(_int_field(rows[col].to_numpy(), b"" if pad is None else b"null", nullable))
    constant(tail)
    if pad is not None:
        for b, m in pieces:
            if m is not None:
                b[~m] = pad  # each masked piece is a fresh array of its own
        return np.hstack([b for b, _ in pieces]).tobytes()
    matrix = np.hstack([b for b, _ in pieces])
    if all(m is None for _, m in pieces):
        return matrix.tobytes()
    mask = np.hstack([np.ones(b.shape, bool) if m is None else m for b, m in pieces])
    return matrix[mask].tobytes()


def _int_field(values: np.ndarray, null: bytes = b"",
               nullable: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """Non-negative integers → their decimal digits, right-aligned, and which are not padding.
    Floats may hold NaN (unknown): those become ``null`` (left-aligned; empty for LOAD DATA,
    which reads the empty field as NULL through ``NULLIF``)."""
    if values.dtype.kind == "f":
        unknown = np.isnan(values)
        known = values[~unknown]
        if (unknown.any() and not nullable) or (known != np.floor(known)).any():
            raise ValueError("format_tsv: integer columns must hold non-negative integers")
        if unknown.any():
            return _nullable_field(values, unknown, null)
        values = values.astype(np.int64)
    if values.dtype.kind not in "iu" or (len(values) and int(values.min()) < 0):
        raise ValueError("format_tsv: integer columns must hold non-negative integers")
    values = values.astype(np.int64, copy=False)
    top = int(values.max()) if len(values) else 0
    width = len(str(top))
    digits = np.empty((len(values), width), np.uint8)
    rest = values
    for j in range(width - 1, -1, -1):
        rest, digit = np.divmod(rest, 10)
        digits[:, j] = digit
    digits += ord("0")
    low = int(values.min()) if len(values) else 0
    if len(str(low)) == width:  # all the same length: nothing to drop
        return digits, None
    # keep digit j (of width) when the value has at least width - j digits; always the last
    places = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    places[-1] = 0
    return digits, values[:, None] >= places[None, :]


def _nullable_field(values: np.ndarray, unknown: np.ndarray,
                    null: bytes) -> tuple[np.ndarray, np.ndarray]:
    known = np.where(unknown, 0, values).astype(np.int64)
    digits, mask = _int_field(known)
    if mask is None:
        mask = np.ones(digits.shape, bool)
    width = max(digits.shape[1], len(null))
    if width > digits.shape[1]:  # room for the null text: pad the numbers on the left
        extra = width - digits.shape[1]
        digits = np.hstack([np.zeros((len(values), extra), np.uint8), digits])
        mask = np.hstack([np.zeros((len(values), extra), bool), mask])
    digits[unknown] = 0
    mask[unknown] = False
    if null:
        digits[np.ix_(unknown, np.arange(len(null)))] = np.frombuffer(null, np.uint8)
        mask[np.ix_(unknown, np.arange(len(null)))] = True
    return digits, mask


def _text_field(names: pd.Series, text) -> tuple[np.ndarray, np.ndarray | None]:
    """Text of few distinct values (camera names) → their bytes (``text(name)``), left-aligned,
    and the mask."""
    codes, uniques = pd.factorize(names, sort=False)
    if len(uniques) and (codes < 0).any():
        raise ValueError("format_tsv: a name is missing")
    encoded = [text(str(u)) for u in uniques]
    width = max((len(b) for b in encoded), default=1) or 1
    table = np.zeros((max(len(encoded), 1), width), np.uint8)
    lengths = np.zeros(max(len(encoded), 1), np.int64)
    for i, b in enumerate(encoded):
        table[i, :len(b)] = np.frombuffer(b, np.uint8)
        lengths[i] = len(b)
    field_bytes = table[codes]
    if (lengths[:len(encoded)] == width).all():
        return field_bytes, None
    return field_bytes, np.arange(width)[None, :] < lengths[codes][:, None]


@dataclass
class Staged:
    """A chunk made ready for the database by the parsing thread (see :meth:`CountWriter.stage`)."""

    path: str | None = None  # MySQL: the LOAD DATA file (removed once written)
    json: list[tuple[str, str]] | None = None  # SQLite: (camera, its rows as JSON) for json_each


@dataclass
class WriteOutcome:
    inserted: int = 0
    duplicates: int = 0
    replaced: int = 0
    #: (line, reason) of rows refused against stored data
    problems: list[tuple[int, str]] = field(default_factory=list)


class CountWriter:
    def __init__(self, db: Database, import_id: int, *, replace: bool, tz: ZoneInfo | None = None,
                 keep_rows: bool = False):
        self.db = db
        self.import_id = import_id
        self.replace = replace
        self.tz = tz or ZoneInfo("UTC")  # times in messages: local ISO, never epoch seconds
        self.days: set[tuple[str, int]] = set()
        #: the same as (camera, local day ordinal): what detection re-judges after this import
        self.local_days: set[tuple[str, int]] = set()
        self._kept: list[pd.DataFrame] | None = [] if keep_rows else None  # see written_rows
        self._kept_rows = 0
        self._savepoint = 0
        self._statements: dict[tuple[str, ...], tuple[str, str]] = {}
        self._bulk = db.local_infile  # MySQL that may send LOAD DATA LOCAL INFILE
        self._spool_dir: str | None = None
        self._staged = 0
        self._json = db.json_rows
        self._met = _MetKeys()

    def _columns(self, rows: pd.DataFrame) -> list[str]:
        """The columns this file has, in table order (the others stay NULL: unknown)."""
        return [c for c in INSERT_COLUMNS if c in rows.columns or c == "import_id"]

    def _sql(self, columns: list[str]) -> tuple[str, str]:
        key = tuple(columns)
        if key not in self._statements:
            plain = ("INSERT INTO counts (" + ", ".join(columns) + ") VALUES ("
                     + ", ".join("?" for _ in columns) + ")")
            self._statements[key] = (self.db.dialect.insert_ignore("counts", columns), plain)
        return self._statements[key]

    def _tuples(self, rows: pd.DataFrame, columns: list[str]) -> list[tuple]:
        n = len(rows)
        return list(zip(*[[self.import_id] * n if c == "import_id" else _values(rows[c])
                          for c in columns]))

    def stage(self, rows: pd.DataFrame) -> Staged | None:
        """Format ``rows`` for the bulk path ahead of :meth:`write`, on the parsing thread, so
        the database never waits for Python: MySQL's LOAD DATA file, or SQLite's JSON text
        (whose one INSERT then runs without the GIL, in parallel with parsing). None where
        there is no bulk path. A file is removed by the ``write`` it is passed to, or by
        :meth:`close`."""
        if rows.empty:
            return None
        if self._json:
            data_columns = [c for c in self._columns(rows) if c != "import_id"]
            return Staged(json=format_json_groups(rows, data_columns))
        if not self._bulk:
            return None
        if self._spool_dir is None:
            safefile.sweep_temp(SPOOL_PREFIX)  # chunk files of killed imports (SIGKILL skips cleanup)
            self._spool_dir = tempfile.mkdtemp(prefix=safefile.pid_named(SPOOL_PREFIX))
        self._staged += 1
        path = os.path.join(self._spool_dir, f"chunk{self._staged}.tsv")
        data = format_tsv(rows, self._columns(rows), self.import_id)
        with open(path, "wb") as out:
            out.write(data)
        return Staged(path=path)

    def _insert_new(self, rows: pd.DataFrame, staged: Staged | None = None) -> int:
        """Insert rows whose keys are not stored; returns how many went in (skips existing)."""
        columns = self._columns(rows)
        if self._bulk:
            try:
                return self._load_data(rows, columns, staged.path if staged else None)
            except DatabaseError as exc:
                if "LOCAL" not in str(exc).upper() or "refused the server" in str(exc):
                    raise
                self._bulk = False  # the server disallows LOCAL INFILE: use multi-row INSERTs
        if self._json:
            data_columns = [c for c in columns if c != "import_id"]
            groups = staged.json if staged is not None and staged.json is not None \
                else format_json_groups(rows, data_columns)
            sql = self.db.dialect.json_insert_ignore(
                "counts", ["camera"], [c for c in data_columns if c != "camera"], ["import_id"])
            return sum(self.db.execute(sql, (camera, self.import_id, data))
                       for camera, data in groups)
        return self.db.executemany(self._sql(columns)[0], self._tuples(rows, columns))

    def _load_data(self, rows: pd.DataFrame, columns: list[str], staged: str | None) -> int:
        """MySQL's bulk loader on a file written for this statement only (tab-separated)."""
        path = staged if staged is not None else self.stage(rows).path
        try:
            # IGNORE keeps stored keys (counted below); no escapes: names have no control chars
            # unknown counts are empty fields: read through a variable, NULLIF makes them NULL
            nullable = [c for c in columns if c in rows.columns and rows[c].dtype.kind == "f"]
            targets = [f"@{c}" if c in nullable else c for c in columns]
            sets = (" SET " + ", ".join(f"{c} = NULLIF(@{c}, '')" for c in nullable)) if nullable else ""
            sql = self.db.dialect.bulk_insert_ignore("counts", targets, sets)
            result = self.db.load_file(sql, path, (path,))
            result.check(path, len(rows), skipped_ok=True)
            return result.affected
        finally:
            os.unlink(path)

    def close(self) -> None:
        if self._spool_dir is not None:  # with any staged file no write took (an error)
            shutil.rmtree(self._spool_dir, ignore_errors=True)
            self._spool_dir = None

    def write(self, rows: pd.DataFrame, staged: Staged | None = None) -> WriteOutcome:
        """Write one chunk; ``staged`` is what :meth:`stage` made of it (its file is consumed)."""
        out = WriteOutcome()
        if staged is not None and staged.path is not None and (rows.empty or not self._bulk):
            os.unlink(staged.path)  # the server refused LOCAL INFILE since it was staged
            staged = None
        if rows.empty:
            return out
        refused = overlaps(rows, stored_near(self.db, rows), self.import_id, self.tz)
        if refused:  # rare: those rows go, and the chunk is formatted again without them
            out.problems.extend((int(rows["line"].iat[pos]), why) for pos, why in refused)
            rows = rows.drop(index=rows.index[[pos for pos, _ in refused]]).reset_index(drop=True)
            if staged is not None and staged.path is not None:
                os.unlink(staged.path)
            staged = None
            if rows.empty:
                return out
        self._savepoint += 1
        with self.db.savepoint(f"chunk{self._savepoint}") as point:
            try:
                written = self._insert_new(rows, staged)
            finally:
                if staged is not None and staged.path is not None and os.path.exists(staged.path):
                    os.unlink(staged.path)
            if written == len(rows):
                out.inserted = written
                self._touch(rows)
                self._keep(rows)
                return out
            # Some keys already exist: undo and take the careful path for this chunk.
            point.rollback()
        stored = self._stored(rows)
        new_idx, updates = [], []
        present = [c for c in _VALUE_COLUMNS if c in rows.columns]
        # a new total makes any stored split by class stale: replacing vehicle sets every class
        # (NULL, unknown, where the file has none), so vehicle = car + truck + … still holds
        written_columns = present + [c for c in _CLASSES if c not in present] \
            if "vehicle" in present else present
        repeated = self._met.repeats(rows)
        met = []
        for pos, row in enumerate(rows.itertuples(index=False)):
            key = (row.camera, row.start_utc)
            old = stored.get(key)
            if old is None:
                new_idx.append(pos)
                continue
            if old["import_id"] == self.import_id or repeated[pos]:
                out.problems.append((row.line, "duplicate of an earlier row of this file "
                                               "(same camera and start)"))
                continue
            met.append(pos)
            diffs = [c for c in present if old[c] != _value(getattr(row, c))]
            if not diffs:
                out.duplicates += 1
                continue
            if not self.replace:
                detail = ", ".join(f"{_label(c)} {_shown(old[c], c, self.tz)} stored, "
                                   f"{_shown(_value(getattr(row, c)), c, self.tz)} in file" for c in diffs)
                out.problems.append((row.line, f"conflicts with the stored row ({detail}); "
                                               "use --replace to overwrite"))
                continue
            updates.append(pos)
        # keys left to other imports' rows: a repeat in a later chunk must still be found
        self._met.add(rows.iloc[met])
        if new_idx:
            subset = rows.iloc[new_idx]
            columns = self._columns(subset)
            out.inserted = self.db.executemany(self._sql(columns)[1], self._tuples(subset, columns))
            self._touch(subset)
            self._keep(subset)
        if updates:
            subset = rows.iloc[updates]
            keys = list(zip(subset["camera"].tolist(), subset["start_utc"].tolist()))
            self.db.executemany(INSERT_REVISION, [
                (self.import_id, c, t) + tuple(stored[(c, t)][v] for v in _VALUE_COLUMNS)
                + (stored[(c, t)]["import_id"],) for c, t in keys])
            sets = ", ".join(f"{c} = ?" for c in written_columns) + ", import_id = ?"
            sql = f"UPDATE counts SET {sets} WHERE camera = ? AND start_utc = ?"
            params = [tuple(_value(getattr(r, c)) if c in present else None for c in written_columns)
                      + (self.import_id, r.camera, r.start_utc)
                      for r in subset.itertuples(index=False)]
            self.db.executemany(sql, params)
            out.replaced = len(params)
            self._touch(subset)
        return out

    def _stored(self, rows: pd.DataFrame) -> dict[tuple[str, int], dict]:
        found: dict[tuple[str, int], dict] = {}
        names = ["start_utc"] + _VALUE_COLUMNS + ["import_id"]
        for camera, group in rows.groupby("camera", sort=False):
            starts = group["start_utc"].tolist()
            for i in range(0, len(starts), LOOKUP_BATCH):
                batch = starts[i:i + LOOKUP_BATCH]
                sql = SELECT_STORED.format(marks=", ".join("?" for _ in batch))
                for rec in self.db.query(sql, [camera] + batch):
                    found[(camera, int(rec[0]))] = dict(zip(names, rec))
        return found

    def _touch(self, rows: pd.DataFrame) -> None:
        """Note the (camera, UTC day) pairs of ``rows``: one np.unique over integer keys."""
        if rows.empty:
            return
        codes, cameras = pd.factorize(rows["camera"], sort=False)
        days = rows["start_utc"].to_numpy(dtype=np.int64) // 86400
        first = int(days.min())
        span = int(days.max()) - first + 1
        keys = np.unique(codes.astype(np.int64) * span + (days - first))
        names = cameras[keys // span].tolist()
        self.days.update(zip(names, (keys % span + first).tolist()))
        local = local_day_hour(rows["start_utc"].to_numpy(dtype=np.int64), self.tz)[0]
        first = int(local.min())
        span = int(local.max()) - first + 1
        keys = np.unique(codes.astype(np.int64) * span + (local - first))
        self.local_days.update(zip(cameras[keys // span].tolist(), (keys % span + first).tolist()))

    def _keep(self, rows: pd.DataFrame) -> None:
        """Keep the rows just inserted, as detection reads them back (:func:`written_rows`)."""
        if self._kept is None or rows.empty:
            return
        if "end_utc" not in rows or self._kept_rows + len(rows) > KEEP_ROWS:
            self._kept = None  # too many (or no end column): detection reads them back
            return
        start = rows["start_utc"].to_numpy(np.int64)
        self._kept.append(pd.DataFrame({
            "camera": rows["camera"].to_numpy(dtype=object), "start_utc": start,
            "people": _floats(rows, "people"), "vehicle": _floats(rows, "vehicle"),
            "length": rows["end_utc"].to_numpy(np.int64) - start}))
        self._kept_rows += len(rows)

    def written_rows(self) -> pd.DataFrame | None:
        """The rows this import inserted — camera, start_utc, people, vehicle (NaN unknown) and
        length, as ``cctvctl.detect.store.read_rows`` gives them — or None where there were
        more than :data:`KEEP_ROWS` (import-time detection then reads them back). Rows that
        replaced stored ones are not among them: their stored values may mix old and new."""
        if self._kept is None:
            return None
        if not self._kept:
            return pd.DataFrame({"camera": pd.Series(dtype=object), "start_utc": pd.Series(dtype=np.int64),
                                 "people": pd.Series(dtype=np.float64), "vehicle": pd.Series(dtype=np.float64),
                                 "length": pd.Series(dtype=np.int64)})
        return pd.concat(self._kept, ignore_index=True)

    def finish(self) -> None:
        """Record which cameras and UTC days this import changed (for late-data recomputes)."""
        if self.days:
            self.db.executemany(INSERT_IMPORT_DAYS, [(self.import_id, c, d) for c, d in sorted(self.days)])


class _MetKeys:
    """Keys of this file that met another import's stored row and left it as it was
    (identical, or a refused conflict).

    A key this import wrote carries its import id, so a repeat of it in a later chunk is
    recognised from the stored row; these keys are not, and would pass as duplicates of the
    stored row (or, with ``replace``, overwrite it with the later copy). Kept as sorted arrays
    per camera and chunk, each with its range: a file in time order searches none of them.
    """

    def __init__(self) -> None:
        self._parts: dict[str, list[np.ndarray]] = {}

    def add(self, rows: pd.DataFrame) -> None:
        for camera, starts in rows.groupby("camera", sort=False)["start_utc"]:
            self._parts.setdefault(camera, []).append(np.sort(starts.to_numpy(np.int64)))

    def repeats(self, rows: pd.DataFrame) -> np.ndarray:
        """Per row of ``rows``, whether its key met a stored row in an earlier chunk."""
        hit = np.zeros(len(rows), bool)
        if not self._parts:
            return hit
        starts = rows["start_utc"].to_numpy(np.int64)
        for camera, mine in rows.groupby("camera", sort=False).indices.items():
            parts = self._parts.get(camera)
            if not parts:
                continue
            wanted = starts[mine]
            lo, hi = wanted.min(), wanted.max()
            for part in parts:
                if part[-1] < lo or part[0] > hi:
                    continue
                at = np.minimum(np.searchsorted(part, wanted), len(part) - 1)
                hit[mine[part[at] == wanted]] = True
        return hit


def _value(value):
    """A count as the database takes it: unknown (NaN) is None, a whole float an int."""
    if isinstance(value, float):
        return None if value != value else int(value)
    return value


def _floats(rows: pd.DataFrame, column: str) -> np.ndarray:
    """A count column as float64, NaN where unknown or absent (what is stored as NULL)."""
    if column not in rows:
        return np.full(len(rows), np.nan)
    return pd.to_numeric(rows[column]).to_numpy(dtype=np.float64, na_value=np.nan)


def _values(column: pd.Series) -> list:
    if column.dtype.kind != "f":
        return column.tolist()
    return [_value(v) for v in column.tolist()]


def _shown(value, column: str = "", tz: ZoneInfo | None = None) -> str:
    """A stored or read value for a message: NULL is 'unknown', not Python's None; a time is
    local ISO (``end_utc`` 1627747200 means nothing to a reader)."""
    if value is None:
        return "unknown"
    if column.endswith("_utc"):
        return local_iso(int(value), tz or ZoneInfo("UTC"))
    return str(value)


def _label(column: str) -> str:
    return column[:-4] if column.endswith("_utc") else column
