"""`report --month 2014-02` on the real Melbourne pedestrian counts: White Night is among the outliers.

The file is unsorted; as a user would, the rows of December 2013 – February 2014 are written in time
order (history first, then February: more than the 8 weeks the seasonal baseline needs before
22 February) and imported with the CLI's `--map` options, detection on. The report's figures are
checked against pandas on the same raw rows. Skips where ``../shared/data`` is absent.
"""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from cctvctl.cli import app

MELBOURNE = ZoneInfo("Australia/Melbourne")
MAP = ["--map", "people=PedestrianCount", "--map", "camera=SensorID", "--map", "date=Date",
       "--map", "hour=Hour", "--interval", "60", "--on-error", "skip"]


@pytest.fixture(scope="module")
def melbourne(tmp_path_factory):
    from conftest import SHARED_DATA

    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent")
    raw = pd.read_csv(SHARED_DATA / "melbourne" / "pedestriancounts_melbourne.zip", dtype=str,
                      keep_default_na=False)
    when = pd.to_datetime(raw["Date"], format="%d-%b-%Y") + pd.to_timedelta(raw["Hour"].astype(int), "h")
    raw = raw.assign(_t=when)
    folder = tmp_path_factory.mktemp("melbourne")
    files = []
    for name, lo, hi in (("history.csv", "2013-12-01", "2014-02-01"), ("feb.csv", "2014-02-01", "2014-03-01")):
        part = raw[(raw["_t"] >= lo) & (raw["_t"] < hi)].sort_values(["_t", "SensorID"], kind="stable")
        path = folder / name
        part.drop(columns="_t").to_csv(path, index=False)
        files.append(path)
    return raw, files, folder


@pytest.fixture(scope="module")
def melbourne_db(melbourne):
    from typer.testing import CliRunner

    _, files, folder = melbourne
    url = f"sqlite:///{folder / 'cctv.db'}"
    for path in files:
        result = CliRunner().invoke(app, ["import", str(path), "--db", url, "--tz", MELBOURNE.key, *MAP,
                                          "--rejected", str(folder / f"{path.name}.rejected.csv")])
        assert result.exit_code == 0, result.output
    return url


def _report(runner, url, *args):
    result = runner.invoke(app, ["report", "--month", "2014-02", "--db", url, "--tz", MELBOURNE.key, *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_white_night_is_among_the_outliers_of_february_2014(melbourne_db, runner, monkeypatch):
    data = json.loads(_report(runner, melbourne_db, "--format", "json", "--top", "0"))
    night_start = datetime(2014, 2, 22, 17, tzinfo=MELBOURNE).isoformat()
    night_end = datetime(2014, 2, 23, 7, tzinfo=MELBOURNE).isoformat()
    night = [e for e in data["episodes"] if night_start <= e["start"] < night_end and e["direction"] == "high"]
    assert len({e["camera"] for e in night}) >= 10, night  # the whole city centre
    assert all(e["label"] == "people high" for e in night)
    assert max(e["score"] for e in night) > 10
    # the default table (the 20 most extreme runs) shows that night too
    monkeypatch.setenv("COLUMNS", "80")
    table = _report(runner, melbourne_db)
    outliers = table.split("Outliers", 1)[1]
    assert sum(1 for line in outliers.splitlines() if line.startswith("02-22 ")) >= 5
    assert "vehicle: no values in this period (shown as –)" in table  # pedestrians only


def test_report_figures_equal_pandas_on_the_raw_rows(melbourne, melbourne_db, runner):
    raw, _, _ = melbourne
    data = json.loads(_report(runner, melbourne_db, "--format", "json"))
    feb = raw[(raw["_t"] >= "2014-02-01") & (raw["_t"] < "2014-03-01")]
    counts = pd.to_numeric(feb["PedestrianCount"], errors="coerce")
    feb = feb.assign(people=counts).dropna(subset=["people"])
    by_sensor = feb.groupby("SensorID")["people"]
    got = {c["camera"]: c for c in data["cameras"]}
    assert set(got) == set(by_sensor.groups)
    for sensor, values in by_sensor:
        cam = got[sensor]
        assert cam["intervals"] == len(values)
        assert cam["expected"] == 28 * 24  # hourly, no DST change in February
        assert cam["people"]["total"] == int(values.sum())
        assert cam["people"]["mean"] == pytest.approx(values.mean(), abs=1e-4)
        assert cam["people"]["std"] == pytest.approx(values.std(ddof=0), abs=1e-4)
        assert cam["vehicle"] is None
    daily = feb.groupby(feb["_t"].dt.date)["people"].sum()
    assert [b["people"] for b in data["breakdown"]] == [int(daily[d]) for d in sorted(daily.index)]
    assert data["cameras"][0]["people"]["compare_mean"] is not None  # January is there
