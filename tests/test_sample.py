"""Synthetic counts: deterministic, realistic rhythm, importable as written, events where promised;
and the files in sample_data/ are what their README says."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from cctvctl.cli import app
from cctvctl.sample import SampleSpec, generate
from conftest import SAMPLE_DATA

SEOUL = ZoneInfo("Asia/Seoul")
NEW_YORK = ZoneInfo("America/New_York")
CLASSES = ["car", "truck", "bus", "bicycle", "motorcycle", "scooter"]


def _local(rows: pd.DataFrame, tz: ZoneInfo) -> pd.Series:
    return pd.to_datetime(rows["start_utc"], unit="s", utc=True).dt.tz_convert(tz.key)


def test_the_same_seed_gives_the_same_rows_and_another_seed_does_not():
    spec = SampleSpec(date(2021, 8, 1), date(2021, 8, 3), SEOUL)
    a, b = generate(spec), generate(spec)
    pd.testing.assert_frame_equal(a.rows, b.rows)
    assert a.events == b.events and a.csv_text("classes") == b.csv_text("classes")
    c = generate(SampleSpec(date(2021, 8, 1), date(2021, 8, 3), SEOUL, seed=43))
    assert not c.rows["people"].equals(a.rows["people"])


def test_rows_cover_every_interval_with_a_daily_and_weekly_rhythm():
    data = generate(SampleSpec(date(2021, 8, 2), date(2021, 8, 29), SEOUL, cameras=4, events=0))
    rows = data.rows
    assert data.cameras == ["gate-north", "market-st", "parking-east", "station-west"]
    assert len(rows) == 4 * 28 * 288 and not rows.duplicated(["camera", "start_utc"]).any()
    assert (rows["end_utc"] - rows["start_utc"] == 300).all()
    assert (rows[["people", "vehicle"] + CLASSES] >= 0).all().all()
    assert (rows[CLASSES].sum(axis=1) == rows["vehicle"]).all()
    local = _local(rows, SEOUL)
    weekend = local.dt.day_of_week >= 5
    hour = local.dt.hour
    people = rows["people"]
    assert people[(hour == 8) & ~weekend].mean() > 5 * people[hour == 3].mean()  # rush vs night
    assert people[(hour == 8) & ~weekend].mean() > 2 * people[(hour == 8) & weekend].mean()  # weekends
    assert rows["vehicle"][~weekend].mean() > 1.3 * rows["vehicle"][weekend].mean()
    busiest = rows.groupby("camera")["people"].mean()
    assert busiest.idxmax() == "gate-north" and busiest.min() > 1


def test_dst_days_have_23_and_25_hours_of_intervals():
    rows = generate(SampleSpec(date(2021, 3, 14), date(2021, 3, 14), NEW_YORK, cameras=1)).rows
    assert len(rows) == 23 * 12
    rows = generate(SampleSpec(date(2021, 11, 7), date(2021, 11, 7), NEW_YORK, cameras=1)).rows
    assert len(rows) == 25 * 12


def test_injected_events_are_in_the_rows_where_they_say():
    data = generate(SampleSpec(date(2021, 6, 1), date(2021, 8, 31), SEOUL))
    assert [(e.kind, e.metric) for e in data.events] == [
        ("surge", "people"), ("drop", "both"), ("surge", "vehicle"), ("drop", "people")]
    rows = data.rows
    for e in data.events:
        assert date(2021, 8, 1) <= datetime.fromtimestamp(e.start_utc, SEOUL).date()  # last third
        inside = rows[(rows["camera"] == e.camera) & (rows["start_utc"] >= e.start_utc)
                      & (rows["start_utc"] < e.end_utc)]
        week_before = rows[(rows["camera"] == e.camera) & (rows["start_utc"] >= e.start_utc - 7 * 86400)
                           & (rows["start_utc"] < e.end_utc - 7 * 86400)]
        assert len(inside) == (e.end_utc - e.start_utc) // 300
        for metric in e.metrics:
            ratio = inside[metric].mean() / week_before[metric].mean()
            assert (ratio > 2 if e.kind == "surge" else ratio < 0.3), (e, metric, ratio)
    assert generate(SampleSpec(date(2021, 8, 1), date(2021, 8, 31), SEOUL, events=0)).events == []


def test_the_csv_layouts_import_back_to_the_same_rows(db, tmp_path):
    from cctvctl.ingest import ImportOptions, import_file

    data = generate(SampleSpec(date(2021, 11, 6), date(2021, 11, 7), NEW_YORK, cameras=2))
    original, classes = tmp_path / "o.csv", tmp_path / "c.csv"
    data.write(str(original), "original")
    renamed = data.rows.assign(camera=data.rows["camera"] + "-v2")
    type(data)(renamed, data.events, NEW_YORK).write(str(classes), "classes")
    for path in (original, classes):
        result = import_file(db, path, ImportOptions(tz=NEW_YORK))  # naive local times, DST inferred
        assert result.rejected == 0 and result.inserted == len(data.rows)
    stored = pd.DataFrame(db.query("SELECT camera, start_utc, end_utc, people, vehicle, car, truck, bus, "
                                   "bicycle, motorcycle, scooter FROM counts ORDER BY camera, start_utc"),
                          columns=["camera", "start_utc", "end_utc", "people", "vehicle"] + CLASSES)
    first = stored[~stored["camera"].str.endswith("-v2")].reset_index(drop=True)
    want = data.rows.sort_values(["camera", "start_utc"]).reset_index(drop=True)
    for col in ["camera", "start_utc", "end_utc", "people", "vehicle"]:
        assert first[col].astype(want[col].dtype).tolist() == want[col].tolist(), col
    assert first[CLASSES].isna().all().all()  # the original layout has no classes: unknown
    second = stored[stored["camera"].str.endswith("-v2")].reset_index(drop=True)
    assert second[CLASSES].astype("int64").values.tolist() == want[CLASSES].values.tolist()


def test_sample_data_files_are_what_the_readme_command_writes(runner, tmp_path):
    readme = (SAMPLE_DATA / "README.md").read_text()
    for name, args in (
        ("counts_2021-08.csv", ["--since", "2021-08-01", "--until", "2021-08-31", "--tz", "Asia/Seoul"]),
        ("classes_2021-09-w1.csv", ["--since", "2021-09-01", "--until", "2021-09-07", "--tz", "Asia/Seoul",
                                    "--layout", "classes", "--events", "0"]),
    ):
        command = " ".join(["cctvctl sample", *args, "-o", f"sample_data/{name}"])
        assert command in readme
        out = tmp_path / name
        result = runner.invoke(app, ["sample", *args, "-o", str(out), "--quiet"])
        assert result.exit_code == 0 and result.stderr == ""
        assert out.read_bytes() == (SAMPLE_DATA / name).read_bytes(), name


def test_sample_data_imports_as_documented(runner, tmp_path):
    url = f"sqlite:///{tmp_path / 'cctv.db'}"

    def imp(name, *extra):
        return runner.invoke(app, ["import", str(SAMPLE_DATA / name), "--db", url, "--tz", "Asia/Seoul",
                                   "--format", "json", *extra])

    clean = imp("counts_2021-08.csv")
    assert clean.exit_code == 0 and json.loads(clean.stdout)["inserted"] == 3 * 31 * 288
    classes = imp("classes_2021-09-w1.csv")
    assert classes.exit_code == 0 and json.loads(classes.stdout)["inserted"] == 3 * 7 * 288
    bad = imp("bad_rows.csv")
    assert bad.exit_code == 2
    readme = (SAMPLE_DATA / "README.md").read_text()
    problems = [line.split("bad_rows.csv:", 1)[1] for line in bad.stderr.splitlines()
                if "bad_rows.csv:" in line and not line.startswith("error:")]
    assert len(problems) == 10
    for p in problems:
        assert f"bad_rows.csv:{p}" in readme
    skipped = imp("bad_rows.csv", "--on-error", "skip", "--rejected", str(tmp_path / "rejected.csv"))
    summary = json.loads(skipped.stdout)
    assert skipped.exit_code == 0 and (summary["inserted"], summary["rejected"]) == (5, 10)
    from cctvctl.db import connect

    with connect(url) as db:
        vehicle, classes_sum = db.query_one(
            "SELECT SUM(vehicle), SUM(car + truck + bus + bicycle + motorcycle + scooter) FROM counts "
            "WHERE car IS NOT NULL")
        assert vehicle == classes_sum > 0
        assert db.scalar("SELECT COUNT(*) FROM counts WHERE car IS NULL") == 3 * 31 * 288 + 5


def test_the_events_of_the_sample_month_are_flagged_on_import(db, tmp_path):
    """Three weeks of history are enough for the seasonal method to catch all four events."""
    from cctvctl.detect import load_flags
    from cctvctl.ingest import ImportOptions, import_file

    data = generate(SampleSpec(date(2021, 8, 1), date(2021, 8, 31), SEOUL))
    result = import_file(db, SAMPLE_DATA / "counts_2021-08.csv", ImportOptions(tz=SEOUL))
    assert result.inserted == len(data.rows) and result.outliers > 0
    for e in data.events:
        flags = [f for f in load_flags(db, e.start_utc, e.end_utc, [e.camera]) if f.metric in e.metrics]
        flagged = {f.start_utc for f in flags}
        assert len(flagged) >= 0.75 * (e.end_utc - e.start_utc) // 300, e
        assert {f.direction for f in flags} == {"high" if e.kind == "surge" else "low"}


@pytest.mark.parametrize("args,message", [
    (["--since", "2021-08-31", "--until", "2021-08-01"], "--until is before --since"),
    (["--interval", "7"], "--interval must divide a day evenly (e.g. 5, 10, 15, 60 minutes)"),
    (["--layout", "wide"], "--layout must be one of original, classes"),
    (["--cameras", "0"], "--cameras must be between 1 and 50"),
    (["--since", "2021-02-30"], "invalid date '2021-02-30' (expected YYYY-MM-DD)"),
    (["--since", "2000-01-01", "--until", "2030-12-31", "--cameras", "50", "--interval", "1"],
     "that would be more than 20,000,000 rows; choose a shorter range or fewer cameras"),
])
def test_sample_usage_errors(runner, args, message):
    result = runner.invoke(app, ["sample", *args])
    assert result.exit_code == 2
    assert result.stderr == f"error: {message}\n"


def test_sample_cli_writes_events_and_pipes_into_import(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CCTV_")}
    env.update(CCTV_TZ="Asia/Seoul", CCTV_DB=f"sqlite:///{tmp_path / 'cctv.db'}")
    exe = Path(sys.executable).with_name("cctvctl")
    cctvctl = str(exe) if exe.exists() else "cctvctl"
    events = tmp_path / "events.json"
    sample = subprocess.Popen([cctvctl, "sample", "--since", "2021-08-01", "--until", "2021-08-03",
                               "--layout", "classes", "--cameras", "2", "--interval", "15",
                               "--events-json", str(events)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    imported = subprocess.run([cctvctl, "import", "-", "--interval", "15", "--format", "json"],
                              stdin=sample.stdout, capture_output=True, text=True, env=env, timeout=120)
    sample.stdout.close()
    err = sample.stderr.read().decode()
    assert sample.wait(timeout=60) == 0, err
    assert imported.returncode == 0, imported.stderr
    assert json.loads(imported.stdout)["inserted"] == 2 * 3 * 96
    assert err.startswith("wrote 576 rows (2 cameras, 2021-08-01 … 2021-08-03, Asia/Seoul, "
                          "15-minute intervals, classes layout) to standard output\n")
    listed = json.loads(events.read_text())
    # the last third is one day, too few for 4 events on distinct days: one per day of the range
    assert len(listed) == 3 and err.count("  event: ") == 3
    assert len({e["start"][:10] for e in listed}) == 3
    assert set(listed[0]) >= {"camera", "start", "end", "kind", "metric", "factor", "description"}
    assert np.isclose(listed[0]["factor"], 4.0)
