"""Concurrent runs on MariaDB: no duplicate, no lost row, the same result as a serial run.

Two imports of overlapping files at once; two conflicting imports (one wins whole); and an import
that commits while ``aggregate all`` is in the middle of its run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date, timedelta

import pandas as pd

from aggref import make_counts
from cctvctl.cli import app
from cctvctl.db import connect, parse_url
from conftest import mysql_admin
from fault_helpers import (INTERVAL, TZ, HeldStateRow, cli_env, counts_frame, difference, load,
                           pandas_problems, stats_snapshot, uncommitted_rows)


def _write(path, cameras, first, last, bump=0):
    lines = ["camera,start,people,vehicle"]
    for c in range(cameras):
        for i in range(first, last):
            d, rest = divmod(i * 5, 24 * 60)
            h, m = divmod(rest, 60)
            lines.append(f"cam-{c},2021-03-{1 + d:02d} {h:02d}:{m:02d},{(i * 3 + c) % 40 + bump},{i % 7}")
    path.write_text("\n".join(lines) + "\n")


def _start(url, path):
    env = {**os.environ, "CCTV_DB": url, "CCTV_TZ": "Asia/Seoul"}
    return subprocess.Popen([sys.executable, "-m", "cctvctl", "import", str(path), "--no-detect",
                             "--format", "json"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _rows(url):
    with connect(url) as db:
        return db.query("SELECT camera, start_utc, people, vehicle FROM counts ORDER BY camera, start_utc")


def test_two_overlapping_imports_at_once_lose_and_double_nothing(mysql_url, tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    _write(a, 5, 0, 5000)
    _write(b, 5, 2500, 7500)  # half of it overlaps a, with identical values
    connect(mysql_url).close()  # schema first, so neither run races the migration
    procs = [_start(mysql_url, a), _start(mysql_url, b)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1] for o in outs]
    summaries = [json.loads(o[0]) for o in outs]
    assert sum(s["inserted"] for s in summaries) == 5 * 7500
    assert sum(s["duplicates"] for s in summaries) == 5 * 2500
    rows = _rows(mysql_url)
    assert len(rows) == 5 * 7500 == len({(r[0], r[1]) for r in rows})

    # a serial run into a fresh database gives the same table
    serial = tmp_path / "serial.db"
    for f in (a, b):
        subprocess.run([sys.executable, "-m", "cctvctl", "--db", f"sqlite://{serial}", "--tz",
                        "Asia/Seoul", "import", str(f), "--no-detect", "-q"], check=True)
    assert rows == _rows(f"sqlite://{serial}")


def test_two_conflicting_imports_at_once_one_wins_whole(mysql_url, tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    _write(a, 3, 0, 4000)
    _write(b, 3, 2000, 6000, bump=1)  # overlap with different counts: a conflict
    connect(mysql_url).close()
    procs = [_start(mysql_url, a), _start(mysql_url, b)]
    for p in procs:
        p.communicate(timeout=300)
    codes = sorted(p.returncode for p in procs)
    assert codes == [0, 2]
    rows = _rows(mysql_url)
    winner = a if procs[0].returncode == 0 else b
    expected = tmp_path / "expected.db"
    subprocess.run([sys.executable, "-m", "cctvctl", "--db", f"sqlite://{expected}", "--tz",
                    "Asia/Seoul", "import", str(winner), "--no-detect", "-q"], check=True)
    assert rows == _rows(f"sqlite://{expected}")


FIRST, LAST = date(2020, 12, 1), date(2021, 1, 20)


def _count_file(path, frame: pd.DataFrame) -> None:
    """Rows as a detector would send them: UTC timestamps with their offset."""
    out = frame.copy()
    for col, name in (("start_utc", "start"), ("end_utc", "end")):
        out[name] = pd.to_datetime(out[col], unit="s", utc=True).dt.strftime("%Y-%m-%dT%H:%M:%S+00:00")
    out[["camera", "start", "end", "people", "vehicle"]].to_csv(path, index=False)


def _late_rows() -> pd.DataFrame:
    """Data that reaches days the running aggregation has already computed, and more."""
    return pd.concat([
        make_counts(TZ, FIRST + timedelta(days=20), FIRST + timedelta(days=20), "cam-0", INTERVAL,
                    seed=40, null_share=0),  # the day cam-0 had missed
        make_counts(TZ, FIRST, LAST, "late-cam", INTERVAL, seed=41, null_share=0),  # a new camera
        make_counts(TZ, LAST + timedelta(days=1), LAST + timedelta(days=10), "cam-1", INTERVAL,
                    seed=42, null_share=0),  # days after the others
    ], ignore_index=True)


def _outliers(url):
    with connect(url) as db:
        return db.query("SELECT camera, start_utc, metric, method, direction, observed, expected, "
                        "band_low, band_high, score, params FROM outliers "
                        "ORDER BY camera, start_utc, metric, method")


def test_import_during_aggregate_all_then_a_final_run_equals_a_serial_run(mysql_url, runner, tmp_path):
    """The import (with import-time detection) commits while ``aggregate all`` holds uncommitted
    week rows rolled up from day rows that predate it; the run finishes, and the next nightly run
    picks the import up as late data: statistics, counts and flags equal a serial run."""
    base, late = counts_frame(FIRST, LAST, cameras=2), _late_rows()
    late_file = tmp_path / "late.csv"
    _count_file(late_file, late)
    load(mysql_url, base)
    name = parse_url(mysql_url).database
    admin, watcher = mysql_admin(), mysql_admin()
    held = HeldStateRow(admin, name)
    env = cli_env(CCTV_DB=mysql_url)
    aggregate = subprocess.Popen([sys.executable, "-m", "cctvctl", "aggregate", "all"], env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        held.wait_until_blocking(aggregate, watcher)
        assert uncommitted_rows(watcher, name, "week") > 0  # the run is inside its week transaction
        imported = subprocess.run([sys.executable, "-m", "cctvctl", "import", str(late_file),
                                   "--format", "json"], env=env, capture_output=True, text=True,
                                  timeout=300)
        assert imported.returncode == 0, imported.stderr
        assert aggregate.poll() is None, "the aggregation finished before the import committed"
    finally:
        held.release()
    out, err = aggregate.communicate(timeout=300)
    watcher.close()
    admin.close()
    assert aggregate.returncode == 0, err
    assert json.loads(imported.stdout)["inserted"] == len(late)
    final = runner.invoke(app, ["--db", mysql_url, "aggregate", "all", "--quiet"])
    assert (final.exit_code, final.stdout, final.stderr) == (0, "", "")

    rows = _rows(mysql_url)
    assert len(rows) == len(base) + len(late) == len({(r[0], r[1]) for r in rows})
    serial = f"sqlite://{tmp_path / 'serial.db'}"
    load(serial, base)
    assert runner.invoke(app, ["--db", serial, "import", str(late_file), "-q"]).exit_code == 0
    assert runner.invoke(app, ["--db", serial, "aggregate", "all", "-q"]).exit_code == 0
    assert rows == _rows(serial)
    diff = difference(stats_snapshot(mysql_url), stats_snapshot(serial))
    assert diff.none, diff
    assert pandas_problems(mysql_url, pd.concat([base, late], ignore_index=True)) == []
    assert _outliers(mysql_url) == _outliers(serial)
