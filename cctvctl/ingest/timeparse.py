"""Timestamps of count files → UTC epoch seconds, vectorised, with an explicit DST policy.

Naive timestamps are local time in the import's zone; timestamps with an offset (``+09:00``,
``Z``) are honoured as written. Local times that do not exist (the spring-forward gap) or occur
twice (the fall-back hour) follow the chosen policy, and every row a rule touched is counted:

* ``--nonexistent reject`` (default): the row is rejected with a reason. A real file's
  02:00 on a spring-forward day is an anomaly worth a look (in the Melbourne file it duplicates
  the 03:00 row), so guessing would only move the problem. ``shift-forward`` reads it with the
  offset before the change (02:30 → 03:30), ``shift-backward`` with the offset after (→ 01:30).
* ``--ambiguous infer`` (default): per camera, the first occurrence of a repeated local time is
  the earlier instant (still summer time) and a second occurrence the later one — which is what
  a detector writing local time produces. ``earliest``, ``latest`` and ``reject`` are explicit.

An end column is read relative to its row's start: an ambiguous end is the first instant after
the start with that wall time (so ``01:55 → 02:00`` is five minutes on a fall-back night, under
every policy), and an end in a gap follows ``--nonexistent``. The counters count rows: a row is
counted by its start, and by its end only when the end alone made it rejected.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

NONEXISTENT = ("reject", "shift-forward", "shift-backward")
AMBIGUOUS = ("infer", "earliest", "latest", "reject")
MIN_EPOCH = 0  # 1970-01-01
MAX_EPOCH = 4102444800  # 2100-01-01

_DATETIME_FORMATS = (
    "%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %I:%M %p", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M",
    "%d-%b-%Y %H:%M:%S", "%d-%b-%Y %H:%M", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M",
    "%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M", "%Y%m%d%H%M%S", "%Y%m%d %H%M",
)
_DATE_FORMATS = ("%d-%b-%Y", "%m/%d/%Y", "%Y/%m/%d", "%d.%m.%Y", "%Y%m%d", "%d-%B-%Y")
_DEFAULT_A = datetime(2001, 1, 1)
_DEFAULT_B = datetime(2002, 2, 2)
_ISO = r"^\d{4}-\d{1,2}-\d{1,2}"
_OFFSET = r"(?:Z|[+-]\d{2}:?\d{2})$"


#: local times safely inside [MIN_EPOCH, MAX_EPOCH) whatever the zone's offset
_SAFE_FIRST = pd.Timestamp("1970-01-02")
_SAFE_LAST = pd.Timestamp("2099-12-31")


def _dayfirst(fmt: str) -> str:
    return fmt.replace("%m/%d/%Y", "%d/%m/%Y")


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
    tally: DstTally = field(default_factory=DstTally)
    #: ambiguous (camera, local time) seen so far in this import, for the ``infer`` rule
    _seen_ambiguous: dict = field(default_factory=dict)

    # -- public -----------------------------------------------------------------------------
    def to_epoch(self, text: pd.Series, cameras: pd.Series | None,
                 after: pd.Series | None = None) -> tuple[pd.Series, pd.Series]:
        """Strings → (epoch seconds as float with NaN where bad, reason per bad row).

        ``after`` (the rows' start epochs) marks an end column: DST cases are then resolved
        relative to the start instead of by the ambiguity policy (see the module docstring).
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
        if self.time_format:
            naive = pd.to_datetime(todo, format=self.time_format, errors="coerce")
            offset_mask = pd.Series(False, index=todo.index)
        else:
            offset_mask = todo.str.match(_ISO) & todo.str.contains(_OFFSET, regex=True)
            naive = self._parse_naive(todo[~offset_mask])
            if offset_mask.any():
                aware = pd.to_datetime(todo[offset_mask], format="ISO8601", utc=True, errors="coerce")
                epoch[aware.index] = _epoch(aware.dt.tz_localize(None))
                bad = aware.isna()
                reasons[aware.index[bad]] = ["unparseable timestamp " + repr(v) for v in todo[offset_mask][bad]]
        if len(naive):
            bad = naive.isna()
            reasons[naive.index[bad]] = ["unparseable timestamp " + repr(v) for v in todo[naive.index[bad]]]
            good = naive[~bad]
            if len(good):
                self._localize(good, cameras, epoch, reasons, after)
        out_of_range = epoch.notna() & ((epoch < MIN_EPOCH) | (epoch >= MAX_EPOCH))
        if out_of_range.any():
            reasons[out_of_range] = ["timestamp " + repr(v) + " is out of range (1970–2099)"
                                     for v in s[out_of_range]]
            epoch[out_of_range] = np.nan
        return epoch, reasons

    def _all_plain_iso(self, text: pd.Series, cameras, after) -> tuple[pd.Series, pd.Series] | None:
        """The usual case in one C call: every value naive ISO 8601. None sends it the long way."""
        try:
            parsed = pd.to_datetime(text, format="ISO8601", errors="coerce")
        except (ValueError, TypeError, OverflowError):
            return None
        if isinstance(parsed.dtype, pd.DatetimeTZDtype) or not parsed.notna().all():
            return None
        if parsed.min() < _SAFE_FIRST or parsed.max() >= _SAFE_LAST:
            return None  # near or out of range: the long way words the reasons
        reasons = pd.Series(None, index=text.index, dtype=object)
        epoch = pd.Series(np.nan, index=text.index, dtype="float64")
        self._localize(parsed.astype("datetime64[us]"), cameras, epoch, reasons, after)
        return epoch, reasons

    def date_hour(self, dates: pd.Series, hours: pd.Series, cameras) -> tuple[pd.Series, pd.Series]:
        """A date column plus an hour (0–23) column → epoch seconds of the hour's start."""
        reasons = pd.Series(None, index=dates.index, dtype=object)
        d = dates.fillna("").astype(str).str.strip()
        h = hours.fillna("").astype(str).str.strip()
        hour_num = pd.to_numeric(h.where(h.str.fullmatch(r"\d{1,2}"), None), errors="coerce")
        bad_hour = hour_num.isna() | (hour_num > 23)
        reasons[bad_hour] = ["hour " + repr(v) + " is not 0–23" for v in h[bad_hour]]
        reasons[d == ""] = "missing date"
        day = self._parse_dates(d[(d != "") & ~bad_hour])
        bad_day = day.isna()
        reasons[day.index[bad_day]] = ["unparseable date " + repr(v) for v in d[day.index[bad_day]]]
        epoch = pd.Series(np.nan, index=dates.index, dtype="float64")
        good = day[~bad_day] + pd.to_timedelta(hour_num[day.index[~bad_day]], unit="h")
        if len(good):
            self._localize(good, cameras, epoch, reasons)
        return epoch, reasons

    # -- parsing ----------------------------------------------------------------------------
    def _parse_naive(self, s: pd.Series) -> pd.Series:
        out = pd.Series(pd.NaT, index=s.index, dtype="datetime64[us]")
        if s.empty:
            return out
        iso = s.str.match(_ISO)
        if iso.any():
            out[iso] = pd.to_datetime(s[iso], format="ISO8601", errors="coerce").astype("datetime64[us]")
        return self._other_formats(s[out.isna()], out, _DATETIME_FORMATS)

    def _parse_dates(self, s: pd.Series) -> pd.Series:
        out = pd.Series(pd.NaT, index=s.index, dtype="datetime64[us]")
        if s.empty:
            return out
        iso = s.str.fullmatch(r"\d{4}-\d{1,2}-\d{1,2}")
        if iso.any():
            out[iso] = pd.to_datetime(s[iso], format="%Y-%m-%d", errors="coerce").astype("datetime64[us]")
        return self._other_formats(s[out.isna()], out, _DATE_FORMATS)

    def _other_formats(self, rest: pd.Series, out: pd.Series, formats) -> pd.Series:
        """Fill ``out`` for the values ISO parsing left: known formats first, then dateutil."""
        for fmt in (_dayfirst(f) if self.dayfirst else f for f in formats):
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

        try:  # two defaults: a date part the text lacks would come out different
            dt = parser.parse(value, dayfirst=self.dayfirst, default=_DEFAULT_A)
            if parser.parse(value, dayfirst=self.dayfirst, default=_DEFAULT_B).date() != dt.date():
                return pd.NaT  # "12", "10:00" or "Monday" are not timestamps
        except (ValueError, OverflowError, TypeError):
            return pd.NaT
        if dt.tzinfo is not None:  # offsets are only accepted in ISO form (the fast path)
            return pd.NaT
        if not 1 < dt.year < 9999:
            return pd.NaT
        return pd.Timestamp(dt)

    # -- zones ------------------------------------------------------------------------------
    def _localize(self, naive: pd.Series, cameras, epoch: pd.Series, reasons: pd.Series,
                  after: pd.Series | None = None) -> None:
        idx = pd.DatetimeIndex(naive.values)
        local = idx.tz_localize(self.tz, ambiguous="NaT", nonexistent="NaT")
        values = _epoch(pd.Series(local.tz_convert("UTC").tz_localize(None), index=naive.index))
        epoch[naive.index] = values
        bad_pos = np.flatnonzero(local.isna())
        for pos in bad_pos:
            label = naive.index[pos]
            ts = naive.iloc[pos].to_pydatetime()
            if after is not None:
                result, reason = self._resolve_end(ts, after[label])
            else:
                camera = cameras[label] if cameras is not None else None
                result, reason = self._resolve(ts, camera)
            if reason:
                reasons[label] = reason
                epoch[label] = np.nan
            else:
                epoch[label] = result

    def _resolve(self, ts: datetime, camera) -> tuple[float | None, str | None]:
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
            policy = "latest" if seen == 1 else "earliest"
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
