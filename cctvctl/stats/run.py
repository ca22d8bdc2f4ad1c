"""One aggregation run: decide what is due, compute it, record how far we got.

Without dates a run is what cron needs: for every grain, each *complete* period after the last
one computed (catch-up; the first run starts at the first data), plus every period that received
rows from an import since the grain last ran (late data), always day first so that the week,
month, year and weekday rows roll up from current day rows. With ``date`` or ``since/until`` a
run recomputes exactly the periods containing those days, from raw counts, and leaves the
catch-up state alone. A lock serialises runs, so two at once never double-count.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date as Date
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from cctvctl import validate
from cctvctl.db.database import Database
from cctvctl.errors import UsageError
from cctvctl.periods import (Period, day_runs, last_complete, local_midnight_utc, parse_date, period_containing,
                             periods_between, today)
from cctvctl.stats.rows import CALENDAR, WEEKDAY_GRAINS, Written, day_rows, period_rows
from cctvctl.stats.state import AggState, all_cameras, changed_days, first_day, max_import, next_day
from cctvctl.db.retry import retrying_conflicts

#: what each ``aggregate`` argument computes (day is the base of every other grain)
GRAINS = {
    "day": ["day"],
    "week": ["day", "week"],
    "month": ["day", "month"],
    "year": ["day", "year"],
    "weekday": ["day", "month_weekday", "year_weekday"],
    "all": ["day", "week", "month", "year", "month_weekday", "year_weekday"],
}
#: order of grains in results
ORDER = ["day", "hour", "week", "month", "year", "month_weekday", "year_weekday"]
BATCH_DAYS = 31
#: at most about this many hour rows are computed and written per step (memory stays flat:
#: 1,000 cameras × 31 days in one step peaked near 1 GB)
BATCH_HOUR_ROWS = 100_000
BATCH_PERIODS = {"week": 53, "month": 12, "year": 1}
#: at most this many cameras per step: memory is bounded by the batch, not by how many distinct
#: cameras a database holds (100,000 one-row cameras from a garbled detector took 4.3 GB)
CAMERA_BATCH = 2_000
LOCK_TIMEOUT = 600


@dataclass
class GrainSummary:
    """What one run did for one grain (``hour`` rows are reported as their own grain)."""

    grain: str
    rows: int = 0
    periods: int = 0
    cameras: int = 0
    late: int = 0  # periods recomputed because late data reached them
    first: str | None = None  # label of the first / last period written
    last: str | None = None
    through: str | None = None  # catch-up state after the run (label of the last period)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class AggregateResult:
    """Rows written (``--format json`` objects; empty unless kept) and a per-grain summary."""

    grain: str
    tz: str
    k: float
    explicit: bool
    rows: list[dict] = field(default_factory=list)
    summary: list[GrainSummary] = field(default_factory=list)
    has_data: bool = True
    cameras: list[str] | None = None  # the --camera filter, if any

    @property
    def written(self) -> int:
        return sum(s.rows for s in self.summary)

    @property
    def nothing_due(self) -> bool:
        return self.written == 0

    @property
    def message(self) -> str:
        if not self.has_data:
            if self.cameras:
                return f"nothing to aggregate: no counts for {', '.join(self.cameras)}"
            return "nothing to aggregate: the database holds no counts yet"
        if self.nothing_due:
            if self.explicit:
                return "nothing written: no counts in the requested periods"
            upto = ", ".join(f"{s.grain} {s.through}" for s in self.summary if s.through)
            return ("nothing due: statistics are up to date" + (f" (through {upto})" if upto else "")
                    + "; re-running is a no-op")
        parts = []
        for s in self.summary:
            if not s.rows:
                continue
            span = s.first if s.first == s.last else f"{s.first} … {s.last}"
            late = f", {s.late} for late data" if s.late else ""
            parts.append(f"{s.grain}: {s.rows} rows, {s.periods} periods ({span}){late}")
        return f"aggregated in {self.tz} (k={self.k:g}): " + "; ".join(parts)


def _as_date(value, flag: str) -> Date | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, Date):
        return validate.day_in_range(value, flag)
    return parse_date(str(value), flag)


def _as_epoch(now) -> float | None:
    if isinstance(now, datetime):
        return now.timestamp()
    return now


def _chunks(items: list, size: int) -> list[list]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def batch_days(cameras: int) -> int:
    """Days per step: BATCH_DAYS, fewer for many cameras (about BATCH_HOUR_ROWS hour rows)."""
    return max(1, min(BATCH_DAYS, BATCH_HOUR_ROWS // (24 * max(1, cameras))))



class _Run:
    def __init__(self, db: Database, tz: ZoneInfo, k: float, cameras: list[str] | None,
                 now: float | None, keep: bool, camera_batch: int = CAMERA_BATCH):
        self.db, self.tz, self.k, self.now, self.keep = db, tz, k, now, keep
        self.camera_batch = max(1, int(camera_batch))
        #: imports up to this id are covered by this run (read before the camera list, so a
        #: camera that appears later arrives as late data of a newer import)
        self.upto = max_import(db)
        #: the user's --camera filter (None: all), and the cameras every query names
        self.filtered = cameras is not None
        self.cameras = cameras if cameras is not None else all_cameras(db)
        #: what the statistics queries filter on: the names where the engine seeks by camera
        #: (SQLite) or the user chose them; else none (MySQL scans the time range either way,
        #: and a list of every camera only slowed each query down, 0.55 s against 0.31 s)
        self.query_cameras = self.cameras if self.filtered or db.dialect.name_cameras else None
        self.written = Written()
        self.late: dict[str, int] = {}
        self.state = AggState(db)
        self._first: list[Date | None] = []
        self._changed: dict[int, set[tuple[str, Date]]] = {}

    def first_day(self) -> Date | None:
        if not self._first:
            self._first.append(first_day(self.db, self.tz, self.query_cameras))
        return self._first[0]

    def changed(self, after: int, upto: int) -> set[tuple[str, Date]]:
        if after not in self._changed:
            self._changed[after] = changed_days(self.db, self.tz, after, upto, self.cameras)
        return self._changed[after]

    def batches(self, cameras: list[str] | None = None) -> list[list[str] | None]:
        """The cameras of a step in groups of at most ``camera_batch`` (sorted names); a single
        group is the query's own filter (None on MySQL: no camera list in the SQL at all)."""
        names = self.cameras if cameras is None else cameras
        if len(names) <= self.camera_batch:
            return [self.query_cameras if cameras is None else sorted(names)]
        return _chunks(sorted(names), self.camera_batch)

    # -- day and hour rows, from raw counts ----------------------------------------------------
    def days(self, first: Date, last: Date, advance: bool) -> None:
        size = batch_days(min(len(self.cameras), self.camera_batch))
        a = first
        while a <= last:
            b = min(last, a + timedelta(days=size - 1))
            with self.db.atomic():
                step = Written()
                for cams in self.batches():
                    step.add(day_rows(self.db, self.tz, a, b, k=self.k, cameras=cams, keep=self.keep))
                self.written.add(step)
                if advance:
                    self.state.set("through:day", b.isoformat())
            a = b + timedelta(days=1)
            if not step.counts and a <= last:  # no data here: step over the span without any
                found = next_day(self.db, self.tz, self.query_cameras,
                                 local_midnight_utc(a, self.tz))
                skip_to = min(last, found - timedelta(days=1)) if found else last
                if skip_to >= a:
                    if advance:
                        with self.db.atomic():
                            self.state.set("through:day", skip_to.isoformat())
                    a = skip_to + timedelta(days=1)

    def late_days(self, pairs: set[tuple[str, Date]]) -> None:
        """Recompute exactly the (camera, day) rows that late data reached."""
        cameras = len({c for c, _ in pairs})
        runs = day_runs({d for _, d in pairs}, batch_days(min(cameras, self.camera_batch)))
        self.late["day"] = sum((last - first).days + 1 for first, last in runs)
        for run in runs:
            only = {(c, d) for c, d in pairs if run[0] <= d <= run[-1]}
            for cams in self.batches(list({c for c, _ in only})):
                chosen = set(cams)
                self.written.add(day_rows(self.db, self.tz, run[0], run[-1], k=self.k, cameras=cams,
                                          only={(c, d) for c, d in only if c in chosen},
                                          keep=self.keep))

    # -- week, month, year and weekday rows, from stored day rows ------------------------------
    def periods(self, grain: str, periods: list[Period], advance: bool) -> None:
        for chunk in _chunks(periods, BATCH_PERIODS[CALENDAR[grain]]):
            with self.db.atomic():
                for cams in self.batches():
                    self.written.add(period_rows(self.db, self.tz, grain, chunk, k=self.k,
                                                 cameras=cams, keep=self.keep))
                if advance:
                    self.state.set(f"through:{grain}", chunk[-1].start.isoformat())

    def late_periods(self, grain: str, days: set[tuple[str, Date]]) -> None:
        """Recompute the rows of ``grain`` that contain the (camera, day) pairs, and no others."""
        cal = CALENDAR[grain]
        keys = {(c, period_containing(cal, d), d.weekday() if grain in WEEKDAY_GRAINS else None)
                for c, d in days}
        periods = sorted({p for _, p, _ in keys})
        self.late[grain] = len(periods)
        for chunk in _chunks(periods, BATCH_PERIODS[cal]):
            only = {key for key in keys if key[1] in chunk}
            for cams in self.batches(list({c for c, _, _ in only})):
                chosen = set(cams)
                self.written.add(period_rows(self.db, self.tz, grain, chunk, k=self.k, cameras=cams,
                                             only={key for key in only if key[0] in chosen},
                                             keep=self.keep))

    # -- the two modes -------------------------------------------------------------------------
    def auto(self, grains: list[str]) -> bool:
        """Catch-up and late data; returns False when there is no data at all."""
        if self.first_day() is None:
            return False
        advance = not self.filtered  # a partial run must not move the shared state
        upto = self.upto
        for grain in grains:
            cal = CALENDAR[grain]
            last = last_complete(cal, self.tz, self.now)
            through = self.state.through(grain)
            if through is None:
                start, late = period_containing(cal, self.first_day()), set()
            else:
                start = period_containing(cal, through).next()
                mark = self.state.watermark(grain) or 0
                late = {(c, d) for c, d in self.changed(mark, upto)
                        if period_containing(cal, d).start <= through}
            due = periods_between(cal, start.start, last.start) if start <= last else []
            if grain == "day":
                if late:
                    self.late_days(late)
                if due:
                    self.days(due[0].start, due[-1].start, advance)
            else:
                if late:
                    self.late_periods(grain, late)
                if due:
                    self.periods(grain, due, advance)
            if advance:
                with self.db.atomic():
                    self.state.set(f"import:{grain}", upto)
        return True

    def explicit(self, grains: list[str], first: Date | None, last: Date | None) -> bool:
        """Recompute the periods containing ``first..last`` from raw counts; no state change.

        Without ``last`` the range ends yesterday (today is not complete yet); a date that
        names today computes today's partial figures, which catch-up redoes once it is over.
        """
        now_day = today(self.tz, self.now)
        if first is None:
            first = self.first_day()
            if first is None:
                return False
        if first > now_day:
            raise UsageError(f"{first.isoformat()} is in the future: nothing to aggregate yet")
        last = min(last, now_day) if last else max(first, now_day - timedelta(days=1))
        wanted = {g: periods_between(CALENDAR[g], first, last) for g in grains}
        lo = min(p.start for ps in wanted.values() for p in ps)
        hi = max(p.end for ps in wanted.values() for p in ps) - timedelta(days=1)
        self.days(lo, hi, advance=False)
        for grain in grains:
            if grain != "day":
                self.periods(grain, wanted[grain], advance=False)
        return True

    def summary(self, grains: list[str]) -> list[GrainSummary]:
        out = []
        shown = [g for g in ORDER if g in grains or (g == "hour" and "day" in grains)]
        for g in shown:
            labels = sorted(self.written.periods.get(g, ()))
            cal = CALENDAR[g]
            to_label = (lambda s, c=cal: period_containing(c, Date.fromisoformat(s)).label)
            through = self.state.through(g) if g != "hour" else None
            out.append(GrainSummary(
                grain=g, rows=self.written.counts.get(g, 0), periods=len(labels),
                cameras=len(self.written.cameras.get(g, ())), late=self.late.get(g, 0),
                first=to_label(labels[0]) if labels else None,
                last=to_label(labels[-1]) if labels else None,
                through=period_containing(cal, through).label if through else None))
        return out


def requested_days(date=None, since=None, until=None) -> tuple[Date | None, Date | None]:
    """``--date`` or ``--since``/``--until`` as (first, last) local days; UsageError if they clash."""
    if date is not None and (since is not None or until is not None):
        raise UsageError("--date cannot be combined with --since/--until")
    if date is not None:
        since = until = _as_date(date, "--date")
    else:
        since, until = _as_date(since, "--since"), _as_date(until, "--until")
    if since and until and since > until:
        raise UsageError(f"--since {since.isoformat()} is after --until {until.isoformat()}")
    return since, until


@retrying_conflicts
def run_aggregate(db: Database, grain: str, tz: ZoneInfo, *, k: float = 1.5, date=None,
                  since=None, until=None, cameras: list[str] | None = None, now=None,
                  keep_rows: bool = True, lock_timeout: float = LOCK_TIMEOUT,
                  camera_batch: int = CAMERA_BATCH) -> AggregateResult:
    """Compute what is due for ``grain`` (day, week, month, year, weekday or all).

    ``date`` / ``since``/``until`` (dates or ISO strings) recompute the periods containing those
    local days instead of catching up. ``now`` (epoch seconds or datetime) fixes "the last
    complete period" for tests. ``keep_rows=False`` skips building the JSON rows (large runs).
    ``camera_batch`` cameras at most are computed at a time (memory stays bounded).
    """
    if grain not in GRAINS:
        raise UsageError(f"unknown grain {grain!r}: use day, week, month, year, weekday or all")
    k = validate.k_factor(k)
    since, until = requested_days(date, since, until)
    cams = sorted(set(cameras)) if cameras else None
    grains = GRAINS[grain]
    explicit = since is not None or until is not None
    result = AggregateResult(grain=grain, tz=tz.key, k=float(k), explicit=explicit, cameras=cams)
    with db.lock("aggregate", timeout=lock_timeout):
        run = _Run(db, tz, float(k), cams, _as_epoch(now), keep_rows, camera_batch)
        run.state.check_zone(tz)
        if run.state.get("tz") is None and run.first_day() is not None:
            with db.atomic():
                run.state.set("tz", tz.key)
        if explicit:
            result.has_data = run.explicit(grains, since, until)
        else:
            result.has_data = run.auto(grains)
        result.summary = run.summary(grains)
    rank = {g: i for i, g in enumerate(ORDER)}
    result.rows = sorted(run.written.rows, key=lambda r: (
        rank[r["grain"]], r["camera"], r["period_start"], r["hour"] if r["hour"] is not None else -1,
        r["weekday"] if r["weekday"] is not None else -1))
    return result
