"""What aggregation has done so far (``agg_state``) and what changed since (late data).

Per stored grain two values are kept: ``through:<grain>`` — the start (ISO date) of the last
period that catch-up completed — and ``import:<grain>`` — the highest import id whose rows are
already in that grain. Imports are serialised by a lock, so ids commit in increasing order and
"every import above the watermark" is exactly the data that arrived since.
"""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

from cctvctl.db.database import Database
from cctvctl.zone import TZ_KEY, refuse_other
from cctvctl.periods import day_runs, local_date
from cctvctl.stats.moments import DAY, camera_filter, local_day, offset_segments

GET_STATE = "SELECT name, value FROM agg_state"
MAX_IMPORT = "SELECT MAX(id) FROM imports"
FIRST_START = "SELECT MIN(start_utc) FROM counts WHERE camera = ?"
NEXT_START = "SELECT MIN(start_utc) FROM counts WHERE camera = ? AND start_utc >= ?"
#: every camera at once, where the key leads with time (MySQL): one seek, not one per camera
#: (1,000 round trips were 0.04 s of a nightly run)
FIRST_START_ALL = "SELECT MIN(start_utc) FROM counts"
NEXT_START_ALL = "SELECT MIN(start_utc) FROM counts WHERE start_utc >= ?"
TOUCHED_DAYS = ("SELECT DISTINCT camera, utc_day FROM import_days "
                "WHERE import_id > ? AND import_id <= ?")
CHANGED_DAYS = (
    "SELECT camera, (start_utc + ?) - ((start_utc + ?) % 86400) AS bucket, COUNT(*) "
    "FROM counts WHERE start_utc >= ? AND start_utc < ? AND import_id > ?{cameras} "
    "GROUP BY camera, bucket")


class AggState:
    """The ``agg_state`` table as a small dict, written through in the caller's transaction."""

    def __init__(self, db: Database):
        self.db = db
        self.values = {name: value for name, value in db.query(GET_STATE)}
        self._upsert = db.dialect.upsert("agg_state", ["name", "value"], ["name"])

    def get(self, name: str) -> str | None:
        return self.values.get(name)

    def set(self, name: str, value) -> None:
        value = str(value)
        if self.values.get(name) != value:
            self.db.execute(self._upsert, (name, value))
            self.values[name] = value

    def through(self, grain: str) -> date | None:
        v = self.get(f"through:{grain}")
        return date.fromisoformat(v) if v else None

    def watermark(self, grain: str) -> int | None:
        v = self.get(f"import:{grain}")
        return int(v) if v is not None else None

    def check_zone(self, tz: ZoneInfo) -> None:
        """Statistics of one database share one zone: refuse to mix period boundaries."""
        stored = self.get(TZ_KEY)
        if stored and stored != tz.key:
            raise refuse_other(stored, tz.key)


def max_import(db: Database) -> int:
    return int(db.scalar(MAX_IMPORT) or 0)


def all_cameras(db: Database) -> list[str]:
    """Every camera with counts (queries then name them, so SQLite can use its camera-first key)."""
    return sorted(row[0] for row in db.query(db.dialect.cameras_sql))


def first_day(db: Database, tz: ZoneInfo, cameras: list[str] | None) -> date | None:
    """The local day of the earliest stored interval of ``cameras`` (None: of any camera), or
    None without data."""
    if cameras is None:
        starts = [db.scalar(FIRST_START_ALL)]
    else:
        starts = [db.scalar(FIRST_START, (camera,)) for camera in cameras]
    starts = [int(s) for s in starts if s is not None]
    return local_date(min(starts), tz) if starts else None


def next_day(db: Database, tz: ZoneInfo, cameras: list[str] | None, after_utc: int) -> date | None:
    """The local day of the first interval of ``cameras`` (None: any camera) starting at or
    after ``after_utc``.

    One index seek per camera (or one in all, where the key leads with time): catch-up uses it
    to step over a long span without data (a server that was off for months, or history that
    ends years before today) in one go.
    """
    if cameras is None:
        starts = [db.scalar(NEXT_START_ALL, (int(after_utc),))]
    else:
        starts = [db.scalar(NEXT_START, (camera, int(after_utc))) for camera in cameras]
    starts = [int(s) for s in starts if s is not None]
    return local_date(min(starts), tz) if starts else None



def changed_days(db: Database, tz: ZoneInfo, after: int, upto: int,
                 cameras: list[str] | None) -> set[tuple[str, date]]:
    """(camera, local day) pairs holding rows written by imports ``after < id <= upto``.

    ``import_days`` names the cameras and UTC days each import changed; the counts of those UTC
    days that still carry a newer import id pin down the exact local days (a UTC day overlaps
    two local days).
    """
    if upto <= after:
        return set()
    touched: dict[int, set[str]] = {}
    for camera, utc_day in db.query(TOUCHED_DAYS, (after, upto)):
        if cameras is None or camera in cameras:
            touched.setdefault(int(utc_day), set()).add(camera)
    out: set[tuple[str, date]] = set()
    for lo, hi in day_runs(touched):
        names = sorted(set().union(*(touched[d] for d in range(lo, hi + 1) if d in touched)))
        marks, names = camera_filter(names)
        sql = CHANGED_DAYS.format(cameras=marks)
        for seg in offset_segments(tz, lo * DAY, (hi + 1) * DAY):
            params = [seg.offset, seg.offset, seg.start, seg.end, after] + names
            for camera, bucket, _ in db.query(sql, params):
                out.add((camera, local_day(int(bucket))))
    return out
