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
