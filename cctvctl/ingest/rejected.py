"""Rows an import refused, written to ``FILE.rejected.csv`` with their reasons and original fields.

With ``--on-error skip`` every refused row goes, with its line and reason, to a side file (never
silently dropped). The lines and reasons are spooled to disk as the chunks go by (bounded
memory); at the end the file is read again from the import's own descriptor, with the same
record splitting as the first reading, so each row's original fields come out beside its
reason. The target is checked before anything is read: it may never be the input itself, a link
or a device, and a default-named one is replaced only where cctvctl wrote it. Kept apart from
the pipeline because it is file safety and side output, not reading or writing counts.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from typing import IO

from cctvctl import safefile
from cctvctl.errors import UsageError
from cctvctl.ingest.options import ImportOptions
from cctvctl.ingest.reader import CountReader, Problem
from cctvctl.ingest.records import iter_records, stream_newline
from cctvctl.safetext import csv_cell


def rejected_target(options: ImportOptions, source: str) -> str:
    """``FILE.rejected.csv`` beside the input (``stdin.rejected.csv``/``rows.rejected.csv`` here)."""
    if options.rejected_path:
        return options.rejected_path
    if source.startswith("<") and source.endswith(">"):
        return f"{source.strip('<>')}.rejected.csv"
    return f"{source}.rejected.csv"


#: the first bytes of every rejected-rows file cctvctl writes (its header)
REJECTED_HEADER = b"line,reason,"
REJECTED_FIX = "choose another place with --rejected"


def rejected_owner(options: ImportOptions):
    """A default name is replaced only where cctvctl wrote it; a --rejected PATH the user named
    is replaced whatever regular file it is (never a link, a device or the input)."""
    return None if options.rejected_path else safefile.starts_with(REJECTED_HEADER)


def check_rejected_target(options: ImportOptions, source: str, path: str | None) -> None:
    """Before anything is read: a rejected-rows file that could not be written safely, or
    that is the input itself (any spelling, a hard or symbolic link), is refused (exit 2)."""
    if options.on_error != "skip" or not options.write_rejected:
        return
    target = rejected_target(options, source)
    if path is not None and os.path.exists(target) and safefile.same_file(target, path):
        raise UsageError(f"{target}: refusing to write the rejected rows there: it is the input "
                         f"file itself ({REJECTED_FIX})")
    safefile.check_target(target, what="the rejected rows", fix=REJECTED_FIX,
                          ours=rejected_owner(options))


class BadRows:
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
        pending = safefile.PendingFile(rejected_target(options, source), what="the rejected rows",
                                       fix=REJECTED_FIX, ours=rejected_owner(options),
                                       on_failure="nothing was imported")
        writer = csv.writer(pending.handle, lineterminator="\n")
        writer.writerow(["line", "reason", *map(csv_cell, reader.layout.header)])  # OWASP: no formula
        self._spool.seek(0)
        wanted = ((int(line), reason) for line, reason in csv.reader(self._spool))
        raw.seek(0)
        stream = io.TextIOWrapper(raw, encoding=options.encoding, errors="strict",
                                  newline=stream_newline(reader.scan))
        try:
            with pending.writing():
                target = next(wanted, None)
                for line, fields in iter_records(stream, reader.delimiter,
                                                 header=options.columns is None,
                                                 width=len(reader.layout.header)):
                    while target is not None and target[0] < line:
                        target = next(wanted, None)
                    if target is None:
                        break
                    if target[0] == line:
                        writer.writerow([line, *map(csv_cell, (target[1], *fields))])
                        target = next(wanted, None)
                pending.handle.flush()
        finally:
            stream.detach()
        return pending
