"""The import ledger for people: list the imports, and undo one.

Undo takes back exactly what one import wrote. The rows it inserted are deleted; the rows it
overwrote with ``--replace`` get back the values and owning import recorded in
``count_revisions``; then the statistics rows and stored outlier flags of the days it touched are
recomputed, so they equal what they would be had the import never run. All of it is one
transaction under the import and aggregation locks: killed at any moment, the database is as
before or as after the undo.

Order matters only where a later import replaced rows of this one (its revision holds *these*
values): undo that later import first — the refusal names it. Rows a later import met as
identical duplicates belong to this import and leave with it; re-import that later file with
``--replace`` (never "already imported") to store them again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from cctvctl import validate
from cctvctl.db.database import Database
from cctvctl.db.schema import COUNT_COLUMNS
from cctvctl.db.writeset import check_undo_size
from cctvctl.errors import DatabaseError, LockTimeout, UsageError
from cctvctl.periods import day_runs, local_date, local_iso
from cctvctl.db.retry import retrying_conflicts

LIST_IMPORTS = ("SELECT id, source, sha256, tz, rows_read, inserted, duplicates, replaced, rejected, "
                "status, started_at, finished_at FROM imports{where} ORDER BY id DESC{limit}")
GET_IMPORT = "SELECT id, source, tz, status, inserted, replaced FROM imports WHERE id = ?"
#: what an undo writes besides the import's own rows: restored revisions and forgotten days
UNDO_EXTRA = ("SELECT (SELECT COUNT(*) FROM count_revisions WHERE import_id = ?), "
              "(SELECT COUNT(*) FROM import_days WHERE import_id = ?)")
DEPENDANTS = ("SELECT import_id, COUNT(*) FROM count_revisions WHERE old_import_id = ? "
              "GROUP BY import_id ORDER BY import_id")
TOUCHED = "SELECT camera, utc_day FROM import_days WHERE import_id = ? ORDER BY camera, utc_day"
DELETE_OWN = "DELETE FROM counts WHERE camera = ? AND start_utc >= ? AND start_utc < ? AND import_id = ?"
_VALUES = [c for c in COUNT_COLUMNS if c not in ("camera", "start_utc", "import_id")]
RESTORE = ("INSERT INTO counts (camera, start_utc, " + ", ".join(_VALUES) + ", import_id) "
           "SELECT camera, start_utc, " + ", ".join(_VALUES) + ", old_import_id "
           "FROM count_revisions WHERE import_id = ?")
#: flags (of any method) whose interval is gone
DELETE_ORPHAN_FLAGS = (
    "DELETE FROM outliers WHERE camera = ? AND start_utc >= ? AND start_utc < ? AND NOT EXISTS "
    "(SELECT 1 FROM counts c WHERE c.camera = outliers.camera AND c.start_utc = outliers.start_utc)")
#: a row the undo would restore that another import's row now overlaps (imports refuse
#: overlapping rows; a --replace that shortened a row let a later import fill the gap)
RESTORE_OVERLAP = (
    "SELECT r.camera, r.start_utc, r.end_utc, c.start_utc, c.end_utc, c.import_id "
    "FROM count_revisions r JOIN counts c ON c.camera = r.camera AND c.start_utc > r.start_utc - ? "
    "AND c.start_utc < r.end_utc AND c.start_utc <> r.start_utc AND c.end_utc > r.start_utc "
    "AND c.import_id <> r.import_id WHERE r.import_id = ? ORDER BY r.start_utc LIMIT 1")
FORGET = ("DELETE FROM count_revisions WHERE import_id = ?", "DELETE FROM import_days WHERE import_id = ?")
MARK_UNDONE = "UPDATE imports SET status = 'undone' WHERE id = ?"
STATS_ZONE = "SELECT value FROM agg_state WHERE name = 'tz'"
DAY = 86400
LOCK_TIMEOUT = 600
STATUSES = ("ok", "rejected", "undone")


@dataclass
class ImportRecord:
    """One ledger row; ``as_dict`` is the documented ``imports list --format json`` object."""

    id: int
    source: str
    sha256: str
    tz: str
    read: int
    inserted: int
    duplicates: int
    replaced: int
    rejected: int
    status: str  # ok | rejected | undone
    started_at: int
    finished_at: int | None

    def as_dict(self) -> dict:
        d = dict(self.__dict__)
        d["started_at"] = _iso(self.started_at)
        d["finished_at"] = _iso(self.finished_at)
        return d


def _iso(epoch: int | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(int(epoch), timezone.utc).isoformat()


def list_imports(db: Database, *, limit: int | None = 50, status: str | None = None) -> list[ImportRecord]:
    """The ledger, newest first: at most ``limit`` imports (None: all), of one ``status``."""
    if status is not None and status not in STATUSES:
        raise UsageError(f"--status must be one of {', '.join(STATUSES)}, not {status!r}")
    if limit is not None:
        validate.integer(limit, "--limit", low=1, high=validate.BIGINT_MAX)
    sql = LIST_IMPORTS.format(where=" WHERE status = ?" if status else "",
                              limit=f" LIMIT {int(limit)}" if limit else "")
    rows = db.query(sql, (status,) if status else ())
    return [ImportRecord(int(r[0]), str(r[1]), str(r[2]), str(r[3]), *(int(v or 0) for v in r[4:9]),
                         str(r[9]), int(r[10]), None if r[11] is None else int(r[11])) for r in rows]


@dataclass
class UndoResult:
    """What an undo did (``imports undo --format json``)."""

    import_id: int
    source: str
    removed: int = 0  # rows the import had inserted, now gone
    restored: int = 0  # rows it had replaced, back to their earlier values
    days: int = 0  # (camera, UTC day) pairs it had touched
    stats_rows: int = 0  # statistics rows recomputed
    flags_removed: int = 0  # flags whose interval left with the import
    seconds: float = 0.0
    cameras: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        d = dict(self.__dict__)
        d["seconds"] = round(self.seconds, 3)
        return d


@retrying_conflicts
def undo_import(db: Database, import_id: int, *, detect: bool = True,
                lock_timeout: float = LOCK_TIMEOUT) -> UndoResult:
    """Take back import ``import_id`` (see the module docstring); raises UsageError where it
    cannot: unknown, rejected, already undone, or a later import replaced its rows."""
    clock = time.monotonic()
    import_id = validate.row_id(import_id, "import ID")
    try:
        result = _undo(db, import_id, detect, lock_timeout)
    except DatabaseError as exc:
        if "denied" not in str(exc) or isinstance(exc, LockTimeout):
            raise
        raise DatabaseError(f"{exc} (imports undo deletes counts and rewrites the ledger: run it "
                            "with the administrator's account, not a cctv_* job account)") from None
    result.seconds = time.monotonic() - clock
    return result


def _undo(db: Database, import_id: int, detect: bool, lock_timeout: float) -> UndoResult:
    with db.lock("import", timeout=lock_timeout), db.lock("aggregate", timeout=lock_timeout):
        with db.atomic():
            record = db.query_one(GET_IMPORT, (int(import_id),))
            _check(import_id, record, db.query(DEPENDANTS, (int(import_id),)))
            if db.cluster:  # Galera: one write set, refused up front where it would not fit
                revisions, days = db.query_one(UNDO_EXTRA, (int(import_id), int(import_id)))
                own = int(record[4] or 0) + int(record[5] or 0)  # deleted (a replaced one too)
                check_undo_size(db, int(import_id), str(record[1]),
                                own + 2 * int(revisions) + int(days))  # restored, forgotten
            _check_overlap(db, import_id, ZoneInfo(str(record[2])))
            result = UndoResult(import_id=int(import_id), source=str(record[1]))
            touched = [(str(c), int(d)) for c, d in db.query(TOUCHED, (int(import_id),))]
            result.days = len(touched)
            result.cameras = sorted({c for c, _ in touched})
            spans = _utc_runs(touched)
            deleted = sum(db.execute(DELETE_OWN, (c, a, b, int(import_id))) for c, a, b in spans)
            result.restored = db.execute(RESTORE, (int(import_id),))
            result.removed = deleted - result.restored
            for sql in FORGET:
                db.execute(sql, (int(import_id),))
            db.execute(MARK_UNDONE, (int(import_id),))
            result.flags_removed = sum(db.execute(DELETE_ORPHAN_FLAGS, span) for span in spans)
            # statistics first: detection reads aggregated days from them, and with this
            # import's ledger rows gone nothing marks those days stale any more
            result.stats_rows = _recompute_stats(db, touched)
            if detect and touched:
                from cctvctl.detect import detect_days

                detect_days(db, touched, ZoneInfo(str(record[2])))
    return result


def _check(import_id: int, record, dependants) -> None:
    if record is None:
        raise UsageError(f"there is no import #{import_id} (cctvctl imports list shows them)")
    status = str(record[3])
    if status == "undone":
        raise UsageError(f"import #{import_id} was undone already; nothing to do")
    if status == "rejected":
        raise UsageError(f"import #{import_id} was rejected: it stored nothing, so there is nothing "
                         "to undo")
    if status != "ok":
        raise UsageError(f"import #{import_id} has status {status!r}: only a finished import can be undone")
    if dependants:
        later = ", ".join(f"#{int(i)} ({int(n)} row{'s' if int(n) != 1 else ''})" for i, n in dependants)
        newest = int(dependants[-1][0])
        raise UsageError(f"import #{import_id} cannot be undone yet: later import(s) {later} replaced "
                         f"rows it wrote; undo those first, newest first (cctvctl imports undo "
                         f"{newest}), then this one")


def _check_overlap(db: Database, import_id: int, tz: ZoneInfo) -> None:
    clash = db.query_one(RESTORE_OVERLAP, (validate.ROW_SPAN_MAX, int(import_id)))
    if clash is None:
        return
    camera, start, end, other_start, other_end, other = clash
    raise UsageError(f"import #{import_id} cannot be undone yet: it would restore the row "
                     f"{local_iso(int(start), tz)}–{local_iso(int(end), tz)} of camera {str(camera)!r}, "
                     f"which the row {local_iso(int(other_start), tz)}–{local_iso(int(other_end), tz)} "
                     f"of import #{int(other)} now overlaps; undo that one first (cctvctl imports "
                     f"undo {int(other)}), then this one")


def _utc_runs(touched: list[tuple[str, int]]) -> list[tuple[str, int, int]]:
    """(camera, UTC day) pairs → (camera, first second, end) of runs of consecutive days."""
    by_camera: dict[str, list[int]] = {}
    for camera, day in touched:
        by_camera.setdefault(camera, []).append(day)
    return [(camera, first * DAY, (last + 1) * DAY) for camera in sorted(by_camera)
            for first, last in day_runs(by_camera[camera])]


def _recompute_stats(db: Database, touched: list[tuple[str, int]]) -> int:
    """Statistics rows of the local days the import touched, recomputed from the counts now."""
    zone = db.scalar(STATS_ZONE)
    if zone is None or not touched:  # nothing was ever aggregated
        return 0
    from cctvctl.stats.recompute import recompute_days

    tz = ZoneInfo(str(zone))
    pairs = {(camera, local_date(t, tz)) for camera, day in touched
             for t in (day * DAY, day * DAY + DAY - 1)}
    written = recompute_days(db, tz, pairs)
    return sum(written.counts.values())


__all__ = ["ImportRecord", "UndoResult", "list_imports", "undo_import"]
