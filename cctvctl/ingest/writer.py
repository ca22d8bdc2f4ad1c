"""Write validated rows into ``counts`` inside the import's transaction.

Fresh rows take one bulk insert. Only when a chunk meets stored keys does the writer look at the
stored rows, to tell duplicates (identical: counted, not errors) from conflicts (different
counts: an error, or an overwrite with ``replace``) and from a key repeated within this same
file in an earlier chunk.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from cctvctl.db.database import Database
from cctvctl.db.schema import COUNT_COLUMNS

INSERT_COLUMNS = list(COUNT_COLUMNS)
_VALUE_COLUMNS = [c for c in COUNT_COLUMNS if c not in ("camera", "start_utc", "import_id")]
SELECT_STORED = ("SELECT start_utc, " + ", ".join(_VALUE_COLUMNS) + ", import_id FROM counts "
                 "WHERE camera = ? AND start_utc IN ({marks})")
INSERT_IMPORT_DAYS = "INSERT INTO import_days (import_id, camera, utc_day) VALUES (?, ?, ?)"
LOOKUP_BATCH = 500


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
        self._insert = db.dialect.insert_ignore("counts", INSERT_COLUMNS)
        self._insert_plain = ("INSERT INTO counts (" + ", ".join(INSERT_COLUMNS) + ") VALUES ("
                              + ", ".join("?" for _ in INSERT_COLUMNS) + ")")
        self._savepoint = 0

    def _tuples(self, rows: pd.DataFrame) -> list[tuple]:
        n = len(rows)
        cols = []
        for c in INSERT_COLUMNS:
            if c == "import_id":
                cols.append([self.import_id] * n)
            elif c in rows.columns:
                cols.append(rows[c].tolist())
            else:
                cols.append([None] * n)
        return list(zip(*cols))

    def write(self, rows: pd.DataFrame) -> WriteOutcome:
        out = WriteOutcome()
        if rows.empty:
            return out
        tuples = self._tuples(rows)
        self._savepoint += 1
        sp = f"chunk{self._savepoint}"
        self.db.execute(f"SAVEPOINT {sp}")
        written = self.db.executemany(self._insert, tuples)
        if written == len(tuples):
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
                detail = ", ".join(f"{c} {old[c]} stored, {getattr(row, c)} in file" for c in diffs)
                out.problems.append((row.line, f"conflicts with the stored row ({detail}); "
                                               "use --replace to overwrite"))
                continue
            updates.append(pos)
        if new_idx:
            subset = rows.iloc[new_idx]
            out.inserted = self.db.executemany(self._insert_plain, self._tuples(subset))
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
        days = (rows["start_utc"] // 86400).tolist()
        self.days.update(zip(rows["camera"].tolist(), days))

    def finish(self) -> None:
        """Record which cameras and UTC days this import changed (for late-data recomputes)."""
        if self.days:
            self.db.executemany(INSERT_IMPORT_DAYS, [(self.import_id, c, d) for c, d in sorted(self.days)])
