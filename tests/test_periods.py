"""Local periods ↔ UTC ranges: ISO week 53, DST days, month ends, leap days, "last complete"."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from cctvctl.errors import UsageError
from cctvctl.periods import (hours_of_day, last_complete, local_midnight_utc, parse_date,
                             parse_period, period_containing, periods_between)


@pytest.mark.parametrize("grain,text,start,end,label", [
    ("day", "2021-08-01", date(2021, 8, 1), date(2021, 8, 2), "2021-08-01"),
    ("week", "2020-W53", date(2020, 12, 28), date(2021, 1, 4), "2020-W53"),
    ("week", "2021W1", date(2021, 1, 4), date(2021, 1, 11), "2021-W01"),
    ("month", "2020-02", date(2020, 2, 1), date(2020, 3, 1), "2020-02"),
    ("month", "2021-12", date(2021, 12, 1), date(2022, 1, 1), "2021-12"),
    ("year", "2020", date(2020, 1, 1), date(2021, 1, 1), "2020"),
])
def test_parse_period_bounds_and_labels(grain, text, start, end, label):
    p = parse_period(grain, text)
    assert (p.start, p.end, p.label) == (start, end, label)
    assert parse_period(grain, p.label) == p


@pytest.mark.parametrize("grain,text", [("week", "2021-W53"), ("month", "2021-13"),
                                        ("day", "2021-02-29"), ("year", "21")])
def test_parse_period_rejects_impossible_periods(grain, text):
    with pytest.raises(UsageError, match="invalid"):
        parse_period(grain, text)


def test_iso_week_53_and_weeks_across_new_year():
    assert period_containing("week", date(2021, 1, 3)).label == "2020-W53"
    assert period_containing("week", date(2019, 12, 31)).label == "2020-W01"
    week = period_containing("week", date(2021, 1, 1))
    assert [d.isoformat() for d in week.days][0] == "2020-12-28" and len(week.days) == 7
    assert week.next().label == "2021-W01" and week.previous().label == "2020-W52"
    assert week.same_last_year().label == "2019-W52"  # 2019 has no week 53


@pytest.mark.parametrize("month,days", [((2020, 2), 29), ((2021, 2), 28), ((2021, 4), 30),
                                        ((2021, 12), 31), ((1900, 2), 28), ((2000, 2), 29)])
def test_months_of_28_to_31_days(month, days):
    p = period_containing("month", date(*month, 1))
    assert len(p.days) == days and p.next().start == p.end


def test_leap_day_last_year_and_between():
    assert period_containing("day", date(2020, 2, 29)).same_last_year().start == date(2019, 2, 28)
    labels = [p.label for p in periods_between("month", date(2020, 1, 31), date(2020, 3, 1))]
    assert labels == ["2020-01", "2020-02", "2020-03"]


@pytest.mark.parametrize("zone,day,hours", [
    ("America/New_York", date(2021, 3, 14), 23), ("America/New_York", date(2021, 11, 7), 25),
    ("Australia/Melbourne", date(2021, 4, 4), 25), ("Australia/Melbourne", date(2021, 10, 3), 23),
    ("Asia/Kolkata", date(2021, 3, 14), 24), ("Australia/Lord_Howe", date(2021, 4, 4), 24.5),
    ("Asia/Seoul", date(2021, 8, 1), 24),
])
def test_real_day_lengths(zone, day, hours):
    assert hours_of_day(day, ZoneInfo(zone)) == hours
    # The UTC range of the day agrees with pandas' own localisation of midnight.
    start, end = period_containing("day", day).utc_range(ZoneInfo(zone))
    assert start == int(pd.Timestamp(day).tz_localize(zone).timestamp())
    assert end - start == hours * 3600


def test_midnight_in_a_dst_gap_starts_the_day_at_the_transition():
    santiago = ZoneInfo("America/Santiago")  # 2022-09-11 00:00 does not exist: clocks go to 01:00
    start = local_midnight_utc(date(2022, 9, 11), santiago)
    assert datetime.fromtimestamp(start, santiago).hour == 1
    assert hours_of_day(date(2022, 9, 11), santiago) == 23


def test_last_complete_is_judged_in_local_time():
    seoul = ZoneInfo("Asia/Seoul")
    # 2021-08-01 16:30 UTC is already 2 August 01:30 in Seoul.
    now = datetime(2021, 8, 1, 16, 30, tzinfo=ZoneInfo("UTC")).timestamp()
    assert last_complete("day", seoul, now).label == "2021-08-01"
    assert last_complete("week", seoul, now).label == "2021-W30"
    assert last_complete("month", seoul, now).label == "2021-07"
    assert last_complete("year", seoul, now).label == "2020"
    assert last_complete("day", ZoneInfo("UTC"), now).label == "2021-07-31"


def test_parse_date_message():
    assert parse_date(" 2020-02-29 ") == date(2020, 2, 29)
    with pytest.raises(UsageError, match=r"invalid date '2021-02-29' \(expected YYYY-MM-DD\)"):
        parse_date("2021-02-29")
