"""A report reads the stats table whenever it is current, even at a zone's UTC day overhang.

The imports ledger records UTC days; in a zone ahead of UTC the first UTC day of a local month
begins the evening before. A camera whose last intervals fall in that evening has no row for
the month and does not make the stats table stale: the report must still read it (a computed
year of hourly moments took twice the time and three times the memory), and either way the
figures are the same.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pandas as pd

from aggref import import_frame, make_counts
from cctvctl.periods import parse_period
from cctvctl.report import build_report
from cctvctl.stats import run_aggregate

ZONE = "Australia/Melbourne"  # +11 in January: local 1 January starts at 13:00 UTC on 31 December
LATER = datetime(2021, 6, 1, tzinfo=ZoneInfo("UTC"))


def test_a_camera_that_ended_the_evening_before_does_not_make_stats_stale(db):
    tz = ZoneInfo(ZONE)
    main = make_counts(ZONE, date(2020, 12, 28), date(2021, 2, 3), "swanston", seed=1)
    gone = make_counts(ZONE, date(2020, 12, 28), date(2020, 12, 31), "bourke", seed=2)
    evening = pd.to_datetime(gone["start_utc"], unit="s", utc=True).dt.tz_convert(ZONE).dt.hour >= 20
    assert pd.to_datetime(gone[evening]["start_utc"], unit="s", utc=True).dt.day.eq(31).any()
    import_frame(db, pd.concat([main, gone], ignore_index=True), ZONE)
    run_aggregate(db, "all", tz, now=LATER)
    month = parse_period("month", "2021-01")
    stored = build_report(db, month, tz, compare="none")
    computed = build_report(db, month, tz, compare="none", use_stats=False)
    assert stored.source == "stats" and stored.source_note is None
    assert computed.source == "computed"
    assert [c.camera for c in stored.cameras] == ["swanston"]
    for a, b in zip(stored.cameras, computed.cameras):
        assert (a.intervals, a.expected, a.classes) == (b.intervals, b.expected, b.classes)
        for metric in ("people", "vehicle"):
            x, y = a.metrics[metric], b.metrics[metric]
            assert (x.n, x.total, x.peak) == (y.n, y.total, y.peak)
            assert abs(x.stat.std - y.stat.std) < 1e-9
    assert [(r.label, r.intervals, r.totals) for r in stored.breakdown] == \
        [(r.label, r.intervals, r.totals) for r in computed.breakdown]
    assert [(p.key, p.intervals) for p in stored.hour_profile] == \
        [(p.key, p.intervals) for p in computed.hour_profile]


def test_a_camera_with_counts_in_the_period_but_no_stats_still_computes(db):
    """The other side: unaggregated data inside the period is never hidden."""
    tz = ZoneInfo(ZONE)
    import_frame(db, make_counts(ZONE, date(2021, 1, 1), date(2021, 1, 31), "swanston", seed=1), ZONE)
    run_aggregate(db, "all", tz, now=LATER)
    late = make_counts(ZONE, date(2021, 1, 10), date(2021, 1, 10), "flinders", seed=3)
    import_frame(db, late, ZONE)
    report = build_report(db, parse_period("month", "2021-01"), tz, compare="none")
    assert report.source == "computed"
    assert [c.camera for c in report.cameras] == ["flinders", "swanston"]
