"""Read a count file as chunks of validated rows plus the problems found, each with its line.

The reader never touches the database: it turns text into typed rows (UTC epoch seconds and
integer counts) and a list of :class:`Problem` for every row it refuses, so the caller decides
whether the file is rejected whole or imported without its bad rows.
"""

from __future__ import annotations

import csv
import itertools
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import IO, Callable, Iterator

import numpy as np
import pandas as pd

from cctvctl import validate
from cctvctl.errors import CountFileError
from cctvctl.ingest.cameras import check_cameras, validate_camera_name
from cctvctl.ingest.columns import Layout, looks_like_data, norm, resolve_layout
from cctvctl.ingest.counts import parse_counts
from cctvctl.ingest.fastpath import FastPath, fast_chunks
from cctvctl.ingest.records import CrInField, Records
from cctvctl.ingest.scan import sniff_delimiter
from cctvctl.ingest.spacing import DEFAULT_INTERVAL, Spacing
from cctvctl.ingest.timeparse import TimeParser
from cctvctl.ingest.undecodable import undecodable

#: the longest interval a row may span: a day, plus the hour a DST change adds (an end 78 years
#: after its start overlapped every later row of its camera)
MAX_INTERVAL = validate.ROW_SPAN_MAX


@dataclass(frozen=True)
class Problem:
    """One refused row: where it is and why (its text is copied from the file when needed)."""

    line: int
    reason: str

    def format(self, source: str) -> str:
        return f"{source}:{self.line}: {self.reason}"


@dataclass
class Chunk:
    """Validated rows (a DataFrame) and the problems of this chunk."""

    rows: pd.DataFrame  # camera, start_utc, end_utc, metrics…, line
    problems: list[Problem]
    read: int
    unknown: int = 0  # rows with no known count, not stored
    #: every valid camera name of the chunk, refused rows' too (a scope check sees them all)
    cameras: list[str] = field(default_factory=list)


class CountReader:
    """Streams ``stream`` in chunks of ``chunk_rows`` validated rows."""

    def __init__(self, stream: IO[str], source: str, *, parser: TimeParser, camera: str | None,
                 mapping: dict[str, str], interval: int | None, max_count: int, delimiter: str | None,
                 chunk_rows: int = 50_000, fast: FastPath | None = None,
                 columns: list[str] | None = None, na: tuple[str, ...] = (),
                 wide: dict[str, str] | None = None, wide_metric: str = "people"):
        self.stream = stream
        self.columns = columns  # a headerless file: these are its columns
        self.na = tuple(na)  # cell texts that mean "unknown" in count columns
        self.wide = wide or {}
        self.wide_metric = wide_metric
        self.unknown = 0  # rows with no known count (not stored)
        self._cr_lines: set[int] = set()  # records with a bare CR inside a field (this chunk)
        self.fast = fast
        self.source = source
        self.parser = parser
        self.camera = camera
        self.mapping = mapping
        self.interval = interval  # None: inferred from the rows of the first chunk
        #: where the interval came from: option, file (inferred), default (too few rows), end
        self.interval_source = "option" if interval is not None else "file"
        self.spacing = Spacing()
        #: cameras → the interval of their latest stored row (None: none stored), asked where
        #: the file's rows cannot tell (a batch of one row per camera): better than the default
        self.stored_intervals: Callable[[list[str]], dict[str, int]] | None = None
        self.camera_interval: dict[str, int | None] = {}  # the answers so far
        self._unknown_parser: TimeParser | None = None  # reads the unknown rows' starts
        self.max_count = max_count
        self.chunk_rows = chunk_rows
        self.delimiter_opt = delimiter
        self.layout: Layout | None = None
        self.rows_read = 0

    def spacing_problem(self) -> str | None:
        """After the last chunk: a camera whose rows are not ``interval`` apart (one line)."""
        if self.layout is None or self.layout.has("end"):
            return None
        return self.spacing.disagreement(self.interval, self.interval_source, self.source,
                                         self.parser.tz, self.camera_interval)

    def _camera_intervals(self, cameras: pd.Series) -> pd.Series:
        """Each row's interval where the file's rows cannot tell: its camera's stored one, else
        the one most of the file's cameras have stored, else the default (one look-up a chunk,
        for the cameras not asked about yet)."""
        new = [c for c in pd.unique(cameras) if c not in self.camera_interval]
        if new:
            found = self.stored_intervals(new)
            self.camera_interval.update({c: found.get(c) for c in new})
            known = Counter(v for v in self.camera_interval.values() if v is not None)
            if known:  # the usual stored interval (ties: the shortest) for the cameras without
                best = max(known.values())
                self.interval = min(v for v, n in known.items() if n == best)
                self.interval_source = "stored"
        each = {c: self.camera_interval.get(c) or self.interval for c in pd.unique(cameras)}
        return cameras.map(each).astype("int64")

    def _file_error(self, line: int, reason: str) -> CountFileError:
        return CountFileError(f"{self.source}:{line}: {reason}")

    def chunks(self) -> Iterator[Chunk]:
        first, number = self._read_header_line()
        if first is None:
            what = "a first data line" if self.columns else "a header line"
            raise self._file_error(1, f"the file is empty (expected {what})")
        delimiter = sniff_delimiter(first, self.delimiter_opt)
        try:
            fields = next(csv.reader([first], delimiter=delimiter, strict=True))
        except csv.Error as exc:
            raise self._file_error(number, f"unreadable CSV {'line' if self.columns else 'header'}: "
                                           f"{exc}") from None
        if self.camera:
            validate_camera_name(self.camera)
        if self.columns is not None:
            if len(fields) != len(self.columns):
                raise self._file_error(number, f"--columns names {len(self.columns)} columns but "
                                               f"this line has {len(fields)} fields")
            header, data_line, pushback = list(self.columns), number, [first]
        else:
            header, data_line, pushback = fields, number + 1, []
        try:
            self.layout = resolve_layout(header, self.mapping, camera_given=bool(self.camera),
                                         source=self.source, wide=self.wide,
                                         wide_metric=self.wide_metric)
        except CountFileError as exc:
            raise CountFileError(str(exc) + self._layout_hint(fields, delimiter)) from None
        self.delimiter = delimiter
        headerless_start = 1 if self.columns is not None else 2
        if self.fast is not None and data_line == headerless_start and self.fast.scan.fast_reader_fits(delimiter):
            yield from self._fast_chunks(delimiter, data_line - 1)
        else:
            yield from self._exact_chunks(delimiter, data_line - 1, pushback)
        # the date order is the file's, decided from all its rows (may ask for a re-read)
        self.parser.finish_file(self.source)

    def _layout_hint(self, fields: list[str], delimiter: str) -> str:
        """The likely fix when no layout fits: a first line of data (``--columns``), or a
        ``Date`` column that holds whole date-times (``--map start=Date``)."""
        if self.columns is None and looks_like_data(fields):
            return (f"; the first line looks like data, not a header: if the file has none, "
                    f"name its columns, e.g. --columns camera,start,people")
        lowered = [norm(f) for f in fields]
        if "date" in lowered and "start" not in self.mapping and self.columns is None:
            try:
                line = self.stream.readline()
                row = next(csv.reader([line], delimiter=delimiter)) if line else []
            except (csv.Error, UnicodeDecodeError):
                row = []
            i = lowered.index("date")
            value = row[i].strip() if len(row) > i else ""
            if re.search(r"\d{1,2}:\d{2}", value):
                return (f"; column {fields[i].strip()!r} holds date-times ({value!r}): "
                        f"use --map start={fields[i].strip()}")
        return ""

    def _fast_chunks(self, delimiter: str, header_line: int) -> Iterator[Chunk]:
        """The C parser in chunks (:mod:`cctvctl.ingest.fastpath`)."""
        return fast_chunks(self.fast, self.layout, delimiter, header_line, self.chunk_rows,
                           lambda lines, cols: self._process(lines, cols, None))

    def _exact_chunks(self, delimiter: str, line_offset: int, pushback: list[str]) -> Iterator[Chunk]:
        """The csv module, record by record: exact line numbers for any input (``pushback``:
        the first line again, already read, of a headerless file)."""
        lines: list[int] = []
        rows: list[list[str]] = []
        source = itertools.chain(pushback, self.stream) if pushback else self.stream
        records = Records(source, delimiter, line_offset, len(self.layout.header))
        try:
            for start_line, row in records:
                lines.append(start_line)
                rows.append(row)
                if isinstance(row, CrInField):
                    self._cr_lines.add(start_line)
                if len(rows) >= self.chunk_rows:
                    yield self._process_rows(lines, rows)
                    lines, rows = [], []
        except csv.Error as exc:
            raise self._file_error(records.line, f"unreadable CSV: {exc}") from None
        except UnicodeError as exc:  # also UTF-16 without a byte-order mark
            raise self._decode_error(exc) from None
        if rows:
            yield self._process_rows(lines, rows)

    def _read_header_line(self) -> tuple[str | None, int]:
        """The first non-blank line and its line number."""
        number = 0
        try:
            while True:
                line = self.stream.readline()
                number += 1
                if line == "":
                    return None, number
                if "\x00" in line:
                    raise self._file_error(number, "the header contains NUL bytes (not a text CSV file)")
                if line.strip().lstrip("\ufeff"):
                    return line.lstrip("\ufeff"), number
        except UnicodeError as exc:  # also UTF-16 without a byte-order mark
            raise self._decode_error(exc) from None

    def _decode_error(self, exc: UnicodeError) -> CountFileError:
        """Name the line of the first undecodable byte and suggest --encoding."""
        return self._file_error(*undecodable(self.stream, exc))

    # -- validation -------------------------------------------------------------------------
    def _process_rows(self, lines: list[int], rows: list[list[str]]) -> Chunk:
        """csv-module records → string columns (short rows padded) and their field counts."""
        n = len(rows)
        cols = {}
        for fld, i in self.layout.used().items():
            cols[fld] = pd.Series([r[i] if len(r) > i else "" for r in rows], dtype=object)
        widths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=n)
        chunk = self._process(np.asarray(lines, dtype=np.int64), cols, widths)
        if self._cr_lines:
            chunk.problems = [Problem(p.line, CrInField.reason) if p.line in self._cr_lines else p
                              for p in chunk.problems]
            self._cr_lines.clear()
        return chunk

    def _process(self, lines: np.ndarray, cols: dict[str, pd.Series],
                 widths: np.ndarray | None) -> Chunk:
        """Validate string columns; ``widths`` (fields per record) is known on the exact path.

        (The fast path needs no widths: its files have the header's field count on every line.)
        """
        layout = self.layout
        assert layout is not None
        width = len(layout.header)
        n = len(lines)
        self.rows_read += n
        index = pd.RangeIndex(n)
        line_s = pd.Series(lines, index=index, dtype="int64")
        reasons = pd.Series(None, index=index, dtype=object)
        wrong_width = np.zeros(n, dtype=bool)
        if widths is not None:
            wrong_width = widths != width
            if wrong_width.any():
                reasons[wrong_width] = [f"expected {width} fields, found {w}" for w in widths[wrong_width]]

        # Rows whose every count is a --na marker are not stored (see below): their times are
        # not read (the DST rules would count them) and their camera names not checked.
        blank = _blank_rows(layout, cols, self.na, n)
        timed = ~blank if blank is not None else None

        def column(fld: str) -> pd.Series:
            if timed is not None and fld not in layout.metrics:
                return cols[fld][timed]
            return cols[fld]

        def full(values: pd.Series, fill) -> pd.Series:
            """A column read for the timed rows only, back to every row."""
            return values if timed is None else values.reindex(index, fill_value=fill)

        def note(mask: pd.Series, messages) -> None:
            """Record a reason where the row has none yet (the first problem wins)."""
            if len(mask) != len(index):  # computed for the timed rows only
                mask = mask.reindex(index, fill_value=False)
            target = mask & reasons.isna()
            if target.any():
                if isinstance(messages, str):
                    reasons[target] = messages
                else:  # messages may cover only the rows concerned
                    reasons[target] = messages.reindex(index)[target]

        # camera: validated per distinct name (a file has few), mapped back to the rows
        if layout.wide:  # the time is read once per line, for every camera of it
            cameras = pd.Series(layout.wide[0][1], index=index, dtype=object)
        elif self.camera:
            cameras = pd.Series(self.camera, index=index, dtype=object)
        else:
            cameras, why = check_cameras(column("camera"))
            note(why.notna(), why)
            cameras = full(cameras, "")
        timed_cameras = cameras if timed is None else cameras[timed]
        timed_lines = lines if timed is None else lines[timed.to_numpy()]

        # time
        start, why = self._read_starts(self.parser, column, timed_cameras, timed_lines)
        note(why.notna(), why)
        if layout.has("end"):
            end, why_end = self.parser.to_epoch(column("end"), timed_cameras, after=start,
                                                lines=timed_lines, utc=layout.says_utc("end"))
            bad_end = why_end.notna()
            if bad_end.any():
                note(bad_end, "end: " + why_end[bad_end])
            backwards = start.notna() & end.notna() & (end <= start)
            if backwards.any():
                where = backwards.index[backwards.to_numpy()]
                starts, ends = column("start"), column("end")
                note(backwards, pd.Series([f"end {ends[i].strip()!r} is not after start "
                                           f"{starts[i].strip()!r}" for i in where], index=where))
            too_long = start.notna() & end.notna() & (end - start > MAX_INTERVAL)
            if too_long.any():
                where = too_long.index[too_long.to_numpy()]
                starts, ends = column("start"), column("end")
                note(too_long, pd.Series([f"end {ends[i].strip()!r} is more than 25 hours after start "
                                          f"{starts[i].strip()!r} (an interval overlapping the next "
                                          "ones; check the end column)" for i in where], index=where))
        else:
            valid = reasons.reindex(start.index).isna()  # rows valid so far, with a time
            if timed is None:
                self.spacing.add(timed_cameras, start.where(valid), timed_lines)
            else:  # the rows with no known count prove the grid too (every other one -1 is
                # still a 5-minute file, half covered — not a 10-minute one, fully covered)
                more = self._unknown_starts(~timed, cols, lines)
                self.spacing.add(pd.concat([timed_cameras, more[0]], ignore_index=True),
                                 pd.concat([start.where(valid), more[1]], ignore_index=True),
                                 np.concatenate([timed_lines, more[2]]))
            if self.interval is None:
                self.interval = self.spacing.usual()
                if self.interval is None:
                    self.interval, self.interval_source = DEFAULT_INTERVAL, "default"
            if self.interval_source in ("default", "stored") and self.stored_intervals is not None:
                end = start + self._camera_intervals(timed_cameras)
            else:
                end = start + self.interval
        start, end = full(start, np.nan), full(end, np.nan)
        timed = None  # from here on, every row
        metrics = layout.metrics
        if layout.wide:  # one row per line and camera: each camera's column is its count
            k = len(layout.wide)
            lines = np.tile(lines, k)
            index = pd.RangeIndex(n * k)
            line_s = pd.Series(lines, index=index, dtype="int64")
            reasons = pd.Series(np.tile(reasons.to_numpy(), k), index=index, dtype=object)
            start = pd.Series(np.tile(start.to_numpy(), k), index=index)
            end = pd.Series(np.tile(end.to_numpy(), k), index=index)
            cameras = pd.Series(np.repeat(np.array([c for _, c in layout.wide], dtype=object), n),
                                index=index, dtype=object)
            metrics = [layout.wide_metric]
            cols = {layout.wide_metric: pd.concat([cols[("wide", c)] for _, c in layout.wide],
                                                  ignore_index=True)}
            wrong_width = np.tile(wrong_width, k)

        # counts (a --na marker is unknown: NULL, never 0, never an error)
        values: dict[str, pd.Series] = {}
        unknown = pd.Series(True, index=index)
        for fld in metrics:
            v, why = parse_counts(column(fld), fld, self.max_count, self.na)
            if layout.wide:
                why = why.where(why.isna(), cameras + ": " + why.fillna(""))
            note(why.notna(), why)
            values[fld] = v
            unknown &= v.isna() & why.isna()
        classes = layout.classes
        if classes:
            class_sum = sum(values[c] for c in classes)  # unknown where any class is
            above = class_sum > self.max_count
            if above.any():
                note(above, pd.Series([f"vehicle count {int(v)} (the sum of the classes) is above "
                                       f"the sanity bound {self.max_count} (see --max-count)"
                                       for v in class_sum[above]], index=index[above.to_numpy()]))
            if "vehicle" in values:
                mismatch = values["vehicle"].notna() & class_sum.notna() & (values["vehicle"] != class_sum)
                if mismatch.any():
                    where = mismatch.to_numpy()
                    note(mismatch, pd.Series([f"vehicle {int(v)} is not the sum of the classes ({int(s)})"
                                              for v, s in zip(values["vehicle"][where], class_sum[where])],
                                             index=index[where]))
                # some class unknown: the known ones alone may not exceed the total
                known = sum(values[c].fillna(0) for c in classes)
                exceeds = values["vehicle"].notna() & class_sum.isna() & (known > values["vehicle"])
                if exceeds.any():
                    where = exceeds.to_numpy()
                    note(exceeds, pd.Series([f"vehicle {int(v)} is less than its known classes "
                                             f"({int(k)}; the others unknown)"
                                             for v, k in zip(values["vehicle"][where], known[where])],
                                            index=index[where]))
            else:
                values["vehicle"] = class_sum

        frame = pd.DataFrame({"camera": cameras, "start_utc": start, "end_utc": end, "line": line_s})
        for fld, v in values.items():
            frame[fld] = v

        # A row with no known count says nothing and is not stored: stored, it would count
        # toward coverage (an outage would look covered). Its time need not be valid either
        # (counters write empty rows for the hour a DST change skips).
        nothing = unknown.to_numpy() & ~wrong_width
        if nothing.any():
            reasons[nothing] = None

        # duplicate keys inside this chunk (across chunks the writer sees them)
        ok = reasons.isna() & ~nothing
        if ok.any():
            keyed = frame[ok]
            dup = keyed.duplicated(["camera", "start_utc"], keep="first")
            if dup.any():
                first_line = keyed.groupby(["camera", "start_utc"])["line"].transform("first")
                msgs = pd.Series(None, index=index, dtype=object)
                msgs[dup[dup].index] = [f"duplicate of line {int(fl)} (same camera and start)"
                                        for fl in first_line[dup]]
                note(msgs.notna(), msgs)

        bad = reasons.notna()
        problems = [Problem(int(line), reason) for line, reason in zip(lines[bad.to_numpy()], reasons[bad])]
        if layout.wide:  # a bad time is the same problem for every camera of the line
            problems = sorted(dict.fromkeys(problems), key=lambda p: p.line)
        good = frame[~bad & ~nothing]
        good = good.astype({"start_utc": "int64", "end_utc": "int64"})
        for fld in values:
            if not good[fld].isna().any():  # else float with NaN: unknown, stored as NULL
                good[fld] = good[fld].astype("int64")
        skipped = int(nothing.sum())
        self.unknown += skipped
        named = sorted(set(cameras.dropna().unique()) - {""})  # unique(): one C pass, not a row loop
        return Chunk(rows=good.reset_index(drop=True), problems=problems, read=n, unknown=skipped,
                     cameras=named)

    def _read_starts(self, parser: TimeParser, column, cameras: pd.Series,
                     lines: np.ndarray) -> tuple[pd.Series, pd.Series]:
        """(start epochs, reasons) of the rows ``column(field)`` selects."""
        layout = self.layout
        # a column whose header says UTC (start_utc) holds UTC, not --tz local time
        utc = layout.says_utc(*(("start",) if layout.has("start") else
                                ("date", "hour") if layout.has("hour") else ("date", "time")))
        if layout.has("start"):
            return parser.to_epoch(column("start"), cameras, lines=lines, utc=utc)
        if layout.has("hour"):
            return parser.date_hour(column("date"), column("hour"), cameras, lines=lines, utc=utc)
        return parser.to_epoch(column("date").str.strip() + " " + column("time").str.strip(),
                               cameras, lines=lines, utc=utc)

    def _unknown_starts(self, blank: pd.Series, cols: dict[str, pd.Series],
                        lines: np.ndarray) -> tuple[pd.Series, pd.Series, np.ndarray]:
        """(cameras, starts, lines) of the rows with no known count, for the spacing only.

        Read by a parser of their own: they are not stored, so they must not touch the DST
        tally or the date-order evidence of the stored rows; a bad time or name just leaves
        the row out."""
        if self._unknown_parser is None:
            p = self.parser
            self._unknown_parser = TimeParser(p.tz, nonexistent=p.nonexistent,
                                              ambiguous=p.ambiguous, dayfirst=p.dayfirst,
                                              time_format=p.time_format, monthfirst=p.monthfirst,
                                              file_order=p.file_order)
        layout = self.layout
        if layout.wide or self.camera:
            name = layout.wide[0][1] if layout.wide else self.camera
            cameras = pd.Series(name, index=blank.index[blank.to_numpy()], dtype=object)
        else:
            cameras, why = check_cameras(cols["camera"][blank])
            cameras = cameras[why.isna()]
        rows = cameras.index
        starts, why = self._read_starts(self._unknown_parser, lambda fld: cols[fld][rows],
                                        cameras, lines[rows.to_numpy()])
        return cameras, starts.where(why.isna()), lines[rows.to_numpy()]


def _blank_rows(layout: Layout, cols: dict, na: tuple[str, ...], n: int) -> pd.Series | None:
    """Rows whose every count cell is a ``na`` marker (None when there are none)."""
    if not na:
        return None
    keys = [("wide", c) for _, c in layout.wide] if layout.wide else layout.metrics
    blank = np.ones(n, dtype=bool)
    for key in keys:
        blank &= cols[key].str.strip().isin(na).to_numpy()
    return pd.Series(blank) if blank.any() else None


__all__ = ["Chunk", "CountReader", "Problem"]
