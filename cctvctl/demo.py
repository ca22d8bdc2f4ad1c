"""The newcomer's tour: sample counts → import → aggregate → detect → the month report.

Everything runs on a database of its own (a SQLite file in a temporary or named folder, or the
URL given), never on the configured ``CCTV_DB``: the demo writes synthetic rows, which must not
land among real counts. The sample covers three months so that the seasonal detection has
history before the reported month, and four events are injected into that month.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Callable
from zoneinfo import ZoneInfo

from cctvctl.periods import Period, parse_period
from cctvctl.report.model import Report
from cctvctl.sample import SampleEvent, SampleSpec, generate

FIRST_DAY = date(2021, 6, 1)
LAST_DAY = date(2021, 8, 31)
MONTH = "2021-08"
SAMPLE_FILE = "sample_counts.csv"
DB_FILE = "cctv.db"


@dataclass
class EventCheck:
    """An injected event and whether detection flagged its camera during it."""

    event: SampleEvent
    flagged: int  # flagged intervals of the event's camera inside the event


@dataclass
class DemoResult:
    db_url: str
    sample_path: str
    rows: int
    imported: int
    aggregated: int
    flagged: int
    period: Period
    report: Report
    events: list[EventCheck] = field(default_factory=list)
    seconds: float = 0.0


def run_demo(directory: Path, tz: ZoneInfo, *, db_url: str | None = None,
             say: Callable[[str], None] = lambda text: None) -> DemoResult:
    """Run the tour in ``directory`` (sample file, and the database unless ``db_url``)."""
    from cctvctl.db import connect
    from cctvctl.detect import detect_range
    from cctvctl.ingest import ImportOptions, import_file
    from cctvctl.report import build_report
    from cctvctl.report.model import CHART_CAMERAS
    from cctvctl.stats import run_aggregate

    clock = time.monotonic()
    directory.mkdir(parents=True, exist_ok=True)
    url = db_url or f"sqlite://{(directory / DB_FILE).resolve()}"
    sample = generate(SampleSpec(FIRST_DAY, LAST_DAY, tz, cameras=3, seed=42, events=4))
    path = directory / SAMPLE_FILE
    sample.write(str(path), layout="classes", chosen_by_us=True)
    say(f"1. sample: {len(sample.rows):,} rows, {len(sample.cameras)} cameras, {FIRST_DAY} … "
        f"{LAST_DAY}, {len(sample.events)} injected events → {path}")
    period = parse_period("month", MONTH)
    with connect(url) as db:
        result = import_file(db, path, ImportOptions(tz=tz, detect=False))
        imported = result.inserted
        what = "already imported (no-op)" if result.status == "unchanged" else f"{imported:,} rows inserted"
        say(f"2. import: {what} into {db.url.display()}")
        agg = run_aggregate(db, "all", tz, keep_rows=False)
        say(f"3. aggregate all: {agg.written:,} rows of day, hour, week, month, year and weekday "
            "statistics")
        first, last = Period("day", FIRST_DAY, LAST_DAY).utc_range(tz)[0], period.utc_range(tz)[1]
        detected = detect_range(db, tz, first, last)
        report = build_report(db, period, tz, per_camera=CHART_CAMERAS)  # the chart's panels
        say(f"4. detect: {report.outliers_intervals:,} intervals flagged in {MONTH} "
            f"({detected.intervals:,} since {FIRST_DAY}: in the first weeks a camera is still "
            "learning its like days and only extremes are judged)")
    checks = []
    for event in sample.events:
        hits = {f.start_utc for f in detected.flags
                if f.camera == event.camera and event.start_utc <= f.start_utc < event.end_utc}
        checks.append(EventCheck(event, len(hits)))
    return DemoResult(db_url=url, sample_path=str(path), rows=len(sample.rows), imported=imported,
                      aggregated=agg.written, flagged=detected.intervals, period=period,
                      report=report, events=checks, seconds=time.monotonic() - clock)
