"""Local wall times → UTC instants, with an explicit policy for the DST gap and the repeated hour.

Local times that do not exist (the spring-forward gap) or occur twice (the fall-back hour)
follow the chosen policy, and every row a rule touched is counted (:class:`DstTally`):

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

Kept apart from reading the text: this is the one place that decides which instant a wall time
is, and it carries state across chunks (the ``infer`` rule's occurrences per camera).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from cctvctl.ingest.timeformat import epoch_seconds

NONEXISTENT = ("reject", "shift-forward", "shift-backward")
AMBIGUOUS = ("infer", "earliest", "latest", "reject")


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
class DstRules:
    """The DST policy of one import, applied chunk after chunk."""

    tz: ZoneInfo
    nonexistent: str = "reject"
    ambiguous: str = "infer"
    tally: DstTally = field(default_factory=DstTally)
    #: (camera, earlier instant, later instant) → whether the store holds the first pass only:
    #: lets ``infer`` continue a fall-back hour an earlier import began (None: no database)
    stored_first_pass: Callable[[str, int, int], bool] | None = None
    #: ambiguous (camera, local time) seen so far in this import, for the ``infer`` rule
    _seen_ambiguous: dict = field(default_factory=dict)
    #: cameras with a row earlier in this file; cameras continuing a stored first pass
    _cameras_seen: set = field(default_factory=set)
    _continuing: set = field(default_factory=set)

    def localize(self, naive: pd.Series, cameras, epoch: pd.Series, reasons: pd.Series,
                 after: pd.Series | None = None) -> None:
        """Naive local datetimes → epoch seconds into ``epoch``; rows a rule refuses get their
        reason (and NaN). ``after``: the rows' start epochs, for an end column."""
        idx = pd.DatetimeIndex(naive.values)
        local = idx.tz_localize(self.tz, ambiguous="NaT", nonexistent="NaT")
        values = epoch_seconds(pd.Series(local.tz_convert("UTC").tz_localize(None), index=naive.index))
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
