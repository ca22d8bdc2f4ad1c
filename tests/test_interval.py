"""The interval is checked against the file (issue 11 finding 4; issue 12 "an end 78 years later").

A file without an end column: every camera's usual spacing must equal ``--interval``, or, without
the flag, the interval is inferred from the rows and said. Times in messages are local ISO, never
epoch seconds. Real SQLite files and a real MariaDB database; expected ends by zoneinfo.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from import_helpers import (  # noqa: E402,F401  (fixtures are used by name)
    count_rows, fresh_url, idb, local_epoch, shared_mysql_url, snapshot, stored)

from cctvctl.cli import app  # noqa: E402
from cctvctl.errors import CountFileError  # noqa: E402
from cctvctl.ingest import ImportOptions, import_file  # noqa: E402

SEOUL = "Asia/Seoul"
EPOCH_LIKE = re.compile(r"\b1[0-9]{9}\b")  # 2001-09-09 … 2033-05-18 in epoch seconds


def hourly(cameras=("gate-1",), hours=range(6), day="2021-08-01", skip=()) -> str:
    lines = ["camera,start,people"]
    lines += [f"{c},{day} {h:02d}:00:00,{h + 1}" for c in cameras for h in hours if h not in skip]
    return "\n".join(lines) + "\n"


def write(tmp_path, text, name="c.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def invoke(runner, url, *args):
    return runner.invoke(app, ["--db", url, "--tz", SEOUL, "import", *args, "--no-detect"])


def test_interval_inferred_from_the_file_and_said(fresh_url, runner, tmp_path):
    path = write(tmp_path, hourly(("gate-1", "gate-2"), skip=(3,)))  # a gap does not matter
    result = invoke(runner, fresh_url, str(path))
    assert result.exit_code == 0, result.stderr
    assert "  interval 60 min (inferred from the spacing of its rows; --interval sets it)" in result.stdout
    rows = stored(fresh_url, ("camera", "start_utc", "end_utc"))
    expected = [(c, local_epoch(f"2021-08-01 {h:02d}:00", SEOUL), local_epoch(f"2021-08-01 {h:02d}:00", SEOUL) + 3600)
                for c in ("gate-1", "gate-2") for h in range(6) if h != 3]
    assert rows == expected


def test_wrong_interval_is_refused_with_the_observed_spacing(fresh_url, runner, tmp_path):
    """Issue 11 finding 4: an hourly file imported as 5-minute intervals."""
    path = write(tmp_path, hourly(hours=range(24)))
    before = snapshot(fresh_url)
    result = invoke(runner, fresh_url, str(path), "--interval", "5")
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: {path}: the file has no end column and rows of camera 'gate-1' are 60 minutes "
        "apart (most often; e.g. lines 2 and 3: 2021-08-01T00:00:00+09:00, "
        "2021-08-01T01:00:00+09:00), but --interval is 5 minutes: use --interval 60, or give the "
        "file an end column\n")
    assert snapshot(fresh_url) == before
    right = invoke(runner, fresh_url, str(path), "--interval", "60")
    assert right.exit_code == 0 and "interval 60 min" not in right.stdout  # given, not inferred


def test_cameras_of_different_intervals_are_refused_without_a_flag(fresh_url, runner, tmp_path):
    text = hourly(("a",), hours=range(24)) + "".join(f"b,2021-08-01 00:{m:02d}:00,1\n" for m in range(0, 60, 5))
    result = invoke(runner, fresh_url, str(write(tmp_path, text)))
    assert result.exit_code == 2 and count_rows(fresh_url) == 0
    assert "the interval 60 minutes inferred from its rows does not fit all cameras: rows of camera 'b' " \
           "are 5 minutes apart" in result.stderr


def test_spacing_is_chained_across_chunks(idb, tmp_path):
    """The gaps between chunks count; the interval comes from the first chunk."""
    from zoneinfo import ZoneInfo

    path = write(tmp_path, hourly(hours=range(12)))
    with pytest.raises(CountFileError, match="are 60 minutes apart"):
        import_file(idb, path, ImportOptions(tz=ZoneInfo(SEOUL), interval=300, chunk_rows=1, detect=False))
    assert count_rows(idb) == 0
    # four rows per chunk: three gaps in the first tell the interval, the chained ones agree
    result = import_file(idb, path, ImportOptions(tz=ZoneInfo(SEOUL), chunk_rows=4, detect=False))
    assert (result.interval, result.interval_source, result.inserted) == (3600, "file", 12)
    # one row per chunk: the first chunk cannot tell, the default is checked against the rest
    with pytest.raises(CountFileError, match="no spacing to tell and the default 5 minutes was "
                                             "used: use --interval 60"):
        import_file(idb, write(tmp_path, hourly(("q",), hours=range(12)), "q.csv"),
                    ImportOptions(tz=ZoneInfo(SEOUL), chunk_rows=1, detect=False))
    # the first chunk (camera z, hourly) sets 60 minutes; camera y, later, refutes it
    late = hourly(("z",), hours=range(5)) + "".join(f"y,2021-08-02 00:{m:02d}:00,1\n" for m in range(0, 30, 5))
    with pytest.raises(CountFileError, match="60 minutes inferred from its rows does not fit all "
                                             "cameras: rows of camera 'y' are 5 minutes apart"):
        import_file(idb, write(tmp_path, late, "late.csv"),
                    ImportOptions(tz=ZoneInfo(SEOUL), chunk_rows=4, detect=False))


def test_date_and_hour_columns_infer_hours(fresh_url, runner, tmp_path):
    text = "Date,Hour,SensorID,Count\n" + "".join(f"2021-08-01,{h},7,{h}\n" for h in range(24))
    path = write(tmp_path, text)
    result = invoke(runner, fresh_url, str(path), "--map", "date=Date", "--map", "hour=Hour",
                    "--map", "camera=SensorID", "--map", "people=Count")
    assert result.exit_code == 0, result.stderr
    ends = {e - s for _, s, e in stored(fresh_url, ("camera", "start_utc", "end_utc"))}
    assert ends == {3600}


@pytest.mark.parametrize("rows", [["2021-08-01 09:00"], ["2021-08-01 09:00", "2021-08-01 17:40"]])
def test_too_few_rows_use_the_default_and_say_so(fresh_url, runner, tmp_path, rows):
    text = "camera,start,people\n" + "".join(f"g,{r},1\n" for r in rows)
    result = invoke(runner, fresh_url, str(write(tmp_path, text)))
    assert result.exit_code == 0
    assert "interval 5 min (the default: too few rows per camera to tell; --interval sets it)" in result.stdout


def test_conflict_reason_shows_local_times_not_epoch(fresh_url, runner, tmp_path):
    """The corrective re-import of an end column: the reason names local ISO times."""
    first = write(tmp_path, "camera,start,end,people\ng,2021-08-01 00:00,2021-08-01 00:05,3\n", "a.csv")
    second = write(tmp_path, "camera,start,end,people\ng,2021-08-01 00:00,2021-08-01 01:00,3\n", "b.csv")
    assert invoke(runner, fresh_url, str(first)).exit_code == 0
    result = invoke(runner, fresh_url, str(second))
    assert result.exit_code == 2
    assert (f"{second}:2: conflicts with the stored row (end 2021-08-01T00:05:00+09:00 stored, "
            "2021-08-01T01:00:00+09:00 in file); use --replace to overwrite") in result.stderr
    assert not EPOCH_LIKE.search(result.stderr + result.stdout)


@pytest.mark.parametrize("end,ok", [("2099-08-01 00:00", False), ("2021-08-02 01:00", True),
                                    ("2021-08-02 01:05", False)])
def test_an_interval_longer_than_25_hours_is_refused(fresh_url, runner, tmp_path, end, ok):
    """Issue 12: an end 78 years later overlapped every later row of its camera."""
    path = write(tmp_path, f"camera,start,end,people\ng,2021-08-01 00:00,{end},3\n"
                           "g,2021-08-02 01:00,2021-08-02 02:00,4\n")  # after 25 h: no overlap
    result = invoke(runner, fresh_url, str(path))
    if ok:  # 25 h: the longest day (a DST fall-back) is still one interval
        assert result.exit_code == 0, result.stderr
        return
    assert result.exit_code == 2 and count_rows(fresh_url) == 0
    assert (f"{path}:2: end '{end}' is more than 25 hours after start '2021-08-01 00:00'") in result.stderr
    skip = invoke(runner, fresh_url, str(path), "--on-error", "skip")
    assert skip.exit_code == 0 and count_rows(fresh_url) == 1


def test_sparse_rows_are_missing_intervals_not_another_interval(fresh_url, runner, tmp_path):
    """Hourly counts of a few hours a day: gaps longer than --interval are gaps, unless they are
    the camera's clear rule (10 gaps and most of them); rows closer than it overlap (3 suffice)."""
    sparse = "camera,start,people\n" + "".join(f"g,2021-08-{d:02d} {h:02d}:00,1\n"
                                               for d in (1, 2, 3) for h in (0, 13))
    assert invoke(runner, fresh_url, str(write(tmp_path, sparse)), "--interval", "60").exit_code == 0
    close = "camera,start,people\n" + "".join(f"k,2021-08-05 00:{m:02d},1\n" for m in (0, 5, 10, 15))
    result = invoke(runner, fresh_url, str(write(tmp_path, close, "k.csv")), "--interval", "60")
    assert result.exit_code == 2 and "are 5 minutes apart" in result.stderr
