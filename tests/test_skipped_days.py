"""Zones that skipped a whole local day: import → aggregate → report across it, never a crash.

Pacific/Apia and Pacific/Fakaofo jumped over 2011-12-30 (−10/−11 → +14/+13) and
Pacific/Kwajalein over 1993-08-21 (−12 → +12). Such a day is a zero-length UTC range: it holds no
interval, expects none, is absent from day breakdowns and weekday counts, and every period around
it keeps its real bounds. Statistics are checked against ``aggref``'s independent pandas
computation (whose day starts come from pandas' UTC→local conversion, not from our periods).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo
from pathlib import Path

import pandas as pd
import pytest

from aggref import compare, import_frame, local_midnight, make_counts, reference, stored
from cctvctl.periods import (day_seconds, hours_of_day, local_midnight_utc, parse_period,
                             period_containing)
from cctvctl.stats import run_aggregate

SKIPPED = [("Pacific/Apia", date(2011, 12, 30)), ("Pacific/Fakaofo", date(2011, 12, 30)),
           ("Pacific/Kwajalein", date(1993, 8, 21))]
LATER = datetime(2013, 1, 1, tzinfo=ZoneInfo("UTC"))
#: zones whose offsets jump around midnight or by odd amounts, for the day-start property
ODD_ZONES = ["Pacific/Apia", "Pacific/Fakaofo", "Pacific/Kwajalein", "America/Santiago",
             "America/Havana", "Asia/Gaza", "Australia/Lord_Howe", "America/St_Johns",
             "Antarctica/Troll", "Asia/Tehran", "Europe/Dublin", "America/Asuncion"]


@pytest.mark.parametrize("zone,day", SKIPPED)
def test_skipped_day_is_zero_length_and_its_neighbours_are_whole(zone, day):
    tz = ZoneInfo(zone)
    before, after = day - timedelta(days=1), day + timedelta(days=1)
    assert local_midnight_utc(day, tz) == local_midnight_utc(after, tz)
    assert day_seconds(day, tz) == 0 and hours_of_day(day, tz) == 0
    assert day_seconds(before, tz) == day_seconds(after, tz) == 86400
    for d in (before, day, after):
        assert local_midnight_utc(d, tz) == int(local_midnight(d, zone).timestamp())
    week = period_containing("week", day)
    assert day not in week.local_days(tz) and len(week.local_days(tz)) == 6
    start, end = week.utc_range(tz)
    assert end - start == 6 * 86400
    a, b = parse_period("day", day.isoformat()).utc_range(tz)
    assert a == b == local_midnight_utc(after, tz)


@pytest.mark.parametrize("zone", ODD_ZONES)
def test_day_starts_equal_pandas_around_every_transition(zone):
    """Around each offset change 1990–2024: our first instant of the day == pandas' scan."""
    tz = ZoneInfo(zone)
    noon = pd.date_range("1990-01-01 12:00", "2024-12-31 12:00", freq="D", tz="UTC")
    offsets = noon.tz_convert(zone).map(lambda t: t.utcoffset().total_seconds())
    changes = [noon[i].date() for i in range(1, len(noon)) if offsets[i] != offsets[i - 1]]
    days = sorted({c + timedelta(days=k) for c in changes for k in (-1, 0, 1)})
    assert days
    for d in days:
        assert local_midnight_utc(d, tz) == int(local_midnight(d, zone).timestamp()), (zone, d)


def _raw(zone: str, day: date) -> tuple[pd.DataFrame, dict[str, int]]:
    parts = [make_counts(zone, day - timedelta(days=5), day + timedelta(days=4), "gate", seed=1),
             make_counts(zone, day - timedelta(days=2), day + timedelta(days=2), "roof", 3600, seed=2,
                         vehicle=False)]
    return pd.concat(parts, ignore_index=True), {"gate": 300, "roof": 3600}


@pytest.mark.parametrize("zone,day", SKIPPED)
def test_aggregate_across_a_skipped_day_equals_pandas(db, zone, day):
    raw, intervals = _raw(zone, day)
    import_frame(db, raw, zone)
    result = run_aggregate(db, "all", ZoneInfo(zone), now=LATER)
    assert compare(stored(db), reference(raw, zone, intervals)) == []
    by = {(r["grain"], r["camera"], r["period_start"]): r for r in result.rows if r["hour"] is None}
    assert ("day", "gate", day.isoformat()) not in by  # no row for a day that did not happen
    week = period_containing("week", day)
    w = by[("week", "gate", week.start.isoformat())]
    assert w["expected"] == 6 * 288  # six real days
    weekday = by[("month_weekday", "gate", day.replace(day=1).isoformat())]
    assert weekday is not None
    # run again: nothing due, nothing crashes on the nightly path
    assert run_aggregate(db, "all", ZoneInfo(zone), now=LATER).nothing_due


def _cli(args, env):
    return subprocess.run([str(Path(sys.executable).with_name("cctvctl")), *args], capture_output=True, text=True, env=env,
                          timeout=120)


@pytest.mark.parametrize("zone,day", SKIPPED[:1])
def test_cli_import_aggregate_report_across_the_skipped_day(db_url, tmp_path, zone, day):
    raw, _ = _raw(zone, day)
    raw = raw[raw["camera"] == "gate"]
    csv = tmp_path / "counts.csv"
    fmt = "%Y-%m-%dT%H:%M:%S+00:00"
    pd.DataFrame({"camera": raw["camera"],
                  "start": pd.to_datetime(raw["start_utc"], unit="s", utc=True).dt.strftime(fmt),
                  "end": pd.to_datetime(raw["end_utc"], unit="s", utc=True).dt.strftime(fmt),
                  "people": raw["people"]}).to_csv(csv, index=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CCTV_")}
    env.update(CCTV_DB=db_url, CCTV_TZ=zone)
    for args in (["import", str(csv)], ["aggregate", "all"], ["detect", "--since", (day - timedelta(days=1)).isoformat(),
                                        "--until", (day + timedelta(days=1)).isoformat()]):
        run = _cli(args, env)
        assert run.returncode == 0, (args, run.stderr)
        assert "Traceback" not in run.stderr and "unexpected" not in run.stderr
    want = reference(raw, zone, {"gate": 300})
    for flag, label in (("--day", day.isoformat()), ("--week", period_containing("week", day).label),
                        ("--month", period_containing("month", day).label),
                        ("--year", str(day.year))):
        run = _cli(["report", flag, label, "--format", "json"], env)
        assert run.returncode == 0, (flag, run.stderr)
        rep = json.loads(run.stdout)
        period = parse_period(flag[2:], label)
        skipped = len(period.days) - 1
        assert rep["period"]["days"] == skipped
        if flag == "--day":
            assert rep["expected"] == 0 and rep["coverage"] is None and rep["intervals"] == 0
            assert rep["breakdown"] == [] and rep["period"]["start"] == rep["period"]["end"]
            continue
        row = want[(want["grain"] == flag[2:]) & (want["period_start"] == period.start.isoformat())].iloc[0]
        assert rep["expected"] == row["expected"] and rep["intervals"] == row["n"]
        assert rep["coverage"] == pytest.approx(row["coverage"], abs=5e-5)  # JSON rounds to 4 places
        breakdown = [b["label"] for b in rep["breakdown"]]
        assert day.isoformat() not in breakdown
        if flag == "--week":
            assert len(breakdown) == 6
            assert [p["days"] for p in rep["weekday_profile"]] == [1] * 6
            assert day.weekday() not in [p["weekday"] for p in rep["weekday_profile"]]
    text = _cli(["report", "--day", day.isoformat()], env)
    assert text.returncode == 0 and "0 days (1 skipped)" in text.stdout
