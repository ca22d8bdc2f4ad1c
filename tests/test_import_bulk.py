"""The bulk write path of imports: the LOAD DATA file formatter, staging on the parsing thread,
spool clean-up, and the (camera, UTC day) ledger, on real SQLite and MariaDB."""

from __future__ import annotations

import csv
import json
import os
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from import_helpers import (  # noqa: E402,F401  (fixtures are used by name)
    expected_from_csv, fresh_url, idb, shared_mysql_url, stored)

from cctvctl.ingest import ImportOptions, import_file  # noqa: E402
from cctvctl.ingest import writer as writer_mod  # noqa: E402
from cctvctl.ingest.writer import CountWriter, format_json_groups, format_tsv  # noqa: E402

INT_MAX = 2**31 - 1
COLS = ["camera", "start_utc", "end_utc", "people", "vehicle", "import_id"]
NAMES = ["cam-1", "Zürich Hbf 카메라", "a", "back\\slash 'q\" ", "x" * 64, "cam-2"]


def _reference(frame: pd.DataFrame, import_id: int) -> bytes:
    """What the formatter replaced: pandas to_csv, tab-separated, unquoted."""
    return frame.assign(import_id=import_id).to_csv(
        sep="\t", header=False, index=False, lineterminator="\n", quoting=csv.QUOTE_NONE,
        quotechar="\x00").encode("utf-8")


def _frame(n: int, seed: int, names=NAMES) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    counts = rng.integers(0, INT_MAX, n, endpoint=True) // rng.integers(1, 10**9, n)
    counts[: min(n, 3)] = [0, INT_MAX, 9][: min(n, 3)]
    return pd.DataFrame({"camera": np.array(names, dtype=object)[rng.integers(0, len(names), n)],
                         "start_utc": rng.integers(0, 4102444800, n),
                         "end_utc": rng.integers(0, 10, n), "people": counts,
                         "vehicle": np.zeros(n, np.int64)})


@pytest.mark.parametrize("n", [1, 2, 7, 1000, 20_000])
def test_format_tsv_is_byte_identical_to_to_csv(n):
    frame = _frame(n, seed=n)
    assert format_tsv(frame, COLS, 123) == _reference(frame, 123)


def test_format_tsv_fixed_width_fast_path():
    # every field the same length: no mask is built, the matrix is the file
    frame = pd.DataFrame({"camera": ["cam-0001", "cam-0002"] * 3,
                          "start_utc": np.arange(1609718400, 1609718400 + 6 * 300, 300),
                          "end_utc": np.arange(1609718700, 1609718700 + 6 * 300, 300),
                          "people": [10, 11, 12, 13, 14, 15], "vehicle": [1] * 6})
    assert format_tsv(frame, COLS, 7) == _reference(frame, 7)
    assert format_tsv(frame, COLS[:2], 7) == b"".join(
        f"{c}\t{s}\n".encode() for c, s in zip(frame.camera, frame.start_utc))


def test_format_tsv_refuses_what_it_cannot_write_exactly():
    frame = pd.DataFrame({"camera": ["a"], "start_utc": [-5]})
    with pytest.raises(ValueError, match="non-negative"):
        format_tsv(frame, ["camera", "start_utc"], 1)
    with pytest.raises(ValueError, match="non-negative"):
        format_tsv(pd.DataFrame({"camera": ["a"], "people": [1.5]}), ["camera", "people"], 1)
    with pytest.raises(ValueError, match="missing"):
        format_tsv(pd.DataFrame({"camera": [None, "a"]}), ["camera"], 1)


def _csv(path: Path, frame: pd.DataFrame) -> Path:
    out = frame.copy()
    out["start_date"] = pd.to_datetime(out.pop("start_utc"), unit="s").dt.strftime("%Y-%m-%d %H:%M:%S")
    out["end_date"] = pd.to_datetime(out.pop("end_utc"), unit="s").dt.strftime("%Y-%m-%d %H:%M:%S")
    out[["camera", "start_date", "end_date", "people", "vehicle"]].to_csv(path, index=False)
    return path


def test_import_round_trips_names_and_counts_of_every_width(idb, tmp_path):
    """Many chunks (so many staged files) of names and counts of varied widths: stored exactly."""
    rng = np.random.default_rng(3)
    names = ["cam-1", "Zürich Hbf 카메라", "a", "back\\slash 'q\"", "x" * 64, "cam-2"]
    n = 2_000
    cams = np.array(names, dtype=object)[rng.integers(0, len(names), n)]
    starts = 1609459200 + 300 * rng.permutation(n * 3)[:n]  # distinct per file: no dup keys
    frame = pd.DataFrame({"camera": cams, "start_utc": starts, "end_utc": starts + 300,
                          "people": rng.integers(0, 100_000, n) // rng.integers(1, 10**4, n),
                          "vehicle": rng.integers(0, 10, n)})
    path = _csv(tmp_path / "wide.csv", frame)
    result = import_file(idb, path, ImportOptions(tz=ZoneInfo("UTC"), detect=False, chunk_rows=333))
    assert result.status == "ok" and result.inserted == n
    assert stored(idb) == expected_from_csv(path, "UTC")
    days = sorted(idb.query("SELECT camera, utc_day FROM import_days WHERE import_id = ?",
                            (result.import_id,)))
    assert days == sorted({(c, int(s) // 86400) for c, s in zip(cams, starts)})
    assert not _spools()  # every staged file and the spool folder are gone


def _spools() -> list[str]:
    import glob
    import tempfile

    return glob.glob(os.path.join(tempfile.gettempdir(), f"{writer_mod.SPOOL_PREFIX}{os.getpid()}-*"))


def test_staged_files_are_consumed_or_removed(mysql_url):
    """A file staged on the parsing thread is removed by its write, or by close() when no
    write took it (an error in between); the spool folder goes with close()."""
    from cctvctl.db import connect

    with connect(mysql_url) as db:
        if not db.local_infile:
            pytest.skip("the server refuses LOCAL INFILE")
        frame = _frame(50, seed=1, names=["a", "b"]).drop_duplicates(["camera", "start_utc"])
        frame = frame.reset_index(drop=True)
        frame["line"] = np.arange(2, len(frame) + 2)
        with db.atomic():
            db.execute("INSERT INTO imports (source, sha256, options_sha256, tz, status, started_at) "
                       "VALUES ('t', 'x', 'y', 'UTC', 'running', 0)")
            import_id = int(db.scalar("SELECT LAST_INSERT_ID()"))
            w = CountWriter(db, import_id, replace=False)
            first = w.stage(frame.iloc[:20])
            second = w.stage(frame.iloc[20:])
            assert first.path != second.path and first.json is None
            assert os.path.exists(first.path) and os.path.exists(second.path)
            assert w.write(frame.iloc[:20], first).inserted == 20
            assert not os.path.exists(first.path)
            # second never written (as when parsing fails mid-file): close removes it
            w.close()
            assert not os.path.exists(second.path) and not _spools()
            assert db.scalar("SELECT COUNT(*) FROM counts WHERE import_id = ?", (import_id,)) == 20
            # staged while bulk loading was on, written after the server refused it: not left
            w = CountWriter(db, import_id, replace=False)
            staged = w.stage(frame.iloc[20:])
            w._bulk = False
            assert w.write(frame.iloc[20:], staged).inserted == len(frame) - 20
            assert not os.path.exists(staged.path)
            w.close()
            assert not _spools()
            db.conn.rollback()


def test_format_json_groups_is_each_cameras_rows_as_json():
    frame = _frame(500, seed=4)
    cols = ["camera", "start_utc", "end_utc", "people", "vehicle"]
    groups = format_json_groups(frame, cols)
    assert [c for c, _ in groups] == list(pd.unique(frame.camera))  # first-seen order
    for camera, text in groups:
        assert text.isascii()
        mine = frame[frame.camera == camera]  # in file order
        assert json.loads(text) == [list(r) for r in mine[cols[1:]].itertuples(index=False)]
    one = format_json_groups(frame.iloc[:1], ["camera", "start_utc"])
    assert one == [(frame.camera[0], f"[[{frame.start_utc[0]}]]")]


def test_sqlite_stages_json_and_writes_it_in_one_statement(sqlite_url, monkeypatch):
    """On SQLite a chunk is staged as JSON on the parsing thread and inserted by one
    INSERT … FROM json_each per camera; the rows stored are exactly the frame's, with the
    import id."""
    from cctvctl.db import connect

    with connect(sqlite_url) as db:
        frame = _frame(300, seed=2).drop_duplicates(["camera", "start_utc"]).reset_index(drop=True)
        frame["line"] = np.arange(2, len(frame) + 2)
        w = CountWriter(db, 41, replace=False)
        staged = w.stage(frame)
        assert staged.path is None and staged.json[0][0] == frame.camera[0]
        calls = []
        monkeypatch.setattr(db, "executemany", lambda *a: calls.append(a) or 0)
        with db.atomic():
            assert w.write(frame, staged).inserted == len(frame)
            w.close()
        assert not calls  # no row-by-row insert
        got = db.query("SELECT camera, start_utc, end_utc, people, vehicle, import_id, typeof(people), "
                       "typeof(start_utc), typeof(camera) FROM counts ORDER BY camera, start_utc")
        want = sorted((c, int(s), int(e), int(p), int(v), 41, "integer", "integer", "text")
                      for c, s, e, p, v in frame[["camera", "start_utc", "end_utc", "people",
                                                  "vehicle"]].itertuples(index=False))
        assert got == want


def test_sqlite_without_json_functions_uses_executemany(sqlite_url, monkeypatch):
    from cctvctl.db import connect

    from cctvctl.db.database import Database

    monkeypatch.setattr(Database, "json_rows", property(lambda self: False))
    with connect(sqlite_url) as db:
        frame = _frame(50, seed=5, names=["a"]).drop_duplicates(["camera", "start_utc"])
        frame = frame.reset_index(drop=True)
        w = CountWriter(db, 3, replace=False)
        assert w.stage(frame) is None
        with db.atomic():
            assert w.write(frame).inserted == len(frame)
        assert db.scalar("SELECT COUNT(*) FROM counts WHERE import_id = 3") == len(frame)


def test_a_key_repeated_in_a_later_chunk_is_still_found(fresh_url, tmp_path):
    """The bulk INSERT skips a stored key (OR IGNORE / LOAD DATA IGNORE): the chunk is then
    redone row by row, so the repeat is reported, not silently dropped."""
    from cctvctl.db import connect
    from cctvctl.errors import CountFileError

    lines = ["camera,start_date,end_date,people,vehicle"]
    lines += [f"c,2021-01-01 {h:02d}:00:00,2021-01-01 {h:02d}:05:00,{h},1" for h in range(10)]
    lines.append("c,2021-01-01 03:00:00,2021-01-01 03:05:00,3,1")  # line 12 repeats line 5
    path = tmp_path / "rep.csv"
    path.write_text("\n".join(lines) + "\n")
    with connect(fresh_url) as db:
        with pytest.raises(CountFileError) as err:
            import_file(db, path, ImportOptions(tz=ZoneInfo("UTC"), detect=False, chunk_rows=4))
        assert any(":12: duplicate of an earlier row" in p for p in err.value.problems)
        assert db.scalar("SELECT COUNT(*) FROM counts") == 0


@pytest.mark.parametrize("body", ["cam-1,2021-01-01 00:{m:02d},{n}\n", 'cam-1,"2021-01-01 00:{m:02d}",{n}\n'])
def test_the_file_hash_is_sha256_of_every_byte_in_order(tmp_path, body):
    """The hash runs on its own thread a few blocks behind the line checks: over many blocks,
    with the fast path kept (plain lines) or given up early (quotes), it is still the sha256
    of the whole file, and the checks see what they saw before."""
    import hashlib

    from cctvctl.ingest.scan import HASH_AHEAD, scan_file

    path = tmp_path / "big.csv"
    rows = "".join(body.format(m=i % 60, n=i % 997) for i in range(400_000))  # ~12 MB: > HASH_AHEAD blocks
    path.write_bytes(("camera,start,people\n" + rows).encode())
    assert path.stat().st_size > (HASH_AHEAD + 2) << 20
    scan = scan_file(str(path), "utf-8-sig", None)
    assert scan.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert scan.lines == 400_001 and scan.delimiter == ","
    assert scan.uniform == ('"' not in body)
