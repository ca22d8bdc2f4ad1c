"""Write validated rows into ``counts`` inside the import's transaction.

Fresh rows take one bulk insert of only the columns the file has (NULL is the default for the
others): ``executemany`` on SQLite, and on MySQL the server's own bulk path, ``LOAD DATA LOCAL
INFILE`` of a temporary file this writer wrote (guarded: see ``db/local_infile.py``), or a
multi-row INSERT where the server refuses LOCAL INFILE. Only when a chunk meets stored keys does the writer look at the
stored rows, to tell duplicates (identical: counted, not errors) from conflicts (different
counts: an error, or an overwrite with ``replace``) and from a key repeated within this same
file in an earlier chunk.
"""

from __future__ import annotations

import csv
import os
import tempfile
from dataclasses import dataclass, field

import pandas as pd

from cctvctl.db import local_infile
from cctvctl.db.database import Database
from cctvctl.errors import DatabaseError
from cctvctl.db.schema import COUNT_COLUMNS

INSERT_COLUMNS = list(COUNT_COLUMNS)
_VALUE_COLUMNS = [c for c in COUNT_COLUMNS if c not in ("camera", "start_utc", "import_id")]
SELECT_STORED = ("SELECT start_utc, " + ", ".join(_VALUE_COLUMNS) + ", import_id FROM counts "
                 "WHERE camera = ? AND start_utc IN ({marks})")
INSERT_IMPORT_DAYS = "INSERT INTO import_days (import_id, camera, utc_day) VALUES (?, ?, ?)"
LOOKUP_BATCH = 500
SPOOL_PREFIX = "cctvctl-load-"


def _remove_stale_spools() -> None:
    """Remove chunk files left by killed imports (SIGKILL skips every cleanup): their owner,
    named in the folder, is no longer running."""
    import glob
    import shutil

    for folder in glob.glob(os.path.join(tempfile.gettempdir(), SPOOL_PREFIX + "*-*")):
        pid = os.path.basename(folder)[len(SPOOL_PREFIX):].split("-", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except PermissionError:  # alive, another user's
            pass


@dataclass
class WriteOutcome:
    inserted: int = 0
    duplicates: int = 0
    replaced: int = 0
    #: (line, reason) of rows refused against stored data
    problems: list[tuple[int, str]] = field(default_factory=list)


class CountWriter:
    def __init__(self, db: Database, import_id: int, *, replace: bool):
        self.db = db
        self.import_id = import_id
        self.replace = replace
        self.days: set[tuple[str, int]] = set()
        self._savepoint = 0
        self._statements: dict[tuple[str, ...], tuple[str, str]] = {}
        self._bulk = db.backend == "mysql" and bool(getattr(db.conn, "_local_infile", False))
        self._spool_dir: str | None = None

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
        return list(zip(*[[self.import_id] * n if c == "import_id" else rows[c].tolist()
                          for c in columns]))

    def _insert_new(self, rows: pd.DataFrame) -> int:
        """Insert rows whose keys are not stored; returns how many went in (skips existing)."""
        columns = self._columns(rows)
        if self._bulk:
            try:
                return self._load_data(rows, columns)
            except DatabaseError as exc:
                if "LOCAL" not in str(exc).upper() or "refused the server" in str(exc):
                    raise
                self._bulk = False  # the server disallows LOCAL INFILE: use multi-row INSERTs
        return self.db.executemany(self._sql(columns)[0], self._tuples(rows, columns))

    def _load_data(self, rows: pd.DataFrame, columns: list[str]) -> int:
        """MySQL's bulk loader on a file written for this statement only (tab-separated)."""
        if self._spool_dir is None:
            _remove_stale_spools()
            self._spool_dir = tempfile.mkdtemp(prefix=f"{SPOOL_PREFIX}{os.getpid()}-")
        path = os.path.join(self._spool_dir, f"chunk{self._savepoint}.tsv")
        frame = rows[[c for c in columns if c != "import_id"]].copy()
        frame["import_id"] = self.import_id
        # Unquoted: names hold no tab, newline or NUL (validated), so no field needs quoting.
        frame.to_csv(path, sep="\t", header=False, index=False, lineterminator="\n",
                     quoting=csv.QUOTE_NONE, quotechar="\x00")
        try:
            # IGNORE keeps stored keys (counted below); no escapes: names have no control chars
            sql = (f"LOAD DATA LOCAL INFILE '{path}' IGNORE INTO TABLE counts CHARACTER SET utf8mb4 "
                   "FIELDS TERMINATED BY '\\t' ESCAPED BY '' LINES TERMINATED BY '\\n' "
                   f"({', '.join(columns)})")
            with local_infile.allow(self.db.conn, path):
                return self.db.execute(sql)
        finally:
            os.unlink(path)

    def close(self) -> None:
        if self._spool_dir is not None:
            os.rmdir(self._spool_dir)
            self._spool_dir = None

    def write(self, rows: pd.DataFrame) -> WriteOutcome:
        out = WriteOutcome()
        if rows.empty:
            return out
        self._savepoint += 1
        sp = f"chunk{self._savepoint}"
        self.db.execute(f"SAVEPOINT {sp}")
        written = self._insert_new(rows)
        if written == len(rows):
            self.db.execute(f"RELEASE SAVEPOINT {sp}")
            out.inserted = written
            self._touch(rows)
            return out
        # Some keys already exist: undo and take the careful path for this chunk.
        self.db.execute(f"ROLLBACK TO SAVEPOINT {sp}")
        self.db.execute(f"RELEASE SAVEPOINT {sp}")
        stored = self._stored(rows)
        new_idx, updates = [], []
        present = [c for c in _VALUE_COLUMNS if c in rows.columns]
        for pos, row in enumerate(rows.itertuples(index=False)):
            key = (row.camera, row.start_utc)
            old = stored.get(key)
            if old is None:
                new_idx.append(pos)
                continue
            if old["import_id"] == self.import_id:
                out.problems.append((row.line, "duplicate of an earlier row of this file "
                                               "(same camera and start)"))
                continue
            diffs = [c for c in present if old[c] != getattr(row, c)]
            if not diffs:
                out.duplicates += 1
                continue
            if not self.replace:
                detail = ", ".join(f"{c} {_shown(old[c])} stored, {_shown(getattr(row, c))} in file"
                                   for c in diffs)
                out.problems.append((row.line, f"conflicts with the stored row ({detail}); "
                                               "use --replace to overwrite"))
                continue
            updates.append(pos)
        if new_idx:
            subset = rows.iloc[new_idx]
            columns = self._columns(subset)
            out.inserted = self.db.executemany(self._sql(columns)[1], self._tuples(subset, columns))
            self._touch(subset)
        if updates:
            subset = rows.iloc[updates]
            sets = ", ".join(f"{c} = ?" for c in present) + ", import_id = ?"
            sql = f"UPDATE counts SET {sets} WHERE camera = ? AND start_utc = ?"
            params = [tuple(getattr(r, c) for c in present) + (self.import_id, r.camera, r.start_utc)
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
        touched = pd.DataFrame({"camera": rows["camera"], "day": rows["start_utc"] // 86400})
        touched = touched.drop_duplicates()
        self.days.update(zip(touched["camera"].tolist(), touched["day"].tolist()))

    def finish(self) -> None:
        """Record which cameras and UTC days this import changed (for late-data recomputes)."""
        if self.days:
            self.db.executemany(INSERT_IMPORT_DAYS, [(self.import_id, c, d) for c, d in sorted(self.days)])


def _shown(value) -> str:
    """A stored or read value for a message: NULL is 'unknown', not Python's None."""
    return "unknown" if value is None else str(value)
