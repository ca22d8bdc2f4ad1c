"""Aggregation cases: ``cctvctl aggregate`` against the hand-written GROUP BY of the same rows.

The baseline is the one query a DBA would write for per-camera daily moments — n, sum and sum
of squares of people and vehicle — over the same UTC range, run through the same driver with
every result row fetched. Ours computes more than that (hour rows, coverage, mean/std/ref, the
week/month/year/weekday roll-ups) and writes it; the ratio says what that costs.
"""

from __future__ import annotations

import time

from env import cctv, clear_stats, sql
from harness import Result, Sample, compare, python_timed

MOMENTS = ("COUNT(*), SUM(people), SUM(people * people), SUM(vehicle), SUM(vehicle * vehicle)")
ONE_DAY_SQL = f"SELECT camera, {MOMENTS} FROM counts WHERE start_utc >= ? AND start_utc < ? GROUP BY camera"
PER_DAY_SQL = (f"SELECT camera, start_utc - (start_utc % 86400) AS day, {MOMENTS} FROM counts "
               "GROUP BY camera, day")


def hand_written(url: str, statement: str, params: tuple = ()) -> Sample:
    """Time one statement through the driver (connection made before the clock starts)."""
    if url.startswith("mysql"):
        from env import mysql_admin

        conn = mysql_admin(url.rsplit("/", 1)[1])
        with conn.cursor() as cur:
            start = time.perf_counter()
            cur.execute(statement.replace("%", "%%").replace("?", "%s"), params)
            cur.fetchall()
            elapsed = time.perf_counter() - start
        conn.close()
        return Sample(elapsed)
    import sqlite3

    conn = sqlite3.connect(url.split("sqlite://", 1)[1])
    start = time.perf_counter()
    conn.execute(statement, params).fetchall()
    elapsed = time.perf_counter() - start
    conn.close()
    return Sample(elapsed)


def case_aggregate_day(url: str, backend: str, day: str, day_range: tuple[int, int], cameras: str,
                       runs: int) -> list[Result]:
    """``aggregate day --date D`` for one day of every camera, as cron runs it (a process)."""

    def forget() -> None:
        sql(url, ["DELETE FROM stats WHERE period_start = ? AND grain IN ('day', 'hour')"], (day,))

    cli = compare(f"aggregate day, 1 day of {cameras} cameras, {backend}",
                  f"cctvctl aggregate day --date {day}", "GROUP BY camera over the day's UTC range",
                  "≤ 1.3×", runs, lambda: cctv("aggregate", "day", "--date", day, db=url),
                  lambda: hand_written(url, ONE_DAY_SQL, day_range), forget, max_ratio=1.3)
    code = (f"import time\nfrom zoneinfo import ZoneInfo\nfrom cctvctl.db import connect\n"
            f"from cctvctl.stats import run_aggregate\ndb = connect({url!r})\n"
            f"t = time.perf_counter()\nrun_aggregate(db, 'day', ZoneInfo('UTC'), date={day!r}, "
            f"keep_rows=False)\nelapsed = time.perf_counter() - t\n")
    lib = compare(f"aggregate day, 1 day of {cameras} cameras, {backend} (library call)",
                  "run_aggregate (start-up excluded)", "GROUP BY camera over the day's UTC range",
                  "≤ 1.3×", runs, lambda: python_timed(code),
                  lambda: hand_written(url, ONE_DAY_SQL, day_range), forget, max_ratio=1.3,
                  note="the same work without interpreter start-up and imports")
    return [cli, lib]


def case_aggregate_all(url: str, backend: str, rows: str, runs: int) -> Result:
    """The first full ``aggregate all`` (every grain from nothing) vs a GROUP BY per day."""
    return compare(f"first aggregate all, {rows} rows, {backend}", "cctvctl aggregate all",
                   "GROUP BY camera, day over all rows", "≤ 1.3×", runs,
                   lambda: cctv("aggregate", "all", db=url), lambda: hand_written(url, PER_DAY_SQL),
                   lambda: clear_stats(url), max_ratio=1.3)
