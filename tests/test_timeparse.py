"""Timestamps → UTC epoch seconds: formats, offsets, ranges and the DST policy (no database).

Expected instants come from ``datetime``/``zoneinfo`` directly, never from the parser.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from cctvctl.ingest.timeparse import TimeParser

SEOUL = ZoneInfo("Asia/Seoul")
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
MELBOURNE = ZoneInfo("Australia/Melbourne")


def epoch(y, mo, d, h=0, mi=0, s=0, tz=SEOUL, fold=0) -> float:
    return datetime(y, mo, d, h, mi, s, tzinfo=tz, fold=fold).timestamp()


def parse(values, tz=SEOUL, cameras=None, **kw):
    parser = TimeParser(tz, **kw)
    s = pd.Series(values, dtype=object)
    cams = pd.Series(cameras if cameras is not None else ["c"] * len(values), dtype=object)
    got, why = parser.to_epoch(s, cams)
    return [None if math.isnan(v) else v for v in got], reasons(why), parser


def reasons(why) -> list:
    return [r if isinstance(r, str) else None for r in why]


@pytest.mark.parametrize("text,expected", [
    ("2021-08-01 09:30", epoch(2021, 8, 1, 9, 30)),
    ("2021-08-01T09:30:15", epoch(2021, 8, 1, 9, 30, 15)),
    ("2021-08-01 09:30:15.000", epoch(2021, 8, 1, 9, 30, 15)),  # a zero fraction is exact
    ("2021-8-1 9:30", epoch(2021, 8, 1, 9, 30)),
    ("  2021-08-01 09:30  ", epoch(2021, 8, 1, 9, 30)),
    ("2021-08-01", epoch(2021, 8, 1)),
    ("11/12/2017 06:00:00 AM", epoch(2017, 11, 12, 6)),  # Brooklyn
    ("11/12/2017 06:00:00 PM", epoch(2017, 11, 12, 18)),
    ("12/17/2017 12:00:00 AM", epoch(2017, 12, 17, 0)),
    ("01-Jan-2012 13:00", epoch(2012, 1, 1, 13)),
    ("2021/08/01 09:30", epoch(2021, 8, 1, 9, 30)),
    ("21.08.2021 09:30", epoch(2021, 8, 21, 9, 30)),  # day 21: the row proves day-first
    ("20210801093000", epoch(2021, 8, 1, 9, 30)),
    ("1 August 2021 9:30", epoch(2021, 8, 1, 9, 30)),  # the dateutil fallback, with a full date
    ("2021-08-01T00:30:00Z", datetime(2021, 8, 1, 0, 30, tzinfo=timezone.utc).timestamp()),
    ("2021-08-01T09:30:00+09:00", epoch(2021, 8, 1, 9, 30)),
    ("2021-08-01 02:30:00-0500", datetime(2021, 8, 1, 7, 30, tzinfo=timezone.utc).timestamp()),
])
def test_formats(text, expected):
    got, why, _ = parse([text])
    assert (got, why) == ([expected], [None])


@pytest.mark.parametrize("text,reason", [
    ("", "missing timestamp"), ("   ", "missing timestamp"),
    ("2021-13-01 00:00", "unparseable timestamp '2021-13-01 00:00'"),
    ("2021-02-30 00:00", "unparseable timestamp '2021-02-30 00:00'"),
    ("10:00", "unparseable timestamp '10:00'"), ("12", "unparseable timestamp '12'"),
    ("Monday", "unparseable timestamp 'Monday'"), ("Aug 2021", "unparseable timestamp 'Aug 2021'"),
    ("yesterday", "unparseable timestamp 'yesterday'"),
    ("Sunday 3 pm EST", "unparseable timestamp 'Sunday 3 pm EST'"),
    ("2021-08-01 09:30:15.900", "timestamp '2021-08-01 09:30:15.900' has a fraction of a second; "
                                "rows are stored at whole seconds (round the column to the second)"),
    ("1969-12-31 23:59", "timestamp '1969-12-31 23:59' is out of range (1970–2099)"),
    ("2100-01-01 09:00", "timestamp '2100-01-01 09:00' is out of range (1970–2099)"),
    ("9999-12-31 00:00", None),  # beyond pandas' nanosecond range: refused either way
])
def test_refused(text, reason):
    got, why, _ = parse([text])
    assert got == [None]
    if reason is None:
        assert why[0].startswith(("unparseable timestamp", "timestamp '9999"))
    else:
        assert why == [reason]


def test_dayfirst_and_time_format():
    assert parse(["01/02/2021 10:00"])[0] == [epoch(2021, 1, 2, 10)]
    assert parse(["01/02/2021 10:00"], dayfirst=True)[0] == [epoch(2021, 2, 1, 10)]
    got, why, _ = parse(["01.02.2021 10h05", "garbage"], time_format="%d.%m.%Y %Hh%M")
    assert got == [epoch(2021, 2, 1, 10, 5), None]
    assert why == [None, "unparseable timestamp 'garbage'"]


def test_date_and_hour_columns():
    parser = TimeParser(MELBOURNE)
    dates = pd.Series(["01-Jan-2012", "01-Jan-2012", "", "31-Feb-2012", "2012-01-02", "01-Jan-2012", "01-Jan-2012"])
    hours = pd.Series(["0", "23", "5", "1", "7", "24", "x"])
    got, why = parser.date_hour(dates, hours, pd.Series(["s"] * 7))
    assert list(got[:2]) == [epoch(2012, 1, 1, 0, tz=MELBOURNE), epoch(2012, 1, 1, 23, tz=MELBOURNE)]
    assert got[4] == epoch(2012, 1, 2, 7, tz=MELBOURNE)
    assert reasons(why) == [None, None, "missing date", "unparseable date '31-Feb-2012'", None,
                         "hour '24' is not 0–23", "hour 'x' is not 0–23"]


# -- DST ----------------------------------------------------------------------------------------
def test_gap_policies_and_tally():
    text = ["2021-03-28 01:59", "2021-03-28 02:00", "2021-03-28 02:59", "2021-03-28 03:00"]
    got, why, p = parse(text, BERLIN)
    assert got == [epoch(2021, 3, 28, 1, 59, tz=BERLIN), None, None, epoch(2021, 3, 28, 3, tz=BERLIN)]
    assert why[1] == "local time 2021-03-28 02:00:00 does not exist in Europe/Berlin (DST gap; see --nonexistent)"
    assert p.tally.nonexistent_rejected == 2 and p.tally.touched() == 2
    got, why, p = parse(text, BERLIN, nonexistent="shift-forward")
    cet = 3600
    assert got[1:3] == [datetime(2021, 3, 28, 2, 0, tzinfo=timezone.utc).timestamp() - cet,
                        datetime(2021, 3, 28, 2, 59, tzinfo=timezone.utc).timestamp() - cet]
    assert got[1] == got[3]  # 02:00 read with the winter offset is the instant 03:00 summer time
    assert p.tally.nonexistent_shifted == 2 and why == [None] * 4
    got, _, p = parse(text, BERLIN, nonexistent="shift-backward")
    assert got[1] == epoch(2021, 3, 28, 1, 0, tz=BERLIN)
    assert p.tally.nonexistent_shifted == 2


def test_ambiguous_infer_is_per_camera_and_in_file_order():
    text = ["2021-11-07 01:30", "2021-11-07 01:30", "2021-11-07 01:30", "2021-11-07 01:30"]
    got, why, p = parse(text, NEW_YORK, cameras=["a", "b", "a", "b"])
    edt = epoch(2021, 11, 7, 1, 30, tz=NEW_YORK, fold=0)
    est = epoch(2021, 11, 7, 1, 30, tz=NEW_YORK, fold=1)
    assert est - edt == 3600
    assert got == [edt, edt, est, est] and why == [None] * 4
    assert (p.tally.ambiguous_earliest, p.tally.ambiguous_latest) == (2, 2)


def test_ambiguous_infer_remembers_across_chunks():
    parser = TimeParser(NEW_YORK)
    cams = pd.Series(["a"])
    first, _ = parser.to_epoch(pd.Series(["2021-11-07 01:30"]), cams)
    second, _ = parser.to_epoch(pd.Series(["2021-11-07 01:30"]), cams)
    assert second[0] - first[0] == 3600


@pytest.mark.parametrize("policy,fold", [("earliest", 0), ("latest", 1)])
def test_ambiguous_explicit(policy, fold):
    got, _, p = parse(["2021-11-07 01:00", "2021-11-07 01:59"], NEW_YORK, ambiguous=policy)
    assert got == [epoch(2021, 11, 7, 1, 0, tz=NEW_YORK, fold=fold), epoch(2021, 11, 7, 1, 59, tz=NEW_YORK, fold=fold)]
    assert getattr(p.tally, f"ambiguous_{policy}") == 2


def test_ambiguous_reject():
    got, why, p = parse(["2021-11-07 00:59", "2021-11-07 01:00", "2021-11-07 02:00"], NEW_YORK, ambiguous="reject")
    assert got[0] is not None and got[1] is None and got[2] is not None
    assert why[1] == ("local time 2021-11-07 01:00:00 is ambiguous in America/New_York "
                      "(repeated at the DST change; see --ambiguous)")
    assert p.tally.ambiguous_rejected == 1


def test_melbourne_single_repeated_hour_is_summer_time():
    """The Melbourne file has one 02:00 row per sensor on fall-back days: read as the first."""
    parser = TimeParser(MELBOURNE)
    got, why = parser.date_hour(pd.Series(["06-Apr-2014"]), pd.Series(["2"]), pd.Series(["4"]))
    assert reasons(why) == [None]
    assert got[0] == epoch(2014, 4, 6, 2, tz=MELBOURNE, fold=0)
    assert parser.tally.ambiguous_earliest == 1


def test_end_column_is_read_relative_to_its_start():
    parser = TimeParser(BERLIN, ambiguous="latest")
    start = pd.Series([epoch(2021, 10, 31, 1, 55, tz=BERLIN),           # CEST, end 02:00 is the first one
                       epoch(2021, 10, 31, 2, 55, tz=BERLIN, fold=0),    # last summer slot, ends at 02:00 CET
                       epoch(2021, 10, 31, 2, 0, tz=BERLIN, fold=1),     # CET
                       float("nan")])
    ends = pd.Series(["2021-10-31 02:00", "2021-10-31 02:00", "2021-10-31 02:05", "2021-10-31 02:05"])
    got, why = parser.to_epoch(ends, pd.Series(["c"] * 4), after=start)
    assert list(got[:3] - start[:3]) == [300, 300, 300]
    assert reasons(why) == [None] * 4
    assert parser.tally.touched() == 0  # rows are counted by their start


def test_end_in_a_gap_follows_the_gap_policy_and_counts_once():
    parser = TimeParser(BERLIN)
    start = pd.Series([epoch(2021, 3, 28, 1, 55, tz=BERLIN), float("nan")])
    got, why = parser.to_epoch(pd.Series(["2021-03-28 02:00", "2021-03-28 02:05"]), pd.Series(["c", "c"]), after=start)
    assert reasons(why) == ["local time 2021-03-28 02:00:00 does not exist in Europe/Berlin (DST gap; see --nonexistent)",
                         "local time 2021-03-28 02:05:00 does not exist in Europe/Berlin (DST gap; see --nonexistent)"]
    assert parser.tally.nonexistent_rejected == 1  # the second row's start already failed
    shifting = TimeParser(BERLIN, nonexistent="shift-forward")
    got, why = shifting.to_epoch(pd.Series(["2021-03-28 02:00"]), pd.Series(["c"]), after=start[:1])
    assert got[0] - start[0] == 300 and reasons(why) == [None]


def test_an_abbreviation_that_changed_offset_is_read_at_the_offset_of_its_date():
    moscow = ZoneInfo("Europe/Moscow")  # MSK was UTC+4 from 2011 to 2014, UTC+3 since
    got, why, _ = parse(["2012-06-01 12:00 MSK", "2020-06-01 12:00 MSK", "2020-02-30 12:00 MSK"], moscow)
    assert got[:2] == [datetime(2012, 6, 1, 8, tzinfo=timezone.utc).timestamp(),
                       datetime(2020, 6, 1, 9, tzinfo=timezone.utc).timestamp()]
    assert why == [None, None, "unparseable timestamp '2020-02-30 12:00 MSK'"]
    pyongyang = ZoneInfo("Asia/Pyongyang")  # KST was UTC+8:30 from 2015 to 2018
    got, _, _ = parse(["2016-01-01 09:00 KST", "2020-01-01 09:00 KST"], pyongyang)
    assert got == [datetime(2016, 1, 1, 0, 30, tzinfo=timezone.utc).timestamp(),
                   datetime(2020, 1, 1, 0, 0, tzinfo=timezone.utc).timestamp()]


def test_a_file_of_one_order_decided_late_asks_for_a_second_reading():
    from cctvctl.errors import CountFileError
    from cctvctl.ingest.dateorder import DateOrderChanged

    parser = TimeParser(SEOUL)
    parser.to_epoch(pd.Series(["01/02/2021 10:00"]), None, lines=[2])
    parser.to_epoch(pd.Series(["25/02/2021 10:00"]), None, lines=[3])
    with pytest.raises(DateOrderChanged) as changed:
        parser.finish_file("f.csv")
    assert changed.value.order == "day-first"
    again = TimeParser(SEOUL, file_order=changed.value.order, evidence=changed.value.evidence)
    got, _ = again.to_epoch(pd.Series(["01/02/2021 10:00", "02/25/2021 10:00"]), None, lines=[2, 4])
    assert got[0] == epoch(2021, 2, 1, 10) and math.isnan(got[1])
    again.finish_file("f.csv")  # fixed: nothing more to decide
    undecided = TimeParser(SEOUL)
    undecided.to_epoch(pd.Series(["01/02/2021 10:00", "03/03/2021 10:00"]), None)
    with pytest.raises(CountFileError, match="cannot tell the date order"):
        undecided.finish_file("f.csv")


# -- impossible clock times, compact shapes, Unix time in the wrong unit (adversarial review) -----
@pytest.mark.parametrize("text,field", [
    ("2021-08-01 99:99:99", "hour 99 is not 0–23"),
    ("2021-08-01 09:60:00", "minute 60 is not 0–59"),
    ("2021-08-01 25:00", "hour 25 is not 0–23"),
    ("2021/08/01 47:00", "hour 47 is not 0–23"),
    ("13/08/2021 30:00", "hour 30 is not 0–23"),
    ("2021-08-01 23:60", "minute 60 is not 0–59"),
    ("2021-08-01 09:00:60", "second 60 is not 0–59"),
    ("2021-08-01 오후 12:75", "minute 75 is not 0–59"),
    ("2021-08-01 11:75 PM", "minute 75 is not 0–59"),
    ("2021-08-01T09:30:00+09:00".replace("09:30", "09:61"), "minute 61 is not 0–59"),
    ("2021-08-01 24:00", "hour 24 is not 0–23 (24:00 is not read: write 00:00 of the next day)"),
    ("2021-08-01T24:00:00", "hour 24 is not 0–23 (24:00 is not read: write 00:00 of the next day)"),
    ("01-Jan-2012 25:00", "hour 25 is not 0–23"),          # a named format
    ("1 August 2021 9:60", "minute 60 is not 0–59"),       # dateutil's shapes
    ("202108012500", "hour 25 is not 0–23"),               # compact
    ("20210801 09:60", "minute 60 is not 0–59"),
])
def test_impossible_clock_times_are_refused_naming_the_field(text, field):
    """They rolled over (09:60 → 10:00, 99:99:99 → four days later) and collided with real rows."""
    got, why, _ = parse([text])
    assert (got, why) == ([None], [f"timestamp {text!r}: {field}"])


def test_the_clock_limits_themselves_are_read():
    got, why, _ = parse(["2021-08-01 23:59:59", "2021-08-01 00:00:00", "2021-08-01 11:59:59 PM",
                         "202108012359", "20210801235959"])
    assert why == [None] * 5
    assert got == [epoch(2021, 8, 1, 23, 59, 59), epoch(2021, 8, 1), epoch(2021, 8, 1, 23, 59, 59),
                   epoch(2021, 8, 1, 23, 59), epoch(2021, 8, 1, 23, 59, 59)]


@pytest.mark.parametrize("text,expected", [
    ("20210801", epoch(2021, 8, 1)),
    ("202108011745", epoch(2021, 8, 1, 17, 45)),         # was 17:04:05
    ("202108010930", epoch(2021, 8, 1, 9, 30)),          # was 09:03:00
    ("20210801093000", epoch(2021, 8, 1, 9, 30)),
    ("20210801 0930", epoch(2021, 8, 1, 9, 30)),
    ("20210801T0930", epoch(2021, 8, 1, 9, 30)),
    ("20210801T093015", epoch(2021, 8, 1, 9, 30, 15)),
    ("20210801 09:30", epoch(2021, 8, 1, 9, 30)),
    ("20210801 9:30 PM", epoch(2021, 8, 1, 21, 30)),
])
def test_compact_shapes_are_read_exactly(text, expected):
    got, why, _ = parse([text])
    assert (got, why) == ([expected], [None])


@pytest.mark.parametrize("text", ["20210801093", "20210801 123", "20210801 930", "2021111",
                                  "202181", "2021080", "20210801 09", "20210801T09", "2021080109300",
                                  "202108010930001", "20211301", "20210230 0930", "2021", "2021-08"])
def test_compact_values_of_no_exact_shape_are_refused(text):
    """A digit too few or too many was guessed (``2021111`` → Nov 1, ``20210801093`` → 00:09:03)."""
    for values in ([text], [text, "2021-08-01 09:30"]):  # alone (the fast path) and mixed
        got, why, _ = parse(values)
        assert (got[0], why[0]) == (None, f"unparseable timestamp {text!r}")


def test_compact_dates_in_a_date_column_are_read_exactly():
    parser = TimeParser(SEOUL)
    got, why = parser.date_hour(pd.Series(["20210801", "2021111", "202181", "202108011745"]),
                                pd.Series(["9"] * 4), pd.Series(["c"] * 4))
    assert got[0] == epoch(2021, 8, 1, 9)
    assert reasons(why)[1:] == ["unparseable date '2021111'", "unparseable date '202181'",
                                "unparseable date '202108011745'"]


@pytest.mark.parametrize("text,unit,fmt,when", [
    ("1627776000", "seconds", "epoch", "2021-08-01 00:00:00"),
    ("1627776000.0", "seconds", "epoch", "2021-08-01 00:00:00"),   # a JSON float
    ("999999999", "seconds", "epoch", "2001-09-09 01:46:39"),
    ("1627776000000", "milliseconds", "epoch_ms", "2021-08-01 00:00:00"),
])
def test_unix_time_without_a_flag_is_refused_naming_the_flag(text, unit, fmt, when):
    """It was refused as 'out of range (1970–2099)', which sent people looking at their clock."""
    got, why, _ = parse([text])
    assert (got, why) == ([None], [f"timestamp {text!r} is no date: it looks like Unix epoch {unit} "
                                   f"({when} UTC); read the column with --time-format {fmt}"])


def test_seconds_under_epoch_ms_and_milliseconds_under_epoch_are_refused():
    got, why, _ = parse(["1627776000", "1627776123", "99999999999", "100000000000", "1627776000000"],
                        time_format="epoch_ms")
    assert got == [None, None, None, 100_000_000, 1627776000]
    assert why[:3] == [f"timestamp {v!r} is before 1973 as Unix milliseconds: it looks like Unix "
                       "seconds; read the column with --time-format epoch"
                       for v in ("1627776000", "1627776123", "99999999999")]
    got, why, _ = parse(["1627776000000", "4102444799"], time_format="epoch")
    assert got == [None, 4102444799]
    assert why[0] == ("timestamp '1627776000000' is after 2099 as Unix seconds: it looks like Unix "
                      "milliseconds; read the column with --time-format epoch_ms")


@pytest.mark.parametrize("values", [["2021-08-01 09:30", "2021-08-01 10:00"],     # the fast path
                                    ["2021/08/01 09:30", "2021-08-01 10:00"],     # the long path
                                    ["20210801 0930", "2021-08-01T10:00:00"]])
def test_a_utc_column_reads_naive_values_as_utc(values):
    parser = TimeParser(SEOUL)
    got, why = parser.to_epoch(pd.Series(values), pd.Series(["c", "c"]), utc=True)
    assert reasons(why) == [None, None]
    assert list(got) == [epoch(2021, 8, 1, 9, 30, tz=timezone.utc), epoch(2021, 8, 1, 10, tz=timezone.utc)]
    zoned, _ = parser.to_epoch(pd.Series(["2021-08-01 09:30+09:00"]), pd.Series(["c"]), utc=True)
    assert zoned[0] == epoch(2021, 8, 1, 9, 30)  # an offset in the text still wins
    hours, _ = parser.date_hour(pd.Series(["2021-08-01"]), pd.Series(["9"]), pd.Series(["c"]), utc=True)
    assert hours[0] == epoch(2021, 8, 1, 9, tz=timezone.utc)


def test_a_date_holding_a_time_is_not_added_to_the_hour_or_time_column():
    """dateutil read `2021-08-01 10:00` in a date column, and the hour column was added on
    (hour 1 → 11:00); a date and a time column giving two clocks kept the last one."""
    parser = TimeParser(SEOUL)
    dates = pd.Series(["2021-08-01 10:00", "1 August 2021 10:00", "2021-08-01 00:00:00", "2021-08-01 25:00"])
    got, why = parser.date_hour(dates, pd.Series(["1"] * 4), pd.Series(["c"] * 4))
    assert reasons(why) == ["date '2021-08-01 10:00' has a time of day; the hour column gives the hour",
                            "date '1 August 2021 10:00' has a time of day; the hour column gives the hour",
                            None, "timestamp '2021-08-01 25:00': hour 25 is not 0–23"]
    assert got[2] == epoch(2021, 8, 1, 1)
    got, why, _ = parse(["2021-08-01 00:00:00 09:30", "2021-08-01 10:00 09:30", "01-Jan-2012 0:00 09:30"])
    assert got[0] == epoch(2021, 8, 1, 9, 30) and got[2] == epoch(2012, 1, 1, 9, 30)
    assert why[1] == "timestamp '2021-08-01 10:00 09:30' has two times of day (10:00, 09:30)"


@pytest.mark.parametrize("fmt,text,expected", [
    ("%Y%m%d%H%M", "202108011745", epoch(2021, 8, 1, 17, 45)),
    ("%Y%m%d%H%M", "20210801930", None), ("%Y%m%d%H%M", "202181930", None),
    ("%Y%m%d", "2021111", None), ("%Y%m%d", "202181", None), ("%Y%m%d", "20211101", epoch(2021, 11, 1)),
    ("%Y%m%d %H:%M", "20210801 9:30", epoch(2021, 8, 1, 9, 30)),  # a separated field may be short
    ("%d.%m.%Y %H:%M", "1.8.2021 9:30", epoch(2021, 8, 1, 9, 30)),
    ("%Y%m%d%H%M%z", "20210801175+0900", None),
])
def test_an_explicit_format_with_fields_run_together_needs_all_their_digits(fmt, text, expected):
    """strptime's fields take one digit: `--time-format %Y%m%d` read `2021111` as November 1."""
    got, why, _ = parse([text], time_format=fmt)
    if expected is None:
        assert (got, why) == ([None], [f"timestamp {text!r} does not fill --time-format {fmt!r}: "
                                       "fields written together need all their digits"])
    else:
        assert (got, why) == ([expected], [None])


@pytest.mark.parametrize("fmt,text,second,good", [
    ("%d.%m.%Y %H:%M:%S", "01.08.2021 09:00:60", 60, "01.08.2021 09:00:59"),
    ("%d.%m.%Y %H:%M:%S", "01.08.2021 09:00:61", 61, "01.08.2021 09:00:59"),
    ("%Y%m%d%H%M%S", "20210801090060", 60, "20210801090059"),
    ("%Y-%m-%d %H:%M:%S%z", "2021-08-01 09:00:60+0900", 60, "2021-08-01 09:00:59+0900")])
def test_an_explicit_format_refuses_second_60_not_the_next_minute(fmt, text, second, good):
    """strptime's %S takes 60 and 61 (leap seconds): they were stored as 09:01:00 and 09:01:01."""
    got, why, _ = parse([text, good], time_format=fmt)
    assert got == [None, epoch(2021, 8, 1, 9, 0, 59)]
    assert why == [f"timestamp {text!r}: second {second} is not 0–59", None]
