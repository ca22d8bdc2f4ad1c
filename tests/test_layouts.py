"""Layouts of files from the field (issue 11, finding 6): headerless files (``--columns``),
missing-value markers (``--na``), wide files (``--wide``), and the fix a failing file is told.

Every import runs the installed ``cctvctl`` in a subprocess on a real SQLite file and a real
MariaDB database; what is stored is compared with an independent pandas reading of the file.
The Fremont Bridge file (../shared/data/fremont) is imported whole, as two cameras, on both.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from import_helpers import fresh_url, local_epoch, shared_mysql_url, stored  # noqa: E402,F401

CCTVCTL = str(Path(sys.executable).with_name("cctvctl"))
FREMONT = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "fremont" / "FremontBridge.csv"
LA = "America/Los_Angeles"


def cctv(url: str, *args: str, tz: str = "Asia/Seoul") -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CCTV_")}
    return subprocess.run([CCTVCTL, "--db", url, "--tz", tz, *args], capture_output=True,
                          text=True, env=env, timeout=300)


def write(tmp_path: Path, text: str, name: str = "counts.csv", encoding: str = "utf-8") -> str:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return str(path)


def summary(proc: subprocess.CompletedProcess) -> dict:
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


# -- headerless files --------------------------------------------------------------------------------
HEADERLESS = ("gate-1,2021-08-01 00:00,5\n"
              "gate-1,2021-08-01 00:05,-1\n"
              "gate-2,2021-08-01 00:00,7\n"
              "gate-2,2021-08-01 00:05,12\n")


def test_headerless_file_reads_every_line_as_data(fresh_url, tmp_path):
    path = write(tmp_path, HEADERLESS.replace("-1", "3"))
    got = summary(cctv(fresh_url, "import", path, "--columns", "camera,start,people",
                       "--no-detect", "--format", "json"))
    assert (got["read"], got["inserted"], got["rejected"]) == (4, 4, 0)
    ref = pd.read_csv(path, header=None, names=["camera", "start", "people"], dtype=str)
    expected = sorted((r.camera, local_epoch(r.start, "Asia/Seoul"), int(r.people)) for r in ref.itertuples())
    assert stored(fresh_url, ("camera", "start_utc", "people")) == expected


def test_headerless_file_without_columns_is_told_to_name_them(sqlite_url, tmp_path):
    proc = cctv(sqlite_url, "import", write(tmp_path, HEADERLESS))
    assert proc.returncode == 2
    assert "the first line looks like data" in proc.stderr and "--columns camera,start,people" in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("columns, message", [
    ("camera,start", "--columns names 2 columns but this line has 3 fields"),
    ("camera,strat,people", "'strat' is not a field"),
    ("camera,start,camera", "names 'camera' twice"),
])
def test_wrong_columns_are_refused_with_the_reason(sqlite_url, tmp_path, columns, message):
    proc = cctv(sqlite_url, "import", write(tmp_path, HEADERLESS), "--columns", columns, "--na", "-1")
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_columns_can_skip_a_column_and_rejected_rows_keep_their_lines(sqlite_url, tmp_path):
    path = write(tmp_path, "x,gate-1,2021-08-01 00:00,5\nx,gate-1,2021-08-01 00:05,abc\n")
    got = summary(cctv(sqlite_url, "import", path, "--columns", "-,camera,start,people",
                       "--on-error", "skip", "--no-detect", "--format", "json"))
    assert (got["inserted"], got["rejected"]) == (1, 1)
    rejected = Path(got["rejected_file"]).read_text().splitlines()
    assert rejected[0] == "line,reason,'-,camera,start,people"  # formula-safe cell
    assert rejected[1] == "2,people count 'abc' is not a number,x,gate-1,2021-08-01 00:05,abc"


# -- missing-value markers ---------------------------------------------------------------------------
MARKED = ("camera,start,people,vehicle\n"
          "gate-1,2021-08-01 00:00,5,-1\n"
          "gate-1,2021-08-01 00:05,NA,3\n"
          "gate-1,2021-08-01 00:10,-1,NA\n"  # nothing known: not stored
          "gate-1,2021-08-01 00:15,,4\n"
          "gate-1,2021-08-01 00:20,0,0\n")


def test_na_markers_are_stored_as_unknown_never_zero(fresh_url, tmp_path):
    path = write(tmp_path, MARKED)
    got = summary(cctv(fresh_url, "import", path, "--na", "-1", "--na", "NA", "--na", "",
                       "--no-detect", "--format", "json"))
    assert (got["read"], got["inserted"], got["rejected"], got["unknown"]) == (5, 4, 0, 1)
    ref = pd.read_csv(path, dtype=str, keep_default_na=False)
    expected = []
    for r in ref.itertuples():
        people, vehicle = (None if v in ("-1", "NA", "") else int(v) for v in (r.people, r.vehicle))
        if people is None and vehicle is None:
            continue
        expected.append((r.camera, local_epoch(r.start, "Asia/Seoul"), people, vehicle))
    assert stored(fresh_url, ("camera", "start_utc", "people", "vehicle")) == sorted(expected)
    # the same file again: identical (unknown equals unknown), not a conflict
    again = cctv(fresh_url, "import", path, "--na", "-1", "--na", "NA", "--na", "", "--no-detect",
                 "--replace", "--format", "json")
    assert summary(again)["status"] in ("ok", "unchanged")
    assert stored(fresh_url, ("camera", "start_utc", "people", "vehicle")) == sorted(expected)


def test_na_markers_on_a_headerless_file_with_minus_one(fresh_url, tmp_path):
    got = summary(cctv(fresh_url, "import", write(tmp_path, HEADERLESS), "--columns",
                       "camera,start,people", "--na", "-1", "--no-detect", "--format", "json"))
    assert (got["read"], got["inserted"], got["rejected"], got["unknown"]) == (4, 3, 0, 1)
    assert [r[2] for r in stored(fresh_url, ("camera", "start_utc", "people"))] == [5, 7, 12]


def test_without_na_a_minus_one_or_an_empty_cell_is_refused_with_the_fix(sqlite_url, tmp_path):
    proc = cctv(sqlite_url, "import", write(tmp_path, "camera,start,people\ng,2021-08-01 00:00,-1\n"
                                                      "g,2021-08-01 00:05,-1\n"))
    assert proc.returncode == 2 and "if -1 marks a missing value, pass --na -1" in proc.stderr
    proc = cctv(sqlite_url, "import", write(tmp_path, "camera,start,people\ng,2021-08-01 00:00,\n"))
    assert proc.returncode == 2 and "pass --na ''" in proc.stderr
    assert stored(sqlite_url) == []


def test_vehicle_from_classes_is_unknown_when_a_class_is(sqlite_url, tmp_path):
    path = write(tmp_path, "camera,start,n_car,n_truck\ng,2021-08-01 00:00,3,-1\ng,2021-08-01 00:05,3,2\n")
    summary(cctv(sqlite_url, "import", path, "--na", "-1", "--no-detect", "--format", "json"))
    assert stored(sqlite_url, ("car", "truck", "vehicle")) == [(3, None, None), (3, 2, 5)]


def test_unknown_counts_pass_the_bulk_formatters_as_null():
    from cctvctl.ingest.writer import format_json_groups, format_tsv

    frame = pd.DataFrame({"camera": ["a", "a"], "start_utc": [10, 20], "people": [np.nan, 123.0]})
    assert format_tsv(frame, ["camera", "start_utc", "people", "import_id"], 7) == b"a\t10\t\t7\na\t20\t123\t7\n"
    [(camera, text)] = format_json_groups(frame, ["camera", "start_utc", "people"])
    assert camera == "a" and json.loads(text) == [[10, None], [20, 123]]


# -- wide files ------------------------------------------------------------------------------------
def fremont_expected(path: Path) -> list[tuple]:
    """pandas' reading of the file: one row per sidewalk and hour with a count."""
    df = pd.read_csv(path)
    local = pd.to_datetime(df["Date"], format="%m/%d/%Y %I:%M:%S %p")
    idx = pd.DatetimeIndex(local).tz_localize(LA, ambiguous=np.ones(len(df), dtype=bool),
                                              nonexistent="NaT")
    epoch = pd.Series(idx.tz_convert("UTC").tz_localize(None).astype("datetime64[s]").astype("int64"))
    out = []
    for side, camera in (("West", "west"), ("East", "east")):
        col = next(c for c in df.columns if c.endswith(f"Cyclist {side} Sidewalk"))
        known = df[col].notna()
        assert not idx[known.to_numpy()].isna().any()  # every counted hour exists in LA
        out += [(camera, int(s), int(s) + 3600, int(v)) for s, v in zip(epoch[known], df[col][known])]
    return sorted(out)


@pytest.mark.realdata
@pytest.mark.slow
def test_fremont_imports_as_two_cameras_in_one_command(fresh_url):
    if not FREMONT.is_file():
        pytest.skip(f"real data file {FREMONT} is absent")
    proc = cctv(fresh_url, "import", str(FREMONT), "--interval", "60", "--map", "start=Date",
                "--wide", "West Sidewalk=west", "--wide", "East Sidewalk=east", "--na", "",
                "--no-detect", "--format", "json", tz=LA)
    got = summary(proc)
    expected = fremont_expected(FREMONT)
    assert (got["read"], got["rejected"], got["inserted"]) == (112440, 0, len(expected))
    assert stored(fresh_url, ("camera", "start_utc", "end_utc", "people")) == expected


def test_fremont_without_the_map_is_told_to_read_date_as_start(sqlite_url, tmp_path):
    head = ('Date,"Sidewalks, Total","Sidewalks, West","Sidewalks, East"\n'
            "10/02/2012 01:00:00 PM,55,7,48\n")
    proc = cctv(sqlite_url, "import", write(tmp_path, head), "--wide", "West=west", tz=LA)
    assert proc.returncode == 2
    assert "column 'Date' holds date-times ('10/02/2012 01:00:00 PM'): use --map start=Date" in proc.stderr


@pytest.mark.parametrize("header", ["People,people", "people,n_person", "people,people"])
def test_two_columns_read_as_one_count_are_refused_until_one_is_named(fresh_url, tmp_path, header):
    path = tmp_path / "two.csv"
    path.write_text(f"camera,start,{header}\ng,2021-08-01 09:00,5,7\n")
    refused = cctv(fresh_url, "import", str(path))
    assert refused.returncode == 2 and "both read as people" in refused.stderr
    assert "--map people=" in refused.stderr
    if header == "people,people":
        return  # a name given twice: --map cannot tell them apart either; rename the column
    second = header.split(",")[1]
    done = cctv(fresh_url, "import", str(path), "--map", f"people={second}", "--no-detect")
    assert done.returncode == 0, done.stderr
    assert stored(fresh_url, ("people",)) == [(7,)]


def test_wide_vehicle_counts_and_a_bad_cell_names_its_camera(fresh_url, tmp_path):
    path = write(tmp_path, "time,north,south\n2021-08-01 00:00,4,x\n2021-08-01 00:05,,6\n")
    proc = cctv(fresh_url, "import", path, "--map", "start=time", "--wide", "north=N",
                "--wide", "south=S", "--wide-metric", "vehicle", "--na", "")
    assert proc.returncode == 2 and "counts.csv:2: S: vehicle count 'x' is not a number" in proc.stderr
    got = summary(cctv(fresh_url, "import", path, "--map", "start=time", "--wide", "north=N",
                       "--wide", "south=S", "--wide-metric", "vehicle", "--na", "", "--na", "x",
                       "--no-detect", "--format", "json"))
    assert (got["read"], got["inserted"], got["unknown"]) == (2, 2, 2)
    first = local_epoch("2021-08-01 00:00", "Asia/Seoul")
    assert stored(fresh_url, ("camera", "start_utc", "people", "vehicle")) == [
        ("N", first, None, 4), ("S", first + 300, None, 6)]


@pytest.mark.parametrize("args, message", [
    (["--wide", "west"], "expected COLUMN=CAMERA"),
    (["--wide", "nowhere=x"], "--wide nowhere=x: no such column"),
    (["--wide", "north=N", "--camera", "c"], "--camera and --wide exclude each other"),
    (["--wide", "north=N", "--wide-metric", "car"], "--wide-metric must be people or vehicle"),
    (["--wide", "north=N", "--wide", "south=N"], "gives camera 'N' to two columns"),
])
def test_wide_mistakes_are_refused(sqlite_url, tmp_path, args, message):
    path = write(tmp_path, "time,north,south\n2021-08-01 00:00,4,5\n")
    proc = cctv(sqlite_url, "import", path, "--map", "start=time", *args)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


# -- the likely fix ----------------------------------------------------------------------------------
def test_a_korean_export_read_as_utf8_is_told_cp949(sqlite_url, tmp_path):
    path = write(tmp_path, "camera,start,people\n정문,2021-08-01 00:00,5\n", encoding="cp949")
    proc = cctv(sqlite_url, "import", path)
    assert proc.returncode == 2
    assert "counts.csv:2: not valid UTF-8" in proc.stderr and "read as Korean in cp949 ('정문')" in proc.stderr
    assert summary(cctv(sqlite_url, "import", path, "--encoding", "cp949", "--format", "json"))["inserted"] == 1


def test_a_latin1_file_is_not_told_cp949(sqlite_url, tmp_path):
    proc = cctv(sqlite_url, "import", write(tmp_path, "camera,start,people\ncafé,2021-08-01 00:00,5\n",
                                            encoding="latin-1"))
    assert proc.returncode == 2 and "read as Korean" not in proc.stderr


# -- the fast path ---------------------------------------------------------------------------------
def test_quoted_header_and_headerless_files_keep_the_fast_reader(tmp_path):
    from cctvctl.ingest.scan import scan_file

    quoted = write(tmp_path, 'Date,"a, b",c\n2021-08-01 00:00,1,2\n', "q.csv")
    scan = scan_file(quoted, "utf-8-sig", None)
    assert scan.uniform and scan.fast_reader_fits(",")
    headerless = write(tmp_path, HEADERLESS, "h.csv")
    assert scan_file(headerless, "utf-8-sig", None, header=False).uniform
    # a quote in the data still takes the exact reader
    assert not scan_file(write(tmp_path, 'a,b\n"x",1\n', "d.csv"), "utf-8-sig", None).uniform
