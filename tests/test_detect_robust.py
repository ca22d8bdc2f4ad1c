"""The robust method: like days, median and tightest-window spread, significance, runs, silence
and learning, through real imports on both backends; references checked against pandas."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

import cctvctl.detect
from cctvctl.detect import RobustParams, detect_range, load_flags, make_params
from cctvctl.detect.model import Flag
from cctvctl.errors import UsageError
from import_helpers import fresh_url, shared_mysql_url  # noqa: F401  (fixtures)
from test_detect import load, series, utc

TZ = ZoneInfo("Asia/Seoul")
DAY0 = date(2021, 3, 1)  # a Monday


@pytest.fixture
def robust_imports(monkeypatch):
    """Imports judge with the robust method (whatever the shipped default is)."""
    monkeypatch.setattr(cctvctl.detect, "DEFAULT_METHOD", "robust")


def robust(db, first: date, last: date, **kw):
    return detect_range(db, TZ, utc(datetime.combine(first, datetime.min.time()), TZ),
                        utc(datetime.combine(last + timedelta(days=1), datetime.min.time()), TZ),
                        method="robust", **kw)


def at(frame: pd.DataFrame, lo: str, hi: str) -> pd.Series:
    return (frame["start"] >= pd.Timestamp(lo)) & (frame["start"] < pd.Timestamp(hi))


def pandas_like_day_median(frame: pd.DataFrame, when: datetime, metric: str = "people") -> float:
    """Independent: median of the hour's mean on the same like days (Mon–Thu/Fri/Sat/Sun, a day
    starting at 05:00) before the interval's calendar day: the last 3 weeks for Mon–Thu (12 like
    days), the last 8 for Fri, Sat and Sun."""
    def like(ts: pd.Series) -> pd.Series:
        wd = (ts - pd.Timedelta(hours=5)).dt.day_of_week
        return wd.clip(lower=3) - 3

    day = pd.Timestamp(when).normalize()
    weeks = 3 if like(pd.Series([pd.Timestamp(when)])).iloc[0] == 0 else 8
    f = frame[(frame["start"] >= day - pd.Timedelta(weeks=weeks)) & (frame["start"] < day)
              & (frame["start"].dt.hour == when.hour)]
    f = f[like(f["start"]) == like(pd.Series([pd.Timestamp(when)])).iloc[0]]
    return float(f.groupby(f["start"].dt.normalize())[metric].mean().median())


def test_parameters_are_validated_and_seasonal_options_refused():
    assert make_params("robust").k == 10.0 and make_params("robust", k=6).k == 6.0
    with pytest.raises(UsageError, match="--slot only applies"):
        make_params("robust", slot="hour")
    with pytest.raises(UsageError, match="--weeks"):
        RobustParams(weeks=0)
    with pytest.raises(UsageError, match="--method must be one of robust, seasonal, threshold"):
        make_params("median")


def test_a_surge_recurring_on_40_percent_of_days_is_still_flagged_on_an_ordinary_day(db):
    frame = series(56)
    rng = np.random.default_rng(5)
    game_days = [DAY0 + timedelta(days=i) for i in range(55) if rng.random() < 0.4]
    assert 0.3 < len(game_days) / 55 < 0.5
    for d in game_days:  # the stadium's day games triple the busiest hours
        frame.loc[at(frame, f"{d} 12:00", f"{d} 15:00"), "people"] *= 3
    last = DAY0 + timedelta(days=55)
    game_days.append(last)  # and on the last day, whose baseline holds ~40% game days
    frame.loc[at(frame, f"{last} 12:00", f"{last} 15:00"), "people"] *= 3
    load(db, frame, detect=False)
    result = robust(db, last, last)
    hours = {datetime.fromtimestamp(f.start_utc, TZ).hour for f in result.flags
             if f.metric == "people" and f.direction == "high"}
    assert {13, 14} <= hours <= {12, 13, 14}  # a run of two: flagged from its second hour
    when = datetime.combine(last, datetime.min.time()) + timedelta(hours=13)
    flag = next(f for f in result.flags if f.start_utc == utc(when, TZ))
    assert flag.expected == pytest.approx(pandas_like_day_median(frame, when))
    # the mean ± 4σ of the old default takes the game nights into its band and misses it
    old = detect_range(db, TZ, flag.start_utc, flag.start_utc + 3600, method="seasonal", store=False)
    assert old.flags == []


def test_a_blip_of_six_people_in_an_empty_hour_is_not_flagged(db):
    frame = series(28)
    night = frame["start"].dt.hour.isin([2, 3])
    frame.loc[night, "people"] = (frame.loc[night, "start"].dt.day % 3 == 0).astype(int)  # 0 or 1
    blip = datetime(2021, 3, 24, 3)
    frame.loc[frame["start"] == pd.Timestamp(blip), "people"] = 6
    load(db, frame, detect=False)
    assert [f for f in robust(db, date(2021, 3, 22), date(2021, 3, 28), store=False).flags
            if f.metric == "people"] == []
    old = detect_range(db, TZ, utc(blip, TZ), utc(blip, TZ) + 3600, method="seasonal", store=False)
    assert [f.direction for f in old.flags] == ["high"]  # the old default alarms on it


def test_a_camera_silent_for_three_hours_at_night_is_flagged_silent(db):
    frame = series(28, step_min=5, scale=6)  # ~30 passers-by an hour at night
    dark = at(frame, "2021-03-26 01:00", "2021-03-26 04:00")
    frame.loc[dark, ["people", "vehicle"]] = 0
    load(db, frame, step_min=5, detect=False)
    flags = robust(db, date(2021, 3, 22), date(2021, 3, 28)).flags
    silent = [f for f in flags if f.params.get("kind") == "silent" and f.metric == "people"]
    assert silent and all(f.direction == "low" and f.observed == 0 for f in silent)
    inside = frame.loc[dark, "start"]
    lo, hi = utc(inside.min().to_pydatetime(), TZ), utc(inside.max().to_pydatetime(), TZ)
    assert all(lo <= f.start_utc <= hi for f in silent)
    assert max(f.start_utc for f in silent) == hi  # flagged until it ends
    assert "silent" in silent[0].basis and silent[0].params["run_expected"] >= 20
    assert [f for f in flags if f.metric == "people" and not lo <= f.start_utc <= hi] == []


def test_a_first_import_of_five_weeks_flags_nothing_in_its_first_week_unless_extreme(db, robust_imports):
    frame = series(35, step_min=15, seed=3)
    extreme = datetime(2021, 3, 3, 12)  # a Wednesday: two like days before it, learning
    frame.loc[frame["start"] == pd.Timestamp(extreme), "people"] *= 12
    result = load(db, frame, step_min=15)  # one import of the whole history, detection on
    flags = load_flags(db, 0, 2 ** 40, method="robust")
    first_week = utc(datetime(2021, 3, 8), TZ)
    assert [(f.start_utc, f.direction) for f in flags if f.start_utc < first_week] == [
        (utc(extreme, TZ), "high")]
    assert flags[0].params["learning"] is True and "learning" in flags[0].basis
    assert result.outliers == len({(f.camera, f.start_utc) for f in flags}) <= 5
    summary = robust(db, DAY0, date(2021, 4, 4), store=False)
    assert summary.fallback > 0  # learning intervals are counted


def test_import_time_flags_equal_detect_flags_after_late_data(db, robust_imports):
    frame = series(42, step_min=30, seed=9)
    frame.loc[at(frame, "2021-04-01 12:00", "2021-04-01 14:00"), "people"] *= 3
    frame.loc[at(frame, "2021-04-07 10:00", "2021-04-07 15:00"), "people"] = 0
    frame.loc[at(frame, "2021-03-20 11:00", "2021-03-20 12:00"), "vehicle"] *= 4
    late = frame["start"].dt.date.isin([date(2021, 3, 25), date(2021, 3, 26)])
    for week in range(6):
        part = frame[~late & at(frame, str(DAY0 + timedelta(days=7 * week)),
                                str(DAY0 + timedelta(days=7 * week + 7)))]
        load(db, part, step_min=30)
    load(db, frame[late], step_min=30)  # late data changes the reference of the days after it
    stored = load_flags(db, 0, 2 ** 40, method="robust")
    again = robust(db, DAY0, date(2021, 4, 12), store=False)

    def key(flags: list[Flag]):
        return [(f.camera, f.start_utc, f.metric, f.direction, round(f.expected, 6),
                 f.params.get("kind")) for f in flags]

    assert key(stored) == key(again.flags)
    kinds = {(f.metric, f.direction, f.params["kind"]) for f in stored}
    assert ("people", "high", "outlier") in kinds and ("people", "low", "silent") in kinds
    assert all(f.basis for f in stored)


def test_like_day_references_read_from_aggregated_hours_equal_those_from_raw_counts(db):
    from cctvctl.stats import run_aggregate

    frame = series(35, seed=21)
    load(db, frame, detect=False)

    def references():  # a tiny k and no guard flag nearly everything: every reference shows
        params = dict(k=0.001, k_single=0.002, k_learning=0.002, rel=0.0, abs_min=0.0, run=1)
        from cctvctl.detect import _run_range
        result = _run_range(db, TZ, utc(datetime(2021, 3, 29), TZ), utc(datetime(2021, 4, 5), TZ),
                            None, "robust", RobustParams(**params), False)
        return {(f.start_utc, f.metric): (f.expected, f.params["sigma"], f.params["like_days"])
                for f in result.flags}

    from_raw = references()
    run_aggregate(db, "day", TZ, now=datetime(2021, 4, 1, 12, tzinfo=TZ))
    assert db.scalar("SELECT value FROM agg_state WHERE name = 'through:day'") == "2021-03-31"
    assert references() == from_raw and len(from_raw) > 200
    when = datetime(2021, 4, 2, 13)  # a Friday: the four Fridays before it
    assert from_raw[(utc(when, TZ), "people")][0] == pytest.approx(pandas_like_day_median(frame, when))
    assert from_raw[(utc(when, TZ), "people")][2] == 4
    when = datetime(2021, 4, 1, 13)  # a Thursday: the Mon–Thu of the three weeks before it
    assert from_raw[(utc(when, TZ), "people")][0] == pytest.approx(pandas_like_day_median(frame, when))
    assert from_raw[(utc(when, TZ), "people")][2] == 12


def test_a_new_cameras_first_row_after_aggregation_is_judged_not_a_crash(fresh_url, tmp_path):
    """Seen by a new user (and every first POST to serve): after `aggregate all`, a one-row
    import of a camera the stored hours do not know crashed import-time detection."""
    import subprocess
    import sys
    from pathlib import Path

    exe = str(Path(sys.executable).with_name("cctvctl"))
    sample = Path(__file__).resolve().parent.parent / "sample_data" / "counts_2021-08.csv"

    def cli(*args, stdin=None):
        return subprocess.run([exe, "--db", fresh_url, "--tz", "Asia/Seoul", *args], input=stdin,
                              capture_output=True, text=True, timeout=300)

    assert cli("import", str(sample)).returncode == 0
    assert cli("aggregate", "all").returncode == 0
    one = cli("import", "-", stdin="camera,start,people\ngate-7,2021-09-20 00:05,12\n")
    assert one.returncode == 0, one.stderr
    assert "inserted 1" in one.stderr + one.stdout
