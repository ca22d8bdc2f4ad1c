"""Statistics equal an independent pandas computation on the raw rows, on both backends.

Every stored figure (day, hour, week, month, year and weekday rows; n, expected, coverage,
sums, mean, std, ref) is compared with ``aggref.reference``, which works from the raw rows with
pandas' own time-zone handling. Scenarios cover DST days in America/New_York and
Australia/Melbourne, the half-hour zone Asia/Kolkata, 2020-W53 (a week across a year boundary),
29 February, months of 28–31 days, unknown (NULL) vehicle counts and a camera with gaps.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from aggref import compare, import_frame, make_counts, reference, stored
from cctvctl.errors import UsageError
from cctvctl.stats import combine, daily_moments, figures, hourly_moments, offset_segments, run_aggregate

LATER = datetime(2022, 6, 1, tzinfo=ZoneInfo("UTC"))


def _scenario(name: str) -> tuple[str, pd.DataFrame, dict[str, int]]:
    if name == "new_york":
        tz = "America/New_York"
        parts = [make_counts(tz, date(2021, 3, 1), date(2021, 3, 31), "gate", seed=1),  # 31 days, spring forward
                 make_counts(tz, date(2021, 11, 1), date(2021, 11, 30), "gate", seed=2),  # 30 days, fall back
                 make_counts(tz, date(2021, 11, 1), date(2021, 11, 30), "roof", 3600, seed=3,
                             vehicle=False, gaps=[(date(2021, 11, 7), 0, 5)],
                             drop_days=[date(2021, 11, 10)])]
        return tz, pd.concat(parts, ignore_index=True), {"gate": 300, "roof": 3600}
    if name == "melbourne":
        tz = "Australia/Melbourne"
        parts = [make_counts(tz, date(2021, 4, 1), date(2021, 4, 7), "swanston", seed=4),  # DST ends 4 Apr
                 make_counts(tz, date(2021, 10, 1), date(2021, 10, 7), "swanston", seed=5),  # DST starts 3 Oct
                 make_counts(tz, date(2021, 4, 1), date(2021, 4, 7), "bourke", 900, seed=6,
                             gaps=[(date(2021, 4, 4), 1, 4), (date(2021, 4, 6), 12, 18)])]
        return tz, pd.concat(parts, ignore_index=True), {"swanston": 300, "bourke": 900}
    tz = "Asia/Kolkata"
    parts = [make_counts(tz, date(2020, 2, 1), date(2020, 2, 29), "mg-road", 600, seed=7),  # leap February
             make_counts(tz, date(2020, 12, 26), date(2021, 1, 10), "mg-road", 600, seed=8),  # 2020-W53
             make_counts(tz, date(2021, 2, 1), date(2021, 2, 28), "mg-road", 600, seed=9,  # 28 days, gaps
                         drop_days=[date(2021, 2, 14)], gaps=[(date(2021, 2, 20), 9, 17)])]
    return tz, pd.concat(parts, ignore_index=True), {"mg-road": 600}


@pytest.mark.parametrize("scenario", ["new_york", "melbourne", "kolkata"])
def test_every_figure_equals_pandas_on_raw_rows(db, scenario):
    tz, raw, intervals = _scenario(scenario)
    import_frame(db, raw, tz)
    result = run_aggregate(db, "all", ZoneInfo(tz), now=LATER)
    assert not result.nothing_due
    got = stored(db)
    want = reference(raw, tz, intervals)
    assert compare(got, want) == []
    # The JSON rows the run returned are the rows it stored.
    assert len(result.rows) == len(got)
    assert {r["grain"] for r in result.rows} == {"day", "hour", "week", "month", "year",
                                                 "month_weekday", "year_weekday"}
    _calendar_facts(scenario, result.rows)


def _calendar_facts(scenario: str, rows: list[dict]) -> None:
    """A few calendar facts spelled out, on top of the pandas comparison."""
    by = {(r["grain"], r["camera"], r["period"], r["hour"]): r for r in rows}
    if scenario == "new_york":
        assert by[("day", "gate", "2021-03-14", None)]["expected"] == 276  # 23-hour day
        assert by[("day", "gate", "2021-11-07", None)]["expected"] == 300  # 25-hour day
        assert ("hour", "gate", "2021-03-14", 2) not in by  # 02:00–03:00 does not exist
        assert by[("hour", "gate", "2021-11-07", 1)]["n"] == 24  # 01:00–02:00 happens twice
        assert ("day", "roof", "2021-11-10", None) not in by  # no data, no day row …
        assert by[("week", "roof", "2021-W45", None)]["coverage"] < 1  # … but the week shows it
    elif scenario == "melbourne":
        assert by[("day", "swanston", "2021-04-04", None)]["expected"] == 300
        assert by[("day", "swanston", "2021-10-03", None)]["expected"] == 276
    else:
        week = by[("week", "mg-road", "2020-W53", None)]  # Monday 28 Dec 2020 – Sunday 3 Jan 2021
        assert week["period_start"] == "2020-12-28" and week["n"] == 7 * 144
        assert by[("month", "mg-road", "2020-02", None)]["expected"] == 29 * 144
        assert by[("month", "mg-road", "2021-02", None)]["expected"] == 28 * 144


@pytest.mark.parametrize("zone,day", [("America/New_York", date(2021, 3, 14)),
                                      ("America/New_York", date(2021, 11, 7)),
                                      ("Australia/Melbourne", date(2021, 4, 4)),
                                      ("Asia/Kolkata", date(2021, 6, 1))])
def test_hourly_and_daily_moments_match_pandas(db, zone, day):
    raw = make_counts(zone, day - timedelta(days=1), day + timedelta(days=1), "c1", seed=11)
    raw = pd.concat([raw, make_counts(zone, day, day, "c2", 900, seed=12)], ignore_index=True)
    import_frame(db, raw, zone)
    tz = ZoneInfo(zone)
    a = int(pd.Timestamp(day).tz_localize(zone).timestamp())
    b = a + 86400 * 2
    hourly = hourly_moments(db, tz, a, b)
    local = pd.to_datetime(raw["start_utc"], unit="s", utc=True).dt.tz_convert(zone)
    raw = raw.assign(day=local.dt.date, hour=local.dt.hour, vsq=raw["vehicle"] ** 2,
                     psq=raw["people"] ** 2)
    raw = raw[(raw["start_utc"] >= a) & (raw["start_utc"] < b)]
    want = raw.groupby(["camera", "day", "hour"]).agg(
        n=("start_utc", "size"), people_n=("people", "count"), people_sum=("people", "sum"),
        people_sumsq=("psq", "sum"), vehicle_n=("vehicle", "count"),
        vehicle_sum=("vehicle", "sum"), vehicle_sumsq=("vsq", "sum")).reset_index()
    assert list(hourly.columns) == ["camera", "day", "hour", "n", "people_n", "people_sum",
                                    "people_sumsq", "vehicle_n", "vehicle_sum", "vehicle_sumsq"]
    got = hourly.astype({c: "int64" for c in hourly.columns[2:]})
    pd.testing.assert_frame_equal(got.reset_index(drop=True),
                                  want.astype({c: "int64" for c in want.columns[2:]}),
                                  check_dtype=False)
    daily = daily_moments(db, tz, a, b)
    pd.testing.assert_frame_equal(daily, combine(hourly, ["camera", "day"]), check_dtype=False)
    assert all(isinstance(d, date) for d in daily["day"])


def test_offset_segments_split_at_dst_and_keep_half_hours():
    ny = ZoneInfo("America/New_York")
    a = int(datetime(2021, 11, 6, tzinfo=ny).timestamp())
    segs = offset_segments(ny, a, a + 3 * 86400)
    assert [s.offset for s in segs] == [-4 * 3600, -5 * 3600]
    assert segs[0].end == int(datetime(2021, 11, 7, 6, tzinfo=ZoneInfo("UTC")).timestamp())
    kol = offset_segments(ZoneInfo("Asia/Kolkata"), 0, 10 * 86400)
    assert [(s.start, s.end, s.offset) for s in kol] == [(0, 864000, 19800)]


def test_figures_exact_on_scalars_and_series():
    rng = np.random.default_rng(3)
    values = rng.integers(0, 5000, 10_000)
    f = figures(len(values), int(values.sum()), int((values.astype(object) ** 2).sum()), k=2.0)
    assert f.mean == pytest.approx(values.mean(), rel=1e-12)
    assert f.std == pytest.approx(values.std(ddof=0), rel=1e-12)
    assert f.ref == pytest.approx(values.mean() + 2.0 * values.std(ddof=0), rel=1e-12)
    # Large moments: the variance numerator n·ss − s² would overflow int64.
    big = np.full(200_000, 3_000_000_000, dtype=object)
    big[::2] += 1
    s = pd.Series([len(big), 3, 0])
    fs = figures(s, pd.Series([int(big.sum()), 6, 0]),
                 pd.Series([int((big ** 2).sum()), 14, 0]))
    assert fs.std[0] == pytest.approx(0.5, rel=1e-12)
    assert fs.mean[1] == 2.0 and fs.std[1] == pytest.approx((14 / 3 - 4) ** 0.5)
    assert np.isnan(fs.mean[2]) and np.isnan(fs.ref[2])
    assert np.isnan(figures(0, 0, 0).mean)


def _import_days(db, tz: str, first: date, days: int, cameras=("a", "b"), seed=0,
                 missing: dict | None = None) -> pd.DataFrame:
    """Import ``days`` days of 5-minute counts; ``missing`` maps a camera to days it lacks."""
    parts = [make_counts(tz, first, first + timedelta(days=days - 1), c, seed=seed + i,
                         drop_days=(missing or {}).get(c, []))
             for i, c in enumerate(cameras)]
    raw = pd.concat(parts, ignore_index=True)
    import_frame(db, raw, tz, source=f"<{first}>")
    return raw


def test_catch_up_ten_days_then_nothing(db):
    tz = "Asia/Seoul"
    raw = _import_days(db, tz, date(2021, 8, 1), 10)
    now = datetime(2021, 8, 11, 0, 30, tzinfo=ZoneInfo(tz))  # 10 complete days
    first = run_aggregate(db, "day", ZoneInfo(tz), now=now)
    days = sorted({r["period_start"] for r in first.rows if r["grain"] == "day"})
    assert days == [(date(2021, 8, 1) + timedelta(days=i)).isoformat() for i in range(10)]
    assert compare(stored(db), reference(raw, tz, {"a": 300, "b": 300}), grains=["day", "hour"]) == []
    again = run_aggregate(db, "day", ZoneInfo(tz), now=now)
    assert again.nothing_due and again.rows == []
    assert again.message.startswith("nothing due")
    # A server that was off: three days later the run catches up exactly the missed days.
    raw2 = _import_days(db, tz, date(2021, 8, 11), 3, seed=5)
    later = run_aggregate(db, "day", ZoneInfo(tz), now=now + timedelta(days=3))
    assert sorted({r["period_start"] for r in later.rows if r["grain"] == "day"}) == [
        "2021-08-11", "2021-08-12", "2021-08-13"]
    assert compare(stored(db), reference(pd.concat([raw, raw2]), tz, {"a": 300, "b": 300}),
                   grains=["day", "hour"]) == []


def test_late_data_updates_exactly_the_periods_that_contain_it(db):
    tz = "Asia/Seoul"
    zone = ZoneInfo(tz)
    raw = _import_days(db, tz, date(2021, 7, 1), 45, missing={"a": [date(2021, 7, 14)]})
    now = datetime(2022, 1, 2, tzinfo=zone)
    run_aggregate(db, "all", zone, now=now)
    # Late rows for camera a on Wednesday 14 July 2021 arrive in a new import.
    late = make_counts(tz, date(2021, 7, 14), date(2021, 7, 14), "a", seed=99)
    import_frame(db, late, tz, source="<late>")
    second = run_aggregate(db, "all", zone, now=now)
    touched = {(r["grain"], r["camera"], r["period_start"], r["weekday"]) for r in second.rows
               if r["grain"] != "hour"}
    assert touched == {("day", "a", "2021-07-14", None), ("week", "a", "2021-07-12", None),
                       ("month", "a", "2021-07-01", None), ("year", "a", "2021-01-01", None),
                       ("month_weekday", "a", "2021-07-01", 2), ("year_weekday", "a", "2021-01-01", 2)}
    assert {(r["camera"], r["period_start"]) for r in second.rows if r["grain"] == "hour"} == {
        ("a", "2021-07-14")}
    summary = {s.grain: s for s in second.summary}
    assert summary["day"].late == 1 and summary["year"].late == 1
    everything = pd.concat([raw, late], ignore_index=True)
    assert compare(stored(db), reference(everything, tz, {"a": 300, "b": 300})) == []
    assert run_aggregate(db, "all", zone, now=now).nothing_due


def test_camera_filter_and_explicit_dates_leave_catch_up_state_alone(db):
    tz = "Asia/Seoul"
    zone = ZoneInfo(tz)
    raw = _import_days(db, tz, date(2021, 8, 1), 5)
    now = datetime(2021, 8, 6, 1, tzinfo=zone)
    only_a = run_aggregate(db, "day", zone, cameras=["a"], now=now)
    assert {r["camera"] for r in only_a.rows} == {"a"}
    full = run_aggregate(db, "day", zone, now=now)  # b still due: the filtered run moved nothing
    assert {r["camera"] for r in full.rows if r["grain"] == "day"} == {"a", "b"}
    redo = run_aggregate(db, "day", zone, date="2021-08-03", k=3.0, now=now)
    assert {(r["camera"], r["period_start"]) for r in redo.rows if r["grain"] == "day"} == {
        ("a", "2021-08-03"), ("b", "2021-08-03")}
    got, want = stored(db), reference(raw, tz, {"a": 300, "b": 300}, k=3.0)
    on_day = [g["period_start"] == "2021-08-03" for g in (got, want)]
    assert compare(got[on_day[0]], want[on_day[1]], grains=["day", "hour"]) == []
    ks = dict(db.query("SELECT period_start, MAX(k) FROM stats WHERE grain = 'day' GROUP BY period_start"))
    assert ks["2021-08-03"] == 3.0 and ks["2021-08-02"] == 1.5
    assert run_aggregate(db, "day", zone, now=now).nothing_due
    # --since alone ends with yesterday: today (6 August) is not complete.
    since = run_aggregate(db, "day", zone, since="2021-08-04", now=now)
    assert sorted({r["period_start"] for r in since.rows}) == ["2021-08-04", "2021-08-05"]
    with pytest.raises(UsageError, match="2021-08-07 is in the future"):
        run_aggregate(db, "day", zone, date="2021-08-07", now=now)


def test_refuses_a_second_zone_and_bad_options(db):
    _import_days(db, "Asia/Seoul", date(2021, 8, 1), 2)
    run_aggregate(db, "day", ZoneInfo("Asia/Seoul"), now=datetime(2021, 8, 4, tzinfo=ZoneInfo("UTC")))
    with pytest.raises(UsageError, match="Asia/Seoul"):
        run_aggregate(db, "day", ZoneInfo("Europe/Berlin"))
    with pytest.raises(UsageError, match="--date cannot be combined"):
        run_aggregate(db, "day", ZoneInfo("Asia/Seoul"), date="2021-08-01", since="2021-08-01")
    with pytest.raises(UsageError, match="unknown grain"):
        run_aggregate(db, "fortnight", ZoneInfo("Asia/Seoul"))
    with pytest.raises(UsageError, match="--k"):
        run_aggregate(db, "day", ZoneInfo("Asia/Seoul"), k=-1)


def test_empty_database_says_so(db):
    result = run_aggregate(db, "all", ZoneInfo("Asia/Seoul"))
    assert result.rows == [] and not result.has_data
    assert "no counts" in result.message
