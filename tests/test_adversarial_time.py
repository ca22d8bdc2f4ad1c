"""Standing adversarial suite, timestamps (issue 12): whatever a file writes, read right or refused.

Hypothesis draws instants and local wall times in zones with DST, half-hour offsets and skipped
days, and writes them the ways files do: ISO, 12-hour clocks (English and Korean), year-last
dates, numeric offsets, UTC/Z/GMT, zone abbreviations (the zone's own and foreign ones),
fractions of a second. The truth comes from ``datetime``/``zoneinfo``, never from cctvctl's
parser: every value must come out as exactly that instant or be refused with a reason — never a
traceback, never a different instant.
"""

from __future__ import annotations

import math
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from cctvctl.errors import CountFileError
from cctvctl.ingest.dateorder import DateOrderChanged
from cctvctl.ingest.timeparse import TimeParser

ZONES = ["Asia/Seoul", "America/New_York", "America/Los_Angeles", "Europe/Berlin", "Europe/London",
         "Australia/Melbourne", "Australia/Lord_Howe", "Asia/Kolkata", "America/Santiago",
         "Pacific/Apia", "Pacific/Kwajalein", "Pacific/Fakaofo", "UTC"]
#: zones that skipped a whole calendar day, and the day
SKIPPED = {"Pacific/Apia": datetime(2011, 12, 30), "Pacific/Kwajalein": datetime(1993, 8, 21),
           "Pacific/Fakaofo": datetime(2011, 12, 30)}
FOREIGN = ["PST", "CST", "IST", "EST", "CET", "AEST", "BST", "HST", "MSK", "JST", "XYZ"]
MAX_EPOCH = 4102444800
FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def truth(wall: datetime, zone: ZoneInfo) -> float | None:
    """The instant of a naive local wall time (earliest at a fall-back), None in a gap."""
    first = wall.replace(tzinfo=zone, fold=0)
    if datetime.fromtimestamp(first.timestamp(), zone).replace(tzinfo=None) != wall:
        return None
    return first.timestamp()


def in_range(instant: float | None) -> float | None:
    return instant if instant is not None and 0 <= instant < MAX_EPOCH else None


def read(values: list[str], zone: ZoneInfo, **kw) -> list[tuple[float | None, str | None]]:
    parser = TimeParser(zone, ambiguous="earliest", **kw)
    cams = pd.Series([f"c{i}" for i in range(len(values))], dtype=object)
    got, why = parser.to_epoch(pd.Series(values, dtype=object), cams)
    out = []
    for v, r in zip(got, why):
        value = None if math.isnan(v) else float(v)
        reason = r if isinstance(r, str) else None
        assert (value is None) != (reason is None), (value, reason)  # read, or refused with why
        out.append((value, reason))
    return out


# -- how files write a time ---------------------------------------------------------------------
def twelve(t: datetime, style: str) -> str:
    h = t.hour % 12 or 12
    clock = f"{h}:{t.minute:02d}:{t.second:02d}"
    if style == "ko":
        return ("오후 " if t.hour >= 12 else "오전 ") + clock
    marks = {"en": ("AM", "PM"), "lower": ("am", "pm"), "dots": ("a.m.", "p.m.")}[style]
    return f"{clock} {marks[t.hour >= 12]}"


def offset_text(seconds: int, style: int) -> str:
    sign = "+" if seconds >= 0 else "-"
    hh, mm = divmod(abs(seconds) // 60, 60)
    if mm == 0 and style == 0:
        return f"{sign}{hh:02d}"
    return f"{sign}{hh:02d}{mm:02d}" if style == 1 else f"{sign}{hh:02d}:{mm:02d}"


walls = st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2099, 12, 31, 23, 59, 59))
zones = st.sampled_from(ZONES).map(ZoneInfo)


@st.composite
def written_local(draw):
    """A naive local time, written one of the ways files do; (text, wall) with wall whole-second."""
    wall = draw(walls).replace(microsecond=0)
    if draw(st.booleans()) and SKIPPED:  # aim at the skipped days and DST nights often
        day = draw(st.sampled_from(sorted(SKIPPED.values()) + [datetime(2021, 11, 7), datetime(2021, 3, 28),
                                                                datetime(2021, 10, 3), datetime(2021, 4, 4)]))
        wall = day + timedelta(seconds=draw(st.integers(0, 86399)))
    date = wall.strftime("%Y-%m-%d")
    shape = draw(st.sampled_from(["iso", "isoT", "en", "lower", "dots", "ko", "ko_after", "slash_ymd", "dotted_ko"]))
    if shape == "iso":
        text = wall.strftime("%Y-%m-%d %H:%M:%S")
    elif shape == "isoT":
        text = wall.strftime("%Y-%m-%dT%H:%M:%S")
    elif shape in ("en", "lower", "dots", "ko"):
        text = f"{date} {twelve(wall, shape)}"
    elif shape == "ko_after":
        text = f"{date} {twelve(wall, 'en')}".replace("AM", "오전").replace("PM", "오후")
    elif shape == "slash_ymd":
        text = wall.strftime("%Y/%m/%d %H:%M:%S")
    else:
        text = f"{wall.year}. {wall.month}. {wall.day}. {twelve(wall, 'ko')}"
    return text, wall


@given(written_local(), zones)
@FAST
def test_local_times_in_any_shape_are_the_zones_instant_or_refused(case, zone):
    text, wall = case
    [(value, reason)] = read([text], zone)
    expected = in_range(truth(wall, zone))
    if expected is None:
        assert value is None and ("does not exist" in reason or "out of range" in reason), reason
    else:
        assert value == expected, (text, zone.key, reason)


@given(walls, zones, st.integers(-14 * 4, 14 * 4), st.integers(0, 2),
       st.sampled_from(["", " "]), st.booleans())
@FAST
def test_offsets_are_honoured_exactly(wall, zone, quarters, style, sep, utc_name):
    """A row with an offset or UTC/Z/GMT is that instant, whatever the import zone and its DST."""
    wall = wall.replace(microsecond=0)
    offset = quarters * 900
    if utc_name:
        zone_text = ["Z", " UTC", " GMT"][style]
        offset = 0
    else:
        zone_text = sep + offset_text(offset, style)
    text = wall.strftime("%Y-%m-%d %H:%M:%S") + zone_text
    [(value, reason)] = read([text], zone)
    instant = in_range((wall - timedelta(seconds=offset)).replace(tzinfo=timezone.utc).timestamp())
    if instant is None:
        assert "out of range" in reason, reason
    else:
        assert value == instant, (text, zone.key, reason)


@given(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2098, 12, 31)), zones,
       st.booleans(), st.sampled_from(FOREIGN))
@FAST
def test_abbreviations_are_the_zones_own_or_refused(instant_wall, zone, own, foreign):
    """The zone's own abbreviation (as the zone itself writes it) fixes the instant, even on a
    fall-back night; any other is refused with a reason, never dropped."""
    aware = instant_wall.replace(microsecond=0, tzinfo=timezone.utc).astimezone(zone)
    name = aware.tzname() or ""
    text_wall = aware.strftime("%Y-%m-%d %H:%M:%S")
    if own:
        assume(name.isalpha())
        [(value, reason)] = read([f"{text_wall} {name}"], zone)
        assert value == aware.timestamp(), (text_wall, name, zone.key, reason)
    else:
        assume(foreign not in {n.upper() for n in _own_names(zone)} | {"UTC", "GMT"})
        [(value, reason)] = read([f"{text_wall} {foreign}"], zone)
        assert value is None and f"zone abbreviation {foreign} is not one {zone.key} uses" in reason


def _own_names(zone: ZoneInfo) -> set[str]:
    names = set()
    for year in range(1970, 2100):
        for month in (1, 4, 7, 10):
            names.add(datetime(year, month, 1, 12, tzinfo=zone).tzname() or "")
    return names


@given(walls, zones, st.integers(0, 999_999))
@FAST
def test_fractions_are_kept_only_when_zero(wall, zone, micro):
    wall = wall.replace(microsecond=0)
    digits = f"{micro:06d}"
    [(value, reason)] = read([wall.strftime("%Y-%m-%d %H:%M:%S") + "." + digits], zone)
    expected = in_range(truth(wall, zone))
    if micro:
        assert value is None and ("fraction of a second" in reason or expected is None), reason
    elif expected is not None:
        assert value == expected
    else:
        assert value is None


@given(st.lists(st.dates(min_value=datetime(1971, 1, 1).date(), max_value=datetime(2098, 12, 31).date()),
                min_size=1, max_size=12),
       st.sampled_from(["day-first", "month-first"]), st.sampled_from("/.-"),
       st.integers(2, 6), st.booleans())
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_year_last_dates_are_read_in_one_order_per_file(days, order, sep, chunk, flag):
    """Fed in chunks as the reader does, with the re-read the importer does: every date right,
    or the whole file refused because its dates do not say their order."""
    fmt = f"%d{sep}%m{sep}%Y" if order == "day-first" else f"%m{sep}%d{sep}%Y"
    texts = [d.strftime(fmt) + " 12:00" for d in days]
    zone = ZoneInfo("UTC")
    kw = {"dayfirst": order == "day-first", "monthfirst": order == "month-first"} if flag else {}
    order_fix = None
    while True:
        parser = TimeParser(zone, **kw)
        if order_fix is not None:
            parser.file_order, parser.evidence = order_fix.order, order_fix.evidence
        got = []
        try:
            for i in range(0, len(texts), chunk):
                part = pd.Series(texts[i:i + chunk], index=range(len(texts[i:i + chunk])), dtype=object)
                epoch, why = parser.to_epoch(part, None)
                got.extend(None if math.isnan(v) else v for v in epoch)
            parser.finish_file("f.csv")
        except DateOrderChanged as changed:
            assert order_fix is None
            order_fix = changed
            continue
        except CountFileError as exc:
            decisive = [d for d in days if d.day > 12 and d.month <= 12]
            assert not flag and not decisive, (texts, str(exc))
            assert any(d.day != d.month for d in days)
            assert "use --dayfirst or --monthfirst" in str(exc)
            return
        break
    assert got == [datetime(d.year, d.month, d.day, 12, tzinfo=timezone.utc).timestamp() for d in days], texts


JUNK = st.lists(st.sampled_from(list("0123456789-/.:T +Z ,APMapmKSTUCGE") + ["오전", "오후", "\u00a0", "٣", "2021-",
                                                                            "12/", "13/", "+09", "PM", "KST"]),
                max_size=14).map("".join)


ZONED = st.sampled_from(["2021-08-01 10:00+09", "2021-08-01T09:00:00+09:00", "2021-08-01 09:00 PST",
                         "2021-08-01 09:00:00.5Z", "2021-08-01 09:00 -0000", "2021-08-01 09:00 UTC+9"])


@given(st.lists(st.one_of(JUNK, ZONED, written_local().map(lambda c: c[0])), min_size=1, max_size=8), zones,
       st.sampled_from([None, "epoch", "epoch_ms", "%d.%m.%Y %H:%M", "%Y-%m-%d %H:%M%z"]))
@FAST
def test_any_text_is_read_or_refused_never_a_traceback(values, zone, time_format):
    for value, reason in read(values, zone, time_format=time_format):
        assert value is None or 0 <= value < MAX_EPOCH


@given(st.lists(written_local(), min_size=1, max_size=6), st.sampled_from(["Asia/Seoul", "Pacific/Apia", "America/New_York"]))
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_an_import_stores_exactly_the_rows_read_right(rows, tz):
    """End to end on SQLite with --on-error skip: the stored starts are exactly the instants of
    the rows that exist locally (one row per camera: no DST inference between rows)."""
    from cctvctl.db import connect
    from cctvctl.ingest import ImportOptions, import_file

    zone = ZoneInfo(tz)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "t.csv"
        path.write_text("camera,start,people\n" + "".join(f"c{i},{text},1\n" for i, (text, _) in enumerate(rows)),
                        encoding="utf-8")
        db = connect(f"sqlite:///{tmp}/t.db")
        try:
            result = import_file(db, path, ImportOptions(tz=zone, on_error="skip", detect=False,
                                                         ambiguous="earliest", rejected_path=f"{tmp}/r.csv"))
            got = dict(db.query("SELECT camera, start_utc FROM counts"))
        finally:
            db.close()
    expected = {f"c{i}": in_range(truth(wall, zone)) for i, (_, wall) in enumerate(rows)}
    expected = {k: int(v) for k, v in expected.items() if v is not None}
    assert got == expected
    assert result.rejected == len(rows) - len(expected)


# -- impossible clock times, compact digits, Unix units, UTC columns (adversarial review) --------
#: how files write a date and a clock (d: the day; c: HH:MM:SS; odd seconds are afternoons)
CLOCK_SHAPES = {"iso": "{d:%Y-%m-%d} {c}", "isoT": "{d:%Y-%m-%d}T{c}", "slash_ymd": "{d:%Y/%m/%d} {c}",
                "dayfirst": "{d:%d/%m/%Y} {c}", "compact": "{d:%Y%m%d}{h:02d}{mi:02d}{s:02d}",
                "compact_space": "{d:%Y%m%d} {h:02d}{mi:02d}", "month_name": "{d:%d-%b-%Y} {c}",
                "dateutil": "{d.day} {d:%B %Y} {h}:{mi:02d}:{s:02d}",
                "en": "{d:%Y-%m-%d} {h}:{mi:02d}:{s:02d} {en}", "ko": "{d:%Y-%m-%d} {ko} {h}:{mi:02d}:{s:02d}"}


def _clock_text(day: datetime, h: int, mi: int, s: int, shape: str) -> str:
    return CLOCK_SHAPES[shape].format(d=day, c=f"{h:02d}:{mi:02d}:{s:02d}", h=h, mi=mi, s=s,
                                      en="PM" if s % 2 else "AM", ko="오후" if s % 2 else "오전")


@given(st.dates(min_value=datetime(1971, 1, 1).date(), max_value=datetime(2098, 12, 31).date()),
       st.integers(0, 99), st.integers(0, 99), st.integers(0, 99), st.sampled_from(sorted(CLOCK_SHAPES)),
       st.sampled_from(["UTC", "Asia/Seoul", "America/New_York"]))
@FAST
def test_impossible_clock_fields_are_refused_in_every_shape_never_rolled_over(day, h, mi, s, shape, tz):
    """An hour above 23 or a minute or second above 59 was added on (09:60 → 10:00): every shape
    now reads the clock exactly or refuses the row naming the field."""
    day = datetime(day.year, day.month, day.day)
    if shape == "compact_space":
        s = 0
    text = _clock_text(day, h, mi, s, shape)
    zone = ZoneInfo(tz)
    [(value, reason)] = read([text], zone, dayfirst=shape == "dayfirst")
    twelve_hour = shape in ("en", "ko")
    bad = [(name, v, top) for name, v, top in (("hour", h, 23), ("minute", mi, 59), ("second", s, 59))
           if v > top and not (twelve_hour and name == "hour")]
    if twelve_hour and not 1 <= h <= 12:
        assert value is None and ("AM/PM marker" in reason or "is not 0–" in reason), (text, reason)
    elif bad:
        name, v, top = bad[0]
        assert value is None and f"{name} {v} is not 0–{top}" in reason, (text, reason)
    else:
        hour = (h % 12 + (12 if s % 2 else 0)) if twelve_hour else h
        expected = in_range(truth(day.replace(hour=hour, minute=mi, second=s), zone))
        if expected is None:
            assert value is None, (text, value)
        else:
            assert value == expected, (text, tz, reason)


def _compact_truth(text: str) -> datetime | None:
    """A digit string in the exact compact shapes (8, 12 or 14 digits, sliced by hand), else None."""
    if not text.isdigit() or len(text) not in (8, 12, 14):
        return None
    parts = [int(text[i:i + n]) for i, n in ((0, 4), (4, 2), (6, 2), (8, 2), (10, 2), (12, 2))
             if i < len(text)]
    try:
        return datetime(*parts)
    except ValueError:
        return None


@st.composite
def compact_digits(draw):
    """A wall time written compact (8, 12 or 14 digits), often with a digit dropped or added."""
    wall = draw(walls).replace(microsecond=0)
    text = wall.strftime(draw(st.sampled_from(["%Y%m%d", "%Y%m%d%H%M", "%Y%m%d%H%M%S"])))
    edit = draw(st.sampled_from(["none", "drop", "add"]))
    at = draw(st.integers(0, len(text) - 1))
    if edit == "drop":
        text = text[:at] + text[at + 1:]
    elif edit == "add":
        text = text[:at] + draw(st.sampled_from("0123456789")) + text[at:]
    return text


@given(st.one_of(compact_digits(), st.text("0123456789", min_size=5, max_size=16)), zones)
@FAST
def test_compact_digits_are_read_in_their_exact_shape_or_refused(text, zone):
    """`202108011745` was 17:04:05 and `2021111` November 1: fields taking one digit guessed."""
    for values in ([text], [text, "2021-08-01 09:30"]):  # the fast path and the long way
        (value, reason), *_ = read(values, zone)
        wall = _compact_truth(text)
        expected = in_range(truth(wall, zone)) if wall is not None else None
        if expected is not None:
            assert value == expected, (text, zone.key, reason)
        else:
            assert value is None, (text, zone.key, value)
            if wall is None:
                assert reason.startswith(f"unparseable timestamp {text!r}") or "looks like Unix" in reason or \
                    "is not 0–" in reason, reason


@given(compact_digits(), st.sampled_from(["%Y%m%d", "%Y%m%d%H%M", "%Y%m%d%H%M%S"]))
@FAST
def test_an_explicit_compact_format_reads_all_digits_or_refuses(text, fmt):
    """``--time-format %Y%m%d``: strptime's one-digit fields guessed a dropped digit."""
    [(value, reason)] = read([text], ZoneInfo("UTC"), time_format=fmt)
    wall = _compact_truth(text) if len(text) == {"%Y%m%d": 8, "%Y%m%d%H%M": 12}.get(fmt, 14) else None
    if wall is not None and 0 <= wall.replace(tzinfo=timezone.utc).timestamp() < MAX_EPOCH:
        assert value == wall.replace(tzinfo=timezone.utc).timestamp(), (text, fmt, reason)
    else:
        assert value is None, (text, fmt, value)


@given(st.dates(min_value=datetime(1971, 1, 1).date(), max_value=datetime(2098, 12, 31).date()),
       st.integers(0, 23) | st.sampled_from([24, 25, 29]), st.integers(0, 59) | st.sampled_from([60, 61, 99]),
       st.integers(0, 59) | st.sampled_from([60, 61, 99]),
       st.sampled_from(["%Y-%m-%d %H:%M:%S", "%d.%m.%Y %H:%M:%S", "%Y%m%d%H%M%S", "%Y-%m-%d %H:%M:%S%z"]))
@FAST
def test_an_explicit_format_reads_the_clock_exactly_or_refuses(day, h, mi, s, fmt):
    """strptime refuses hour 24+ and minute 60+, but takes second 60 and 61 as the next minute."""
    wall = datetime(day.year, day.month, day.day)
    text = fmt.replace("%z", "+0000").replace("%Y", f"{wall.year:04d}").replace("%m", f"{wall.month:02d}") \
        .replace("%d", f"{wall.day:02d}").replace("%H", f"{h:02d}").replace("%M", f"{mi:02d}").replace("%S", f"{s:02d}")
    [(value, reason)] = read([text], ZoneInfo("UTC"), time_format=fmt)
    if h <= 23 and mi <= 59 and s <= 59:
        assert value == wall.replace(hour=h, minute=mi, second=s, tzinfo=timezone.utc).timestamp(), (text, reason)
    else:
        assert value is None, (text, fmt, value)


@given(st.integers(0, 10**11 - 1), st.integers(100_000_000, 4_102_444_799))
@FAST
def test_epoch_ms_never_stores_seconds_in_1970(seconds_like, instant):
    [(value, reason)] = read([str(seconds_like)], ZoneInfo("UTC"), time_format="epoch_ms")
    assert value is None and "read the column with --time-format epoch" in reason
    [(value, reason)] = read([str(instant * 1000)], ZoneInfo("UTC"), time_format="epoch_ms")
    assert value == instant, reason
    [(value, reason)] = read([str(instant * 1000)], ZoneInfo("UTC"), time_format="epoch")
    assert value is None and "--time-format epoch_ms" in reason


@given(st.lists(written_local(), min_size=1, max_size=4), zones)
@FAST
def test_a_utc_column_is_its_wall_time_in_utc_whatever_the_zone(cases, zone):
    """A header saying UTC (`start_utc`): naive values are UTC, not local time in ``--tz``."""
    parser = TimeParser(zone)
    got, why = parser.to_epoch(pd.Series([t for t, _ in cases], dtype=object),
                               pd.Series(["c"] * len(cases), dtype=object), utc=True)
    for (text, wall), value, reason in zip(cases, got, why):
        expected = in_range(wall.replace(tzinfo=timezone.utc).timestamp())
        if expected is None:
            assert math.isnan(value) and "out of range" in reason
        else:
            assert value == expected, (text, reason)
    assert parser.tally.touched() == 0  # UTC has no DST rule to apply
