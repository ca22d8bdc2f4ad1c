"""Melbourne pedestrian counts 2014, imported and aggregated with the CLI, equal pandas.

The City of Melbourne file (../shared/data/melbourne) holds hourly counts of 39 sensors in
Australia/Melbourne local time, with real mess: sensors that start and stop, empty counts,
a row without a sensor, both DST changes. The 2014 rows go through `cctvctl import` (bad rows
skipped to a side file) and `cctvctl aggregate all`; pandas computes every sensor's day, week,
month, year and weekday statistics straight from the CSV, and every stored figure must agree.
"""

from __future__ import annotations

import zipfile

import pandas as pd
import pytest

from aggref import compare, reference, stored
from cctvctl.cli import app
from cctvctl.db import connect

TZ = "Australia/Melbourne"


@pytest.fixture(scope="module")
def melbourne_2014(tmp_path_factory):
    from conftest import SHARED_DATA

    archive = SHARED_DATA / "melbourne" / "pedestriancounts_melbourne.zip"
    if not archive.exists():
        pytest.skip(f"real data {archive} is absent")
    with zipfile.ZipFile(archive) as z:
        frame = pd.read_csv(z.open(z.namelist()[0]))
    frame = frame[frame["Date"].str.endswith("-2014")].copy()
    for c in ("SensorID", "PedestrianCount"):
        frame[c] = frame[c].astype("Int64")
    path = tmp_path_factory.mktemp("melbourne") / "melbourne-2014.csv"
    frame.to_csv(path, index=False)
    return path, frame


def _raw_from_csv(frame: pd.DataFrame) -> pd.DataFrame:
    """Pandas' own reading of the file: local Date + Hour → UTC; rows without count or sensor dropped."""
    ok = frame["SensorID"].notna() & frame["PedestrianCount"].notna()
    f = frame[ok]
    local = pd.to_datetime(f["Date"], format="%d-%b-%Y") + pd.to_timedelta(f["Hour"], unit="h")
    utc = local.dt.tz_localize(TZ, ambiguous=True, nonexistent="NaT")
    keep = utc.notna()
    start = ((utc[keep] - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)).astype("int64")
    return pd.DataFrame({"camera": f["SensorID"][keep].astype(str).to_numpy(),
                         "start_utc": start.to_numpy(), "end_utc": (start + 3600).to_numpy(),
                         "people": f["PedestrianCount"][keep].astype("int64").to_numpy(),
                         "vehicle": pd.NA})


def test_melbourne_2014_equals_pandas_per_sensor_and_month(runner, sqlite_url, melbourne_2014):
    path, frame = melbourne_2014
    imported = runner.invoke(app, [
        "import", str(path), "--db", sqlite_url, "--tz", TZ, "--map", "people=PedestrianCount",
        "--map", "camera=SensorID", "--map", "date=Date", "--map", "hour=Hour",
        "--interval", "60", "--on-error", "skip", "--no-detect", "--quiet"])
    assert imported.exit_code == 0, imported.stderr
    aggregated = runner.invoke(app, ["aggregate", "all", "--db", sqlite_url, "--tz", TZ, "--quiet"])
    assert aggregated.exit_code == 0, aggregated.stderr

    raw = _raw_from_csv(frame)
    want = reference(raw, TZ, {c: 3600 for c in raw["camera"].unique()})
    with connect(sqlite_url) as db:
        got = stored(db)
    months = got[got["grain"] == "month"]
    assert len(months) == len(want[want["grain"] == "month"]) > 35 * 10
    assert compare(got, want, grains=["day", "week", "month", "year", "month_weekday",
                                      "year_weekday"]) == []
    # Every sensor's hourly profile of the year (seasonal baselines start here) agrees too.
    assert compare(got, want, grains=["hour"]) == []
