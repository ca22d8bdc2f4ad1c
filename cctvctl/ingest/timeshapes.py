"""Timestamp text in the shapes read without ``--time-format`` → naive datetimes (and the offset
where the text names its zone).

The common shapes are one regular expression: a date (year first, or year last in the file's
order, see :mod:`cctvctl.ingest.dateorder`), then optionally a time with a 12-hour marker,
seconds, a fraction and a zone (:mod:`cctvctl.ingest.zonenames`). 12-hour clocks are recognised
in English (``1:05 PM``, ``1:05:00 p.m.``) and Korean (``오후 1:05:00``, ``오전``), before or
after the time: 12 AM is 00:00, 12 PM is noon, an hour outside 1–12 with a marker is refused.
A clock time is read only when it exists: an hour above 23 or a minute or second above 59 is
refused in every shape, naming the field (``09:60`` is not 10:00, ``25:00`` not the next day's
01:00 — rolling over made a bad row collide with a real one); ``24:00`` too.

Compact values (a value beginning with five digits) are read only in their exact shapes:
``YYYYMMDD``, ``YYYYMMDDHHMM``, ``YYYYMMDDHHMMSS``, the time optionally after ``T`` or a space,
or ``YYYYMMDD`` and a clock time with colons. Any other count of digits is refused, never
guessed by a parser whose fields take one digit (``202108011745`` was 17:04:05, ``2021111``
Nov 1); a bare number of 9–10 or 13 digits that does not begin with a date is refused as
what it looks like, Unix seconds or milliseconds, naming ``--time-format``.

Other ISO shapes, a few named formats and finally dateutil read the rest — never a numeric
year-last date, which only the file's order may read. Kept apart from the DST rules: this
module says what wall time a text means, not which instant that wall time is.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Callable
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from cctvctl.ingest.timeformat import clock_reason, fraction_reason
from cctvctl.ingest.zonenames import abbreviation_offset, zone_offsets

#: (a, b, text, lines, refused) of year-last dates → (month, day) in the file's order
OrderFn = Callable[..., tuple[pd.Series, pd.Series]]

#: shapes the regular expression below does not cover (tried in order, then dateutil)
_DATETIME_FORMATS = ("%d-%b-%Y %H:%M:%S", "%d-%b-%Y %H:%M")
_DATE_FORMATS = ("%d-%b-%Y", "%d-%B-%Y")
_DEFAULT_A = datetime(2001, 1, 1)
_DEFAULT_B = datetime(2002, 2, 2)
_ISO = r"^\d{4}-\d{1,2}-\d{1,2}"
#: a numeric date with the year last: only the per-file order may read it, never dateutil
_YEAR_LAST = re.compile(r"^\s*\d{1,2}\s*[-/.]\s*\d{1,2}\s*[-/.]\s*\d")
_MARK = r"AM|PM|A\.M\.|P\.M\.|오전|오후"
#: date (year first, or year last in the file's order), then optionally a time with a
#: 12-hour marker before or after it, seconds, a fraction and a zone
_GENERAL = (
    r"^(?:(?P<Y>[0-9]{4})\s*(?P<s1>[-/.])\s*(?P<M>[0-9]{1,2})\s*(?P=s1)\s*(?P<D>[0-9]{1,2})\.?"
    r"|(?P<a>[0-9]{1,2})(?P<s2>[-/.])(?P<b>[0-9]{1,2})(?P=s2)(?P<y>[0-9]{4}|[0-9]{2}))"
    r"(?:(?:T|\s+)(?:(?P<m1>" + _MARK + r")\s*)?"
    r"(?P<h>[0-9]{1,2}):(?P<mi>[0-9]{2})(?::(?P<sec>[0-9]{2})(?:[.,](?P<frac>[0-9]{1,9}))?)?"
    r"(?:\s*(?P<m2>" + _MARK + r"))?"
    r"(?:\s*(?P<zone>Z|[+-][0-9]{2}(?::?[0-9]{2})?|[A-Z]{2,5}))?)?$")
_GENERAL_RX = re.compile(_GENERAL, re.IGNORECASE)
_GROUPS = list(_GENERAL_RX.groupindex)
_NO_MATCH = (None,) * _GENERAL_RX.groups
#: the largest value of each clock field (24:00 is refused too: write 00:00 of the next day)
_CLOCK = (("h", "hour", 23), ("mi", "minute", 59), ("sec", "second", 59))
#: a clock time anywhere in a value the regular shapes did not read
_ANY_CLOCK = re.compile(r"(?<![\d:])(?P<h>\d{1,2}):(?P<mi>\d{2})(?::(?P<sec>\d{2}))?(?![\d:])")

#: a value beginning with five digits is compact: read only in the exact shapes below
_COMPACT_LIKE = r"\d{5}"
#: YYYYMMDD, then optionally HHMM or HHMMSS (after T, spaces or nothing)
_COMPACT = re.compile(r"(\d{4})(\d{2})(\d{2})(?:(?:T|\s+)?(\d{2})(\d{2})(\d{2})?)?")
#: YYYYMMDD, then a clock time with colons (the rest is read as in the regular shapes)
_COMPACT_CLOCK = re.compile(r"(\d{4})(\d{2})(\d{2})((?:T|\s+)\d{1,2}:.*)", re.DOTALL)
#: bare numbers that look like Unix time: (pattern, unit, --time-format, per second)
_EPOCH_LIKE = ((re.compile(r"\d{9,10}(?:\.\d*)?"), "seconds", "epoch", 1),
               (re.compile(r"\d{13}(?:\.\d*)?"), "milliseconds", "epoch_ms", 1000))


def parse_naive(s: pd.Series, reasons: pd.Series, lines: pd.Series | None, *, tz: ZoneInfo,
                order: OrderFn) -> tuple[pd.Series, pd.Series]:
    """→ (naive datetimes, offset seconds where the value names its zone, else NaN)."""
    canon, compact = _compact(s, reasons)
    naive, offset, matched = _general(canon, reasons, lines, tz=tz, order=order, date_only=False,
                                      shown=s)
    rest = s[~matched & ~compact & reasons[s.index].isna()]
    if rest.empty:
        return naive, offset
    rest = rest[_clock_in_range(rest, reasons)]
    iso = rest.str.match(_ISO)
    if iso.any():
        naive[rest.index[iso]] = _iso_naive(rest[iso])
    return _other_formats(rest[naive[rest.index].isna()], naive, _DATETIME_FORMATS), offset


def parse_dates(s: pd.Series, reasons: pd.Series, lines: pd.Series | None, *, tz: ZoneInfo,
                order: OrderFn) -> pd.Series:
    """Dates without a time → naive midnights."""
    canon, compact = _compact(s, reasons)
    naive, _, matched = _general(canon, reasons, lines, tz=tz, order=order, date_only=True,
                                 shown=s)
    rest = s[~matched & ~compact & reasons[s.index].isna()]
    return _other_formats(rest[_clock_in_range(rest, reasons)], naive, _DATE_FORMATS)


def _compact(s: pd.Series, reasons: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Compact values rewritten in the regular shapes (``202108011745`` → ``2021-08-01 17:45``),
    and which values are compact. A compact value no exact shape reads becomes "" (it stays
    unparseable); one that looks like Unix time gets that reason here."""
    compact = s.str.match(_COMPACT_LIKE)
    if not compact.any():
        return s, compact
    canon = s.copy()
    for label, value in s[compact].items():
        if m := _COMPACT.fullmatch(value):
            y, mo, d, h, mi, sec = m.groups()
            canon[label] = f"{y}-{mo}-{d}" + (f" {h}:{mi}" if h else "") + (f":{sec}" if sec else "")
        elif m := _COMPACT_CLOCK.fullmatch(value):
            canon[label] = f"{m[1]}-{m[2]}-{m[3]}{m[4]}"
        else:
            canon[label] = ""
            if _dated(value):
                continue  # a compact date with a digit too many or too few: unparseable
            for pattern, unit, fmt, scale in _EPOCH_LIKE:
                if pattern.fullmatch(value):
                    when = pd.Timestamp(int(float(value)) // scale, unit="s")
                    reasons[label] = (f"timestamp {value!r} is no date: it looks like Unix "
                                      f"epoch {unit} ({when} UTC); read the column with "
                                      f"--time-format {fmt}")
    return canon, compact


def _dated(value: str) -> bool:
    """Whether a value begins with a compact date of 1970–2099 (``20210801…``)."""
    try:
        return 1970 <= datetime.strptime(value[:8], "%Y%m%d").year < 2100 and value[:8].isdigit()
    except ValueError:
        return False


def _clock_in_range(rest: pd.Series, reasons: pd.Series) -> pd.Series:
    """True for values whose clock time (if any) exists; the others get their reason. For the
    shapes the regular expression does not read (month names, dateutil's)."""
    ok = pd.Series(True, index=rest.index)
    for label, value in rest.items():
        clocks = list(_ANY_CLOCK.finditer(value))
        for m in clocks:
            for col, name, top in _CLOCK:
                if ok[label] and m[col] is not None and int(m[col]) > top:
                    reasons[label] = clock_reason(value, name, int(m[col]), top)
                    ok[label] = False
        if ok[label] and any(int(m["h"]) or int(m["mi"]) or int(m["sec"] or 0) for m in clocks[:-1]):
            # dateutil keeps the last one: "2021-08-01 10:00 09:30" (a date column holding a
            # time, then the time column) was 09:30; a midnight before the time is a date's
            reasons[label] = (f"timestamp {value!r} has two times of day "
                              f"({', '.join(m[0] for m in clocks)})")
            ok[label] = False
    return ok


def _general(s: pd.Series, reasons: pd.Series, lines: pd.Series | None, *, tz: ZoneInfo,
             order: OrderFn, date_only: bool,
             shown: pd.Series | None = None) -> tuple[pd.Series, pd.Series, pd.Series]:
    """The common shapes in one regular expression: (naive, offset, matched).

    Rows it matched but refuses get their reason here (their naive value stays NaT); the
    reasons quote ``shown`` (the text as written, where ``s`` is a rewritten compact value).
    """
    naive = pd.Series(pd.NaT, index=s.index, dtype="datetime64[us]")
    offset = pd.Series(np.nan, index=s.index, dtype="float64")
    if s.empty:
        return naive, offset, pd.Series(False, index=s.index)
    match = _GENERAL_RX.match  # a plain loop: twice as fast as Series.str.extract
    ex = pd.DataFrame([m.groups() if (m := match(v)) else _NO_MATCH for v in s.tolist()],
                      index=s.index, columns=_GROUPS)
    matched = ex["Y"].notna() | ex["a"].notna()
    if date_only:
        matched &= ex["h"].isna()
    if not matched.any():
        return naive, offset, matched
    e = ex[matched]
    text = (s if shown is None else shown)[matched]
    refused = pd.Series(None, index=e.index, dtype=object)

    def refuse(mask: pd.Series, message) -> None:
        target = mask & refused.isna()
        if target.any():
            refused[target] = [message(v) for v in text[target]]

    def num(col: str) -> pd.Series:  # digits only (the expression says so), or None
        return e[col].astype("float64")

    year, month, day = num("Y"), num("M"), num("D")
    year_last = e["a"].notna()
    if year_last.any():
        y = num("y")[year_last]
        short = e["y"][year_last].str.len() == 2
        year[year_last] = y + np.where(short, np.where(y < 69, 2000, 1900), 0)
        m, d = order(num("a")[year_last], num("b")[year_last], text[year_last], lines, refused)
        month[year_last], day[year_last] = m, d
    hour, minute, second = num("h").fillna(0), num("mi").fillna(0), num("sec").fillna(0)

    mark = e["m1"].fillna(e["m2"])
    for col, name, top in _CLOCK:  # to_datetime would roll 09:60 over to 10:00
        value = num(col)
        over = (value > top) & (mark.isna() if col == "h" else True)  # a marker: 1–12, below
        target = over & refused.isna()
        if target.any():
            refused[target] = [clock_reason(v, name, int(x), top)
                               for v, x in zip(text[target], value[target])]
    if mark.notna().any():
        refuse(e["m1"].notna() & e["m2"].notna(), lambda v: f"timestamp {v!r} has two AM/PM markers")
        twelve = mark.notna()
        refuse(twelve & ((hour < 1) | (hour > 12)),
               lambda v: f"timestamp {v!r} has an AM/PM marker but its hour is not 1–12")
        pm = mark[twelve].str.upper().isin(["PM", "P.M.", "오후"])
        hour[twelve] = hour[twelve] % 12 + np.where(pm, 12, 0)
    frac = e["frac"]
    refuse(frac.notna() & (frac.fillna("").str.rstrip("0") != ""), fraction_reason)
    zone = e["zone"]
    pending = pd.Series(False, index=e.index)
    if zone.notna().any():
        pending = zone_offsets(tz, zone, offset, refuse)

    parts = pd.DataFrame({"year": year, "month": month, "day": day, "hour": hour,
                          "minute": minute, "second": second})
    ok = refused.isna()
    if ok.any():
        naive[e.index[ok]] = pd.to_datetime(parts[ok], errors="coerce").astype("datetime64[us]")
    if pending.any():  # an abbreviation that meant more than one offset in this zone's history
        for label in pending.index[pending & ok]:
            if pd.isna(naive[label]):
                continue  # no such date: "unparseable" says so
            found = abbreviation_offset(tz, zone[label].upper(), naive[label])
            if found is None:
                naive[label] = pd.NaT
                refused[label] = (f"timestamp {text[label]!r}: {zone[label].upper()} does "
                                  f"not name one offset of {tz.key} at that time")
            else:
                offset[label] = found
    reasons[refused.index[refused.notna()]] = refused[refused.notna()]
    return naive, offset, matched


def _other_formats(rest: pd.Series, out: pd.Series, formats) -> pd.Series:
    """Fill ``out`` for the values ISO parsing left: known formats first, then dateutil."""
    for fmt in formats:
        if rest.empty:
            break
        parsed = pd.to_datetime(rest, format=fmt, errors="coerce")
        ok = parsed.notna()
        if ok.any():
            out[rest.index[ok]] = parsed[ok].astype("datetime64[us]")
            rest = rest[~ok]
    if not rest.empty:
        out[rest.index] = [_dateutil(v) for v in rest]
    return out


def _dateutil(value: str):
    from dateutil import parser

    if _YEAR_LAST.match(value):
        return pd.NaT  # a numeric date in the regular shapes' order only, never guessed
    try:  # two defaults: a date part the text lacks would come out different
        dt = parser.parse(value, default=_DEFAULT_A, tzinfos=_no_zone)
        if parser.parse(value, default=_DEFAULT_B, tzinfos=_no_zone).date() != dt.date():
            return pd.NaT  # "12", "10:00" or "Monday" are not timestamps
    except (ValueError, OverflowError, TypeError, _ZoneNamed):
        return pd.NaT
    if dt.tzinfo is not None:  # zones are read only in the regular shapes
        return pd.NaT
    if not 1 < dt.year < 9999:
        return pd.NaT
    return pd.Timestamp(dt)


class _ZoneNamed(Exception):
    """dateutil met a zone name: refused (zones are read only in the regular shapes)."""


def _no_zone(name, offset):
    if name or offset is not None:
        raise _ZoneNamed(name)
    return None


def _iso_naive(values: pd.Series) -> pd.Series:
    """ISO shapes the regular expression does not cover; zoned ones are left NaT."""
    nat = pd.Series(pd.NaT, index=values.index, dtype="datetime64[us]")
    try:
        parsed = pd.to_datetime(values, format="ISO8601", errors="coerce")
    except (ValueError, TypeError, OverflowError):
        return nat
    if isinstance(parsed.dtype, pd.DatetimeTZDtype) or parsed.dtype == object:
        return nat
    return parsed.astype("datetime64[us]")
