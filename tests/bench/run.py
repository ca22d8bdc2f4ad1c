"""Run every benchmark, print a table, write JSON: ``python tests/bench/run.py [--quick]``.

Each case alternates our command and its baseline (the fastest thing the database itself can
do: ``sqlite3 .import``, ``LOAD DATA LOCAL INFILE``, a hand-written GROUP BY) in the same run,
and reports medians, the ratio, and the peak RSS of our process. Nothing here is asserted: the
figures go into README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from datagen import write_counts  # noqa: E402
from harness import Result, Sample, compare, run_child, timed  # noqa: E402

MYSQL = os.environ.get("CCTV_BENCH_MYSQL", "mysql://root@127.0.0.1:3306/cctv_bench")
CCTVCTL = shutil.which("cctvctl") or "cctvctl"
TZ = "UTC"


def mysql_admin():
    import pymysql

    return pymysql.connect(host="127.0.0.1", port=3306, user="root", password="", autocommit=True,
                           local_infile=True)


def reset_mysql(name: str = "cctv_bench") -> None:
    conn = mysql_admin()
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {name}")
        cur.execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    conn.close()


def cctv(*args: str, db: str, env: dict | None = None) -> Sample:
    return run_child([CCTVCTL, "--db", db, "--tz", TZ, "-q", *args], env=env)


# -- cases -----------------------------------------------------------------------------------
def case_import_sqlite(work: Path, data: Path, runs: int) -> Result:
    db = work / "imp.db"
    base_db = work / "base.db"

    def setup():
        for p in work.glob("*.db*"):
            p.unlink()

    script = (f"CREATE TABLE counts_csv (camera VARCHAR(64), start_date TEXT, end_date TEXT, "
              f"people INTEGER, vehicle INTEGER, PRIMARY KEY (camera, start_date)) WITHOUT ROWID;\n"
              f".mode csv\n.import --skip 1 {data} counts_csv\n")
    script_path = work / "base.sql"
    script_path.write_text(script)
    return compare("import 1M rows, SQLite", "cctvctl import --no-detect",
                   "sqlite3 .import (same key)", "≤ 1.5×", runs,
                   lambda: cctv("import", str(data), "--no-detect", db=f"sqlite://{db}"),
                   lambda: run_child(["sqlite3", str(base_db)], stdin_path=str(script_path)),
                   setup)


def case_import_mysql(work: Path, data: Path, runs: int) -> Result:
    def setup():
        reset_mysql()

    def baseline() -> Sample:
        conn = mysql_admin()
        with conn.cursor() as cur:
            cur.execute("USE cctv_bench")
            cur.execute("CREATE TABLE counts_csv (camera VARCHAR(64) NOT NULL, start_date DATETIME NOT NULL, "
                        "end_date DATETIME NOT NULL, people INT, vehicle INT, PRIMARY KEY (start_date, camera), "
                        "KEY (camera, start_date)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin")
            start = time.perf_counter()
            cur.execute(f"LOAD DATA LOCAL INFILE '{data}' INTO TABLE counts_csv FIELDS TERMINATED BY ',' "
                        "IGNORE 1 LINES (camera, start_date, end_date, people, vehicle)")
            conn.commit()
            elapsed = time.perf_counter() - start
        conn.close()
        return Sample(elapsed)

    return compare("import 1M rows, MariaDB", "cctvctl import --no-detect",
                   "LOAD DATA LOCAL INFILE (same key)", "≤ 1.5×", runs,
                   lambda: cctv("import", str(data), "--no-detect", db=MYSQL), baseline, setup)


def case_import_rss(work: Path, rows_10m: Path, runs: int) -> Result:
    db = work / "big.db"

    def setup():
        for p in work.glob("big.db*"):
            p.unlink()

    return compare("import 10M rows, SQLite: peak RSS", "cctvctl import --no-detect", "—",
                   "RSS ≤ 400 MB, flat in file size", runs,
                   lambda: cctv("import", str(rows_10m), "--no-detect", db=f"sqlite://{db}"), None, setup)


def case_cold_start(runs: int) -> list[Result]:
    base = lambda: run_child([sys.executable, "-c", "import typer"])  # noqa: E731
    return [
        compare("cold start: cctvctl --help", "cctvctl --help", "python -c 'import typer'", "≤ 2×",
                max(runs, 5), lambda: run_child([CCTVCTL, "--help"]), base),
        compare("cold start: cctvctl import --help", "cctvctl import --help",
                "python -c 'import typer'", "≤ 2×", max(runs, 5),
                lambda: run_child([CCTVCTL, "import", "--help"]), base),
    ]


# -- main ------------------------------------------------------------------------------------
def machine() -> str:
    cpu = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}, {platform.system()}"


def render(results: list[Result]) -> str:
    head = "| case | ours | baseline | ours s | baseline s | ratio | target | peak RSS MB |\n|---|---|---|---|---|---|---|---|"
    rows = [f"| {r.case} | {r.ours} | {r.baseline} | {r.seconds} | {r.baseline_seconds or '—'} | "
            f"{r.ratio or '—'} | {r.target} | {r.peak_rss_mb or '—'} |" for r in results]
    return "\n".join([head, *rows])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="1 run per case, smaller files")
    ap.add_argument("--only", help="comma-separated case prefixes to run")
    ap.add_argument("--out", default=str(HERE / "results.json"))
    args = ap.parse_args()
    runs = 1 if args.quick else 3
    work = Path(tempfile.mkdtemp(prefix="cctv-bench-"))
    wanted = lambda name: not args.only or any(name.startswith(p) for p in args.only.split(","))  # noqa: E731
    results: list[Result] = []
    try:
        one_m = work / "1m.csv"
        if wanted("import") or wanted("rss"):
            write_counts(one_m, cameras=100, days=35 if not args.quick else 7)
        if wanted("import"):
            results.append(case_import_sqlite(work, one_m, runs))
            print(render(results[-1:]), flush=True)
            results.append(case_import_mysql(work, one_m, runs))
            print(render(results[-1:]), flush=True)
        if wanted("rss"):
            big = work / "10m.csv"
            write_counts(big, cameras=1000, days=35 if not args.quick else 7)
            results.append(case_import_rss(work, big, 1))
            results.append(case_import_rss(work, one_m, 1))
            results[-1].case = "import 1M rows, SQLite: peak RSS"
            big.unlink()
        if wanted("cold"):
            results.extend(case_cold_start(runs))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print()
    print(f"machine: {machine()}")
    print(render(results))
    Path(args.out).write_text(json.dumps({"machine": machine(), "date": time.strftime("%Y-%m-%d"),
                                          "results": [r.as_dict() for r in results]}, indent=2) + "\n")


if __name__ == "__main__":
    main()
