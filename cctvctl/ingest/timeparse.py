"""Timestamps of count files → UTC epoch seconds, vectorised: the driver over the parts.

Naive timestamps are local time in the import's zone; the parts of reading one are modules of
their own, each with its rules in its docstring:

* :mod:`~cctvctl.ingest.timeshapes` — the shapes read without a flag (ISO, year first or last,
  month names, 12-hour clocks in English and Korean) → naive wall times;
* :mod:`~cctvctl.ingest.zonenames` — a zone the text names itself (``+09:00``, ``UTC``, the
  import zone's own abbreviations) → its offset; other abbreviations are refused;
* :mod:`~cctvctl.ingest.dateorder` — the one order (day-first or month-first) of a file's
  year-last dates, decided from all its rows (a later chunk may ask for a second reading);
* :mod:`~cctvctl.ingest.timeformat` — ``--time-format`` (strptime, Unix seconds or
  milliseconds) and the whole-second rule;
* :mod:`~cctvctl.ingest.dst` — wall times → instants under ``--nonexistent``/``--ambiguous``,
  with the counts of rows each rule touched.

:class:`TimeParser` holds one import's settings and state and runs the parts in order; the
usual case (every value naive ISO 8601 to the whole second) is one C call. Values outside
1970–2099 are refused. A column whose header says UTC (``start_utc``) is read as UTC, not in
the import's zone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from cctvctl.ingest.dateorder import (OrderEvidence, check_file_order, fixed_order,
                                      split_year_last)
from cctvctl.ingest.dst import DstRules, DstTally
from cctvctl.ingest.timeformat import (EPOCH_FORMATS, epoch_seconds, read_explicit, read_unix,
                                       whole_seconds)
from cctvctl.ingest.timeshapes import parse_dates, parse_naive

MIN_EPOCH = 0  # 1970-01-01
MAX_EPOCH = 4102444800  # 2100-01-01

#: local times safely inside [MIN_EPOCH, MAX_EPOCH) whatever the zone's offset
_SAFE_FIRST = pd.Timestamp("1970-01-02")
_SAFE_LAST = pd.Timestamp("2099-12-31")


@dataclass
class TimeParser:
    """One import's reading of timestamps: its settings, and the state carried across chunks
    (the date-order evidence, the DST rules' occurrences and tally)."""

    tz: ZoneInfo
    nonexistent: str = "reject"
    ambiguous: str = "infer"
    dayfirst: bool = False
    time_format: str | None = None
    monthfirst: bool = False
    #: the order a previous reading of this file proved (see DateOrderChanged)
    file_order: str | None = None
    evidence: OrderEvidence = field(default_factory=OrderEvidence)
    #: the DST policy and its state (the tally, the ``infer`` rule's occurrences)
    dst: DstRules = field(init=False, repr=False)
    #: orders this reading applied to rows whose order mattered
    _applied: set = field(default_factory=set)

    def __post_init__(self) -> None:
        self.dst = DstRules(self.tz, nonexistent=self.nonexistent, ambiguous=self.ambiguous)

    @property
    def tally(self) -> DstTally:
        """How many rows each DST rule touched."""
        return self.dst.tally

    @property
    def stored_first_pass(self) -> Callable[[str, int, int], bool] | None:
        """(camera, earlier instant, later instant) → whether the store holds the first pass
        only (see :class:`~cctvctl.ingest.dst.DstRules`); None: no database."""
        return self.dst.stored_first_pass

    @stored_first_pass.setter
    def stored_first_pass(self, check: Callable[[str, int, int], bool] | None) -> None:
        self.dst.stored_first_pass = check

    # -- public -----------------------------------------------------------------------------
    def to_epoch(self, text: pd.Series, cameras: pd.Series | None,
                 after: pd.Series | None = None,
                 lines: np.ndarray | None = None, utc: bool = False) -> tuple[pd.Series, pd.Series]:
        """Strings → (epoch seconds as float with NaN where bad, reason per bad row).

        ``after`` (the rows' start epochs) marks an end column: DST cases are then resolved
        relative to the start instead of by the ambiguity policy (see :mod:`cctvctl.ingest.dst`).
        ``lines`` (the file line of each value) lets date-order messages cite an example.
        ``utc``: the column's header says UTC, so naive values are UTC, not local time.
        """
        if not self.time_format:
            quick = self._all_plain_iso(text, cameras, after, utc)
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
            read_unix(self.time_format, todo, epoch, reasons)
            naive = pd.Series(dtype="datetime64[us]")
        elif self.time_format:
            naive = read_explicit(self.time_format, todo, epoch, reasons)
        else:
            naive, offset = parse_naive(todo, reasons, _lines_of(lines, text.index),
                                        tz=self.tz, order=self._order)
        if len(naive):
            bad = naive.isna() & reasons[naive.index].isna()
            reasons[naive.index[bad]] = ["unparseable timestamp " + repr(v) for v in todo[naive.index[bad]]]
            good = naive[naive.notna()]
            good = good[whole_seconds(good, todo, reasons)]
            zoned = offset[good.index].notna()
            if zoned.any():  # the row names its offset: no local reading, no DST rule
                at = good[zoned]
                epoch[at.index] = epoch_seconds(at) - offset[at.index]
            good = good[~zoned]
            if len(good):
                self._localize(good, cameras, epoch, reasons, after, utc)
        out_of_range = epoch.notna() & ((epoch < MIN_EPOCH) | (epoch >= MAX_EPOCH))
        if out_of_range.any():
            reasons[out_of_range] = ["timestamp " + repr(v) + " is out of range (1970–2099)"
                                     for v in s[out_of_range]]
            epoch[out_of_range] = np.nan
        return epoch, reasons

    def _localize(self, naive: pd.Series, cameras, epoch: pd.Series, reasons: pd.Series,
                  after, utc: bool) -> None:
        """Naive wall times → instants: UTC as they are, else local under the DST rules."""
        if utc:
            epoch[naive.index] = epoch_seconds(naive)
        else:
            self.dst.localize(naive, cameras, epoch, reasons, after)

    def _all_plain_iso(self, text: pd.Series, cameras, after,
                       utc: bool = False) -> tuple[pd.Series, pd.Series] | None:
        """The usual case in one C call: every value naive ISO 8601 to the whole second, with a
        full date (``YYYY-``…, 10 characters at least). None sends it the long way: pandas' ISO
        reading takes ``2021`` for January 1 and ``20210801 09`` for 09:00, which the long way
        refuses. (Not ``format="%Y-%m-%d %H:%M:%S"``: its ``%S`` takes 60 as the next minute,
        and it is slow where it fails.)"""
        try:
            if not all(len(v) >= 10 and v[4] == "-" for v in text.tolist()):
                return None
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
        self._localize(parsed, cameras, epoch, reasons, after, utc)
        return epoch, reasons

    def date_hour(self, dates: pd.Series, hours: pd.Series, cameras,
                  lines: np.ndarray | None = None, utc: bool = False) -> tuple[pd.Series, pd.Series]:
        """A date column plus an hour (0–23) column → epoch seconds of the hour's start
        (``utc``: a header says UTC, see :meth:`to_epoch`)."""
        reasons = pd.Series(None, index=dates.index, dtype=object)
        d = dates.fillna("").astype(str).str.strip()
        h = hours.fillna("").astype(str).str.strip()
        hour_num = pd.to_numeric(h.where(h.str.fullmatch(r"\d{1,2}"), None), errors="coerce")
        bad_hour = hour_num.isna() | (hour_num > 23)
        reasons[bad_hour] = ["hour " + repr(v) + " is not 0–23" for v in h[bad_hour]]
        reasons[d == ""] = "missing date"
        day = parse_dates(d[(d != "") & ~bad_hour], reasons, _lines_of(lines, dates.index),
                          tz=self.tz, order=self._order)
        bad_day = day.isna() & reasons[day.index].isna()
        reasons[day.index[bad_day]] = ["unparseable date " + repr(v) for v in d[day.index[bad_day]]]
        epoch = pd.Series(np.nan, index=dates.index, dtype="float64")
        day = day[day.notna()]
        timed = day != day.dt.normalize()  # "2021-08-01 10:00" plus hour 1 was 11:00
        if timed.any():
            reasons[day.index[timed]] = [f"date {v!r} has a time of day; the hour column gives "
                                         "the hour" for v in d[day.index[timed]]]
            day = day[~timed]
        good = day + pd.to_timedelta(hour_num[day.index], unit="h")
        if len(good):
            self._localize(good, cameras, epoch, reasons, None, utc)
        return epoch, reasons

    def finish_file(self, source: str) -> None:
        """After the last chunk: refuse a file whose date order cannot be decided, or ask for a
        second reading (DateOrderChanged) when earlier chunks assumed the other order."""
        if self._fixed_order() is not None:
            return
        check_file_order(self.evidence, self._applied, source)

    def _fixed_order(self) -> str | None:
        return fixed_order(self.dayfirst, self.monthfirst, self.file_order)

    def _order(self, a: pd.Series, b: pd.Series, text: pd.Series, lines, refused: pd.Series):
        """(month, day) of year-last dates in the file's order; contradicting rows refused."""
        fixed = self._fixed_order()
        return split_year_last(a, b, text, lines, refused, fixed=fixed,
                               by_flag=fixed is not None and self.file_order is None,
                               evidence=self.evidence, applied=self._applied)


def _lines_of(lines, index) -> pd.Series | None:
    return None if lines is None else pd.Series(np.asarray(lines), index=index)
