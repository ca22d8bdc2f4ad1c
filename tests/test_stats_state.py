"""Where catch-up starts, and how it steps over a span without data: one seek for every camera
where the key leads with time (MySQL), one seek per camera where it leads with the camera
(SQLite) — the same days either way."""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pandas as pd

from aggref import import_frame, make_counts
from cctvctl.stats import run_aggregate
from cctvctl.stats.state import (FIRST_START, NEXT_START, NEXT_START_ALL, all_cameras, first_day,
                                 next_day)

TZ = "Australia/Lord_Howe"  # half-hour DST: local days are not UTC days


def test_first_and_next_day_of_all_cameras_equal_the_per_camera_seeks(db):
    raw = pd.concat([make_counts(TZ, date(2021, 3, 1), date(2021, 3, 3), "a", seed=1),
                     make_counts(TZ, date(2021, 2, 26), date(2021, 2, 26), "b", 900, seed=2),
                     make_counts(TZ, date(2021, 3, 9), date(2021, 3, 10), "b", 900, seed=3)],
                    ignore_index=True)
    import_frame(db, raw, TZ)
    tz = ZoneInfo(TZ)
    cameras = all_cameras(db)
    assert first_day(db, tz, None) == first_day(db, tz, cameras) == date(2021, 2, 26)
    assert first_day(db, tz, ["a"]) == date(2021, 3, 1)
    for day in (date(2021, 2, 27), date(2021, 3, 4), date(2021, 3, 10), date(2021, 3, 11)):
        after = int(pd.Timestamp(day).tz_localize(TZ).timestamp())
        assert next_day(db, tz, None, after) == next_day(db, tz, cameras, after)
    after = int(pd.Timestamp(date(2021, 3, 4)).tz_localize(TZ).timestamp())
    assert next_day(db, tz, None, after) == date(2021, 3, 9)
    assert next_day(db, tz, ["a"], after) is None


def test_catch_up_seeks_per_camera_only_where_the_key_leads_with_the_camera(db, monkeypatch):
    cams = [f"c{i}" for i in range(6)]
    first, last = date(2021, 1, 4), date(2021, 1, 6)
    gap = date(2021, 6, 1)  # months without data (several steps), stepped over in one go
    raw = pd.concat([make_counts(TZ, first, last, c, 900, seed=i) for i, c in enumerate(cams)]
                    + [make_counts(TZ, gap, gap, "c0", 900, seed=9)], ignore_index=True)
    import_frame(db, raw, TZ)
    statements = []
    original = db.scalar
    monkeypatch.setattr(db, "scalar", lambda sql, params=(): statements.append(sql) or original(sql, params))
    now = pd.Timestamp(gap + timedelta(days=2), tz=TZ).timestamp()
    result = run_aggregate(db, "day", ZoneInfo(TZ), now=now, keep_rows=True)
    days = sorted({r["period_start"] for r in result.rows if r["grain"] == "day"})
    assert days == [first.isoformat(), (first + timedelta(days=1)).isoformat(), last.isoformat(),
                    gap.isoformat()]
    per_camera = sum(s in (FIRST_START, NEXT_START) for s in statements)
    assert (per_camera == 0) == (db.backend == "mysql")
    assert per_camera >= 2 * len(cams) or db.backend == "mysql"  # first day, and the gap
    assert (NEXT_START_ALL in statements) == (db.backend == "mysql")
