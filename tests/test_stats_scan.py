"""The one-pass statistics scan (performance paths) equals pandas on the raw rows.

Two shortcuts are checked here, on both backends: the usual interval of a camera-day read from
each hour's shortest/longest interval (with the exact per-length count only where an hour mixes
lengths), and GROUP BY queries cut into time pieces so that MariaDB never builds a temporary
table too large for memory (forced here with a tiny group limit on either backend).
"""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from aggref import import_frame, make_counts
from cctvctl.stats.moments import (ORDERED_MOMENTS_SQL, daily_intervals, hourly_moments,
                                   hourly_with_intervals)

ZONE = "America/New_York"
FALL_BACK = date(2021, 11, 7)  # 01:00–02:00 happens twice


def _switch(camera: str, day: date, first: int, second: int, at_minute: int, seed: int) -> pd.DataFrame:
    """One local day of ``camera``: ``first``-second intervals until ``at_minute``, then ``second``."""
    a = make_counts(ZONE, day, day, camera, first, seed=seed)
    b = make_counts(ZONE, day, day, camera, second, seed=seed + 1)
    start = int(pd.Timestamp(day).tz_localize(ZONE).timestamp())
    switch = start + at_minute * 60  # rows never overlap: ``first`` intervals end by the switch
    return pd.concat([a[a["end_utc"] <= switch], b[b["start_utc"] >= switch]], ignore_index=True)


@pytest.fixture
def raw() -> pd.DataFrame:
    day = FALL_BACK
    parts = [
        make_counts(ZONE, day - timedelta(days=1), day + timedelta(days=1), "steady", seed=1),
        # 300 s until 10:30 then 600 s: hour 10 mixes both (126 vs 81 intervals: 300 wins)
        _switch("mixed", day + timedelta(days=1), 300, 600, 10 * 60 + 30, seed=3),
        # 300 s until 08:00 then 600 s: no mixed hour, and a tie (96 each) goes to the shorter
        _switch("tie", day - timedelta(days=1), 300, 600, 8 * 60, seed=5),
        # 900 s until 14:15 then 300 s: hour 14 mixes (one 900, nine 300); 300 s wins (129 vs 57)
        _switch("late", day, 900, 300, 14 * 60 + 15, seed=7),
        # 600 s until 16:10 then 300 s: hour 16 mixes (one 600, ten 300), and the day's
        # lengths are close (97 to 94): counted length by length, 600 wins
        _switch("flip", day + timedelta(days=1), 600, 300, 16 * 60 + 10, seed=9),
    ]
    return pd.concat(parts, ignore_index=True)


def _pandas(raw: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hourly moments and the usual interval per camera-day, straight from the raw rows."""
    local = pd.to_datetime(raw["start_utc"], unit="s", utc=True).dt.tz_convert(ZONE)
    frame = raw.assign(day=local.dt.date, hour=local.dt.hour, length=raw["end_utc"] - raw["start_utc"],
                       people=raw["people"].astype("float64"), vehicle=raw["vehicle"].astype("float64"))
    frame = frame.assign(psq=frame["people"] ** 2, vsq=frame["vehicle"] ** 2)
    hourly = frame.groupby(["camera", "day", "hour"]).agg(
        n=("start_utc", "size"), people_n=("people", "count"), people_sum=("people", "sum"),
        people_sumsq=("psq", "sum"), vehicle_n=("vehicle", "count"), vehicle_sum=("vehicle", "sum"),
        vehicle_sumsq=("vsq", "sum")).reset_index()
    counts = frame.groupby(["camera", "day", "length"]).size().rename("k").reset_index()
    counts = counts.sort_values(["camera", "day", "k", "length"], ascending=[True, True, False, True])
    usual = counts.drop_duplicates(["camera", "day"])[["camera", "day", "length"]]
    return (hourly.astype({c: "int64" for c in hourly.columns[3:]}).reset_index(drop=True),
            usual.rename(columns={"length": "interval_s"}).reset_index(drop=True))


def _same(got: pd.DataFrame, want: pd.DataFrame) -> None:
    got = got.sort_values(list(got.columns[:3])).reset_index(drop=True)
    want = want.sort_values(list(want.columns[:3])).reset_index(drop=True)
    pd.testing.assert_frame_equal(got.astype({c: "int64" for c in got.columns[2:]}),
                                  want.astype({c: "int64" for c in want.columns[2:]}), check_dtype=False)


@pytest.mark.parametrize("max_groups", [None, 7, 60])
@pytest.mark.parametrize("named", [False, True])
def test_one_scan_equals_pandas_and_the_separate_queries(db, raw, max_groups, named):
    import_frame(db, raw, ZONE)
    db.dialect.max_groups = max_groups  # this connection's dialect only
    tz = ZoneInfo(ZONE)
    a = int(pd.Timestamp(FALL_BACK - timedelta(days=1)).tz_localize(ZONE).timestamp())
    b = int(pd.Timestamp(FALL_BACK + timedelta(days=2)).tz_localize(ZONE).timestamp())
    cameras = sorted(set(raw["camera"])) if named else None
    scan = hourly_with_intervals(db, tz, a, b, cameras)
    want_hourly, want_usual = _pandas(raw)
    _same(scan.hourly, want_hourly)
    _same(scan.intervals, want_usual)
    # the mixed and tied days really are what the fixture says
    usual = {(c, d): i for c, d, i in zip(want_usual["camera"], want_usual["day"], want_usual["interval_s"])}
    assert usual[("mixed", FALL_BACK + timedelta(days=1))] == 300
    assert usual[("tie", FALL_BACK - timedelta(days=1))] == 300
    assert usual[("late", FALL_BACK)] == 300
    assert usual[("flip", FALL_BACK + timedelta(days=1))] == 600
    assert scan.hourly[(scan.hourly["camera"] == "steady") & (scan.hourly["day"] == FALL_BACK)
                       & (scan.hourly["hour"] == 1)]["n"].item() == 24
    _same(hourly_moments(db, tz, a, b, cameras), want_hourly)
    _same(daily_intervals(db, tz, a, b, cameras), want_usual)


def test_pieces_follow_the_limit(db, raw, monkeypatch):
    """With a limit, no query returns more groups than it (plus one bucket's worth)."""
    import_frame(db, raw, ZONE)
    db.dialect.max_groups = 10
    sizes = []
    original = db.query

    def spy(sql, params=()):
        rows = original(sql, params)
        if "GROUP BY camera, bucket" in sql:
            sizes.append(len(rows))
        return rows

    monkeypatch.setattr(db, "query", spy)
    tz = ZoneInfo(ZONE)
    a = int(pd.Timestamp(FALL_BACK - timedelta(days=1)).tz_localize(ZONE).timestamp())
    hourly_moments(db, tz, a, a + 3 * 86400, ["flip", "late", "mixed", "steady", "tie"])
    assert len(sizes) > 10 and max(sizes) <= 10
    sizes.clear()
    hourly_moments(db, tz, a, a + 3 * 86400)  # no camera list: sizes adapt after the first piece
    assert max(sizes[1:]) <= 10 + 5


def _three_cameras_around(db, zone: str, day: date) -> tuple[pd.DataFrame, ZoneInfo, int, int]:
    """Cameras a (three days), b (15-minute intervals, no vehicle column) and c (interval length
    changes mid-hour) imported around ``day``: the rows, the zone and the UTC range of the three days."""
    raw = pd.concat([make_counts(zone, day - timedelta(days=1), day + timedelta(days=1), "a", seed=1),
                     make_counts(zone, day, day, "b", 900, seed=2, vehicle=False),
                     _switch("c", day, 300, 600, 10 * 60 + 30, seed=3)], ignore_index=True)
    import_frame(db, raw, zone)
    tz = ZoneInfo(zone)
    a = int(pd.Timestamp(day - timedelta(days=1)).tz_localize(zone).timestamp())
    b = int(pd.Timestamp(day + timedelta(days=2)).tz_localize(zone).timestamp())
    return raw, tz, a, b


@pytest.mark.parametrize("zone, day", [("America/New_York", FALL_BACK), ("America/New_York", date(2021, 3, 14)),
                                       ("Australia/Lord_Howe", date(2021, 4, 4)),  # 30-minute fall-back
                                       ("Asia/Kolkata", date(2021, 6, 1))])
def test_sqlite_sort_free_scan_equals_the_group_by(db, zone, day, monkeypatch):
    """SQLite's scan driven by ordered camera and bucket tables returns the rows of the plain
    GROUP BY (forced here with a group limit), on DST days and in half-hour zones too."""
    raw, tz, a, b = _three_cameras_around(db, zone, day)
    cameras = ["a", "b", "c", "absent"]
    statements = []
    original = db.query
    monkeypatch.setattr(db, "query", lambda sql, params=(): statements.append(sql) or original(sql, params))
    sort_free = hourly_with_intervals(db, tz, a, b, cameras)
    assert (ORDERED_MOMENTS_SQL in statements) == (db.backend == "sqlite")
    db.dialect.max_groups = 10**6  # this connection's dialect only: the plain GROUP BY
    plain = hourly_with_intervals(db, tz, a, b, cameras)
    pd.testing.assert_frame_equal(sort_free.hourly, plain.hourly)
    pd.testing.assert_frame_equal(sort_free.intervals, plain.intervals)
    assert set(sort_free.hourly["camera"]) == {"a", "b", "c"}


@pytest.mark.parametrize("zone, day", [("America/New_York", FALL_BACK), ("Asia/Kolkata", date(2021, 6, 1))])
def test_packed_scan_equals_the_plain_one(db, zone, day, monkeypatch):
    """MySQL reads the nine figures of a group as one CONCAT_WS text parsed by numpy: the same
    moments as the plain columns, with a metric that has no values at all (NULL sums) and a
    camera whose intervals change length mid-hour."""
    from cctvctl.stats import moments

    raw, tz, a, b = _three_cameras_around(db, zone, day)
    statements = []
    original = db.query
    monkeypatch.setattr(db, "query", lambda sql, params=(): statements.append(sql) or original(sql, params))
    packed = hourly_with_intervals(db, tz, a, b)
    assert any("CONCAT_WS" in s for s in statements) == (db.backend == "mysql")
    monkeypatch.setattr(moments, "_packs", lambda db: False)
    plain = hourly_with_intervals(db, tz, a, b)
    pd.testing.assert_frame_equal(packed.hourly, plain.hourly)
    pd.testing.assert_frame_equal(packed.intervals, plain.intervals)
    local = pd.to_datetime(raw["start_utc"], unit="s", utc=True).dt.tz_convert(zone)
    want = raw.assign(day=local.dt.date, hour=local.dt.hour).groupby(["camera", "day", "hour"]).agg(
        n=("start_utc", "size"), vehicle_n=("vehicle", "count"), vehicle_sum=("vehicle", "sum"))
    got = packed.hourly.set_index(["camera", "day", "hour"])[["n", "vehicle_n", "vehicle_sum"]]
    pd.testing.assert_frame_equal(got.sort_index(), want.astype("int64").sort_index(), check_names=False,
                                  check_index_type=False)
    assert (got.loc["b", "vehicle_n"] == 0).all() and (got.loc["b", "vehicle_sum"] == 0).all()


def test_packed_columns_parse_text_and_bytes():
    from cctvctl.stats.moments import _SCAN, _int_columns, _packed_columns

    rows = [("a", 3600, "12,12,30,100,0,0,0,300,300"), ("b", 7200, "3,2,-4,10,3,9,27,60,900")]
    plain = [(c, bucket, *map(int, text.split(","))) for c, bucket, text in rows]
    want = _int_columns(plain, len(_SCAN) - 1)
    for got in (_packed_columns(rows), _packed_columns([(c, b, t.encode()) for c, b, t in rows])):
        assert [g.tolist() for g in got] == [w.tolist() for w in want]
    with pytest.raises(ValueError):
        _packed_columns([("a", 3600, "12,12,30")])  # a field missing never passes silently


def test_sum_moments_skips_the_group_by_only_for_unique_sorted_keys():
    from cctvctl.stats.moments import MOMENTS, _strictly_increasing, _sum_moments

    def frame(cameras, buckets):
        out = pd.DataFrame({"camera": pd.Series(cameras, dtype=object), "bucket": buckets})
        for i, m in enumerate(MOMENTS):
            out[m] = [(j + 1) * (i + 2) for j in range(len(cameras))]
        out["day"] = pd.Series([date(2021, 1, 1 + b // 86400) for b in buckets], dtype=object)
        out["hour"] = [(b % 86400) // 3600 for b in buckets]
        return out

    cases = [(["a", "a", "b"], [0, 3600, 0], True),
             (["a", "a", "b"], [3600, 0, 0], False),  # unsorted
             (["a", "a", "b"], [3600, 3600, 0], False),  # a repeated hour (DST fall-back)
             (["b", "a"], [0, 0], False), (["a"], [0], True)]
    keys = ["camera", "day", "hour"]
    for cameras, buckets, increasing in cases:
        raw = frame(cameras, buckets)
        assert _strictly_increasing(raw) == increasing
        want = raw.groupby(keys, as_index=False, sort=True)[list(MOMENTS)].sum()
        pd.testing.assert_frame_equal(_sum_moments(raw, keys), want[keys + list(MOMENTS)])
