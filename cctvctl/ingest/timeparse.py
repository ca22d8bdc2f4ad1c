"""Timestamps of count files → UTC epoch seconds, vectorised, with an explicit DST policy.

Naive timestamps are local time in the import's zone. A timestamp may name its own zone, and
the row is then read at that offset: a numeric offset (``+09``, ``+0900``, ``+09:00``),
``Z``/``UTC``/``GMT`` (offset 0), or an abbreviation the import's zone uses (``KST`` in
Asia/Seoul, ``PST``/``PDT`` in America/Los_Angeles). Any other abbreviation is refused with a
reason — ``CST`` or ``IST`` name several zones, and dropping one moved rows by hours.

Numeric dates with the year last (``01/02/2021``, ``01.02.2021``) are read in ONE order per
file, never per row: a date with a first number above 12 proves the file day-first, one with a
second number above 12 proves it month-first. The file's order is the one its rows prove (the
majority, where rows disagree); rows proving the other order are refused, and a file whose
dates never say (every day ≤ 12) is refused whole — ``--dayfirst``/``--monthfirst`` settle
both. Files are read in chunks, so the order is decided as rows arrive; when a later chunk
proves an order other than the one an earlier chunk assumed, :meth:`TimeParser.finish_file`
raises :class:`DateOrderChanged` and the importer reads the file again with the order fixed.
ISO dates and an explicit ``--time-format`` never take part.

12-hour clocks are recognised in English (``1:05 PM``, ``1:05:00 p.m.``) and Korean
(``오후 1:05:00``, ``오전``), before or after the time: 12 AM is 00:00, 12 PM is noon, an hour
outside 1–12 with a marker is refused. A fraction of a second is kept when it is zero
(``09:30:00.000``) and otherwise refused: rows are stored at whole seconds, and silently
flooring ``09:29:59.999`` would move it to another interval.

Local times that do not exist (the spring-forward gap) or occur twice (the fall-back hour)
follow the chosen policy, and every row a rule touched is counted:

* ``--nonexistent reject`` (default): the row is rejected with a reason. A real file's
  02:00 on a spring-forward day is an anomaly worth a look (in the Melbourne file it duplicates
  the 03:00 row), so guessing would only move the problem. ``shift-forward`` reads it with the
  offset before the change (02:30 → 03:30), ``shift-backward`` with the offset after (→ 01:30).
* ``--ambiguous infer`` (default): per camera, the first occurrence of a repeated local time is
  the earlier instant (still summer time) and a second occurrence the later one — which is what
  a detector writing local time produces. The hour may be split across two imports: where a
  camera's rows in this file *begin* inside the repeated hour and the database already holds
  that camera's earlier instant (from an earlier import) but not the later one, the file
  continues the stored first pass, so its rows of the hour are the later instants.
  ``earliest``, ``latest`` and ``reject`` are explicit.

An end column is read relative to its row's start: an ambiguous end is the first instant after
the start with that wall time (so ``01:55 → 02:00`` is five minutes on a fall-back night, under
every policy), and an end in a gap follows ``--nonexistent``. The counters count rows: a row is
counted by its start, and by its end only when the end alone made it rejected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Callable
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from cctvctl.errors import CountFileError

NONEXISTENT = ("reject", "shift-forward", "shift-backward")
AMBIGUOUS = ("infer", "earliest", "latest", "reject")
#: ``--time-format`` values that are not strptime formats: Unix seconds / milliseconds
EPOCH_FORMATS = {"epoch": 1, "epoch_ms": 1000}
MIN_EPOCH = 0  # 1970-01-01
MAX_EPOCH = 4102444800  # 2100-01-01
DAYFIRST, MONTHFIRST = "day-first", "month-first"
_FLAG = {DAYFIRST: "--dayfirst", MONTHFIRST: "--monthfirst"}

#: shapes the regular expression below does not cover (tried in order, then dateutil)
_DATETIME_FORMATS = ("%d-%b-%Y %H:%M:%S", "%d-%b-%Y %H:%M", "%Y%m%d%H%M%S", "%Y%m%d %H%M")
_DATE_FORMATS = ("%d-%b-%Y", "%Y%m%d", "%d-%B-%Y")
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
_UTC_NAMES = {"Z", "UTC", "GMT", "UT"}
MAX_OFFSET = 14 * 3600  # the largest offset in use (Pacific/Kiritimati)


#: local times safely inside [MIN_EPOCH, MAX_EPOCH) whatever the zone's offset
_SAFE_FIRST = pd.Timestamp("1970-01-02")
_SAFE_LAST = pd.Timestamp("2099-12-31")


class DateOrderChanged(Exception):
    """A later chunk proved a date order other than the one earlier chunks were read with:
    read the file again with ``order`` fixed (the evidence travels along for the messages)."""

    def __init__(self, order: str, evidence: "OrderEvidence"):
        super().__init__(order)
        self.order = order
        self.evidence = evidence


@dataclass
class OrderEvidence:
    """What a file's year-last dates said about their order, with the first row of each kind."""

    proofs: dict = field(default_factory=lambda: {DAYFIRST: 0, MONTHFIRST: 0})
    ambiguous: int = 0
    examples: dict = field(default_factory=dict)  # kind → (line or None, text)

    def order(self) -> str | None:
        d, m = self.proofs[DAYFIRST], self.proofs[MONTHFIRST]
        return DAYFIRST if d > m else MONTHFIRST if m > d else None

    def where(self, kind: str) -> str:
        line, text = self.examples[kind]
        return f"line {line}: {text!r}" if line is not None else repr(text)


@dataclass
class DstTally:
    """How many rows each DST rule touched, for the import summary."""

    nonexistent_rejected: int = 0
    nonexistent_shifted: int = 0
    ambiguous_earliest: int = 0
    ambiguous_latest: int = 0
    ambiguous_rejected: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)

    def touched(self) -> int:
        return sum(self.__dict__.values())


@dataclass
class TimeParser:
    tz: ZoneInfo
    nonexistent: str = "reject"
    ambiguous: str = "infer"
    dayfirst: bool = False
    time_format: str | None = None
    monthfirst: bool = False
    #: the order a previous reading of this file proved (see DateOrderChanged)
    file_order: str | None = None
    evidence: OrderEvidence = field(default_factory=OrderEvidence)
    tally: DstTally = field(default_factory=DstTally)
    #: ambiguous (camera, local time) seen so far in this import, for the ``infer`` rule
    _seen_ambiguous: dict = field(default_factory=dict)
    #: (camera, earlier instant, later instant) → whether the store holds the first pass only:
    #: lets ``infer`` continue a fall-back hour an earlier import began (None: no database)
    stored_first_pass: Callable[[str, int, int], bool] | None = None
    #: cameras with a row earlier in this file; cameras continuing a stored first pass
    _cameras_seen: set = field(default_factory=set)
    _continuing: set = field(default_factory=set)
    #: orders this reading applied to rows whose order mattered
    _applied: set = field(default_factory=set)

    # -- public -----------------------------------------------------------------------------
    def to_epoch(self, text: pd.Series, cameras: pd.Series | None,
                 after: pd.Series | None = None,
                 lines: np.ndarray | None = None) -> tuple[pd.Series, pd.Series]:
        """Strings → (epoch seconds as float with NaN where bad, reason per bad row).

        ``after`` (the rows' start epochs) marks an end column: DST cases are then resolved
        relative to the start instead of by the ambiguity policy (see the module docstring).
        ``lines`` (the file line of each value) lets date-order messages cite an example.
        """
        if not self.time_format:
            quick = self._all_plain_iso(text, cameras, after)
            if quick is not None:
                return quick
        reasons = pd.Series(None, index=text.index, dtype=object)
        s = text.fillna("").astype(str).str.strip()
        empty = s == ""
        reasons[empty] = "missing timestamp"
        epoch = pd.Series(np.nan, index=text.index, dtype="float64")
        todo = s[~empty]
        if todo.empty:
            return epoch, reasons
        offset = pd.Series(np.nan, index=todo.index, dtype="float64")
        if self.time_format in EPOCH_FORMATS:
            self._unix(todo, epoch, reasons)
            naive = pd.Series(dtype="datetime64[us]")
        elif self.time_format:
            naive = self._explicit(todo, epoch, reasons)
        else:
            naive, offset = self._parse_naive(todo, reasons, _lines_of(lines, text.index))
        if len(naive):
            bad = naive.isna() & reasons[naive.index].isna()
            reasons[naive.index[bad]] = ["unparseable timestamp " + repr(v) for v in todo[naive.index[bad]]]
            good = naive[naive.notna()]
            good = good[_whole_seconds(good, todo, reasons)]
            zoned = offset[good.index].notna()
            if zoned.any():  # the row names its offset: no local reading, no DST rule
                at = good[zoned]
                epoch[at.index] = _epoch(at) - offset[at.index]
            good = good[~zoned]
            if len(good):
                self._localize(good, cameras, epoch, reasons, after)
        out_of_range = epoch.notna() & ((epoch < MIN_EPOCH) | (epoch >= MAX_EPOCH))
        if out_of_range.any():
            reasons[out_of_range] = ["timestamp " + repr(v) + " is out of range (1970–2099)"
                                     for v in s[out_of_range]]
            epoch[out_of_range] = np.nan
        return epoch, reasons

    def _all_plain_iso(self, text: pd.Series, cameras, after) -> tuple[pd.Series, pd.Series] | None:
        """The usual case in one C call: every value naive ISO 8601 to the whole second.
        None sends it the long way."""
        try:
            parsed = pd.to_datetime(text, format="ISO8601", errors="coerce")
        except (ValueError, TypeError, OverflowError):
            return None
        if isinstance(parsed.dtype, pd.DatetimeTZDtype) or not parsed.notna().all():
            return None
        if parsed.min() < _SAFE_FIRST or parsed.max() >= _SAFE_LAST:
            return None  # near or out of range: the long way words the reasons
        parsed = parsed.astype("datetime64[us]")
        if (parsed.to_numpy().view("int64") % 1_000_000).any():
            return None  # a fraction of a second: the long way refuses those rows
        reasons = pd.Series(None, index=text.index, dtype=object)
        epoch = pd.Series(np.nan, index=text.index, dtype="float64")
        self._localize(parsed, cameras, epoch, reasons, after)
        return epoch, reasons

    def date_hour(self, dates: pd.Series, hours: pd.Series, cameras,
                  lines: np.ndarray | None = None) -> tuple[pd.Series, pd.Series]:
        """A date column plus an hour (0–23) column → epoch seconds of the hour's start."""
        reasons = pd.Series(None, index=dates.index, dtype=object)
        d = dates.fillna("").astype(str).str.strip()
        h = hours.fillna("").astype(str).str.strip()
        hour_num = pd.to_numeric(h.where(h.str.fullmatch(r"\d{1,2}"), None), errors="coerce")
        bad_hour = hour_num.isna() | (hour_num > 23)
        reasons[bad_hour] = ["hour " + repr(v) + " is not 0–23" for v in h[bad_hour]]
        reasons[d == ""] = "missing date"
        day = self._parse_dates(d[(d != "") & ~bad_hour], reasons, _lines_of(lines, dates.index))
        bad_day = day.isna() & reasons[day.index].isna()
        reasons[day.index[bad_day]] = ["unparseable date " + repr(v) for v in d[day.index[bad_day]]]
        epoch = pd.Series(np.nan, index=dates.index, dtype="float64")
        day = day[day.notna()]
        good = day + pd.to_timedelta(hour_num[day.index], unit="h")
        if len(good):
            self._localize(good, cameras, epoch, reasons)
        return epoch, reasons

    def finish_file(self, source: str) -> None:
        """After the last chunk: refuse a file whose date order cannot be decided, or ask for a
        second reading (DateOrderChanged) when earlier chunks assumed the other order."""
        if self._fixed_order() is not None:
            return
        ev = self.evidence
        final = ev.order()
        if final is None:
            if ev.proofs[DAYFIRST]:  # as many rows prove each order
                raise CountFileError(
                    f"{source}: the file mixes date orders: {ev.proofs[DAYFIRST]} row(s) read "
                    f"only day-first ({ev.where(DAYFIRST)}) and as many only month-first "
                    f"({ev.where(MONTHFIRST)}); use --dayfirst or --monthfirst (rows of the "
                    "other order are then refused)")
            if ev.ambiguous:
                line, text = ev.examples["ambiguous"]
                where = f"{source}:{line}" if line is not None else source
                raise CountFileError(
                    f"{where}: cannot tell the date order: {text!r} reads as "
                    f"{_reading(text, MONTHFIRST)} (month first) or {_reading(text, DAYFIRST)} "
                    "(day first), and no date in the file has a day above 12; use --dayfirst "
                    "or --monthfirst")
            return
        if self._applied - {final}:
            raise DateOrderChanged(final, ev)

    # -- parsing ----------------------------------------------------------------------------
    def _fixed_order(self) -> str | None:
        if self.dayfirst:
            return DAYFIRST
        if self.monthfirst:
            return MONTHFIRST
        return self.file_order

    def _parse_naive(self, s: pd.Series, reasons: pd.Series, lines: pd.Series):
        """→ (naive datetimes, offset seconds where the value names its zone, else NaN)."""
        naive, offset, matched = self._general(s, reasons, lines, date_only=False)
        rest = s[~matched & reasons[s.index].isna()]
        if rest.empty:
            return naive, offset
        iso = rest.str.match(_ISO)
        if iso.any():
            naive[rest.index[iso]] = _iso_naive(rest[iso])
        return self._other_formats(rest[naive[rest.index].isna()], naive, _DATETIME_FORMATS), offset

    def _parse_dates(self, s: pd.Series, reasons: pd.Series, lines: pd.Series) -> pd.Series:
        naive, _, matched = self._general(s, reasons, lines, date_only=True)
        rest = s[~matched & reasons[s.index].isna()]
        return self._other_formats(rest, naive, _DATE_FORMATS)

    def _general(self, s: pd.Series, reasons: pd.Series, lines: pd.Series | None, *,
                 date_only: bool) -> tuple[pd.Series, pd.Series, pd.Series]:
        """The common shapes in one regular expression: (naive, offset, matched).

        Rows it matched but refuses get their reason here (their naive value stays NaT).
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
        text = s[matched]
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
            m, d = self._order(num("a")[year_last], num("b")[year_last], text[year_last],
                               lines, refused)
            month[year_last], day[year_last] = m, d
        hour, minute, second = num("h").fillna(0), num("mi").fillna(0), num("sec").fillna(0)

        mark = e["m1"].fillna(e["m2"])
        if mark.notna().any():
            refuse(e["m1"].notna() & e["m2"].notna(), lambda v: f"timestamp {v!r} has two AM/PM markers")
            twelve = mark.notna()
            refuse(twelve & ((hour < 1) | (hour > 12)),
                   lambda v: f"timestamp {v!r} has an AM/PM marker but its hour is not 1–12")
            pm = mark[twelve].str.upper().isin(["PM", "P.M.", "오후"])
            hour[twelve] = hour[twelve] % 12 + np.where(pm, 12, 0)
        frac = e["frac"]
        refuse(frac.notna() & (frac.fillna("").str.rstrip("0") != ""), _fraction_reason)
        zone = e["zone"]
        pending = pd.Series(False, index=e.index)
        if zone.notna().any():
            pending = self._zones(zone, text, offset, refuse)

        parts = pd.DataFrame({"year": year, "month": month, "day": day, "hour": hour,
                              "minute": minute, "second": second})
        ok = refused.isna()
        if ok.any():
            naive[e.index[ok]] = pd.to_datetime(parts[ok], errors="coerce").astype("datetime64[us]")
        if pending.any():  # an abbreviation that meant more than one offset in this zone's history
            for label in pending.index[pending & ok]:
                if pd.isna(naive[label]):
                    continue  # no such date: "unparseable" says so
                found = self._abbreviation_at(zone[label].upper(), naive[label])
                if found is None:
                    naive[label] = pd.NaT
                    refused[label] = (f"timestamp {text[label]!r}: {zone[label].upper()} does "
                                      f"not name one offset of {self.tz.key} at that time")
                else:
                    offset[label] = found
        reasons[refused.index[refused.notna()]] = refused[refused.notna()]
        return naive, offset, matched

    def _order(self, a: pd.Series, b: pd.Series, text: pd.Series, lines, refused: pd.Series):
        """(month, day) of year-last dates in the file's order; contradicting rows refused."""
        in_a, in_b = (a >= 1) & (a <= 12), (b >= 1) & (b <= 12)
        proves = {DAYFIRST: (a > 12) & (a <= 31) & in_b, MONTHFIRST: (b > 12) & (b <= 31) & in_a}
        ambiguous = in_a & in_b & (a != b)
        order = self._fixed_order()
        ev = self.evidence
        if order is None:  # still deciding: count, remember an example of each kind
            for kind, mask in (*proves.items(), ("ambiguous", ambiguous)):
                n = int(mask.sum())
                if not n:
                    continue
                if kind == "ambiguous":
                    ev.ambiguous += n
                else:
                    ev.proofs[kind] += n
                if kind not in ev.examples:
                    first = mask.index[mask.to_numpy()][0]
                    line = int(lines[first]) if lines is not None else None
                    ev.examples[kind] = (line, text[first])
            order = ev.order() or MONTHFIRST  # provisional until finish_file
            if (proves[DAYFIRST] | proves[MONTHFIRST] | ambiguous).any():
                self._applied.add(order)
        month, day = (b.copy(), a.copy()) if order == DAYFIRST else (a.copy(), b.copy())
        other = MONTHFIRST if order == DAYFIRST else DAYFIRST
        contra = proves[other]
        if contra.any():
            if self._fixed_order() is not None and self.file_order is None:
                def message(v):
                    return (f"date {v!r} is not {order} ({_FLAG[order]}): only {other} reads it "
                            f"({_reading(v, other)})")
            else:
                seen = ev.where(order) if order in ev.examples else "its other rows"

                def message(v):
                    return (f"date {v!r} reads only {other} ({_reading(v, other)}), but this "
                            f"file's dates are {order} ({seen}); fix the row, or give the "
                            "file's order with --dayfirst or --monthfirst")
            target = contra & refused.isna()
            refused[target] = [message(v) for v in text[target]]
            month[contra] = np.nan
        return month, day

    def _zones(self, zone: pd.Series, text: pd.Series, offset: pd.Series, refuse) -> pd.Series:
        """Offsets of the rows that name a zone; returns the rows needing a wall-time lookup."""
        pending = pd.Series(False, index=zone.index)
        upper = zone.dropna().str.upper()
        known = _abbreviations(self.tz)
        for value in pd.unique(upper):
            rows = upper.index[upper == value]
            mask = pd.Series(zone.index.isin(rows), index=zone.index)
            if value in _UTC_NAMES:
                offset[rows] = 0.0
            elif value[0] in "+-":
                digits = value[1:].replace(":", "")
                hours, minutes = int(digits[:2]), int(digits[2:] or 0)
                seconds = hours * 3600 + minutes * 60
                if minutes >= 60 or seconds > MAX_OFFSET:
                    refuse(mask, lambda v, z=value: f"timestamp {v!r}: {z} is not a UTC offset")
                else:
                    offset[rows] = float(seconds if value[0] == "+" else -seconds)
            elif value not in known:
                own = ", ".join(sorted(known)) or "none"
                refuse(mask, lambda v, z=value: (
                    f"timestamp {v!r}: zone abbreviation {z} is not one {self.tz.key} uses "
                    f"({own}); abbreviations are ambiguous, so only UTC/GMT and the import "
                    "zone's own are read — write the offset (+09:00) or import with --tz "
                    "set to the file's zone"))
            elif len(known[value]) == 1:
                offset[rows] = float(known[value][0])
            else:
                pending[rows] = True
        return pending

    def _abbreviation_at(self, name: str, wall) -> float | None:
        """The offset abbreviation ``name`` had in this zone at local time ``wall``."""
        ts = pd.Timestamp(wall).to_pydatetime()
        for fold in (0, 1):
            local = ts.replace(tzinfo=self.tz, fold=fold)
            if (local.tzname() or "").upper() == name:
                return local.utcoffset().total_seconds()
        return None

    def _other_formats(self, rest: pd.Series, out: pd.Series, formats) -> pd.Series:
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
            out[rest.index] = [self._dateutil(v) for v in rest]
        return out

    def _dateutil(self, value: str):
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

    def _unix(self, todo: pd.Series, epoch: pd.Series, reasons: pd.Series) -> None:
        """``--time-format epoch`` / ``epoch_ms``: whole Unix seconds (or milliseconds)."""
        scale = EPOCH_FORMATS[self.time_format]
        parts = todo.str.extract(r"^([0-9]{1,16})(?:\.([0-9]*))?$")
        ok = parts[0].notna()
        unit = "seconds" if scale == 1 else "milliseconds"
        bad = ~ok
        reasons[todo.index[bad]] = [f"timestamp {v!r} is not Unix {unit} (--time-format "
                                    f"{self.time_format})" for v in todo[bad]]
        whole = parts[0][ok].astype("int64")
        frac = parts[1][ok].fillna("").str.rstrip("0") != ""
        if scale > 1:
            frac |= (whole % scale) != 0
        if frac.any():
            reasons[frac.index[frac]] = [_fraction_reason(v) for v in todo[frac.index[frac]]]
        keep = whole[~frac] // scale
        epoch[keep.index] = keep.astype("float64")

    def _explicit(self, todo: pd.Series, epoch: pd.Series, reasons: pd.Series) -> pd.Series:
        """``--time-format``: strptime as given; a format with %z reads each row's offset."""
        fmt = self.time_format
        aware = "%z" in fmt or "%Z" in fmt
        if "%p" in fmt:  # strptime knows only AM/PM: Korean spreadsheets write 오전/오후
            todo = todo.str.replace("오전", "AM", regex=False).str.replace("오후", "PM", regex=False)
        try:
            parsed = pd.to_datetime(todo, format=fmt, errors="coerce", utc=aware)
        except (ValueError, TypeError, OverflowError):
            parsed = pd.Series(pd.NaT, index=todo.index, dtype="datetime64[us]")
        if not aware:
            return parsed.astype("datetime64[us]")
        utc = parsed.dt.tz_localize(None) if isinstance(parsed.dtype, pd.DatetimeTZDtype) else parsed
        utc = utc.astype("datetime64[us]")
        bad = utc.isna()
        reasons[utc.index[bad]] = ["unparseable timestamp " + repr(v) for v in todo[bad]]
        good = utc[~bad]
        good = good[_whole_seconds(good, todo, reasons)]
        epoch[good.index] = _epoch(good)
        return pd.Series(dtype="datetime64[us]")

    # -- zones ------------------------------------------------------------------------------
    def _localize(self, naive: pd.Series, cameras, epoch: pd.Series, reasons: pd.Series,
                  after: pd.Series | None = None) -> None:
        idx = pd.DatetimeIndex(naive.values)
        local = idx.tz_localize(self.tz, ambiguous="NaT", nonexistent="NaT")
        values = _epoch(pd.Series(local.tz_convert("UTC").tz_localize(None), index=naive.index))
        epoch[naive.index] = values
        bad_pos = np.flatnonzero(local.isna())
        begins = None  # camera → label of its first row in this chunk (only where needed)
        if len(bad_pos) and after is None and cameras is not None and self.ambiguous == "infer":
            named = cameras[naive.index]
            begins = dict(zip(named[~named.duplicated()].tolist(),
                              named.index[~named.duplicated()].tolist()))
        for pos in bad_pos:
            label = naive.index[pos]
            ts = naive.iloc[pos].to_pydatetime()
            if after is not None:
                result, reason = self._resolve_end(ts, after[label])
            else:
                camera = cameras[label] if cameras is not None else None
                first_row = (begins is not None and camera not in self._cameras_seen
                             and begins.get(camera) == label)
                result, reason = self._resolve(ts, camera, first_row)
            if reason:
                reasons[label] = reason
                epoch[label] = np.nan
            else:
                epoch[label] = result
        if after is None and cameras is not None and self.stored_first_pass is not None:
            self._cameras_seen.update(pd.unique(cameras[naive.index]))

    def _resolve(self, ts: datetime, camera, first_row: bool = False) -> tuple[float | None, str | None]:
        early = ts.replace(tzinfo=self.tz, fold=0)
        late = ts.replace(tzinfo=self.tz, fold=1)
        e0, e1 = early.timestamp(), late.timestamp()
        round_trip = datetime.fromtimestamp(e0, self.tz).replace(tzinfo=None) == ts
        stamp = ts.isoformat(sep=" ")
        if not round_trip:  # a gap: this wall time never happened
            if self.nonexistent == "reject":
                self.tally.nonexistent_rejected += 1
                return None, (f"local time {stamp} does not exist in {self.tz.key} "
                              "(DST gap; see --nonexistent)")
            self.tally.nonexistent_shifted += 1
            return (e0 if self.nonexistent == "shift-forward" else e1), None
        policy = self.ambiguous
        if policy == "reject":
            self.tally.ambiguous_rejected += 1
            return None, (f"local time {stamp} is ambiguous in {self.tz.key} "
                          "(repeated at the DST change; see --ambiguous)")
        if policy == "infer":
            key = (camera, ts)
            seen = self._seen_ambiguous.get(key, 0)
            self._seen_ambiguous[key] = seen + 1
            if (seen == 0 and first_row and self.stored_first_pass is not None
                    and self.stored_first_pass(camera, int(e0), int(e1))):
                self._continuing.add(camera)  # the file begins where a stored first pass ended
            policy = "latest" if seen == 1 or (seen == 0 and camera in self._continuing) else "earliest"
        if policy == "latest":
            self.tally.ambiguous_latest += 1
            return e1, None
        self.tally.ambiguous_earliest += 1
        return e0, None


    def _resolve_end(self, ts: datetime, start: float) -> tuple[float | None, str | None]:
        """An end in a DST change, read relative to its row's start (NaN when the start is bad)."""
        e0 = ts.replace(tzinfo=self.tz, fold=0).timestamp()
        e1 = ts.replace(tzinfo=self.tz, fold=1).timestamp()
        start_ok = not np.isnan(start)
        if datetime.fromtimestamp(e0, self.tz).replace(tzinfo=None) != ts:  # in a gap
            if self.nonexistent == "reject":
                if start_ok:
                    self.tally.nonexistent_rejected += 1
                return None, (f"local time {ts.isoformat(sep=' ')} does not exist in "
                              f"{self.tz.key} (DST gap; see --nonexistent)")
            return (e0 if self.nonexistent == "shift-forward" else e1), None
        return (e0 if not start_ok or e0 > start else e1), None


def _epoch(s: pd.Series) -> pd.Series:
    """Naive UTC datetimes → float epoch seconds (NaN for NaT), whatever the resolution."""
    us = s.astype("datetime64[us]")
    out = us.astype("int64").astype("float64") / 1e6
    out[us.isna()] = np.nan
    return np.floor(out)


class _ZoneNamed(Exception):
    """dateutil met a zone name: refused (zones are read only in the regular shapes)."""


def _no_zone(name, offset):
    if name or offset is not None:
        raise _ZoneNamed(name)
    return None


def _fraction_reason(value: str) -> str:
    return (f"timestamp {value!r} has a fraction of a second; rows are stored at whole seconds "
            "(round the column to the second)")


def _whole_seconds(naive: pd.Series, text: pd.Series, reasons: pd.Series) -> pd.Series:
    """True where the datetime is a whole second; the others get their reason."""
    frac = pd.Series(naive.to_numpy().view("int64") % 1_000_000 != 0, index=naive.index)
    if frac.any():
        reasons[frac.index[frac]] = [_fraction_reason(v) for v in text[frac.index[frac]]]
    return ~frac


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


def _lines_of(lines, index) -> pd.Series | None:
    return None if lines is None else pd.Series(np.asarray(lines), index=index)


def _reading(text: str, order: str) -> str:
    """A year-last date read in ``order``: ISO date, or why it is no date."""
    from datetime import date

    m = re.match(r"\s*(\d{1,2})\s*[-/.]\s*(\d{1,2})\s*[-/.]\s*(\d{4}|\d{2})", text)
    if not m:
        return "?"
    a, b, y = int(m[1]), int(m[2]), int(m[3])
    if len(m[3]) == 2:
        y += 2000 if y < 69 else 1900
    month, day = (b, a) if order == DAYFIRST else (a, b)
    try:
        return date(y, month, day).isoformat()
    except ValueError:
        return f"no such date: month {month}, day {day}"


@lru_cache(maxsize=64)
def _abbreviations(tz: ZoneInfo) -> dict[str, tuple[int, ...]]:
    """Zone abbreviations ``tz`` used 1970–2099 and the offsets (seconds) each one meant."""
    seen: dict[str, set[int]] = {}
    for year in range(1970, 2100):
        for month in range(1, 13):
            for day in (1, 15):
                local = datetime(year, month, day, 12, tzinfo=tz)
                name = local.tzname() or ""
                if name.isalpha() and name.isascii():
                    seen.setdefault(name.upper(), set()).add(int(local.utcoffset().total_seconds()))
    return {k: tuple(sorted(v)) for k, v in seen.items()}
