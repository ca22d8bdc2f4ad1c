"""One import, start to finish: the ledger row, the reading and writing of chunks, the verdict.

The file is scanned once (hash, fast-path fit), checked against the ``imports`` ledger (the same
bytes with the same options are a no-op), then read chunk by chunk by
:class:`~cctvctl.ingest.reader.CountReader` while :class:`~cctvctl.ingest.writer.CountWriter`
writes the previous chunk on a second thread, all inside one transaction. A reading may start
again (the C parser objected, or a late chunk proved the file's date order): the savepoint is
rolled back and the file read once more. At the end the file is accepted (detection runs on
what it wrote, the rejected rows go to their side file) or refused as a whole with
``file:line: reason`` problems. Kept apart from the entry points in ``cctvctl.ingest``, which
only turn a path, a pipe or rows into the one seekable descriptor this reads.
"""

from __future__ import annotations

import io
import os
import re
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import IO, Callable

from cctvctl import safefile
from cctvctl.db.database import Database
from cctvctl.db.retry import retrying_conflicts
from cctvctl.db.writeset import check_import_size, import_rows
from cctvctl.errors import CountFileError
from cctvctl.ingest.dateorder import DateOrderChanged
from cctvctl.ingest.dst import DstTally
from cctvctl.ingest.fastpath import FastPath, NeedExactReader
from cctvctl.ingest.options import ImportOptions, ImportResult
from cctvctl.ingest.reader import CountReader, Problem
from cctvctl.ingest.records import stream_newline
from cctvctl.ingest.rejected import BadRows
from cctvctl.ingest.scan import scan_file
from cctvctl.ingest.timeparse import TimeParser
from cctvctl.ingest.twins import lookalike_warnings
from cctvctl.ingest.writer import CountWriter
from cctvctl.zone import check_zone, resolve_zone

SHOWN_PROBLEMS = 20  # the default of ImportOptions.shown_problems

INSERT_IMPORT = ("INSERT INTO imports (source, sha256, options_sha256, tz, status, started_at) "
                 "VALUES (?, ?, ?, ?, ?, ?)")
FINISH_IMPORT = ("UPDATE imports SET rows_read = ?, inserted = ?, duplicates = ?, replaced = ?, "
                 "rejected = ?, status = ?, finished_at = ? WHERE id = ?")
FIND_IMPORT = ("SELECT id, started_at FROM imports WHERE sha256 = ? AND options_sha256 = ? "
               "AND status = 'ok' ORDER BY id LIMIT 1")
FIRST_PASS = ("SELECT start_utc FROM counts WHERE camera = ? AND start_utc IN (?, ?) "
              "AND import_id <> ?")
LATEST_INTERVAL = ("SELECT c.camera, c.end_utc - c.start_utc FROM counts c WHERE c.camera IN "
                   "({marks}) AND c.start_utc = (SELECT MAX(d.start_utc) FROM counts d "
                   "WHERE d.camera = c.camera)")
RECORD_REJECTED = ("INSERT INTO imports (source, sha256, options_sha256, tz, rows_read, rejected, "
                   "status, started_at, finished_at) VALUES (?, ?, ?, ?, ?, ?, 'rejected', ?, ?)")

ProgressFn = Callable[[int, int], None]


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
def import_open(db: Database, raw: IO[bytes], source: str, options: ImportOptions,
                 progress: ProgressFn | None) -> ImportResult:
    started = time.time()
    clock = time.monotonic()
    if options.tz is None:
        options = replace(options, tz=resolve_zone(db, None).tz)
    fingerprint = options.fingerprint()
    scan = scan_file(raw, options.encoding, options.delimiter, header=options.columns is None)
    result = ImportResult(source=source, status="ok", sha256=scan.sha256)
    check_import_size(db, source, import_rows(scan.lines, header=options.columns is None,
                                              cameras=len(options.wide), replace=options.replace),
                      replace=options.replace)
    with db.lock("import", timeout=options.lock_timeout):
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
        bad_rows = BadRows(options.on_error == "skip" and options.write_rejected)
        pending: safefile.PendingFile | None = None  # the rejected rows, renamed in at the end
        try:
            with db.atomic():
                check_zone(db, options.tz)  # another zone is refused; this ledger row records it
                db.execute(INSERT_IMPORT, (source[:1024], scan.sha256, fingerprint, options.tz.key,
                                           "running", int(started)))
                import_id = db.last_insert_id()
                result.import_id = import_id
                known = [name for (name,) in db.query(db.dialect.cameras_sql)]  # for look-alikes
                fast, order = options.fast_reader, None
                while True:
                    try:  # a reading that must start over leaves nothing behind
                        with db.savepoint("import_rows"):
                            reader, writer, done = _read_and_write(
                                db, raw, source, scan, options, import_id, bad_rows, progress,
                                size, fast=fast, order=order)
                        break
                    except NeedExactReader:  # rare: the C parser objected; read it again exactly
                        fast = False
                    except DateOrderChanged as changed:  # a later chunk decided the date order
                        if order is not None:
                            raise  # a reading with the order fixed never asks again
                        order = changed
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
                result.warnings = lookalike_warnings(
                    source, {c for c, _ in writer.days} - set(known), known)
                writer.finish()
                if done.total_problems:
                    pending = bad_rows.write(options, raw, source, reader)
                if options.detect and (result.inserted or result.replaced):
                    result.outliers = _detect(db, import_id, options, writer)
                db.execute(FINISH_IMPORT, (result.read, result.inserted, result.duplicates,
                                           result.replaced, result.rejected, "ok", int(time.time()),
                                           import_id))
                if pending is not None:
                    pending.ready()  # a full disk fails here, before the COMMIT
            # renamed in only once the COMMIT returned: a failing COMMIT (a certification
            # conflict, a lost connection) must leave the previous file where it was
            if pending is not None:
                pending.on_failure = (f"the import itself committed (import {import_id}; "
                                      "`cctvctl imports undo` takes it back)")
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
        if result.inserted or result.replaced:
            db.refresh_planner_statistics()  # SQLite: a one-day scan 66 ms → 15 ms (DESIGN §3)
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
    reader.stored_intervals = _stored_intervals(db, db_busy)
    writer = CountWriter(db, import_id, replace=options.replace, tz=options.tz, keep_rows=options.detect)
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
            done.problems.extend(problems[: max(0, options.shown_problems - len(done.problems))])

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
                if options.camera_check is not None and chunk.cameras:
                    options.camera_check(chunk.cameras)
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


def _stored_intervals(db: Database, busy: threading.Lock):
    """cameras → the length of each one's latest stored row (those with rows): one query."""
    def look_up(cameras: list[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        with busy:
            for i in range(0, len(cameras), 500):  # SQLite caps bound parameters
                batch = cameras[i:i + 500]
                sql = LATEST_INTERVAL.format(marks=", ".join("?" for _ in batch))
                found.update((str(c), int(n)) for c, n in db.query(sql, batch))
        return found
    return look_up


#: test hook (like the migrations' CCTV_TEST_MIGRATION_PAUSE): after the first chunk that wrote
#: rows, say so on stderr and wait to be killed, so a test kills a process mid-import for sure
#: instead of guessing a sleep (a fast machine finishes first)
IMPORT_PAUSE_ENV = "CCTV_TEST_IMPORT_PAUSE"


def _pause_point(written: int) -> None:
    if written and os.environ.get(IMPORT_PAUSE_ENV) == "1":
        sys.stderr.write(f"paused mid-import after {written} rows written, uncommitted\n")
        sys.stderr.flush()
        time.sleep(3600)


class _Rejected(Exception):
    """Internal: leave the transaction (rolling it back) because the file is refused."""


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


def _detect(db: Database, import_id: int, options: ImportOptions, writer: CountWriter) -> int:
    """Outlier detection over the rows of this import (the old trigger's job), on the
    (camera, local day)s it wrote, with the rows it kept."""
    try:
        from cctvctl.detect import detect_import
    except ImportError as exc:  # detection not in this build; a broken one is a bug
        if exc.name != "cctvctl.detect":
            raise
        return 0
    return detect_import(db, import_id, options.tz, local_days=sorted(writer.local_days),
                         written=writer.written_rows())
