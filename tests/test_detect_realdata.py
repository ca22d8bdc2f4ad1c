"""Detection on real counts nobody on this project wrote: known surges must be flagged.

Melbourne's White Night (2014-02-22, from 19:00 into the morning) with more than 8 weeks of
history imported before it, and New Year's Eve on the Brooklyn Bridge. The files are unsorted;
as a user would, we sort them and import them in time order, detection on. Skips where
``../shared/data`` is absent.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from test_detect_robust import pandas_like_day_median

from cctvctl.detect import detect_range, load_flags
from cctvctl.ingest import ImportOptions, import_file

MELBOURNE = ZoneInfo("Australia/Melbourne")
NEW_YORK = ZoneInfo("America/New_York")


def _epoch(local: datetime, tz: ZoneInfo) -> int:
    return int(local.replace(tzinfo=tz).timestamp())


def _import_in_order(db, raw: pd.DataFrame, when: pd.Series, cuts: list[str], tmp_path, options):
    """Write the rows sorted by time into one file per [cut, next cut) and import them in order."""
    results = []
    for i, (lo, hi) in enumerate(zip(cuts, cuts[1:])):
        part = raw[(when >= lo) & (when < hi)].assign(_t=when).sort_values("_t").drop(columns="_t")
        path = tmp_path / f"part{i}.csv"
        part.to_csv(path, index=False)
        results.append(import_file(db, path, options))
    return results


def test_white_night_2014_is_flagged_when_february_is_imported(shared_data, sqlite_db, tmp_path):
    raw = pd.read_csv(shared_data / "melbourne" / "pedestriancounts_melbourne.zip", dtype=str,
                      keep_default_na=False)
    when = pd.to_datetime(raw["Date"], format="%d-%b-%Y") + pd.to_timedelta(raw["Hour"].astype(int), "h")
    options = ImportOptions(tz=MELBOURNE, interval=3600, on_error="skip",
                            rejected_path=str(tmp_path / "rejected.csv"),
                            mapping={"people": "PedestrianCount", "camera": "SensorID",
                                     "date": "Date", "hour": "Hour"})
    history, february = _import_in_order(sqlite_db, raw, when, ["2013-12-20", "2014-02-01", "2014-03-01"],
                                         tmp_path, options)
    assert history.inserted > 30_000 and february.inserted > 20_000
    assert february.outliers > 0
    night = (_epoch(datetime(2014, 2, 22, 19), MELBOURNE), _epoch(datetime(2014, 2, 23, 7), MELBOURNE))
    flags = [f for f in load_flags(sqlite_db, *night) if f.direction == "high"]
    sensors = {f.camera for f in flags}
    assert len(sensors) >= 10, sensors  # the whole city centre, not one sensor
    assert max(f.score for f in flags) > 10
    # the default (robust since issue 13, was seasonal): judged against the Saturdays of 8 weeks
    # (Sunday's day starts at 05:00), not learning
    assert all(f.method == "robust" and not f.params["learning"] and f.params["like_days"] >= 6
               and f.params["like"] in ("Sat", "Sun") for f in flags)
    # the reference of the strongest flag, recomputed from the raw rows with pandas
    top = max(flags, key=lambda f: f.score)
    at = datetime.fromtimestamp(top.start_utc, MELBOURNE).replace(tzinfo=None)
    counts = pd.to_numeric(raw["PedestrianCount"], errors="coerce")
    sensor = pd.DataFrame({"start": when, "people": counts})[raw["SensorID"] == top.camera].dropna()
    assert top.expected == pytest.approx(pandas_like_day_median(sensor, at))
    assert top.observed == float(counts[(raw["SensorID"] == top.camera) & (when == pd.Timestamp(at))].iloc[0])
    # the import's flags are exactly what a later `detect` of February finds
    feb = detect_range(sqlite_db, MELBOURNE, _epoch(datetime(2014, 2, 1), MELBOURNE),
                       _epoch(datetime(2014, 3, 1), MELBOURNE), store=False)
    stored = load_flags(sqlite_db, feb.start_utc, feb.end_utc)
    assert [(f.camera, f.start_utc, f.direction) for f in stored] == \
           [(f.camera, f.start_utc, f.direction) for f in feb.flags]


def test_new_years_eve_on_the_brooklyn_bridge(shared_data, sqlite_db, tmp_path):
    raw = pd.read_csv(shared_data / "brooklyn" / "brooklyn_bridge_pedestrian_counts.csv", dtype=str,
                      keep_default_na=False)
    when = pd.to_datetime(raw["hour_beginning"], format="%m/%d/%Y %I:%M:%S %p")
    options = ImportOptions(tz=NEW_YORK, interval=3600, camera="brooklyn-bridge", on_error="skip",
                            rejected_path=str(tmp_path / "rejected.csv"),
                            mapping={"start": "hour_beginning", "people": "Pedestrians"})
    results = _import_in_order(sqlite_db, raw, when, ["2017-10-01", "2017-11-01", "2017-12-01",
                                                      "2018-01-01", "2018-02-01"], tmp_path, options)
    assert sum(r.inserted for r in results) > 2900
    midnight = _epoch(datetime(2017, 12, 31, 23), NEW_YORK)
    flags = {f.start_utc: f for f in load_flags(sqlite_db, midnight - 3600, midnight + 7200)}
    assert flags[midnight].direction == "high" and flags[midnight].score > 10
    assert flags[midnight + 3600].direction == "high"  # 00:00 on New Year's Day
    # a quiet January week outside the holidays raises no flag
    quiet = load_flags(sqlite_db, _epoch(datetime(2018, 1, 15), NEW_YORK), _epoch(datetime(2018, 1, 22), NEW_YORK))
    assert len(quiet) <= 2
