"""Aggregation timings: first run over the whole history, the no-op re-run, and the nightly run.

``python tests/bench/bench_aggregate.py [--cameras 50] [--days 70] [--backend sqlite|mysql|both]``

The nightly case imports one more day for every camera (as the video team would), then times
``cctvctl aggregate all``: it must touch only that day and the periods containing it, so its
time should stay flat as history grows. The baseline is the bare GROUP BY of that one day. Nothing
is asserted; the figures go into the README.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from datagen import write_counts  # noqa: E402

CCTVCTL = shutil.which("cctvctl") or "cctvctl"
TZ = "Asia/Seoul"
MYSQL = "mysql://root@127.0.0.1:3306/cctv_bench_agg"
DAY_SQL = ("SELECT camera, COUNT(*), SUM(people), SUM(people * people), SUM(vehicle), "
           "SUM(vehicle * vehicle) FROM counts WHERE start_utc >= ? AND start_utc < ? "
           "GROUP BY camera")


def run(*args: str, url: str) -> float:
    env = {**os.environ, "CCTV_DB": url, "CCTV_TZ": TZ}
    t = time.perf_counter()
    subprocess.run([CCTVCTL, *args], env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def reset(url: str, work: Path) -> None:
    if url.startswith("mysql"):
        import pymysql

        conn = pymysql.connect(host="127.0.0.1", user="root", password="", autocommit=True)
        with conn.cursor() as cur:
            cur.execute("DROP DATABASE IF EXISTS cctv_bench_agg")
            cur.execute("CREATE DATABASE cctv_bench_agg CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
        conn.close()
    else:
        for p in work.glob("agg.db*"):
            p.unlink()


def baseline(url: str, day: str) -> float:
    from datetime import date
    from zoneinfo import ZoneInfo

    from cctvctl.db import connect
    from cctvctl.periods import period_containing

    with connect(url) as db:
        a, b = period_containing("day", date.fromisoformat(day)).utc_range(ZoneInfo(TZ))
        t = time.perf_counter()
        db.query(DAY_SQL, (a, b))
        return time.perf_counter() - t


def bench(url: str, work: Path, cameras: int, days: int) -> dict:
    reset(url, work)
    history, extra = work / "history.csv", work / "extra.csv"
    rows = write_counts(history, cameras, days, start="2021-01-04")
    from datetime import date, timedelta

    next_day = (date(2021, 1, 4) + timedelta(days=days)).isoformat()
    write_counts(extra, cameras, 1, start=next_day, seed=9)
    out = {"rows": rows, "cameras": cameras, "days": days}
    out["import"] = run("import", str(history), "--no-detect", "--quiet", url=url)
    out["first aggregate all"] = run("aggregate", "all", "--quiet", url=url)
    out["no-op aggregate all"] = run("aggregate", "all", "--quiet", url=url)
    run("import", str(extra), "--no-detect", "--quiet", url=url)
    out["nightly aggregate all (1 new day)"] = run("aggregate", "all", "--quiet", url=url)
    out["bare GROUP BY of that day"] = baseline(url, next_day)
    out["cctvctl --help (start-up)"] = run("--help", url=url)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cameras", type=int, default=50)
    ap.add_argument("--days", type=int, default=70)
    ap.add_argument("--backend", choices=["sqlite", "mysql", "both"], default="both")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        urls = []
        if args.backend in ("sqlite", "both"):
            urls.append(f"sqlite:///{work / 'agg.db'}")
        if args.backend in ("mysql", "both"):
            urls.append(MYSQL)
        for url in urls:
            figures = bench(url, work, args.cameras, args.days)
            print(f"\n{url.split(':')[0]}: {figures['rows']:,} rows ({figures['cameras']} cameras × "
                  f"{figures['days']} days of 5-minute counts)")
            for name, value in figures.items():
                if isinstance(value, float):
                    print(f"  {name:<36} {value:8.2f} s")
        if MYSQL in urls:
            reset(MYSQL, work)


if __name__ == "__main__":
    main()
