"""Concurrent runs on MariaDB: no duplicate, no lost row, the same result as a serial run."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from cctvctl.db import connect


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
    import json

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
