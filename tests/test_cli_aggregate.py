"""`cctvctl aggregate`: JSON keys and values, messages, exit codes, and concurrent runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest

from aggref import compare, import_frame, make_counts, reference, stored
from cctvctl.cli import app
from cctvctl.db import connect

TZ = "Asia/Seoul"
DOCUMENTED_KEYS = ["camera", "grain", "period", "period_start", "weekday", "hour", "n", "expected",
                   "coverage", "interval_s", "people_n", "people_sum", "people_sumsq",
                   "people_mean", "people_std", "people_ref", "vehicle_n", "vehicle_sum",
                   "vehicle_sumsq", "vehicle_mean", "vehicle_std", "vehicle_ref", "k"]


def _load(url: str, days: int = 20, cameras=("east", "west")) -> pd.DataFrame:
    raw = pd.concat([make_counts(TZ, date(2021, 8, 1), date(2021, 8, 1) + timedelta(days=days - 1), c, seed=i,
                                 vehicle=(c != "west"))
                     for i, c in enumerate(cameras)], ignore_index=True)
    with connect(url) as db:
        import_frame(db, raw, TZ)
    return raw


def _invoke(runner, url: str, *args: str):
    return runner.invoke(app, ["aggregate", *args, "--db", url, "--tz", TZ])


def test_json_rows_have_the_documented_keys_and_equal_pandas(runner, db_url):
    raw = _load(db_url)
    result = _invoke(runner, db_url, "all", "--format", "json")
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)
    assert rows and all(list(r) == DOCUMENTED_KEYS for r in rows)
    assert {r["grain"] for r in rows} == {"day", "hour", "week", "month", "year", "month_weekday",
                                          "year_weekday"}
    assert all(r["weekday"] is None for r in rows if not r["grain"].endswith("weekday"))
    assert all(r["hour"] is None for r in rows if r["grain"] != "hour")
    west = [r for r in rows if r["camera"] == "west"]
    assert all(r["vehicle_mean"] is None and r["vehicle_n"] == 0 for r in west)
    want = reference(raw, TZ, {"east": 300, "west": 300})
    got = pd.DataFrame(rows)
    assert compare(got, want) == []
    with connect(db_url) as db:  # what was printed is what was stored
        assert compare(stored(db), got, grains=list(got["grain"].unique())) == []
    again = _invoke(runner, db_url, "all", "--format", "json")
    assert again.exit_code == 0 and json.loads(again.stdout) == []


def test_table_summary_no_op_message_and_quiet(runner, sqlite_url):
    _load(sqlite_url, days=3)
    quiet = _invoke(runner, sqlite_url, "day", "--quiet")
    assert quiet.exit_code == 0 and quiet.stdout == "" and quiet.stderr == ""
    redo = _invoke(runner, sqlite_url, "day", "--date", "2021-08-02", "--k", "2")
    assert redo.exit_code == 0
    assert redo.stdout.splitlines()[0] == "statistics written in Asia/Seoul (k=2):"
    assert "  day                   2 rows  2021-08-02 (1 period, 2 cameras)" in redo.stdout
    nobody = _invoke(runner, sqlite_url, "all", "--camera", "nobody")
    assert (nobody.exit_code, nobody.stdout) == (0, "nothing to aggregate: no counts for nobody\n")
    noop = _invoke(runner, sqlite_url, "day")
    assert noop.exit_code == 0
    assert noop.stdout.startswith("nothing due: statistics are up to date (through day ")
    assert noop.stdout.rstrip().endswith("re-running is a no-op")


@pytest.mark.parametrize("args,message", [
    (["fortnight"], "unknown grain 'fortnight': use day, week, month, year, weekday, all"),
    (["day", "--date", "2021-08-01", "--since", "2021-08-01"],
     "--date cannot be combined with --since/--until"),
    (["day", "--since", "2021-08-05", "--until", "2021-08-01"],
     "--since 2021-08-05 is after --until 2021-08-01"),
    (["day", "--date", "2021-13-01"], "invalid date '2021-13-01' (expected YYYY-MM-DD)"),
    (["day", "--format", "csv"], "--format must be table or json"),
])
def test_bad_usage_exits_2_with_one_line(runner, sqlite_url, args, message):
    result = _invoke(runner, sqlite_url, *args)
    assert result.exit_code == 2
    assert result.stderr == f"error: {message}\n"


def test_another_zone_is_refused(runner, sqlite_url):
    _load(sqlite_url, days=2)
    assert _invoke(runner, sqlite_url, "day", "--quiet").exit_code == 0
    result = runner.invoke(app, ["aggregate", "day", "--db", sqlite_url, "--tz", "Europe/Berlin"])
    assert result.exit_code == 2
    assert result.stderr == (
        "error: this database's zone is Asia/Seoul; --tz/CCTV_TZ Europe/Berlin differs (its local "
        "times and periods are in Asia/Seoul): drop --tz or use --tz Asia/Seoul; to change the "
        "database's zone deliberately see `cctvctl db set-zone --help`\n")


def test_unreachable_database_exits_1(runner):
    result = runner.invoke(app, ["aggregate", "all", "--quiet", "--db",
                                 "mysql://nobody@127.0.0.1:1/cctv", "--tz", TZ])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: cannot connect to MySQL at 127.0.0.1:1: ")
    assert result.stderr.count("\n") == 1


def test_two_concurrent_runs_equal_one_run(db_url):
    """Two `cctvctl aggregate all` processes at once write exactly what one run writes."""
    exe = str(Path(sys.executable).with_name("cctvctl"))
    assert Path(exe).exists(), "the installed cctvctl entry point is missing"
    raw = _load(db_url, days=40, cameras=("n1", "n2", "n3"))
    env = {**os.environ, "CCTV_DB": db_url, "CCTV_TZ": TZ}
    procs = [subprocess.Popen([exe, "aggregate", "all", "--format", "json"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1] for o in outs]
    written = [json.loads(o[0]) for o in outs]
    assert sorted(len(w) for w in written)[0] == 0  # the second found nothing due
    rows = [r for w in written for r in w]
    keys = [(r["grain"], r["camera"], r["period_start"], r["hour"], r["weekday"]) for r in rows]
    assert len(keys) == len(set(keys))  # nothing computed twice
    with connect(db_url) as db:
        got = stored(db)
    assert len(got) == len(rows)
    assert compare(got, reference(raw, TZ, {c: 300 for c in ("n1", "n2", "n3")})) == []
