"""Findings of the adversarial review of the import path (F21, F25, F27, F29): each test failed
on the code before its fix.

Imports run the installed ``cctvctl`` in a subprocess on a real SQLite file and a real MariaDB
database (``fresh_url``); stored values are compared with an independent pandas reading.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from import_helpers import fresh_url, local_epoch, shared_mysql_url, stored  # noqa: E402,F401

CCTVCTL = str(Path(sys.executable).with_name("cctvctl"))


def cctv(url: str, *args: str, tz: str = "Asia/Seoul") -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CCTV_")}
    return subprocess.run([CCTVCTL, "--db", url, "--tz", tz, *args], capture_output=True,
                          text=True, env=env, timeout=300)


def write(tmp_path: Path, text: str, name: str = "counts.csv") -> str:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return str(path)


def summary(proc: subprocess.CompletedProcess) -> dict:
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


# -- F25: a vehicle total below its known classes ----------------------------------------------------
def test_vehicle_below_its_known_classes_is_refused(fresh_url, tmp_path):
    path = write(tmp_path, "camera,start,people,vehicle,n_car,n_truck\n"
                           "g,2021-08-01 09:05,1,1,-1,2\n"      # truck 2 > vehicle 1: impossible
                           "g,2021-08-01 09:10,1,5,-1,2\n"      # car unknown, 3 of them: fine
                           "g,2021-08-01 09:15,1,0,-1,-1\n")    # nothing known of the classes
    proc = cctv(fresh_url, "import", path, "--na", "-1", "--no-detect")
    assert proc.returncode == 2, proc.stderr
    assert f"{path}:2: vehicle 1 is less than its known classes (2" in proc.stderr
    assert "3:" not in proc.stderr.replace(path + ":2", "")
    assert stored(fresh_url) == []
    got = summary(cctv(fresh_url, "import", path, "--na", "-1", "--no-detect", "--on-error", "skip",
                       "--rejected", str(tmp_path / "bad.csv"), "--format", "json"))
    assert (got["inserted"], got["rejected"]) == (2, 1)
    ref = pd.read_csv(path).replace(-1, pd.NA)
    ref = ref[~((ref.n_truck.fillna(0) + ref.n_car.fillna(0)) > ref.vehicle)]
    expected = [("g", local_epoch(r.start, "Asia/Seoul"), r.vehicle,
                 None if pd.isna(r.n_car) else r.n_car, None if pd.isna(r.n_truck) else r.n_truck)
                for r in ref.itertuples()]
    assert stored(fresh_url, ("camera", "start_utc", "vehicle", "car", "truck")) == expected
