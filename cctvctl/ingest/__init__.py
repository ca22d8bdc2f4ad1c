"""Import count files (or rows from Python) into the database: validated, all or nothing.

One import is one transaction. Every row is validated; by default a file with any bad row is
rejected whole (nothing written) with ``file:line: reason`` problems, and with
``on_error="skip"`` the good rows are imported and every bad row goes, with its reason, to a
``*.rejected.csv`` beside the input. Identical content imported again with the same options is
recognised by its sha256 in the ``imports`` ledger and is a no-op — except with ``replace``,
which always compares the file with the rows stored now (other imports may have changed them).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import IO, Callable, Iterable, Mapping
from zoneinfo import ZoneInfo

from cctvctl import validate
from cctvctl.db.database import Database
from cctvctl import safefile
from cctvctl.errors import CountFileError, UsageError
from cctvctl.ingest.columns import parse_columns, parse_mapping, parse_wide
from cctvctl.ingest.reader import (INT_MAX, CountReader, FastPath, NeedExactReader, Problem,
                                   iter_records, sniff_delimiter, stream_newline,
                                   validate_camera_name)
from cctvctl.ingest.scan import scan_file
from cctvctl.ingest.timeparse import (AMBIGUOUS, EPOCH_FORMATS, NONEXISTENT, DateOrderChanged,
                                      DstTally, TimeParser)
from cctvctl.ingest.writer import CountWriter
from cctvctl.safetext import csv_cell
from cctvctl.zone import check_zone, resolve_zone
from cctvctl.db.retry import retrying_conflicts
from cctvctl.db.writeset import check_import_size

SHOWN_PROBLEMS = 20
DEFAULT_MAX_COUNT = 100_000

INSERT_IMPORT = ("INSERT INTO imports (source, sha256, options_sha256, tz, status, started_at) "
                 "VALUES (?, ?, ?, ?, ?, ?)")
FINISH_IMPORT = ("UPDATE imports SET rows_read = ?, inserted = ?, duplicates = ?, replaced = ?, "
                 "rejected = ?, status = ?, finished_at = ? WHERE id = ?")
FIND_IMPORT = ("SELECT id, started_at FROM imports WHERE sha256 = ? AND options_sha256 = ? "
               "AND status = 'ok' ORDER BY id LIMIT 1")
FIRST_PASS = ("SELECT start_utc FROM counts WHERE camera = ? AND start_utc IN (?, ?) "
              "AND import_id <> ?")
RECORD_REJECTED = ("INSERT INTO imports (source, sha256, options_sha256, tz, rows_read, rejected, "
                   "status, started_at, finished_at) VALUES (?, ?, ?, ?, ?, ?, 'rejected', ?, ?)")


@dataclass
class ImportOptions:
    """How to read and what to do with bad or conflicting rows (defaults match the CLI)."""

    tz: ZoneInfo | None = None  # None: the database's zone (cctvctl.zone)
    camera: str | None = None
    interval: int | None = None  # seconds, where the file has no end column; None: inferred
    mapping: dict[str, str] = field(default_factory=dict)
    encoding: str = "utf-8-sig"
    delimiter: str | None = None
    on_error: str = "reject"  # or "skip"
    replace: bool = False
    nonexistent: str = "reject"
    ambiguous: str = "infer"
    dayfirst: bool = False
    time_format: str | None = None
    monthfirst: bool = False
    max_count: int = DEFAULT_MAX_COUNT
    rejected_path: str | None = None
    detect: bool = True
    chunk_rows: int = 50_000
    #: a headerless file's columns (``"camera,start,people"`` or a list)
    columns: list[str] | str | None = None
    #: cell texts meaning "unknown" in count columns (stored as NULL)
    na: tuple[str, ...] = ()
    #: wide file: count column → camera (``["West=west", …]`` or a dict)
    wide: dict[str, str] = field(default_factory=dict)
    wide_metric: str = "people"
    #: called with each chunk's distinct cameras before they are written; raising aborts the
    #: whole import (``cctvctl serve`` refuses cameras outside a device token's scope)
    camera_check: Callable[[list[str]], None] | None = field(default=None, compare=False)
    #: False: skipped rows are reported in the result only, no ``*.rejected.csv`` (a server)
    write_rejected: bool = True

    def __post_init__(self) -> None:
        if self.on_error not in ("reject", "skip"):
            raise UsageError(f"--on-error must be reject or skip, not {self.on_error!r}")
        if self.nonexistent not in NONEXISTENT:
            raise UsageError(f"--nonexistent must be one of {', '.join(NONEXISTENT)}")
        if self.ambiguous not in AMBIGUOUS:
            raise UsageError(f"--ambiguous must be one of {', '.join(AMBIGUOUS)}")
        if self.interval is not None:  # None: inferred from the file's rows
            self.interval = validate.interval_seconds(self.interval)
        if not 0 < self.max_count <= INT_MAX:
            raise UsageError(f"--max-count must be between 1 and {INT_MAX} (the largest count "
                             "a MySQL INTEGER column holds)")
        if isinstance(self.mapping, list):
            self.mapping = parse_mapping(self.mapping)
        if isinstance(self.wide, list):
            self.wide = parse_wide(self.wide)
        for cam in self.wide.values():
            validate_camera_name(cam)
        if self.wide and self.camera:
            raise UsageError("--camera and --wide exclude each other (--wide names the cameras)")
        if self.wide_metric not in ("people", "vehicle"):
            raise UsageError(f"--wide-metric must be people or vehicle, not {self.wide_metric!r}")
        if isinstance(self.columns, str):
            self.columns = parse_columns(self.columns, self.mapping, self.wide)
        self.na = tuple(dict.fromkeys(v.strip() for v in self.na))
        validate.encoding(self.encoding)
        if self.delimiter is not None and len(sniff_delimiter("", self.delimiter)) != 1:
            raise UsageError(f"--delimiter must be one character (or tab), not {self.delimiter!r}")
        if self.dayfirst and self.monthfirst:
            raise UsageError("--dayfirst and --monthfirst contradict each other: give one")
        if self.time_format is not None:
            _check_time_format(self.time_format)

    def fingerprint(self) -> str:
        """What changes the meaning of the same bytes (zone, mapping, DST rules…)."""
        meaning = {"tz": self.tz.key, "camera": self.camera, "interval": self.interval,
                   "mapping": sorted(self.mapping.items()), "encoding": self.encoding,
                   "delimiter": self.delimiter, "nonexistent": self.nonexistent,
                   "ambiguous": self.ambiguous, "dayfirst": self.dayfirst,
                   "time_format": self.time_format, "max_count": self.max_count,
                   "on_error": self.on_error}
        if self.columns or self.na or self.wide:  # absent: the same fingerprint as before
            meaning.update(columns=self.columns, na=sorted(self.na), wide=sorted(self.wide.items()),
                           wide_metric=self.wide_metric)
        if self.monthfirst:  # only when set: fingerprints of earlier imports stay valid
            meaning["monthfirst"] = True
        if self.replace:  # only when set: earlier ledgers' fingerprints stay valid
            meaning["replace"] = True
        return hashlib.sha256(json.dumps(meaning, sort_keys=True).encode()).hexdigest()


def _check_time_format(fmt: str) -> None:
    import pandas as pd

    if fmt in EPOCH_FORMATS:
        return
    try:
        pd.to_datetime(pd.Series(["2000-01-01"]), format=fmt, errors="coerce")
    except (ValueError, TypeError) as exc:
        raise UsageError(f"--time-format {fmt!r}: {exc}") from None


@dataclass
class ImportResult:
    """What an import did; ``as_dict`` is the documented ``--format json`` object."""

    source: str
    status: str  # ok | unchanged | rejected
    import_id: int | None = None
    read: int = 0
    inserted: int = 0
    duplicates: int = 0
    replaced: int = 0
    rejected: int = 0
    unknown: int = 0  # rows whose every count was a --na marker (not stored)
    outliers: int = 0
    dst: dict = field(default_factory=dict)
    rejected_file: str | None = None
    sha256: str = ""
    seconds: float = 0.0
    interval: int | None = None  # seconds, where the file has no end column
    interval_source: str | None = None  # option, file (inferred), default, end column
    previous_import: int | None = None
    problems: list[Problem] = field(default_factory=list, repr=False)

    def as_dict(self) -> dict:
        d = asdict(self)
        d.pop("problems")
        d["seconds"] = round(self.seconds, 3)
        return d


ProgressFn = Callable[[int, int], None]


def import_file(db: Database, path: str | os.PathLike, options: ImportOptions,
                progress: ProgressFn | None = None) -> ImportResult:
    """Import one file (``"-"`` reads standard input). Raises CountFileError when rejected.

    The file is opened once: its hash, its rows and the rejected rows' text all come from that
    one descriptor, so a file replaced (renamed over) during the import cannot pair one
    version's hash with another's rows.
    """
    path = str(path)
    if path == "-":
        src = sys.stdin.buffer if hasattr(sys.stdin, "buffer") else io.BytesIO(sys.stdin.read().encode())
        _check_rejected_target(options, "<stdin>", None)
        with _spool(src) as raw:
            return _import_open(db, raw, "<stdin>", options, progress)
    p = Path(path)
    if not p.exists():
        raise UsageError(f"{path}: no such file")
    if p.is_dir():
        raise UsageError(f"{path}: is a directory, not a count file")
    _check_rejected_target(options, path, path)
    if not p.is_file():  # a pipe (/dev/stdin, <(…)) can be read only once: hash a copy
        with open(path, "rb") as src, _spool(src) as raw:
            return _import_open(db, raw, path, options, progress)
    with open(path, "rb") as raw:
        return _import_open(db, raw, path, options, progress)


def import_stream(db: Database, src: IO[bytes], source: str, options: ImportOptions) -> ImportResult:
    """Import a byte stream (an HTTP body, a socket) named ``source`` in messages."""
    _check_rejected_target(options, source, None)
    with _spool(src) as raw:
        return _import_open(db, raw, source, options, None)


def import_rows(db: Database, rows: Iterable[Mapping], options: ImportOptions,
                source: str = "<rows>") -> ImportResult:
    """Import rows given as mappings (``camera``, ``start``, ``people``, …) with the same rules.

    ``start``/``end`` may be ISO strings or datetimes (naive = local in ``options.tz``).
    Line numbers in problems count rows from 1, as if there were a header line before them.
    """
    _check_rejected_target(options, source, None)
    with tempfile.TemporaryFile("w+b") as raw:  # no name: nothing to leave behind
        handle = io.TextIOWrapper(raw, encoding="utf-8", newline="")
        writer = None
        for number, row in enumerate(rows, start=2):
            if writer is None:
                writer = csv.DictWriter(handle, fieldnames=list(row.keys()))
                writer.writeheader()
            extra = [str(k) for k in row.keys() if k not in writer.fieldnames]
            if extra:
                raise CountFileError(f"{source}:{number}: field(s) {', '.join(extra)} not in "
                                     "the first row (every row needs the same keys)")
            writer.writerow({k: _text(v) for k, v in row.items()})
        handle.flush()
        handle.detach()
        if writer is None:
            raise CountFileError(f"{source}: no rows to import")
        opts = ImportOptions(**{**options.__dict__, "encoding": "utf-8"})
        return _import_open(db, raw, source, opts, None)


def _text(value) -> str:
    if value is None:
        return ""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _spool(src: IO[bytes]) -> IO[bytes]:
    """A stream → an anonymous temporary file (bounded memory; hashed and read like any
    file). It has no name (or loses it at once), so even a killed import leaves nothing."""
    out = tempfile.TemporaryFile("w+b", prefix=safefile.pid_named("cctvctl-stdin-"))
    try:
        shutil.copyfileobj(src, out, 1 << 20)
        out.seek(0)
    except BaseException:
        out.close()
        raise
    return out


def _rejected_target(options: ImportOptions, source: str) -> str:
    """``FILE.rejected.csv`` beside the input (``stdin.rejected.csv``/``rows.rejected.csv`` here)."""
    if options.rejected_path:
        return options.rejected_path
    if source.startswith("<") and source.endswith(">"):
        return f"{source.strip('<>')}.rejected.csv"
    return f"{source}.rejected.csv"


#: the first bytes of every rejected-rows file cctvctl writes (its header)
_REJECTED_HEADER = b"line,reason,"
_REJECTED_FIX = "choose another place with --rejected"


def _rejected_owner(options: ImportOptions):
    """A default name is replaced only where cctvctl wrote it; a --rejected PATH the user named
    is replaced whatever regular file it is (never a link, a device or the input)."""
    return None if options.rejected_path else safefile.starts_with(_REJECTED_HEADER)


def _check_rejected_target(options: ImportOptions, source: str, path: str | None) -> None:
    """Before anything is read: a rejected-rows file that could not be written safely, or
    that is the input itself (any spelling, a hard or symbolic link), is refused (exit 2)."""
    if options.on_error != "skip" or not options.write_rejected:
        return
    target = _rejected_target(options, source)
    if path is not None and os.path.exists(target) and safefile.same_file(target, path):
        raise UsageError(f"{target}: refusing to write the rejected rows there: it is the input "
                         f"file itself ({_REJECTED_FIX})")
    safefile.check_target(target, what="the rejected rows", fix=_REJECTED_FIX,
                          ours=_rejected_owner(options))


@dataclass
class _Pass:
    """What one reading of the file produced (a fallback to the exact reader starts a new one)."""

    read: int = 0
    inserted: int = 0
    duplicates: int = 0
    replaced: int = 0
    problems: list[Problem] = field(default_factory=list)  # the first SHOWN_PROBLEMS
    total_problems: int = 0
    unknown: int = 0


@retrying_conflicts
def _import_open(db: Database, raw: IO[bytes], source: str, options: ImportOptions,
                 progress: ProgressFn | None) -> ImportResult:
    started = time.time()
    clock = time.monotonic()
    if options.tz is None:
        options = replace(options, tz=resolve_zone(db, None).tz)
    fingerprint = options.fingerprint()
    scan = scan_file(raw, options.encoding, options.delimiter, header=options.columns is None)
    result = ImportResult(source=source, status="ok", sha256=scan.sha256)
    check_import_size(db, source, scan.lines)
    with db.lock("import", timeout=600):
        # --replace always compares with what is stored now: a later import (or an undo) may
        # have changed the rows since these bytes were last imported
        previous = None if options.replace else db.query_one(FIND_IMPORT, (scan.sha256, fingerprint))
        if previous:
            result.status = "unchanged"
            result.previous_import = int(previous[0])
            result.dst = DstTally().as_dict()
            result.seconds = time.monotonic() - clock
            return result
        size = os.fstat(raw.fileno()).st_size
        bad_rows = _BadRows(options.on_error == "skip" and options.write_rejected)
        pending: safefile.PendingFile | None = None  # the rejected rows, renamed in at the end
        try:
            with db.atomic():
                check_zone(db, options.tz)  # another zone is refused; this ledger row records it
                db.execute(INSERT_IMPORT, (source[:1024], scan.sha256, fingerprint, options.tz.key,
                                           "running", int(started)))
                import_id = _last_id(db)
                result.import_id = import_id
                db.execute("SAVEPOINT import_rows")
                fast, order = True, None
                while True:
                    try:
                        reader, writer, done = _read_and_write(db, raw, source, scan, options,
                                                               import_id, bad_rows, progress, size,
                                                               fast=fast, order=order)
                        break
                    except NeedExactReader:  # rare: the C parser objected; read it again exactly
                        fast = False
                    except DateOrderChanged as changed:  # a later chunk decided the date order
                        if order is not None:
                            raise  # a reading with the order fixed never asks again
                        order = changed
                    db.execute("ROLLBACK TO SAVEPOINT import_rows")
                    bad_rows.reset()
                    raw.seek(0)
                spacing = reader.spacing_problem()
                if spacing:  # the interval disagrees with the file's rows: nothing is kept
                    raise CountFileError(spacing)
                result.interval, result.interval_source = reader.interval, reader.interval_source
                if reader.layout.has("end"):
                    result.interval_source = "end column"
                result.read, result.inserted = done.read, done.inserted
                result.duplicates, result.replaced = done.duplicates, done.replaced
                result.dst = reader.parser.tally.as_dict()
                result.rejected = done.total_problems
                result.unknown = done.unknown
                result.problems = done.problems
                if done.total_problems and options.on_error == "reject":
                    raise _Rejected()
                writer.finish()
                if done.total_problems:
                    pending = bad_rows.write(options, raw, source, reader)
                if options.detect and (result.inserted or result.replaced):
                    result.outliers = _detect(db, import_id, options)
                db.execute(FINISH_IMPORT, (result.read, result.inserted, result.duplicates,
                                           result.replaced, result.rejected, "ok", int(time.time()),
                                           import_id))
                if pending is not None:
                    result.rejected_file = pending.commit()
        except _Rejected:
            result.status = "rejected"
            result.import_id = None
            result.inserted = result.duplicates = result.replaced = 0
            _record_rejected(db, source, scan.sha256, fingerprint, options, result, started)
            result.seconds = time.monotonic() - clock
            total, shown = result.rejected, len(result.problems)
            more = f" (showing the first {shown})" if total > shown else ""
            err = CountFileError(
                f"{source}: rejected, {total} bad row{'s' if total != 1 else ''}"
                f"{more}; nothing was written (use --on-error skip to import the good rows)"
                f"{_marker_hint(result.problems, options)}",
                problems=[p.format(source) for p in result.problems], total_problems=total)
            err.result = result
            raise err from None
        except BaseException:  # e.g. unreadable mid-file or the database went away
            if pending is not None:  # nothing was imported: no list of skipped rows (only
                pending.undo()       # the file this import wrote is removed, never another)
            result.rejected_file = None
            raise
        finally:
            bad_rows.close()
        if db.backend == "sqlite" and (result.inserted or result.replaced):
            # fresh planner statistics (DESIGN §3: a one-day scan 66 ms → 15 ms); sampled, so
            # milliseconds even on a large table
            db.execute("PRAGMA analysis_limit = 1000")
            db.execute("ANALYZE")
    result.seconds = time.monotonic() - clock
    return result


def _read_and_write(db, raw, source, scan, options, import_id, bad_rows, progress, size,
                    *, fast: bool, order: DateOrderChanged | None = None):
    """Stream the file through the reader into the writer; returns (reader, writer, _Pass).

    ``order``: the date order a previous reading proved for the whole file.
    """
    raw.seek(0)
    stream = io.TextIOWrapper(raw, encoding=options.encoding, errors="strict",
                              newline=stream_newline(scan))
    parser = TimeParser(options.tz, nonexistent=options.nonexistent, ambiguous=options.ambiguous,
                        dayfirst=options.dayfirst, monthfirst=options.monthfirst,
                        time_format=options.time_format)
    if order is not None:
        parser.file_order, parser.evidence = order.order, order.evidence
    # the writer thread uses the connection while this one parses: the rare look-up of a stored
    # first pass (a fall-back hour split across imports) waits for the write in flight
    db_busy = threading.Lock()
    parser.stored_first_pass = _first_pass_stored(db, import_id, db_busy)

    def write(rows, staged):
        with db_busy:
            return writer.write(rows, staged)
    reader = CountReader(stream, source, parser=parser, camera=options.camera,
                         mapping=options.mapping, interval=options.interval,
                         max_count=options.max_count, delimiter=options.delimiter,
                         chunk_rows=options.chunk_rows,
                         fast=FastPath(raw, options.encoding, scan) if fast else None,
                         columns=options.columns, na=options.na, wide=options.wide,
                         wide_metric=options.wide_metric)
    reader.scan = scan  # how the rejected rows are read again (the same line splitting)
    writer = CountWriter(db, import_id, replace=options.replace, tz=options.tz)
    done = _Pass()

    def collect(chunk, outcome) -> None:
        _pause_point(outcome.inserted + outcome.replaced)
        done.inserted += outcome.inserted
        done.duplicates += outcome.duplicates
        done.replaced += outcome.replaced
        problems = chunk.problems + [Problem(line, reason) for line, reason in outcome.problems]
        if problems:
            problems.sort(key=lambda p: p.line)
            done.total_problems += len(problems)
            bad_rows.add(problems)
            done.problems.extend(problems[: max(0, SHOWN_PROBLEMS - len(done.problems))])

    # The database writes chunk k (one thread, in order) while this thread parses chunk k+1.
    # This thread also formats each chunk for the bulk path (writer.stage), so the writer
    # thread spends its time in one GIL-free database call per chunk (SQLite's json_each
    # INSERT, MySQL's LOAD DATA): row-by-row binding there would hand the GIL back and forth
    # and leave one core idle.
    # Written even once the file is refused (rolled back at the end): only the writer finds
    # conflicts with stored rows and keys repeated across chunks, and the count must be complete.
    pending = None
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="cctvctl-writer") as pool:
        try:
            for chunk in reader.chunks():
                done.read += chunk.read
                done.unknown += chunk.unknown
                if options.camera_check is not None and len(chunk.rows):
                    options.camera_check(sorted(set(chunk.rows["camera"])))
                staged = writer.stage(chunk.rows)
                if pending is not None:
                    collect(*pending[0], pending[1].result())
                pending = ((chunk,), pool.submit(write, chunk.rows, staged))
                if progress:  # the fast path reads by name: estimate from the rows read
                    estimate = size * done.read // max(scan.lines, 1)
                    progress(min(max(raw.tell(), estimate), size), size)
            if pending is not None:
                collect(*pending[0], pending[1].result())
                pending = None
        finally:
            if pending is not None:  # an error while parsing: let the write in flight finish
                pending[1].exception()
            writer.close()
            stream.detach()
    return reader, writer, done


def _first_pass_stored(db: Database, import_id: int, busy: threading.Lock):
    """(camera, earlier, later instant) → the store holds the earlier (from another import) and
    not the later: the file continues a fall-back hour an earlier import began (issue 12 M3)."""
    def check(camera: str, early: int, late: int) -> bool:
        with busy:
            found = {int(r[0]) for r in db.query(FIRST_PASS, (camera, early, late, import_id))}
        return early in found and late not in found
    return check


#: test hook (like the migrations' CCTV_TEST_MIGRATION_PAUSE): after the first chunk that wrote
#: rows, say so on stderr and wait to be killed, so a test kills a process mid-import for sure
#: instead of guessing a sleep (a fast machine finishes first)
IMPORT_PAUSE_ENV = "CCTV_TEST_IMPORT_PAUSE"


def _pause_point(written: int) -> None:
    if written and os.environ.get(IMPORT_PAUSE_ENV) == "1":
        sys.stderr.write(f"paused mid-import after {written} rows written, uncommitted\n")
        sys.stderr.flush()
        time.sleep(3600)


class _BadRows:
    """Every refused row's line and reason, spooled to disk (bounded memory) for the
    ``*.rejected.csv``, which is written at the end with each row's original fields."""

    def __init__(self, keep: bool):
        self.keep = keep
        self._spool = tempfile.TemporaryFile("w+", newline="", encoding="utf-8") if keep else None
        self._writer = csv.writer(self._spool) if keep else None

    def add(self, problems: list[Problem]) -> None:
        if self.keep:
            self._writer.writerows((p.line, p.reason) for p in problems)

    def reset(self) -> None:
        if self.keep:
            self._spool.seek(0)
            self._spool.truncate()

    def close(self) -> None:
        if self._spool is not None:
            self._spool.close()
            self._spool = None

    def write(self, options: ImportOptions, raw: IO[bytes], source: str,
              reader: CountReader) -> safefile.PendingFile | None:
        """The rejected rows with their original fields, read again from the import's own
        descriptor; a temporary file the caller renames in (or discards)."""
        if not self.keep:
            return None
        pending = safefile.PendingFile(_rejected_target(options, source), what="the rejected rows",
                                       fix=_REJECTED_FIX, ours=_rejected_owner(options),
                                       on_failure="nothing was imported")
        writer = csv.writer(pending.handle, lineterminator="\n")
        writer.writerow(["line", "reason", *map(csv_cell, reader.layout.header)])  # OWASP: no formula
        self._spool.seek(0)
        wanted = ((int(line), reason) for line, reason in csv.reader(self._spool))
        raw.seek(0)
        stream = io.TextIOWrapper(raw, encoding=options.encoding, errors="strict",
                                  newline=stream_newline(reader.scan))
        try:
            target = next(wanted, None)
            for line, fields in iter_records(stream, reader.delimiter, header=options.columns is None,
                                             width=len(reader.layout.header)):
                while target is not None and target[0] < line:
                    target = next(wanted, None)
                if target is None:
                    break
                if target[0] == line:
                    writer.writerow([line, *map(csv_cell, (target[1], *fields))])
                    target = next(wanted, None)
            pending.handle.flush()
        except OSError as exc:
            raise pending.failed(exc) from None
        except BaseException:
            pending.discard()
            raise
        finally:
            stream.detach()
        return pending


class _Rejected(Exception):
    """Internal: leave the transaction (rolling it back) because the file is refused."""


def _last_id(db: Database) -> int:
    sql = "SELECT last_insert_rowid()" if db.backend == "sqlite" else "SELECT LAST_INSERT_ID()"
    return int(db.scalar(sql))


_NEGATIVE = re.compile(r"negative \w+ count '(-[0-9]+)'")


def _marker_hint(problems: list[Problem], options: ImportOptions) -> str:
    """-1 (or one other negative value repeated, -999) or empty cells are most often the
    exporter's "no data": name the --na that says so."""
    from collections import Counter

    negatives: Counter = Counter()
    empty = False
    for p in problems:
        reason = p.reason.split(": ", 1)[-1] if p.reason.split(": ", 1)[0].count(" ") == 0 else p.reason
        m = _NEGATIVE.fullmatch(reason)
        if m:
            negatives[m.group(1)] += 1
        empty = empty or (reason.startswith("missing ") and reason.endswith(" count"))
    if len(negatives) == 1:
        value, times = negatives.popitem()
        if value not in options.na and (value == "-1" or times >= 3):
            return f"; if {value} marks a missing value, pass --na {value}"
    if empty and "" not in options.na:
        return "; if an empty count means unknown, pass --na ''"
    return ""


def _record_rejected(db, source, digest, fingerprint, options, result, started) -> None:
    """Keep an audit row of the refused attempt (the counts themselves were rolled back)."""
    with db.atomic():
        db.execute(RECORD_REJECTED, (source[:1024], digest, fingerprint, options.tz.key, result.read,
                                     result.rejected, int(started), int(time.time())))


def _detect(db: Database, import_id: int, options: ImportOptions) -> int:
    """Outlier detection over the rows of this import (the old trigger's job)."""
    try:
        from cctvctl.detect import detect_import
    except ImportError as exc:  # detection not in this build; a broken one is a bug
        if exc.name != "cctvctl.detect":
            raise
        return 0
    return detect_import(db, import_id, options.tz)


__all__ = ["ImportOptions", "ImportResult", "import_file", "import_rows", "DstTally", "Problem"]
