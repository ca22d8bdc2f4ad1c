"""`cctvctl detect` (and the outliers count of `cctvctl import`): formats, exit codes, stderr."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cctvctl.cli import app

REQUIRED_KEYS = {"camera", "start", "metric", "direction", "observed", "expected", "score",
                 "method", "label", "band_low", "band_high"}
SURGE = datetime(2021, 3, 25, 15)


@pytest.fixture
def count_file(tmp_path):
    """26 days of hourly counts for two cameras; camera gate-1 has a surge at SURGE."""
    stamps = pd.date_range("2021-03-01", periods=26 * 24, freq="h")
    rng = np.random.default_rng(17)
    level = 5 + 195 * np.exp(-((stamps.hour.to_numpy() - 13) ** 2) / 12)
    frames = []
    for camera in ("gate-1", "gate-2"):
        people = rng.poisson(level)
        if camera == "gate-1":
            people[stamps == SURGE] *= 4
        frames.append(pd.DataFrame({"camera": camera, "start": stamps.strftime("%Y-%m-%d %H:%M"),
                                    "people": people, "vehicle": rng.poisson(level / 3)}))
    frame = pd.concat(frames)
    path = tmp_path / "counts.csv"
    frame.to_csv(path, index=False)
    return path, frame


@pytest.fixture
def loaded(runner, sqlite_url, count_file):
    path, frame = count_file
    result = runner.invoke(app, ["--db", sqlite_url, "import", str(path), "--interval", "60",
                                 "--no-detect", "--format", "json"])
    assert result.exit_code == 0, result.stderr
    return sqlite_url, frame


def detect(runner, url, *args):
    return runner.invoke(app, ["--db", url, "detect", "--since", "2021-03-20", "--until", "2021-03-26", *args])


def test_json_has_one_record_per_flag_with_the_documented_keys(runner, loaded):
    url, frame = loaded
    # the seasonal maths checked by hand (robust has its own: test_detect_robust.py)
    result = detect(runner, url, "--format", "json", "--method", "seasonal")
    assert result.exit_code == 0, result.stderr
    records = json.loads(result.stdout)
    assert records and all(REQUIRED_KEYS <= set(r) for r in records)
    surge = [r for r in records if r["start"] == "2021-03-25T15:00:00+09:00"]
    assert [(r["camera"], r["metric"], r["direction"], r["label"], r["method"]) for r in surge] == [
        ("gate-1", "people", "high", "people high", "seasonal")]
    cam = frame[frame["camera"] == "gate-1"].assign(start=lambda f: pd.to_datetime(f["start"]))
    same_hour = cam[(cam["start"].dt.hour == 15) & (cam["start"] < "2021-03-25")
                    & (cam["start"] >= "2021-01-28")]["people"]
    r = surge[0]
    assert r["observed"] == int(cam.loc[cam["start"] == SURGE, "people"].iloc[0])
    assert isinstance(r["observed"], int) and isinstance(r["score"], float)
    assert r["expected"] == pytest.approx(same_hour.mean(), abs=1e-3)
    sigma = max(same_hour.std(ddof=0), same_hour.mean() ** 0.5, 1)
    assert r["band_high"] == pytest.approx(same_hour.mean() + 4 * sigma, abs=1e-3)
    assert r["end"] == "2021-03-25T16:00:00+09:00" and r["params"]["weeks"] == 8


def test_csv_carries_the_same_records_as_json(runner, loaded):
    url, _ = loaded
    as_json = json.loads(detect(runner, url, "--format", "json", "--dry-run").stdout)
    result = detect(runner, url, "--format", "csv", "--dry-run")
    assert result.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert REQUIRED_KEYS <= set(rows[0])
    assert [(r["camera"], r["start"], r["metric"], r["direction"], float(r["score"])) for r in rows] == \
           [(r["camera"], r["start"], r["metric"], r["direction"], r["score"]) for r in as_json]


def test_table_lists_flags_and_a_summary(runner, loaded):
    url, _ = loaded
    result = detect(runner, url)
    assert result.exit_code == 0
    # one year in the range: the rows show month-day, the footer line names the year
    assert "03-25 15:00  gate-1" in result.stdout and "people high" in result.stdout
    assert "2021-03-20 … 2021-03-26" in result.stdout
    # the default method since issue 13 is robust (was seasonal); the surge is flagged by both
    assert "2021-03-20 … 2021-03-26:" in result.stdout and "evaluated with robust" in result.stdout


def test_dry_run_stores_nothing_and_a_run_replaces_its_flags(runner, loaded):
    from cctvctl.db import connect

    url, _ = loaded
    detect(runner, url, "--dry-run")
    with connect(url) as db:
        assert db.scalar("SELECT COUNT(*) FROM outliers") == 0
    first = json.loads(detect(runner, url, "--format", "json").stdout)
    again = json.loads(detect(runner, url, "--format", "json").stdout)
    with connect(url) as db:
        assert db.scalar("SELECT COUNT(*) FROM outliers") == len(first) == len(again) > 0


def test_threshold_method_and_camera_filter(runner, loaded):
    url, _ = loaded
    result = detect(runner, url, "--method", "threshold", "--camera", "gate-2", "--format", "json")
    records = json.loads(result.stdout)
    assert records and {r["camera"] for r in records} == {"gate-2"}
    assert {r["direction"] for r in records} == {"high"} and {r["method"] for r in records} == {"threshold"}
    assert all(r["band_low"] is None for r in records)


def test_quiet_prints_nothing(runner, loaded):
    url, _ = loaded
    result = detect(runner, url, "--quiet")
    assert result.exit_code == 0 and result.stdout == ""


@pytest.mark.parametrize("args,message", [
    ([], "--since is required (first local day, YYYY-MM-DD)"),
    (["--since", "2021-03-10", "--until", "2021-03-01"], "--until 2021-03-01 is before --since 2021-03-10"),
    (["--since", "2021-02-30"], "invalid date '2021-02-30' (expected YYYY-MM-DD)"),
    (["--since", "2021-03-01", "--method", "zscore"], "--method must be one of robust, seasonal, threshold, not 'zscore'"),
    (["--since", "2021-03-01", "--method", "threshold", "--weeks", "4"], "--weeks only applies to the seasonal method"),
    (["--since", "2021-03-01", "--method", "seasonal", "--slot", "minute"],
     "--slot must be one of hour, daytype-hour, weekday-hour"),
    (["--since", "2021-03-01", "--slot", "hour"], "--slot only applies to the seasonal method"),
    (["--since", "2021-03-01", "--k", "-1"], "--k must be a positive number"),
    (["--since", "2021-03-01", "--format", "xml"], "--format must be table, csv or json"),
])
def test_bad_usage_exits_2_with_one_line(runner, sqlite_url, args, message):
    result = runner.invoke(app, ["--db", sqlite_url, "detect", *args])
    assert result.exit_code == 2
    assert result.stderr == f"error: {message}\n"


def test_unreachable_database_exits_1(runner):
    result = runner.invoke(app, ["--db", "mysql://root@127.0.0.1:1/cctv", "detect", "--since", "2021-03-01"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: cannot connect to MySQL at 127.0.0.1:1: ")
    assert result.stderr.count("\n") == 1


def test_import_reports_the_outliers_it_flagged(runner, sqlite_url, count_file, tmp_path):
    path, frame = count_file
    before = frame[pd.to_datetime(frame["start"]) < "2021-03-25"]
    last = frame[pd.to_datetime(frame["start"]) >= "2021-03-25"]
    before.to_csv(tmp_path / "a.csv", index=False)
    last.to_csv(tmp_path / "b.csv", index=False)
    runner.invoke(app, ["--db", sqlite_url, "import", str(tmp_path / "a.csv"), "--interval", "60"])
    result = runner.invoke(app, ["--db", sqlite_url, "import", str(tmp_path / "b.csv"),
                                 "--interval", "60", "--format", "json"])
    assert result.exit_code == 0, result.stderr
    stored = json.loads(detect(runner, sqlite_url, "--since", "2021-03-25", "--format", "json").stdout)
    assert json.loads(result.stdout)["outliers"] == len({(r["camera"], r["start"]) for r in stored}) >= 1


def test_installed_command_detects_in_a_subprocess(tmp_path, count_file):
    exe = str(Path(sys.executable).with_name("cctvctl"))
    if exe is None:
        pytest.skip("the cctvctl entry point is not installed")
    path, _ = count_file
    env = {k: v for k, v in os.environ.items() if not k.startswith("CCTV_")}
    env.update(CCTV_TZ="Asia/Seoul", CCTV_DB=f"sqlite:///{tmp_path / 'sub.db'}")
    imported = subprocess.run([exe, "import", str(path), "--interval", "60", "-q"], env=env,
                              capture_output=True, text=True)
    assert imported.returncode == 0, imported.stderr
    out = subprocess.run([exe, "detect", "--since", "2021-03-25", "--until", "2021-03-25",
                          "--format", "csv"], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert ("gate-1", "2021-03-25T15:00:00+09:00", "high") in {(r["camera"], r["start"], r["direction"]) for r in rows}
    bad = subprocess.run([exe, "detect"], env=env, capture_output=True, text=True)
    assert (bad.returncode, bad.stderr) == (2, "error: --since is required (first local day, YYYY-MM-DD)\n")
