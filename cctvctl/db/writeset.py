"""Galera's write-set limits against all-or-nothing imports.

A Galera transaction replicates as one write set, capped by ``wsrep_max_ws_size`` (bytes, 2 GiB
by default) and ``wsrep_max_ws_rows`` (0 = no cap). An import is one transaction: a file whose
rows would pass a cap fails only at commit, after all the work. This check refuses it first,
from the row count the import scan already has, with what to do instead (split the file).
"""

from __future__ import annotations

from cctvctl.errors import UsageError

#: write-set bytes per imported count row: tests/bench/bench_galera.py measured 52 (people and
#: vehicle); 160 leaves room for every vehicle class column, flags and the ledger
BYTES_PER_ROW = 160
#: write-set rows per count row: the row itself, its import_days share, possible flags
ROWS_PER_ROW = 1.1


def check_import_size(db, source: str, rows: int) -> None:
    """Refuse, before writing, an import that would exceed the cluster's write-set limits."""
    if not getattr(db, "cluster", False) or rows <= 0:
        return
    max_size, max_rows = (int(v or 0) for v in db.query_one(
        "SELECT @@wsrep_max_ws_size, @@wsrep_max_ws_rows"))
    need_bytes, need_rows = rows * BYTES_PER_ROW, int(rows * ROWS_PER_ROW)
    over = []
    if max_size and need_bytes > max_size:
        over.append(f"~{need_bytes / 2**20:,.0f} MiB of write set > wsrep_max_ws_size "
                    f"{max_size / 2**20:,.0f} MiB")
    if max_rows and need_rows > max_rows:
        over.append(f"~{need_rows:,} rows > wsrep_max_ws_rows {max_rows:,}")
    if over:
        raise UsageError(f"{source}: {rows:,} rows are too many for one transaction on this "
                         f"Galera cluster ({'; '.join(over)}); an import is all-or-nothing, so "
                         "split the file (e.g. by day or camera) and import the parts; nothing "
                         "was written")
