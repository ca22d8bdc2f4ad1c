"""Detection, report and the real-data pipeline (Melbourne): what analysts and cron run.

``detect`` and ``report`` have no database-native equivalent, so their figures stand alone,
except the report, which is shown next to the hand-written per-camera GROUP BY of the month
(totals, moments and peak) for orientation. The Melbourne file (656,823 real rows) goes
through import, aggregate and report end to end; each step is timed in every run.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from bench_aggregate import MOMENTS, hand_written
from env import SHARED_DATA, cctv, sql
from harness import Result, Sample, compare, single

MONTH_SQL = (f"SELECT camera, {MOMENTS}, MAX(people), MAX(vehicle) FROM counts "
             "WHERE start_utc >= ? AND start_utc < ? GROUP BY camera")
MELBOURNE_TZ = "Australia/Melbourne"
MELBOURNE_IMPORT = ["--map", "people=PedestrianCount", "--map", "camera=SensorID", "--map", "date=Date",
                    "--map", "hour=Hour", "--interval", "60", "--on-error", "skip"]


def case_detect_day(url: str, backend: str, day: str, day_range: tuple[int, int], cameras: str,
                    runs: int) -> Result:
    """``detect`` re-evaluating one day of every camera (seasonal, references from history)."""

    def forget() -> None:
        sql(url, ["DELETE FROM outliers WHERE start_utc >= ? AND start_utc < ?"], day_range)

    return compare(f"detect, 1 day of {cameras} cameras, {backend}",
                   f"cctvctl detect --since {day} --until {day}", "—", "—", runs,
                   lambda: cctv("detect", "--since", day, "--until", day, db=url), None, forget,
                   note="8-week seasonal references; history aggregated by cron")


def case_report_month(url: str, backend: str, month: str, month_range: tuple[int, int],
                      cameras: str, runs: int, fmt: str = "table") -> Result:
    """``report --month`` over every camera, from the stats table that cron keeps current."""
    return compare(f"report --month, {cameras} cameras, {backend} ({fmt})",
                   f"cctvctl report --month {month} --format {fmt}",
                   "GROUP BY camera over the month (moments, peak)", "—", runs,
                   lambda: cctv("report", "--month", month, "--format", fmt, db=url),
                   lambda: hand_written(url, MONTH_SQL, month_range))


def melbourne_csv(work: Path) -> Path | None:
    archive = SHARED_DATA / "melbourne" / "pedestriancounts_melbourne.zip"
    if not archive.exists():
        return None
    target = work / "melbourne"
    with zipfile.ZipFile(archive) as zf:
        zf.extract("pedestriancounts_melbourne.csv", target)
    return target / "pedestriancounts_melbourne.csv"


def case_melbourne(url: str, backend: str, data: Path, runs: int, reset) -> list[Result]:
    """Import (detection on), aggregate all, report a month and a year: every run from empty."""
    steps: dict[str, list[Sample]] = {"import": [], "aggregate": [], "month": [], "year": []}
    for _ in range(runs):
        reset()
        steps["import"].append(cctv("import", str(data), *MELBOURNE_IMPORT, db=url, tz=MELBOURNE_TZ))
        steps["aggregate"].append(cctv("aggregate", "all", db=url, tz=MELBOURNE_TZ))
        steps["month"].append(cctv("report", "--month", "2014-02", db=url, tz=MELBOURNE_TZ))
        steps["year"].append(cctv("report", "--year", "2014", db=url, tz=MELBOURNE_TZ))
    total = [Sample(sum(steps[k][i].seconds for k in steps),
                    max(steps[k][i].peak_rss_mb or 0 for k in steps)) for i in range(runs)]
    name = f"Melbourne 656,823 real rows, {backend}"
    return [
        single(f"{name}: import", "cctvctl import (documented options, detection on)",
               steps["import"]),
        single(f"{name}: aggregate", "cctvctl aggregate all", steps["aggregate"]),
        single(f"{name}: report --month", "cctvctl report --month 2014-02", steps["month"]),
        single(f"{name}: report --year", "cctvctl report --year 2014", steps["year"]),
        single(f"{name}: end to end", "the four commands above", total),
    ]
