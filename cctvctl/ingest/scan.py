"""One pass over the raw bytes before reading: the content hash, and whether the fast reader fits.

The fast reader (pandas' C parser) numbers records by physical line, so it is used only where
that is exact: no quote characters (no multi-line fields), no NUL bytes, consistent line endings,
bytes that decode in the chosen encoding, and every line holding exactly as many delimiters as
the header line (so no short, long or blank lines). Everything else takes the exact reader.
"""

from __future__ import annotations

import codecs
import hashlib
import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

#: blocks handed to the hashing thread and not yet hashed (memory stays at a few MB)
HASH_AHEAD = 4

#: bytes read at a time (the header line must fit in the first block, or the exact reader is used)
BLOCK_BYTES = 1 << 20

#: the csv module's default field size limit: longer lines take the exact reader, which names them
MAX_LINE = 131072

#: encodings in which delimiters, quotes and newlines are single ASCII bytes that never occur
#: inside a multi-byte character
_ASCII_SAFE = {"utf-8", "utf-8-sig", "ascii", "latin-1", "iso8859-1", "cp1252", "iso8859-15"}


@dataclass
class FileScan:
    sha256: str
    delimiter: str | None = None  # sniffed from the first line, as the reader does
    uniform: bool = False  # every line has the first line's number of delimiters
    lines: int = 0  # newline count (for progress estimates)
    bare_cr: bool = False  # a CR not followed by LF somewhere

    def fast_reader_fits(self, delimiter: str) -> bool:
        return self.uniform and delimiter == self.delimiter


def scan_file(source, encoding: str, delimiter_option: str | None, *,
              header: bool = True) -> FileScan:
    """Hash the file; for ASCII-safe encodings also check it line by line (vectorised).

    With ``header`` the first line is the header: read by the csv module on its own, so it may
    quote names (``"Sidewalks, south of N 34th St Total"``); the lines after it need as many
    delimiters as it has fields less one. Without, the first line is data like the others.
    ``source`` is a path or an open binary file (read from its start: the import's one
    descriptor).
    """
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as fh:
            return scan_file(fh, encoding, delimiter_option, header=header)
    fh = source
    fh.seek(0)

    h = hashlib.sha256()
    safe = codecs.lookup(encoding).name in _ASCII_SAFE
    decoder = codecs.getincrementaldecoder(encoding)() if safe else None
    uniform = safe
    delimiter = None
    expected = carry = 0  # delimiters per line, and those seen since the last newline
    seen_cr = False
    line_start = 0  # offset of the current line's start, relative to the current block
    lines = 0
    # sha256 releases the GIL on large buffers: it runs on a second thread beside the checks
    pending: deque = deque()
    with ThreadPoolExecutor(1, thread_name_prefix="cctvctl-hash") as hasher:
        for block in iter(lambda: fh.read(BLOCK_BYTES), b""):
            pending.append(hasher.submit(h.update, block))  # one worker: blocks hashed in order
            if len(pending) > HASH_AHEAD:
                pending.popleft().result()
            lines += block.count(b"\n")
            seen_cr = seen_cr or b"\r" in block
            if not uniform:
                continue
            if delimiter is None:
                first = block.split(b"\n", 1)[0].decode(encoding, "replace").lstrip("\ufeff")
                delimiter = sniff_delimiter(first, delimiter_option)
                expected = _fields(first, delimiter) - 1 if header else first.count(delimiter)
                if expected <= 0 or len(delimiter.encode()) != 1:
                    uniform = False
                    continue
                if header:  # checked on its own above: the checks below start after it
                    if b"\n" not in block or b"\x00" in block.split(b"\n", 1)[0]:
                        uniform = False
                        continue
                    block = block.split(b"\n", 1)[1]
            if b'"' in block or b"\x00" in block:
                uniform = False
                continue
            try:
                decoder.decode(block)
            except UnicodeError:
                uniform = False
                continue
            arr = np.frombuffer(block, dtype=np.uint8)
            newlines = np.flatnonzero(arr == 10)
            delims = np.flatnonzero(arr == ord(delimiter))
            if len(newlines):
                before = np.searchsorted(delims, newlines)  # delimiters before each newline
                per_line = np.diff(before, prepend=0)
                per_line[0] += carry
                lengths = np.diff(newlines, prepend=line_start - 1)
                if not (per_line == expected).all() or lengths.max() > MAX_LINE:
                    uniform = False
                    continue
                carry = int(len(delims) - before[-1])
                line_start = int(newlines[-1]) + 1 - len(block)
            else:
                carry += len(delims)
                line_start -= len(block)
            if -line_start > MAX_LINE:
                uniform = False
        for job in pending:
            job.result()
    if uniform and carry not in (0, expected):  # a last line without a newline
        uniform = False
    bare_cr = seen_cr and not _crlf_only(fh)
    fh.seek(0)
    return FileScan(sha256=h.hexdigest(), delimiter=delimiter, uniform=uniform and not bare_cr,
                    lines=lines, bare_cr=bare_cr)


def _fields(line: str, delimiter: str) -> int:
    """Fields of a header line as the csv module reads it (0 where it cannot)."""
    import csv

    try:
        return len(next(csv.reader([line.rstrip("\r\n")], delimiter=delimiter, strict=True)))
    except (csv.Error, StopIteration):
        return 0


def _crlf_only(fh) -> bool:
    """Every CR is part of a CRLF (a bare CR would end a line for one reader and not another)."""
    fh.seek(0)
    data_tail = b""
    for block in iter(lambda: fh.read(BLOCK_BYTES), b""):
        block = data_tail + block
        if block.count(b"\r") != block.count(b"\r\n") + (1 if block.endswith(b"\r") else 0):
            return False
        data_tail = b"\r" if block.endswith(b"\r") else b""
    return data_tail == b""


def sniff_delimiter(header_line: str, explicit: str | None) -> str:
    if explicit:
        return "\t" if explicit in ("\\t", "tab", "TAB") else explicit
    counts = {d: header_line.count(d) for d in (",", "\t", ";", "|")}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","
