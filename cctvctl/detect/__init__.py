"""Outlier detection: the old trigger's job, done right (DESIGN §6).

Three methods judge each interval against a *causal* reference — built only from whole local
days before the interval — so the flags an import writes equal those a later ``cctvctl detect``
writes over the same range:

- ``robust`` (default since issue 13; docs/detection.md): the median of like days
  (Mon–Thu/Fri/Sat/Sun) at the same local hour, a spread the tightest 40% of them give, a
  practical-significance guard, runs, ``silent`` runs of zeros, and "learning" cameras; see
  :mod:`cctvctl.detect.robust`.
- ``seasonal`` (the default before): the same camera's intervals in the same local hour slot
  over the trailing weeks; flag outside ``mean ± k·σ`` with ``σ = max(std, sqrt(mean), 1)``. Slots can
  be split by workday/weekend or by weekday. While a slot has fewer than ``min_days`` days of
  history, the interval is judged by ``threshold`` instead and its flag says so
  (``params.fallback``).
- ``threshold``: high only, above ``mean + 1.5·std`` of the previous year, else month, else week,
  else day — the highest grain whose whole span the camera's history covers.

An import judges its own rows and re-judges the camera's rows in the following window (whose
reference it changed); :func:`detect_range` re-evaluates any range idempotently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from cctvctl.db.database import Database
from cctvctl.detect.engine import midnight_of, local_day_hour, local_day_of
from cctvctl.detect.methods import FLOORS, SLOTS, SeasonalParams, ThresholdParams
from cctvctl.detect.robust import LOOKBACK, RobustParams
from cctvctl.detect.model import RECORD_KEYS, DetectResult, Flag, interval_label, with_labels
from cctvctl.detect.scan import judge_chunk
from cctvctl.detect.store import (ANY_RUN, Span, cameras_between, fold_runs, import_days,
                                  interval_details, last_starts, load_flags, may_delete_flags,
                                  replace_flags)
from cctvctl.errors import UsageError
from cctvctl.db.retry import retrying_conflicts

METHODS = ("robust", "seasonal", "threshold")
#: the method ``detect`` runs unless told, and the one an import runs
DEFAULT_METHOD = "robust"
#: detection waits for a running import (and vice versa) so it never judges half-written data
LOCK_NAME = "import"
LOCK_TIMEOUT = 600
#: about this many 5-minute intervals are judged at a time (memory stays bounded on long ranges)
CHUNK_INTERVALS = 2_000_000


def make_params(method: str | None = None, k: float | None = None, weeks: int | None = None,
                slot: str | None = None, floor: str | None = None):
    """The parameters of ``method``; options that belong to another method are refused."""
    method = method or DEFAULT_METHOD
    if method not in METHODS:
        raise UsageError(f"--method must be one of {', '.join(METHODS)}, not {method!r}")
    if method == "robust":
        for name, value in (("--slot", slot), ("--floor", floor)):
            if value is not None:
                raise UsageError(f"{name} only applies to the seasonal method")
        given = {"k": k, "weeks": weeks}
        return RobustParams(**{name: v for name, v in given.items() if v is not None})
    if method == "threshold":
        for name, value in (("--weeks", weeks), ("--slot", slot), ("--floor", floor)):
            if value is not None:
                raise UsageError(f"{name} only applies to the seasonal method")
        return ThresholdParams() if k is None else ThresholdParams(k=k)
    given = {"k": k, "weeks": weeks, "slot": slot, "floor": floor}
    return SeasonalParams(**{name: v for name, v in given.items() if v is not None})


@retrying_conflicts
def detect_range(db: Database, tz: ZoneInfo, start_utc: int, end_utc: int,
                 cameras: list[str] | None = None, method: str | None = None,
                 k: float | None = None, *, weeks: int | None = None, slot: str | None = None,
                 floor: str | None = None, store: bool = True, prescreen: bool = True) -> DetectResult:
    """Judge every stored interval starting in ``[start_utc, end_utc)``; replace its flags.

    Idempotent: the method's flags in the range are deleted and the new ones written in one
    transaction (``store=False`` only computes). Returns the flags, sorted and labelled.
    ``prescreen=False`` reads and judges every row (the plain path; same flags, slower).
    """
    if end_utc <= start_utc:
        raise UsageError("the range is empty: --until must not be before --since")
    method = method or DEFAULT_METHOD
    params = make_params(method, k, weeks, slot, floor)
    if store:
        with db.lock(LOCK_NAME, LOCK_TIMEOUT), db.atomic():
            return _run_range(db, tz, start_utc, end_utc, cameras, method, params, store, prescreen)
    return _run_range(db, tz, start_utc, end_utc, cameras, method, params, store, prescreen)


def _run_range(db, tz, start_utc, end_utc, cameras, method, params, store, prescreen=True) -> DetectResult:
    chosen = sorted(set(cameras)) if cameras else cameras_between(db, start_utc, end_utc)
    run = _judge_spans(db, tz, [Span(c, start_utc, end_utc) for c in chosen], method, params, store,
                       prescreen=prescreen)
    return DetectResult(method=method, params=params.as_dict(), start_utc=start_utc,
                        end_utc=end_utc, cameras=chosen, evaluated=run.evaluated,
                        fallback=run.fallback, unjudged=run.unjudged, flags=run.flags, stored=store)


def settle_runs(db: Database) -> int:
    """Fold the flag runs the ingest account appended into ``outliers`` when there are any and
    this account may (the nightly ``aggregate`` does it, so runs do not pile up)."""
    if not db.table_exists("outlier_runs") or db.query_one(ANY_RUN) is None or not may_delete_flags(db):
        return 0
    with db.lock(LOCK_NAME, LOCK_TIMEOUT), db.atomic():  # no import appends while it folds
        return fold_runs(db)


def detect_import(db: Database, import_id: int, tz: ZoneInfo, prescreen: bool = True,
                  local_days: list[tuple[str, int]] | None = None,
                  written: pd.DataFrame | None = None) -> int:
    """Judge the rows an import wrote (inside its transaction); returns intervals flagged.

    ``local_days``: the (camera, local day ordinal)s it wrote, where the caller knows them
    (the import does); else they are taken from the ledger's UTC days, each of which spans two
    local days in a zone off UTC — twice the rows judged. ``written``: the rows it inserted
    (columns of :func:`~cctvctl.detect.store.read_rows`), judged from memory where the
    database holds no other rows in their range.

    Uses the default method and parameters. Rows of the same cameras in the window after the
    imported days are re-judged too, because late data changes their reference (and, for the
    robust method, one day more: a verdict looks back a few hours into the day before); the
    count returned is of this import's own intervals.
    """
    if local_days is not None:
        return detect_days(db, [], tz, own_import=import_id, prescreen=prescreen, local_days=local_days,
                           written=written)
    return detect_days(db, import_days(db, import_id), tz, own_import=import_id, prescreen=prescreen)


def detect_days(db: Database, touched: list[tuple[str, int]], tz: ZoneInfo,
                own_import: int | None = None, prescreen: bool = True,
                local_days: list[tuple[str, int]] | None = None,
                written: pd.DataFrame | None = None) -> int:
    """Re-judge the (camera, UTC day) pairs (or ``local_days``, (camera, local day ordinal)
    pairs) and the window after them with the default method, replacing its flags there (what
    an import does for its own days; ``imports undo`` does it for the days it gave back).
    Returns intervals flagged among ``own_import``'s rows."""
    if not touched and not local_days:
        return 0
    params = make_params(DEFAULT_METHOD)
    window = params.window_days + (DEFAULT_METHOD == "robust")
    spans = affected_spans(touched, tz, window) if touched else local_spans(local_days, tz, window)
    # nothing to re-judge after a camera's latest interval (an import in time order)
    last = {c: _next_midnight(t, tz) for c, t in last_starts(db, sorted({s.camera for s in spans})).items()}
    spans = [Span(s.camera, s.start_utc, min(s.end_utc, last[s.camera])) for s in spans
             if s.camera in last and s.start_utc < last[s.camera]]
    return _judge_spans(db, tz, spans, DEFAULT_METHOD, params, True, own_import=own_import,
                        prescreen=prescreen, written=written).own


@dataclass
class _Run:
    flags: list[Flag] = field(default_factory=list)
    evaluated: int = 0
    fallback: int = 0
    unjudged: int = 0
    own: int = 0  # flagged intervals whose row belongs to the import being judged


def _judge_spans(db: Database, tz: ZoneInfo, spans: list[Span], method: str, params, store: bool,
                 own_import: int | None = None, prescreen: bool = True,
                 written: pd.DataFrame | None = None) -> _Run:
    """Judge the spans a time chunk at a time (bounded memory); replace their flags if ``store``."""
    run = _Run()
    cameras = len({s.camera for s in spans})
    chunk_days = max(7, min(366, CHUNK_INTERVALS // (max(cameras, 1) * 288)))
    for chunk in time_chunks(spans, chunk_days, tz):
        judged = judge_chunk(db, tz, chunk, method, params, prescreen, written=written)
        details = interval_details(db, {(f.camera, f.start_utc) for f in judged.flags})
        flags = with_labels(judged.flags, {key: d.end_utc for key, d in details.items()})
        if store:
            replace_flags(db, chunk, method, flags, own_import)
        run.flags += flags
        run.evaluated += judged.evaluated
        run.fallback += judged.fallback
        run.unjudged += judged.unjudged
        run.own += sum(1 for d in details.values() if d.import_id == own_import)
    return run


def time_chunks(spans: list[Span], chunk_days: int, tz: ZoneInfo) -> Iterator[list[Span]]:
    """The spans cut at every ``chunk_days``-th local midnight, one list per chunk of time."""
    if not spans:
        return
    day = local_day_of(min(s.start_utc for s in spans), tz)
    end = max(s.end_utc for s in spans)
    while True:
        lo = midnight_of(day, tz)
        if lo >= end:
            return
        hi = midnight_of(day + chunk_days, tz)
        part = [Span(s.camera, max(s.start_utc, lo), min(s.end_utc, hi)) for s in spans
                if s.start_utc < hi and s.end_utc > lo]
        if part:
            yield part
        day += chunk_days


def affected_spans(touched: list[tuple[str, int]], tz: ZoneInfo, window_days: int) -> list[Span]:
    """Per camera, the local days an import touched (given as UTC days) plus the
    ``window_days`` after each, as runs."""
    if not touched:
        return []
    cameras = np.array([c for c, _ in touched], dtype=object)
    first_second = np.array([d for _, d in touched], dtype=np.int64) * 86400
    return local_spans(list(zip(np.concatenate([cameras, cameras]),  # a UTC day spans two local days
                                np.concatenate([local_day_hour(first_second, tz)[0],
                                                local_day_hour(first_second + 86399, tz)[0]]))),
                       tz, window_days)


def local_spans(touched: list[tuple[str, int]], tz: ZoneInfo, window_days: int) -> list[Span]:
    """Per camera, the (camera, local day ordinal)s given plus the ``window_days`` after each, as runs."""
    if not touched:
        return []
    pairs = pd.DataFrame({"camera": np.array([c for c, _ in touched], dtype=object),
                          "day": np.array([d for _, d in touched], dtype=np.int64)})
    pairs = pairs.drop_duplicates().sort_values(["camera", "day"], kind="stable")
    names, all_days = pairs["camera"].to_numpy(), pairs["day"].to_numpy(np.int64)
    cuts = np.flatnonzero(names[1:] != names[:-1]) + 1
    spans: list[Span] = []
    for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, len(names)]):
        camera, days = names[lo], all_days[lo:hi]
        run_start, run_end = int(days[0]), int(days[0]) + window_days
        for d in days[1:]:
            d = int(d)
            if d <= run_end + 1:
                run_end = d + window_days
                continue
            spans.append(_span(camera, run_start, run_end, tz))
            run_start, run_end = d, d + window_days
        spans.append(_span(camera, run_start, run_end, tz))
    return spans


def _next_midnight(epoch: int, tz: ZoneInfo) -> int:
    """The local midnight that ends the day of ``epoch``."""
    return midnight_of(local_day_of(epoch, tz) + 1, tz)


def _span(camera: str, first: int, last: int, tz: ZoneInfo) -> Span:
    return Span(str(camera), midnight_of(first, tz), midnight_of(last + 1, tz))


__all__ = ["DEFAULT_METHOD", "FLOORS", "LOOKBACK", "METHODS", "RobustParams", "RECORD_KEYS", "SLOTS", "DetectResult", "Flag", "SeasonalParams",
           "ThresholdParams", "affected_spans", "detect_days", "detect_import", "detect_range", "interval_label",
           "load_flags", "make_params"]
