"""Real files nobody on this project wrote (../shared/data), imported as a user would.

Melbourne (656,823 hourly rows, 40 sensor ids, not in time order, Australia/Melbourne with DST)
is imported whole on SQLite with the command documented in `cctvctl import --help`; MariaDB gets
two windows of it (around a spring-forward gap and a fall-back night) to keep the suite fast.
Brooklyn (12-hour clock, America/New_York) is imported whole on both. Every stored row is
compared with an independent pandas reading of the same file.
"""

from __future__ import annotations

import csv
import json
import shlex
import shutil
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from import_helpers import fresh_url, shared_mysql_url  # noqa: E402,F401

from cctvctl.cli import app  # noqa: E402
from cctvctl.db import connect  # noqa: E402

pytestmark = pytest.mark.realdata
MELBOURNE_TZ = "Australia/Melbourne"


# -- independent readings ------------------------------------------------------------------------
def _utc_epochs(local: pd.Series, tz: str) -> pd.Series:
    """Naive local times → epoch seconds; NaN in a DST gap; a repeated hour read as summer time."""
    idx = pd.DatetimeIndex(local).tz_localize(tz, ambiguous=np.ones(len(local), dtype=bool),
                                              nonexistent="NaT")
    out = pd.Series(idx.tz_convert("UTC").tz_localize(None).astype("datetime64[s]").astype("int64"),
                    index=local.index, dtype="float64")
    out[idx.isna()] = np.nan
    return out


def melbourne_expected(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rows the database should hold, rows that must be rejected with their reason kind)."""
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    df["line"] = df.index + 2
    local = pd.to_datetime(df["Date"], format="%d-%b-%Y") + pd.to_timedelta(df["Hour"].astype(int), unit="h")
    df["start_utc"] = _utc_epochs(local, MELBOURNE_TZ)
    whole = df["PedestrianCount"].str.fullmatch(r"[0-9]+")
    gap = df["start_utc"].isna()
    df["kind"] = np.where(~whole, "count", np.where(gap, "gap", ""))
    good = df[df["kind"] == ""].copy()
    good["people"] = good["PedestrianCount"].astype("int64")
    good["start_utc"] = good["start_utc"].astype("int64")
    good["camera"] = good["SensorID"].str.strip()
    return good[["camera", "start_utc", "people", "line"]], df[df["kind"] != ""][["line", "kind"]]


def _documented_melbourne_args() -> list[str]:
    """The options of the Melbourne example in `cctvctl import --help` (so the docs are tested)."""
    from cctvctl.cli.import_cmd import import_command

    doc = import_command.__doc__.split("Example:", 1)[1]
    lines = doc.splitlines()
    start = next(i for i, l in enumerate(lines) if "pedestriancounts_melbourne.csv" in l)
    text = ""
    for line in lines[start:]:
        text += line.strip().rstrip("\\") + " "
        if not line.rstrip().endswith("\\"):
            break
    args = shlex.split(text)
    assert args[:3] == ["cctvctl", "import", "pedestriancounts_melbourne.csv"]
    return args[3:]


@pytest.fixture(scope="module")
def melbourne_csv(tmp_path_factory):
    from conftest import SHARED_DATA

    archive = SHARED_DATA / "melbourne" / "pedestriancounts_melbourne.zip"
    if not archive.exists():
        pytest.skip(f"real data {archive} is absent")
    target = tmp_path_factory.mktemp("melbourne")
    with zipfile.ZipFile(archive) as zf:
        zf.extract("pedestriancounts_melbourne.csv", target)
    return target / "pedestriancounts_melbourne.csv"


def _stored_frame(url: str) -> pd.DataFrame:
    with connect(url) as db:
        rows = db.query("SELECT camera, start_utc, end_utc, people, vehicle, car FROM counts")
    return pd.DataFrame(rows, columns=["camera", "start_utc", "end_utc", "people", "vehicle", "car"])


def _assert_same_rows(url: str, expected: pd.DataFrame, interval: int) -> None:
    got = _stored_frame(url)
    assert len(got) == len(expected)
    assert got["vehicle"].isna().all() and got["car"].isna().all()  # not in the file: unknown
    assert (got["end_utc"].astype("int64") - got["start_utc"].astype("int64") == interval).all()
    key = ["camera", "start_utc"]
    a = got[key + ["people"]].astype({"start_utc": "int64", "people": "int64"}).sort_values(key).reset_index(drop=True)
    b = expected[key + ["people"]].sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b, check_dtype=False)


def _check_rejected(path: Path, expected_bad: pd.DataFrame) -> None:
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows[0][:2] == ["line", "reason"]
    got = {int(r[0]): r[1] for r in rows[1:]}
    want = dict(zip(expected_bad["line"], expected_bad["kind"]))
    assert set(got) == set(want)
    for line, kind in want.items():
        if kind == "count":
            assert got[line] == "people count 'NaN' is not a number"
        else:
            assert got[line].endswith(f"does not exist in {MELBOURNE_TZ} (DST gap; see --nonexistent)")


# -- Melbourne ----------------------------------------------------------------------------------
def test_melbourne_whole_file_on_sqlite(melbourne_csv, sqlite_url, runner, shared_data):
    args = _documented_melbourne_args()
    result = runner.invoke(app, ["--db", sqlite_url, "import", str(melbourne_csv), *args,
                                 "--no-detect", "--format", "json"])
    assert (result.exit_code, result.stderr) == (0, ""), result.stdout
    summary = json.loads(result.stdout)
    good, bad = melbourne_expected(melbourne_csv)
    assert (summary["read"], summary["inserted"], summary["duplicates"], summary["rejected"]) == (
        656_823, len(good), 0, len(bad))
    assert (len(good), len(bad), (bad["kind"] == "gap").sum()) == (656_791, 32, 18)
    assert summary["dst"]["nonexistent_rejected"] == 18
    assert summary["dst"]["ambiguous_earliest"] == 68  # one 02:00 per sensor on fall-back nights
    _assert_same_rows(sqlite_url, good, 3600)
    _check_rejected(Path(summary["rejected_file"]), bad)
    with connect(sqlite_url) as db:
        # spot values, typed from the file by hand
        first = db.query_one("SELECT people FROM counts WHERE camera = '4' AND start_utc = ?",
                             (1325336400,))  # 01-Jan-2012 00:00 AEDT = 2011-12-31T13:00Z
        assert first == (3363,)
        per_camera = dict(db.query("SELECT camera, SUM(people) FROM counts GROUP BY camera"))
    assert per_camera == good.groupby("camera")["people"].sum().to_dict()
    assert len(per_camera) == good["camera"].nunique()
    again = runner.invoke(app, ["--db", sqlite_url, "import", str(melbourne_csv), *args, "--no-detect"])
    assert "already imported" in again.stdout


def test_melbourne_dst_windows_on_both_backends(melbourne_csv, fresh_url, runner, tmp_path):
    """Two windows of the file (a spring-forward gap and a fall-back night) on each backend."""
    lines = melbourne_csv.read_text(encoding="utf-8").splitlines(keepends=True)
    header, body = lines[0], lines[1:]
    gap_at = next(i for i, l in enumerate(body) if l.startswith("07-Oct-2012,Sunday,2,"))
    fall_at = next(i for i, l in enumerate(body) if l.startswith("06-Apr-2014,Sunday,2,"))
    window = body[gap_at - 3000:gap_at + 3000] + body[fall_at - 3000:fall_at + 3000]
    subset = tmp_path / "melbourne_windows.csv"
    subset.write_text(header + "".join(window), encoding="utf-8")
    args = _documented_melbourne_args()
    result = runner.invoke(app, ["--db", fresh_url, "import", str(subset), *args, "--no-detect",
                                 "--format", "json"])
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    good, bad = melbourne_expected(subset)
    assert (summary["inserted"], summary["rejected"]) == (len(good), len(bad))
    assert (bad["kind"] == "gap").sum() > 10 and summary["dst"]["ambiguous_earliest"] > 10
    _assert_same_rows(fresh_url, good, 3600)


# -- Brooklyn -----------------------------------------------------------------------------------
def test_brooklyn_on_both_backends(shared_data, fresh_url, runner, tmp_path):
    source = shared_data / "brooklyn" / "brooklyn_bridge_pedestrian_counts.csv"
    path = Path(shutil.copy(source, tmp_path / source.name))  # the rejected file goes beside it
    result = runner.invoke(app, ["--db", fresh_url, "import", str(path), "--tz", "America/New_York",
                                 "--interval", "60", "--on-error", "skip", "--no-detect", "--format", "json"])
    assert (result.exit_code, result.stderr) == (0, "")
    summary = json.loads(result.stdout)
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    local = pd.to_datetime(df["hour_beginning"], format="%m/%d/%Y %I:%M:%S %p")
    df["start_utc"] = _utc_epochs(local, "America/New_York")
    gap = df["start_utc"].isna()
    good = df[~gap].assign(camera=df["location"].str.strip(), people=df["Pedestrians"].astype("int64"),
                           start_utc=df["start_utc"][~gap].astype("int64"))
    assert (summary["read"], summary["inserted"], summary["rejected"]) == (len(df), len(good), int(gap.sum()))
    assert (summary["read"], int(gap.sum())) == (7296, 1)
    _assert_same_rows(fresh_url, good, 3600)
    with open(summary["rejected_file"], newline="", encoding="utf-8") as fh:
        rejected = list(csv.DictReader(fh))
    assert [(r["hour_beginning"], r["events"]) for r in rejected] == [("03/11/2018 02:00:00 AM", "Daylight Saving Time starts")]
    with connect(fresh_url) as db:  # 11/12/2017 06:00 AM EST = 11:00 UTC, 38 pedestrians (line 2)
        assert db.scalar("SELECT people FROM counts WHERE start_utc = ?", (1510484400,)) == 38
