"""The fast path: pandas' C parser reads a file whose every record is one physical line.

:func:`~cctvctl.ingest.scan.scan_file` decides whether a file fits (no quotes, no NUL,
consistent line endings, every line with the header's number of delimiters); then record k is
physical line ``header_line + 1 + k`` and the C parser's columns are exactly what the csv module
would read. If the parser still objects, :class:`NeedExactReader` sends the whole file to the
exact reader (:mod:`cctvctl.ingest.records`), which names the line. Kept apart from the exact
path so that the trick and its preconditions are in one place, next to nothing else.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from typing import IO, Callable, Iterator, TypeVar

import numpy as np
import pandas as pd

from cctvctl.ingest.columns import Layout
from cctvctl.ingest.scan import FileScan

T = TypeVar("T")


@dataclass(frozen=True)
class FastPath:
    """A file the C parser may read (the scan said so): one physical line per record, known
    to decode."""

    raw: IO[bytes]  # the import's one descriptor (read from its start through a duplicate)
    encoding: str
    scan: "FileScan"


class NeedExactReader(Exception):
    """The fast path met something only the exact (csv module) reader reports well."""


def fast_chunks(fast: FastPath, layout: Layout, delimiter: str, header_line: int, chunk_rows: int,
                process: Callable[[np.ndarray, dict[str, pd.Series]], T]) -> Iterator[T]:
    """The C parser in chunks of ``chunk_rows``: ``process(lines, columns)`` of each, where
    record k is physical line ``header_line + 1 + k`` and ``columns`` maps each used field of
    ``layout`` to its strings. A parser or decoding error (also one ``process`` raises as a
    ValueError) becomes :class:`NeedExactReader`."""
    width = len(layout.header)
    used_cols = layout.used()
    used = sorted(set(used_cols.values()))
    handle = os.fdopen(os.dup(fast.raw.fileno()), "rb")  # shares the offset: rewind
    handle.seek(0)
    try:
        frames = pd.read_csv(
            handle, sep=delimiter, header=None, skiprows=header_line, names=range(width),
            usecols=used, dtype=str, keep_default_na=False, na_filter=False,
            skip_blank_lines=False, chunksize=chunk_rows, encoding=fast.encoding,
            engine="c", quoting=csv.QUOTE_NONE)
        first = header_line + 1
        for frame in frames:
            n = len(frame)
            lines = np.arange(first, first + n, dtype=np.int64)
            first += n
            frame = frame.reset_index(drop=True)
            cols = {key: frame[i] for key, i in used_cols.items()}
            yield process(lines, cols)
    except (pd.errors.ParserError, UnicodeError, ValueError) as exc:
        raise NeedExactReader(str(exc)) from None
    finally:
        handle.close()
