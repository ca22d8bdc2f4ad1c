"""Import count files (or rows from Python) into the database: validated, all or nothing.

One import is one transaction. Every row is validated; by default a file with any bad row is
rejected whole (nothing written) with ``file:line: reason`` problems, and with
``on_error="skip"`` the good rows are imported and every bad row goes, with its reason, to a
``*.rejected.csv`` beside the input. Identical content imported again with the same options is
recognised by its sha256 in the ``imports`` ledger and is a no-op — except with ``replace``,
which always compares the file with the rows stored now (other imports may have changed them).

This module holds the entry points only: each turns a path, a pipe, a byte stream or Python rows
into one seekable descriptor (hashed and read from the same bytes) and hands it to
:mod:`~cctvctl.ingest.pipeline`. The parts, each a module with one job: ``options`` (what is
asked and reported), ``pipeline`` (one import), ``reader`` (text → validated chunks, over
``records`` — the exact csv path — or ``fastpath`` — the C parser), ``timeparse`` (timestamps),
``writer`` (chunks → counts) and ``rejected`` (the refused rows' side file).
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import IO, Iterable, Mapping

from cctvctl import safefile
from cctvctl.db.database import Database
from cctvctl.errors import CountFileError, UsageError
from cctvctl.ingest.dst import DstTally
from cctvctl.ingest.options import (FileLayout, ImportOptions, ImportPolicy, ImportResult,
                                    RowChecks, TimeReading)
from cctvctl.ingest.pipeline import ProgressFn, import_open
from cctvctl.ingest.reader import Problem
from cctvctl.ingest.rejected import check_rejected_target


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
        check_rejected_target(options, "<stdin>", None)
        with _spool(src) as raw:
            return import_open(db, raw, "<stdin>", options, progress)
    p = Path(path)
    if not p.exists():
        raise UsageError(f"{path}: no such file")
    if p.is_dir():
        raise UsageError(f"{path}: is a directory, not a count file")
    check_rejected_target(options, path, path)
    if not p.is_file():  # a pipe (/dev/stdin, <(…)) can be read only once: hash a copy
        with open(path, "rb") as src, _spool(src) as raw:
            return import_open(db, raw, path, options, progress)
    with open(path, "rb") as raw:
        return import_open(db, raw, path, options, progress)


def import_stream(db: Database, src: IO[bytes], source: str, options: ImportOptions) -> ImportResult:
    """Import a byte stream (an HTTP body, a socket) named ``source`` in messages."""
    check_rejected_target(options, source, None)
    with _spool(src) as raw:
        return import_open(db, raw, source, options, None)


def import_rows(db: Database, rows: Iterable[Mapping], options: ImportOptions,
                source: str = "<rows>") -> ImportResult:
    """Import rows given as mappings (``camera``, ``start``, ``people``, …) with the same rules.

    ``start``/``end`` may be ISO strings or datetimes (naive = local in ``options.tz``).
    Line numbers in problems count rows from 1, as if there were a header line before them.
    """
    check_rejected_target(options, source, None)
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
        return import_open(db, raw, source, opts, None)


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


__all__ = ["FileLayout", "ImportOptions", "ImportPolicy", "ImportResult", "RowChecks", "TimeReading", "import_file", "import_rows", "DstTally", "Problem"]
