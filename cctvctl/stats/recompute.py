"""Recompute the statistics that contain given (camera, local day) pairs after their raw counts
changed outside an import (``imports undo`` took rows away or put old values back).

Only rows that exist are recomputed — a period aggregation never reached stays for catch-up —
and each is first deleted, so a day or hour that lost all its counts loses its row instead of
keeping a stale one. Day and hour rows come from raw counts, then week, month, year and the
weekday profiles roll up from them, each with the ``k`` it was computed with. Runs in the
caller's transaction.
"""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

from cctvctl.db.database import Database
from cctvctl.periods import Period, day_runs, period_containing
from cctvctl.stats import dayhours
from cctvctl.stats.rows import CALENDAR, WEEKDAY_GRAINS, Written, day_rows, period_rows
from cctvctl.stats.run import BATCH_DAYS

DAY_KEYS = ("SELECT camera, period_start, k FROM stats WHERE grain = 'day' AND hour = -1 "
            "AND camera = ? AND period_start >= ? AND period_start <= ?")
PERIOD_KEYS = ("SELECT camera, period_start, k FROM stats WHERE grain = ? AND hour = -1 "
               "AND camera = ? AND period_start >= ? AND period_start <= ?")
WEEKDAY_KEYS = ("SELECT camera, period_start, weekday, k FROM weekday_stats WHERE scope = ? "
                "AND camera = ? AND period_start >= ? AND period_start <= ?")
DELETE_DAY = "DELETE FROM stats WHERE camera = ? AND grain IN ('day', 'hour') AND period_start = ?"
DELETE_PERIOD = "DELETE FROM stats WHERE camera = ? AND grain = ? AND period_start = ? AND hour = -1"
DELETE_WEEKDAY = ("DELETE FROM weekday_stats WHERE camera = ? AND scope = ? AND period_start = ? "
                  "AND weekday = ?")
#: rolled up from day rows, in this order
PERIOD_GRAINS = ("week", "month", "year", "month_weekday", "year_weekday")


def recompute_days(db: Database, tz: ZoneInfo, pairs: set[tuple[str, date]]) -> Written:
    """Bring every stored statistics row containing one of ``pairs`` up to the raw counts."""
    written = Written()
    if not pairs:
        return written
    by_camera: dict[str, set[date]] = {}
    for camera, day in pairs:
        by_camera.setdefault(camera, set()).add(day)

    # day and hour rows: (camera, day) pairs that have a day row, grouped by their k
    days_by_k: dict[float, set[tuple[str, date]]] = {}
    for camera, days in by_camera.items():
        for _, start, k in db.query(DAY_KEYS, (camera, min(days).isoformat(), max(days).isoformat())):
            day = date.fromisoformat(start)
            if day in days:
                days_by_k.setdefault(float(k), set()).add((camera, day))
    for k, keys in days_by_k.items():
        db.executemany(DELETE_DAY, [(c, d.isoformat()) for c, d in sorted(keys)])
        dayhours.delete_day_hours(db, [(c, d.isoformat()) for c, d in sorted(keys)])
        for run in day_runs({d for _, d in keys}, BATCH_DAYS):
            only = {(c, d) for c, d in keys if run[0] <= d <= run[-1]}
            written.add(day_rows(db, tz, run[0], run[-1], k=k, cameras=sorted({c for c, _ in only}),
                                 only=only))

    for grain in PERIOD_GRAINS:
        cal = CALENDAR[grain]
        weekday = grain in WEEKDAY_GRAINS
        wanted: dict[str, set[tuple[Period, int | None]]] = {}
        for camera, days in by_camera.items():
            wanted[camera] = {(period_containing(cal, d), d.weekday() if weekday else None) for d in days}
        found: dict[float, set[tuple[str, Period, int | None]]] = {}
        for camera, keys in wanted.items():
            starts = {p.start.isoformat(): p for p, _ in keys}
            lo, hi = min(starts), max(starts)
            if weekday:
                rows = db.query(WEEKDAY_KEYS, (WEEKDAY_GRAINS[grain], camera, lo, hi))
                hits = [(starts.get(s), int(wd), k) for _, s, wd, k in rows]
            else:
                rows = db.query(PERIOD_KEYS, (grain, camera, lo, hi))
                hits = [(starts.get(s), None, k) for _, s, k in rows]
            for period, wd, k in hits:
                if period is not None and (period, wd) in keys:
                    found.setdefault(float(k), set()).add((camera, period, wd))
        for k, keys in found.items():
            if weekday:
                db.executemany(DELETE_WEEKDAY, [(c, WEEKDAY_GRAINS[grain], p.start.isoformat(), wd)
                                                for c, p, wd in sorted(keys)])
            else:
                db.executemany(DELETE_PERIOD, [(c, grain, p.start.isoformat())
                                               for c, p, _ in sorted(keys)])
            periods = sorted({p for _, p, _ in keys})
            written.add(period_rows(db, tz, grain, periods, k=k,
                                    cameras=sorted({c for c, _, _ in keys}), only=keys))
    return written
