"""The fast CSV reader against the exact one: same stored rows, same problems, on both backends.

The fast reader (pandas' C parser, ``cctvctl/ingest/fastpath.py``) is used only where the scan
(``cctvctl/ingest/scan.py``) says every record is one physical line; everything else takes the
exact csv-module reader (``records.py``). ``ImportOptions(fast_reader=False)`` forces the exact
one. Each generated file is imported both ways into an emptied database, and everything an
import produces is compared: the result (or the refusal with its problems), the stored rows and
the rejected-rows file.

The files are built to hit the fast path's edges: quotes (around a field, around a delimiter, a
newline or a doubled quote) in a LATE reader chunk and a late scan block, NA markers, blank
lines, a byte-order mark, CRLF, a bare CR, a trailing delimiter, short and long lines, a missing
final newline, spaces around fields, bad counts and timestamps, a DST gap, duplicates, wide and
headerless layouts. Reader chunks are made small with ``chunk_rows``, and scan blocks with
``scan.BLOCK_BYTES``, so "late" means past several boundaries of both. The test also counts how
often the fast reader really ran to the end: a differential test that only ever compared the
exact reader with itself would prove nothing.
"""

from __future__ import annotations

import io
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent))
from import_helpers import shared_mysql_url, stored  # noqa: E402,F401  (fixture)

from cctvctl.db import connect  # noqa: E402
from cctvctl.errors import CountFileError  # noqa: E402
from cctvctl.ingest import ImportOptions, import_file  # noqa: E402
from cctvctl.ingest import reader as reader_mod  # noqa: E402
from cctvctl.ingest import scan as scan_mod  # noqa: E402
from cctvctl.ingest.fastpath import NeedExactReader  # noqa: E402

TZ = ZoneInfo("Europe/Berlin")
CAMERAS = ["c1", "gate-2", "정문", "West Gate"]
#: 2021-03-28 in Berlin skips 02:00–03:00: rows every 5 minutes from 01:40 cross the gap (its
#: rows are refused for their time, which hides any other problem: so half the files are in August)
DAYS = ("2021-03-28", "2021-08-01")
FIRST_MINUTE = 100


@pytest.fixture(scope="module", params=["sqlite", "mysql"])
def url(request, tmp_path_factory):
    """One migrated database per backend for the module, emptied before every import."""
    if request.param == "sqlite":
        u = f"sqlite:///{tmp_path_factory.mktemp('differential') / 'cctv.db'}"
        connect(u).close()
        return u
    return request.getfixturevalue("shared_mysql_url")


#: every table an import without detection writes (agg_state keeps the zone: always TZ here)
IMPORT_TABLES = ("count_revisions", "import_days", "counts", "imports")


def _empty(db) -> None:
    with db.atomic():
        for table in IMPORT_TABLES:
            db.execute(f"DELETE FROM {table}")


# -- generated files ----------------------------------------------------------------------------
@dataclass
class Case:
    data: bytes
    options: dict = field(default_factory=dict)
    block: int = 1 << 20

    def __repr__(self) -> str:  # what hypothesis prints for a failing example
        return f"Case(block={self.block}, options={self.options!r}, data={self.data!r})"


def _stamp(first_day: str, i: int) -> str:
    minute = FIRST_MINUTE + 5 * i
    day, minute = divmod(minute, 24 * 60)
    return f"{first_day[:8]}{int(first_day[8:]) + day:02d} {minute // 60:02d}:{minute % 60:02d}"


_COUNT = st.one_of(st.integers(0, 999).map(str), st.integers(0, 999).map(str),
                   st.sampled_from(["-1", "", " 7 ", "3.0", "x", "1e3", "-5", "٣", "100001",
                                    "007", "+4", "NA"]))
#: what may happen to one late field (the quoted ones are the late-chunk quote cases)
_FIELD_EDGE = st.sampled_from(["quote", "quote-doubled", "quote-delimiter", "quote-newline",
                               "spaces", "empty", "bare-cr"])
#: how many edges of each kind a file gets (none, often: the fast reader must run on many files)
_EDGES = st.sampled_from([0, 0, 0, 1, 1, 2])
#: what may happen to one late line
_LINE_EDGE = st.sampled_from(["blank", "extra-field", "missing-field", "duplicate", "bad-time",
                              "whitespace-line"])


@st.composite
def cases(draw) -> Case:
    layout = draw(st.sampled_from(["long", "end", "wide", "headerless"]))
    sep = draw(st.sampled_from([",", ";", "\t"]))
    n = draw(st.integers(1, 30))
    options: dict = {"chunk_rows": draw(st.integers(2, 9)),
                     "on_error": draw(st.sampled_from(["skip", "reject"])),
                     "na": draw(st.sampled_from([(), ("-1",), ("",), ("NA", "-1")]))}
    if layout == "long":
        header = ["camera", "start", "people", "vehicle"]
    elif layout == "end":
        header = ["camera", "start", "end", "people"]
    elif layout == "wide":
        header = ["start", "West", "East"]
        options["wide"] = {"West": "west", "East": "east"}
    else:
        header = None
        options["columns"] = "camera,start,people"
    width = len(header) if header else 3
    n_cams = draw(st.integers(1, 3))
    first_day = draw(st.sampled_from(DAYS))
    rows: list[list[str]] = []
    for i in range(n):
        cam = CAMERAS[i % n_cams]
        t = _stamp(first_day, i // n_cams)
        if layout == "long":
            rows.append([cam, t, draw(_COUNT), draw(_COUNT)])
        elif layout == "end":
            rows.append([cam, t, _stamp(first_day, i // n_cams + 1), draw(_COUNT)])
        elif layout == "wide":
            rows.append([_stamp(first_day, i), draw(_COUNT), draw(_COUNT)])
        else:
            rows.append([cam, t, draw(_COUNT)])
    lines = [sep.join(r) for r in rows]

    # edges in the late half of the file (past the first chunk whenever chunk_rows < n / 2)
    late = st.integers(n // 2, n - 1)
    # a third of the files: one quoted value late in an otherwise fast-path file, small blocks
    only_a_quote = draw(st.integers(0, 2)) == 0
    field_edges = 1 if only_a_quote else draw(_EDGES)
    field_edge = st.sampled_from(["quote", "quote-doubled"]) if only_a_quote else _FIELD_EDGE
    for _ in range(field_edges):
        i, edge = draw(late), draw(field_edge)
        fields = rows[i][:]
        col = draw(st.integers(0, width - 1))
        value = fields[col]
        fields[col] = {"quote": f'"{value}"', "quote-delimiter": f'"{value}{sep}x"',
                       "quote-newline": f'"{value}\nx"', "quote-doubled": f'"{value}""x"',
                       "spaces": f"  {value} ", "empty": "", "bare-cr": f"{value}\rx"}[edge]
        lines[i] = sep.join(fields)
    for _ in range(0 if only_a_quote else draw(_EDGES)):
        i, edge = draw(late), draw(_LINE_EDGE)
        if edge == "blank":
            lines[i] = "\n" + lines[i]
        elif edge == "extra-field":
            lines[i] += sep + "9"
        elif edge == "missing-field":
            lines[i] = lines[i].rsplit(sep, 1)[0]
        elif edge == "duplicate":
            lines[i] = lines[max(0, i - 1)]
        elif edge == "bad-time":
            lines[i] = lines[i].replace("2021-", "2021/13/", 1)
        else:
            lines[i] = " " + lines[i] + " "
    if draw(st.booleans()):  # a trailing delimiter on every line (an empty unnamed column)
        if header:
            header = header + [""]
        else:
            options["columns"] += ",-"
        lines = [line + sep for line in lines]
    text = ([sep.join(header)] if header else []) + lines
    newline = draw(st.sampled_from(["\n", "\n", "\r\n"]))
    body = newline.join(text) + ("" if draw(st.integers(0, 4)) == 0 else newline)
    if draw(st.integers(0, 3)) == 0:
        body = "\ufeff" + body
    block = draw(st.sampled_from([64, 97, 256] + ([] if only_a_quote else [1 << 20])))
    return Case(body.encode("utf-8"), options, block)


# -- running one file both ways -----------------------------------------------------------------
def outcome(url: str, path: Path, case: Case, fast: bool) -> tuple:
    """Everything an import leaves: its result or refusal, the stored rows, the rejected rows."""
    rejected = path.with_suffix(f".{'fast' if fast else 'exact'}.rejected.csv")
    rejected.unlink(missing_ok=True)
    options = ImportOptions(tz=TZ, detect=False, fast_reader=fast, rejected_path=str(rejected),
                            **case.options)
    with connect(url) as db:
        _empty(db)
        try:
            r = import_file(db, path, options)
            said = ("ok", r.status, r.read, r.inserted, r.duplicates, r.replaced, r.rejected,
                    r.unknown, r.dst, r.interval, r.interval_source,
                    [(p.line, p.reason) for p in r.problems])
        except CountFileError as exc:
            said = ("refused", str(exc), exc.problems)
    kept = rejected.read_bytes() if rejected.exists() else None
    return said, stored(url), kept


def compare(url: str, path: Path, case: Case, paths: Counter) -> None:
    path.write_bytes(case.data)
    original = scan_mod.BLOCK_BYTES
    scan_mod.BLOCK_BYTES = case.block
    try:
        before = paths["fast"]
        fast = outcome(url, path, case, fast=True)
        took_fast = paths["fast"] > before
        exact = outcome(url, path, case, fast=False)
    finally:
        scan_mod.BLOCK_BYTES = original
    assert paths["fast"] == before + took_fast, "the exact reader ran the fast one"
    assert fast == exact
    if _only_quotes_keep_it_off(case):
        paths["late quote, else fast"] += 1


def _only_quotes_keep_it_off(case: Case) -> bool:
    """A quote past the first scan block is all that keeps the file off the fast reader (the
    same bytes with ' for " would take it): the case a scan that stops looking gets wrong."""
    quote = case.data.find(b'"')
    if quote < case.block:
        return False
    original = scan_mod.BLOCK_BYTES
    scan_mod.BLOCK_BYTES = case.block
    try:
        scan = scan_mod.scan_file(io.BytesIO(case.data.replace(b'"', b"'")), "utf-8-sig", None,
                                  header="columns" not in case.options)
    finally:
        scan_mod.BLOCK_BYTES = original
    return scan.uniform


@pytest.fixture
def paths(monkeypatch) -> Counter:
    """How often the fast reader ran to the end (and how often it gave up for the exact one)."""
    seen: Counter = Counter()
    real = reader_mod.fast_chunks

    def spy(*args, **kwargs):
        try:
            yield from real(*args, **kwargs)
        except NeedExactReader:
            seen["gave up"] += 1
            raise
        seen["fast"] += 1

    monkeypatch.setattr(reader_mod, "fast_chunks", spy)
    return seen


def test_fast_and_exact_readers_store_the_same_rows_and_problems(url, tmp_path, paths):
    path = tmp_path / "counts.csv"

    @settings(max_examples=60, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(case=cases())
    def check(case: Case) -> None:
        compare(url, path, case, paths)

    check()
    # the comparison meant something: the fast reader really read a good share of the files
    assert paths["fast"] >= 15 and paths["late quote, else fast"] >= 10, paths


# -- the same, by hand: the cases a reviewer asks about first -----------------------------------
def _rows(n: int, *, quote_at: int | None = None, sep: str = ",") -> bytes:
    out = [sep.join(["camera", "start", "people"])]
    for i in range(n):
        cam = f"cam{i % 10}"
        if i == quote_at:
            cam = f'"{cam}"'
        minute = i // 10 * 5
        out.append(sep.join([cam, f"2021-08-{1 + minute // 1440:02d} "
                                  f"{minute % 1440 // 60:02d}:{minute % 60:02d}", str(i % 97)]))
    return ("\n".join(out) + "\n").encode()


@pytest.mark.parametrize("edge", ["quote", "quote-delimiter", "quote-newline"])
def test_a_quoted_field_late_in_a_big_file_reads_the_same_both_ways(url, tmp_path, paths, edge):
    """Real block and chunk sizes: a quote past the first MB and past the first 50,000-row chunk.
    The scan must send the whole file to the exact reader; a fast reader that took it would
    keep the quotes in the camera name (or split the row at the newline)."""
    n = 60_000
    data = _rows(n, quote_at=55_000)
    assert data.index(b'"') > scan_mod.BLOCK_BYTES
    if edge == "quote-delimiter":
        data = data.replace(b'"cam0"', b'"cam0,x"', 1)
    elif edge == "quote-newline":
        data = data.replace(b'"cam0"', b'"cam0\nx"', 1)
    case = Case(data, {"on_error": "skip"}, scan_mod.BLOCK_BYTES)
    path = tmp_path / "big.csv"
    compare(url, path, case, paths)
    with connect(url) as db:  # the exact reading, left by the second import
        cameras = {c for (c,) in db.query("SELECT DISTINCT camera FROM counts")}
    assert not any('"' in c for c in cameras), cameras


def test_a_clean_big_file_takes_the_fast_reader_and_reads_the_same(url, tmp_path, paths):
    """The counterpart: without the quote the fast reader reads all of it, chunk after chunk."""
    case = Case(_rows(60_000), {"chunk_rows": 7_000}, scan_mod.BLOCK_BYTES)
    compare(url, tmp_path / "big.csv", case, paths)
    assert paths["fast"] == 1 and paths["gave up"] == 0
