"""The library: the Python entry points the video team (and the CLI) call.

Every function opens the database (``db``: a URL, else ``CCTV_DB``, else the embedded default),
uses the database's own zone (``tz`` or ``CCTV_TZ`` only where none is recorded, else it must
agree), does one job and returns the dataclass the CLI renders. Errors are ``CctvError``
subclasses with one clear line (``UsageError``: bad input, exit 2; others exit 1).

Example::

    from cctvctl import api
    result = api.import_file("counts.csv", db="sqlite:///cctv.db", tz="Asia/Seoul")
    print(result.inserted, result.duplicates)
    api.aggregate("all", db="sqlite:///cctv.db")
    print(api.report(month="2021-08", db="sqlite:///cctv.db").cameras)
    api.undo_import(result.import_id, db="sqlite:///cctv.db")  # takes it back
"""

from __future__ import annotations

from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from dataclasses import replace as dataclass_replace
from datetime import date, datetime
from typing import TYPE_CHECKING, Callable, ContextManager, Iterable, Iterator, Mapping

from cctvctl import config, ledger
from cctvctl.db import Database, connect
from cctvctl.errors import CountFileError
from cctvctl.ingest import (FileLayout, ImportOptions, ImportPolicy, ImportResult, RowChecks,
                            TimeReading)
from cctvctl.ingest import import_file as _import_file
from cctvctl.ingest import import_rows as _import_rows
from cctvctl.ledger import ImportRecord, UndoResult

if TYPE_CHECKING:  # the heavy modules load where a function needs them
    from zoneinfo import ZoneInfo

    from cctvctl.alerts import AlertRun
    from cctvctl.detect.episodes import Episode
    from cctvctl.detect.model import DetectResult
    from cctvctl.report.model import Report
    from cctvctl.stats.run import AggregateResult
    from cctvctl.status import DbStatus
    from cctvctl.zone import Zone


def open_database(url: str | None = None, *, create: bool = True) -> Database:
    """Connect (and migrate) the database at ``url``, ``CCTV_DB`` or the embedded default.

    ``create=False`` refuses a SQLite file that does not exist (exit 1) instead of creating an
    empty one: a mistyped path under cron must fail loudly, not aggregate nothing forever.

    Example: ``with api.open_database("sqlite:///cctv.db") as db: db.scalar("SELECT 1")``
    """
    return connect(config.resolve_db_url(url), create=create)


def _options(database: Database, tz: str | None, groups: dict, fields: dict) -> ImportOptions:
    """The database's zone (``tz`` or CCTV_TZ only where none is recorded, else it must
    agree) and the grouped options, flattened."""
    return ImportOptions.of(zone_of(database, tz).tz, **groups, **fields)


def import_file(path: str, *, db: str | None = None, tz: str | None = None,
                layout: FileLayout | None = None, time: TimeReading | None = None,
                checks: RowChecks | None = None, policy: ImportPolicy | None = None,
                **fields) -> ImportResult:
    """Import one count file; raises ``CountFileError`` (with ``.problems``) when rejected.

    The options come in four groups, each a small dataclass with the CLI's defaults:
    ``layout`` (:class:`FileLayout`: camera, mapping, columns, wide, encoding, delimiter),
    ``time`` (:class:`TimeReading`: interval in seconds, DST rules, date order, format),
    ``checks`` (:class:`RowChecks`: max_count, na, on_error, rejected_path) and ``policy``
    (:class:`ImportPolicy`: replace, detect). The same names given loose (``camera="gate-1"``)
    still work, as before the groups.

    Example: ``api.import_file("gate.csv", db="sqlite:///cctv.db",
    layout=api.FileLayout(camera="gate-1"), policy=api.ImportPolicy(detect=False))``
    """
    groups = {"layout": layout, "time": time, "checks": checks, "policy": policy}
    with open_database(db) as database:
        return _import_file(database, path, _options(database, tz, groups, fields))


def import_rows(rows: Iterable[Mapping], *, db: str | None = None, tz: str | None = None,
                source: str = "<rows>", layout: FileLayout | None = None,
                time: TimeReading | None = None, checks: RowChecks | None = None,
                policy: ImportPolicy | None = None, **fields) -> ImportResult:
    """Import rows given as dicts (``camera``, ``start``, ``end``, ``people``, ``vehicle``, …),
    with the option groups of :func:`import_file`.

    Example: ``api.import_rows([{"camera": "gate-1", "start": "2021-08-01T08:00",
    "end": "2021-08-01T08:05", "people": 12, "vehicle": 3}], db=url)``
    """
    groups = {"layout": layout, "time": time, "checks": checks, "policy": policy}
    with open_database(db) as database:
        return _import_rows(database, rows, _options(database, tz, groups, fields), source=source)


@dataclass
class FileImport:
    """One file of :func:`import_files`: its result, or the refusal (a ``CountFileError`` with
    the ``file:line: reason`` lines in ``.problems`` and, where it got that far, ``.result``)."""

    path: str
    result: ImportResult | None = None
    refused: CountFileError | None = None


@dataclass
class ImportRun:
    """:func:`import_files` at work: the database (printable, never a secret), its zone, and
    the files' outcomes, each as soon as its file is done."""

    database: str
    zone: Zone
    files: Iterator[FileImport]


@contextmanager
def import_files(paths: list[str], *, db: str | None = None, tz: str | None = None,
                 layout: FileLayout | None = None, time: TimeReading | None = None,
                 checks: RowChecks | None = None, policy: ImportPolicy | None = None,
                 progress: Callable[[str], ContextManager] | None = None,
                 **fields) -> Iterator[ImportRun]:
    """Import several files one after the other (``"-"``: standard input), each its own
    transaction: a refused file does not stop the others. ``progress(path)`` is called as a
    file starts; the context it returns may give a ``(bytes done, total)`` callback.

    Example::

        with api.import_files(["a.csv", "b.csv"], db=url) as run:
            for done in run.files:
                print(done.path, done.result.inserted if done.result else done.refused)
    """
    groups = {"layout": layout, "time": time, "checks": checks, "policy": policy}
    checked = ImportOptions.of(None, **groups, **fields)  # bad options: refused before a database
    with open_database(db) as database:                   # is opened (or a SQLite file created)
        zone = zone_of(database, tz)
        options = dataclass_replace(checked, tz=zone.tz)

        def files() -> Iterator[FileImport]:
            for path in paths:
                with progress(path) if progress is not None else nullcontext() as update:
                    try:
                        result = _import_file(database, path, options, update)
                    except CountFileError as exc:
                        refused = exc
                    else:
                        refused = None
                yield FileImport(path, result=result) if refused is None \
                    else FileImport(path, refused=refused)

        yield ImportRun(database.url.display(), zone, files())


def list_imports(*, db: str | None = None, limit: int | None = 50,
                 status: str | None = None) -> list[ImportRecord]:
    """The import ledger, newest first (``status``: ok, rejected or undone).

    Example: ``[r.id for r in api.list_imports(db=url, status="ok")]``
    """
    with open_database(db, create=False) as database:
        return ledger.list_imports(database, limit=limit, status=status)


def undo_import(import_id: int, *, db: str | None = None, detect: bool = True) -> UndoResult:
    """Take back one import: its rows removed, the values it replaced restored, statistics and
    outlier flags of its days recomputed. Raises ``UsageError`` where it cannot (the message
    says why: unknown, rejected, already undone, or a later import replaced its rows).

    Example: ``api.undo_import(7, db=url).removed``
    """
    with open_database(db, create=False) as database:
        return ledger.undo_import(database, import_id, detect=detect)


def zone_of(database: Database, tz: str | None = None) -> Zone:
    """The zone ``database`` uses: the recorded one (a different ``tz`` is refused), else ``tz``
    or ``CCTV_TZ``, else the system zone.

    Example: ``with api.open_database(url) as db: print(api.zone_of(db).key)``
    """
    import os

    from cctvctl.zone import resolve_zone

    requested = tz or os.environ.get(config.ENV_TZ) or None
    return resolve_zone(database, config.load_zone(requested).key if requested else None)


def aggregate(grain: str = "all", *, db: str | None = None, tz: str | None = None, k: float = 1.5,
              date: str | None = None, since: str | None = None, until: str | None = None,
              cameras: list[str] | None = None, keep_rows: bool = False) -> AggregateResult:
    """Write the statistics that are due (``grain``: day, week, month, year, weekday or all): the
    job cron runs. ``date`` or ``since``/``until`` (local days) recompute those periods instead;
    ``keep_rows`` returns every row written in ``.rows``. Running again is a no-op.

    Example: ``api.aggregate("all", db=url).summary``
    """
    from cctvctl import validate
    from cctvctl.errors import UsageError
    from cctvctl.stats.run import GRAINS, requested_days, run_aggregate

    if grain not in GRAINS:
        raise UsageError(f"unknown grain {grain!r}: use {', '.join(GRAINS)}")
    requested_days(date, since, until)  # bad usage is reported before the database is opened
    validate.k_factor(k)
    from cctvctl.detect import settle_runs

    with open_database(db, create=False) as database:
        result = run_aggregate(database, grain, zone_of(database, tz).tz, k=k, date=date, since=since,
                               until=until, cameras=cameras, keep_rows=keep_rows)
        settle_runs(database)  # flags the ingest account appended become plain rows of outliers
        return result


@dataclass
class Detection:
    """A detection run over local days ``first`` … ``last`` (inclusive) in zone ``tz``."""

    first: date
    last: date
    tz: ZoneInfo
    result: DetectResult

    @property
    def flags(self) -> list:
        return self.result.flags

    def episodes(self) -> list[Episode]:
        """The run's flags grouped into episodes (consecutive flagged intervals)."""
        from cctvctl.detect.episodes import build_episodes

        return build_episodes(self.result.flags)


def _day_range(since: str | date, until: str | date | None, zone) -> tuple[date, date, int, int]:
    """Local days (ISO text or dates) → (first, last, UTC start, UTC end); ``until`` defaults to today."""
    from datetime import timedelta

    from cctvctl.errors import UsageError
    from cctvctl.periods import local_midnight_utc, parse_date, today

    first = since if isinstance(since, date) else parse_date(since, "--since")
    last = until if isinstance(until, date) or until is None else parse_date(until, "--until")
    last = today(zone) if last is None else last
    if last < first:
        raise UsageError(f"--until {last} is before --since {first}")
    return first, last, local_midnight_utc(first, zone), local_midnight_utc(last + timedelta(days=1), zone)


def detect(since: str | date, until: str | date | None = None, *, db: str | None = None,
           tz: str | None = None, cameras: list[str] | None = None, method: str | None = None,
           k: float | None = None, weeks: int | None = None, slot: str | None = None,
           floor: str | None = None, store: bool = True, prescreen: bool = True) -> Detection:
    """Judge the intervals of local days ``since`` … ``until`` (default today) for outliers;
    store the flags (replacing the method's earlier ones in the range) unless ``store=False``.
    ``prescreen=False`` judges every interval the plain way (same flags, slower: the reference
    the fast path is tested against).

    Example: ``api.detect("2021-08-01", "2021-08-31", db=url, store=False).flags``
    """
    from cctvctl.detect import detect_range, make_params
    from cctvctl.errors import UsageError
    from cctvctl.periods import parse_date

    if since is None:
        raise UsageError("--since is required (first local day, YYYY-MM-DD)")
    if not isinstance(since, date):
        parse_date(since, "--since")
    if until is not None and not isinstance(until, date):
        parse_date(until, "--until")
    if isinstance(since, (str, date)) and isinstance(until, (str, date)):
        _day_range(since, until, None)  # an inverted range is refused before the database opens
    make_params(method, k, weeks, slot, floor)  # bad options are refused before opening too
    with open_database(db, create=False) as database:
        zone = zone_of(database, tz).tz
        first, last, start, end = _day_range(since, until, zone)
        result = detect_range(database, zone, start, end, cameras=cameras, method=method, k=k,
                              weeks=weeks, slot=slot, floor=floor, store=store, prescreen=prescreen)
    return Detection(first, last, zone, result)


def episodes(since: str | date, until: str | date | None = None, *, db: str | None = None,
             tz: str | None = None, cameras: list[str] | None = None,
             method: str | None = None) -> list[Episode]:
    """The stored flags of local days ``since`` … ``until`` as episodes (read only).

    Example: ``[e.sentence(zone) for e in api.episodes("2021-08-01", db=url)]``
    """
    from cctvctl.detect.episodes import episodes as stored_episodes
    from cctvctl.report import open_for_reading

    with open_for_reading(config.resolve_db_url(db)) as database:
        zone = zone_of(database, tz).tz
        _, _, start, end = _day_range(since, until, zone)
        return stored_episodes(database, start, end, cameras, method)


def alerts(consumer: str = "default", *, db: str | None = None, tz: str | None = None,
           since: str | date | None = None, now: int | datetime | None = None, dark_after_hours: float = 3.0,
           deliver: Callable[[list, ZoneInfo], list] | None = None, command: str | None = None,
           timeout: float = 30.0) -> AlertRun:
    """Tell ``consumer`` the episodes it has not been told (outliers, silent and dark cameras)
    from local day ``since`` (default 7 days before ``now``: epoch seconds, or a naive local
    datetime in the database's zone; default the clock).

    ``deliver(episodes, tz)`` returns ``(episode, error or None)`` per episode; ``command`` runs a
    shell command per episode with its JSON on stdin instead; with neither, the pending episodes
    are returned in ``.delivered`` and marked told. Undelivered ones are retried next run.

    Example: ``for e in api.alerts("mail", db=url).delivered: print(e.sentence(zone))``
    """
    import time
    from datetime import timedelta

    from cctvctl.alerts import check_consumer, exec_delivery, run_alerts
    from cctvctl.errors import UsageError
    from cctvctl.periods import local_midnight_utc, parse_date

    check_consumer(consumer)
    if not (0 <= dark_after_hours <= 24 * 366):
        raise UsageError(f"--dark-after must be between 0 and 8784 hours, not {dark_after_hours:g}")
    if not (0 < timeout <= 3600):
        raise UsageError(f"--timeout must be between 0 and 3600 seconds, not {timeout:g}")
    first = since if isinstance(since, date) or since is None else parse_date(since)
    with open_database(db, create=False) as database:
        zone = zone_of(database, tz).tz
        now_utc = (int(time.time()) if now is None else
                   int(now.replace(tzinfo=zone).timestamp()) if isinstance(now, datetime) else int(now))
        first = first or datetime.fromtimestamp(now_utc, zone).date() - timedelta(days=7)
        since_utc = local_midnight_utc(first, zone)
        if since_utc >= now_utc:
            raise UsageError(f"--since {first} is not before --now")
        dark = None if dark_after_hours == 0 else int(dark_after_hours * 3600)
        if command is not None:
            send = exec_delivery(command, zone, timeout, consumer)
        elif deliver is not None:
            def send(found):
                return deliver(found, zone)
        else:
            def send(found):
                return [(e, None) for e in found]
        return run_alerts(database, consumer, since_utc, now_utc, send, dark_after_s=dark)


def report(*, day: str | None = None, week: str | None = None, month: str | None = None,
           year: str | None = None, db: str | None = None, tz: str | None = None,
           cameras: list[str] | None = None, compare: str = "previous", top: int = 20,
           per_camera: int = 0) -> Report:
    """The report of one local period (exactly one of ``day`` YYYY-MM-DD, ``week`` YYYY-Www,
    ``month`` YYYY-MM, ``year`` YYYY), read with SELECT only: figures from the stats table
    where aggregated, else computed now. ``cctvctl.render`` formats it.

    Example: ``r = api.report(month="2021-08", db=url); print(r.cameras[0].camera)``
    """
    from cctvctl.errors import UsageError
    from cctvctl.periods import parse_period
    from cctvctl.report import COMPARE_MODES, build_report, open_for_reading

    given = [(g, v) for g, v in (("day", day), ("week", week), ("month", month), ("year", year)) if v]
    if len(given) != 1:
        raise UsageError("give exactly one of --day, --week, --month or --year"
                         + (f" (got {', '.join('--' + g for g, _ in given)})" if given else ""))
    if compare not in COMPARE_MODES:
        raise UsageError(f"--compare must be one of {', '.join(COMPARE_MODES)}")
    if top < 0:
        raise UsageError("--top must be 0 (every outlier) or more")
    period = parse_period(*given[0])
    with open_for_reading(config.resolve_db_url(db)) as database:
        return build_report(database, period, zone_of(database, tz).tz, cameras=cameras,
                            compare=compare, top=top, per_camera=per_camera)


def status(*, db: str | None = None, tz: str | None = None) -> DbStatus:
    """What the database holds: backend, schema version, cameras, rows, time covered, the last
    import, its zone (``.zone``) and, on Galera, the cluster.

    Example: ``s = api.status(db=url); print(s.rows, s.first, s.last, s.zone.key)``
    """
    from cctvctl.status import db_status

    with open_database(db, create=False) as database:
        zone = zone_of(database, tz)
        found = db_status(database, zone.tz)
    found.zone = zone
    return found


__all__ = ["FileImport", "FileLayout", "ImportPolicy", "ImportRun", "RowChecks", "TimeReading",
           "import_files", "Detection", "aggregate", "alerts", "detect", "episodes", "import_file", "import_rows",
           "list_imports", "open_database", "report", "status", "undo_import", "zone_of"]
