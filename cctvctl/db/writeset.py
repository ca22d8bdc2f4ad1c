"""Galera's write-set limits against all-or-nothing imports and undos.

A Galera transaction replicates as one write set, capped by ``wsrep_max_ws_size`` (bytes, 2 GiB
by default) and ``wsrep_max_ws_rows`` (0 = no cap). An import (or an undo) is one transaction:
one whose rows would pass a cap fails only at commit, after all the work. These checks refuse it
first, from a cheap estimate (the import scan's line count; the ledger's row counts for an
undo), with what to do instead.
"""

from __future__ import annotations

from cctvctl.errors import UsageError

#: write-set bytes per imported count row: tests/bench/bench_galera.py measured 52 (people and
#: vehicle); 160 leaves room for every vehicle class column, flags and the ledger
BYTES_PER_ROW = 160
#: write-set rows per count row: the row itself, its import_days share, possible flags
ROWS_PER_ROW = 1.1


def import_rows(lines: int, *, header: bool, cameras: int, replace: bool) -> int:
    """Count rows an import of a file of ``lines`` lines may write: one per data line and
    camera (a wide file has several per line); with ``replace`` every row may be a changed one,
    an UPDATE plus its ``count_revisions`` INSERT (twice the rows)."""
    rows = max(lines - (1 if header else 0), 0) * max(cameras, 1)
    return 2 * rows if replace else rows


def _over(db, rows: int) -> tuple[list[str], int]:
    """The limits ``rows`` count rows would pass on this node, and the write-set rows."""
    if not getattr(db, "cluster", False) or rows <= 0:
        return [], 0
    max_size, max_rows = (int(v or 0) for v in db.query_one(
        "SELECT @@wsrep_max_ws_size, @@wsrep_max_ws_rows"))
    need_bytes, need_rows = rows * BYTES_PER_ROW, int(rows * ROWS_PER_ROW)
    over = []
    if max_size and need_bytes > max_size:
        over.append(f"~{need_bytes / 2**20:,.0f} MiB of write set > wsrep_max_ws_size "
                    f"{max_size / 2**20:,.0f} MiB")
    if max_rows and need_rows > max_rows:
        over.append(f"~{need_rows:,} rows > wsrep_max_ws_rows {max_rows:,}")
    return over, need_rows


def check_import_size(db, source: str, rows: int, *, replace: bool = False) -> None:
    """Refuse, before writing, an import that would exceed the cluster's write-set limits
    (``rows``: :func:`import_rows`)."""
    over, _ = _over(db, rows)
    if over:
        twice = " (--replace counts each row twice: its update and its revision)" if replace else ""
        raise UsageError(f"{source}: {rows:,} rows are too many for one transaction on this "
                         f"Galera cluster ({'; '.join(over)}){twice}; an import is "
                         "all-or-nothing, so split the file (e.g. by day or camera) and import "
                         "the parts; nothing was written")


def check_undo_size(db, import_id: int, source: str, rows: int) -> None:
    """Refuse, before writing, an undo that would exceed the limits (``rows``: the rows it
    deletes, restores and forgets)."""
    over, _ = _over(db, rows)
    if over:
        raise UsageError(f"import #{import_id} ({source}): undoing it writes {rows:,} rows, too many "
                         f"for one transaction on this Galera cluster ({'; '.join(over)}); an undo "
                         "is all-or-nothing: have an administrator raise the limit on this node "
                         "for the undo (SET GLOBAL wsrep_max_ws_rows) and run it again; nothing "
                         "was changed")
