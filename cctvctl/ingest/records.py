"""A count file as records (lists of fields), each with the line it starts on: the csv module,
exact for any input.

Quoted fields may hold delimiters and newlines, so a record may span lines; blank lines are
skipped; a bare CR (not part of CRLF) inside a field refuses its record instead of cutting it.
This is the plain path every file can take (the fast C-parser path, :mod:`cctvctl.ingest.fastpath`,
is only for files where a record is exactly one line), and the one the rejected-rows file is
read again with, so its line numbers are the same as the problems'.
"""

from __future__ import annotations

import csv
from typing import IO

from cctvctl.ingest.scan import FileScan


class CrInField(list):
    """A record the csv module could not read because of a bare CR inside a field."""

    reason = ("a carriage return (CR) inside a field, not at a line end: the row is refused, "
              "not cut at the CR (remove the CR from the file)")


def stream_newline(scan: FileScan | None) -> str:
    """How to split a file into lines: where it has LF line ends and also a bare CR, by LF only
    (so the CR stays inside its field and the row is refused); else as the csv module wants."""
    return "\n" if scan is not None and scan.bare_cr and scan.lines else ""


class _Tap:
    """Lines of a stream, remembering the last one handed out (to read it again)."""

    def __init__(self, lines):
        self._lines = iter(lines)
        self.last = ""

    def __iter__(self):
        return self

    def __next__(self) -> str:
        self.last = next(self._lines)
        return self.last


class Records:
    """(start line, fields) of each non-blank record after the header; ``line`` is where the
    record being read begins (for error messages).

    A file with LF line ends and a bare CR is read by LF only (see :func:`stream_newline`). A
    line whose bare CRs split it into whole records (``width`` fields each) is those records,
    each on a line of its own (mixed line ends, as the csv module reads them); otherwise the CR
    is inside a field, and the record is refused (:class:`CrInField`), never cut at the CR.
    """

    def __init__(self, stream: IO[str], delimiter: str, line_offset: int, width: int | None = None):
        self._tap = _Tap(stream)
        # strict: a quote that never closes is an error, not a field that swallows the file
        self._reader = csv.reader(self._tap, delimiter=delimiter, strict=True)
        self._delimiter = delimiter
        self._width = width
        self._offset = line_offset
        self._before = 0  # physical lines consumed before the current record
        self._pending: list[tuple[int, list[str]]] = []  # records split from one line at CRs
        self.line = line_offset + 1

    def __iter__(self):
        return self

    def __next__(self) -> tuple[int, list[str]]:
        while True:
            if self._pending:
                return self._pending.pop(0)
            self.line = self._before + 1 + self._offset
            start = self.line
            try:
                row = next(self._reader)
            except csv.Error as exc:
                if "new-line character" not in str(exc):
                    raise
                spanned = self._reader.line_num - self._before
                self._before = self._reader.line_num
                pieces = self._split_at_cr(self._tap.last) if spanned == 1 else None
                if pieces is None:
                    return start, CrInField()
                self._offset += len(pieces) - 1  # as many lines as a CR-splitting reader counts
                self._pending = [(start + i, fields) for i, fields in enumerate(pieces)
                                 if fields and not (len(fields) == 1 and not fields[0].strip())]
                continue
            self._before = self._reader.line_num
            if row and not (len(row) == 1 and not row[0].strip()):
                return start, row

    def _split_at_cr(self, text: str) -> list[list[str]] | None:
        """The records of a line split at its bare CRs, or None where a piece is not whole."""
        body = text[:-1] if text.endswith("\n") else text
        body = body[:-1] if body.endswith("\r") else body
        out = []
        for piece in body.split("\r"):
            try:
                fields = next(csv.reader([piece], delimiter=self._delimiter, strict=True), [])
            except csv.Error:
                return None
            if fields and self._width is not None and len(fields) != self._width:
                return None
            out.append(fields)
        return out


def iter_records(stream: IO[str], delimiter: str, *, header: bool = True, width: int | None = None):
    """Records of a count file after its header line (if it has one), with the line each
    starts on (``width``: the fields of a whole record)."""
    if not header:
        return Records(stream, delimiter, 0, width)
    number = 0
    while True:
        line = stream.readline()
        number += 1
        if line == "" or line.strip().lstrip("\ufeff"):
            break
    return Records(stream, delimiter, number, width)
