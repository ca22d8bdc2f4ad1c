"""Run every benchmark, print a table, write JSON: ``python tests/bench/run.py [--quick]``.

Each case alternates our command and its baseline (the fastest thing the database itself can
do: ``sqlite3 .import``, ``LOAD DATA LOCAL INFILE``, a hand-written GROUP BY) in the same run,
and reports medians, the ratio, and the peak RSS of our process. Nothing here is asserted: the
figures go into docs/performance.md. ``--only`` takes case-group prefixes: cold, import, wide (aggregate
day, detect, report and import-time detection on 1,000 cameras), year, melbourne.

Full run: about 17 minutes on 2 cores (each 10M-row data set is generated, imported and dropped
again); run it when the machine is otherwise idle.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_aggregate import case_aggregate_all, case_aggregate_day  # noqa: E402
from bench_analysis import case_detect_day, case_melbourne, case_report_month, melbourne_csv  # noqa: E402
from bench_import import (case_daily_import_detection, case_detection_cost, case_import_mysql,  # noqa: E402
                          case_import_rss, case_import_sqlite)
from datagen import write_counts  # noqa: E402
from env import (CCTVCTL, analyze, cctv, drop_mysql, load_average, machine, mysql_url, remove_sqlite,  # noqa: E402
                 reset_mysql, sqlite_url)
from harness import Result, compare, run_child, single  # noqa: E402

DAY = 86400


@dataclass
class Scale:
    """Sizes of the generated data (the full run follows the issue; --quick is a smoke test)."""

    import_cameras: int = 100
    import_days: int = 35  # 1,008,000 rows
    wide_cameras: int = 1000
    wide_days: int = 35  # 10,080,000 rows from 2021-01-01: a whole month and 4 more days
    year_cameras: int = 100
    year_days: int = 365  # 10,512,000 rows ending yesterday (UTC)
    runs: int = 3


QUICK = Scale(import_days=7, wide_cameras=100, year_days=35, runs=1)
WIDE_START = date(2021, 1, 1)


def utc_midnight(d: date) -> int:
    return int(datetime(d.year, d.month, d.day, tzinfo=timezone.utc).timestamp())


def rows_label(n: int) -> str:
    return f"{n / 1e6:.1f}M" if n >= 1e6 else f"{n:,}"


# -- case groups ---------------------------------------------------------------------------------
def cold_start(work: Path, scale: Scale, sqlite_only: bool, emit) -> None:
    base = lambda: run_child([sys.executable, "-c", "import typer"])  # noqa: E731
    for args in (["--help"], ["import", "--help"]):
        label = "cctvctl " + " ".join(args)
        emit(compare(f"cold start: {label}", label, "python -c 'import typer'", "≤ 2×",
                     max(scale.runs, 7), lambda a=args: run_child([CCTVCTL, *a]), base, max_ratio=2.0))


def imports(work: Path, scale: Scale, sqlite_only: bool, emit) -> None:
    data = work / "import.csv"
    n = write_counts(data, cameras=scale.import_cameras, days=scale.import_days)
    rows = rows_label(n)
    for detect in (False, True):
        emit(case_import_sqlite(work, data, scale.runs, rows, detect))
    emit(case_detection_cost(sqlite_url(work / "imp.db"), data, scale.runs, rows,
                             lambda: remove_sqlite(work / "imp.db")))
    if not sqlite_only:
        for detect in (False, True):
            emit(case_import_mysql(data, scale.runs, rows, detect))
        emit(case_detection_cost(mysql_url("cctv_bench"), data, scale.runs, rows,
                                 lambda: reset_mysql("cctv_bench")))
        drop_mysql("cctv_bench")
    remove_sqlite(work / "imp.db")
    remove_sqlite(work / "base.db")
    data.unlink()


def wide(work: Path, scale: Scale, sqlite_only: bool, emit) -> None:
    """1,000 cameras × 35 days: import RSS, aggregate day, detect, report, nightly import."""
    data = work / "wide.csv"
    n = write_counts(data, cameras=scale.wide_cameras, days=scale.wide_days, start=WIDE_START.isoformat(),
                     order="time")
    last = WIDE_START + timedelta(days=scale.wide_days - 1)
    new_day = last + timedelta(days=1)
    day_file = work / "day.csv"
    write_counts(day_file, cameras=scale.wide_cameras, days=1, start=new_day.isoformat(), seed=11,
                 order="time")
    cams = f"{scale.wide_cameras:,}"
    urls = {"SQLite": sqlite_url(work / "wide.db")}
    if not sqlite_only:
        urls["MariaDB"] = mysql_url("cctv_bench_wide")
    for backend, url in urls.items():
        reset = (lambda: remove_sqlite(work / "wide.db")) if backend == "SQLite" else \
            (lambda: reset_mysql("cctv_bench_wide"))
        emit(case_import_rss(url, data, rows_label(n), reset))
        analyze(url)
    data.unlink()
    agg_day = last - timedelta(days=1)
    month = f"{WIDE_START.year}-{WIDE_START.month:02d}"
    month_end = date(WIDE_START.year + WIDE_START.month // 12, WIDE_START.month % 12 + 1, 1)
    for backend, url in urls.items():
        # cron has run: the history is in the stats table
        emit(single(f"aggregate all, {rows_label(n)} rows of {cams} cameras, {backend}",
                    "cctvctl aggregate all (setup for the cases below)", [cctv("aggregate", "all", db=url)]))
        emit(case_aggregate_day(url, backend, agg_day.isoformat(),
                                (utc_midnight(agg_day), utc_midnight(agg_day) + DAY), cams, scale.runs))
        emit(case_detect_day(url, backend, last.isoformat(), (utc_midnight(last), utc_midnight(last) + DAY),
                             cams, scale.runs))
        for fmt in ("table", "json"):
            emit(case_report_month(url, backend, month, (utc_midnight(WIDE_START), utc_midnight(month_end)),
                                   cams, scale.runs, fmt))
        emit(case_daily_import_detection(url, day_file, utc_midnight(new_day), scale.runs, cams))
    remove_sqlite(work / "wide.db")
    if not sqlite_only:
        drop_mysql("cctv_bench_wide")
    day_file.unlink()


def year(work: Path, scale: Scale, sqlite_only: bool, emit) -> None:
    """The first full ``aggregate all`` over a year of 100 cameras (data ending yesterday)."""
    yesterday = datetime.now(timezone.utc).date() - timedelta(days=1)
    first = yesterday - timedelta(days=scale.year_days - 1)
    data = work / "year.csv"
    n = write_counts(data, cameras=scale.year_cameras, days=scale.year_days, start=first.isoformat(),
                     order="time")
    urls = {"SQLite": sqlite_url(work / "year.db")}
    if not sqlite_only:
        urls["MariaDB"] = mysql_url("cctv_bench_year")
        reset_mysql("cctv_bench_year")
    for backend, url in urls.items():
        emit(single(f"import {rows_label(n)} rows ({scale.year_cameras} cameras × {scale.year_days} days), "
                    f"{backend}", "cctvctl import --no-detect (setup)",
                    [cctv("import", str(data), "--no-detect", db=url)]))
        analyze(url)
    data.unlink()
    for backend, url in urls.items():
        emit(case_aggregate_all(url, backend, rows_label(n), scale.runs))
    remove_sqlite(work / "year.db")
    if not sqlite_only:
        drop_mysql("cctv_bench_year")


def melbourne(work: Path, scale: Scale, sqlite_only: bool, emit) -> None:
    data = melbourne_csv(work)
    if data is None:
        print("melbourne: ../shared/data/melbourne absent, skipped", file=sys.stderr)
        return
    db = work / "melb.db"
    for r in case_melbourne(sqlite_url(db), "SQLite", data, scale.runs, lambda: remove_sqlite(db)):
        emit(r)
    if not sqlite_only:
        for r in case_melbourne(mysql_url("cctv_bench_melb"), "MariaDB", data, scale.runs,
                                lambda: reset_mysql("cctv_bench_melb")):
            emit(r)
        drop_mysql("cctv_bench_melb")
    remove_sqlite(db)
    shutil.rmtree(data.parent, ignore_errors=True)


# -- output --------------------------------------------------------------------------------------
def render(results: list[Result]) -> str:
    head = ("| case | ours | baseline | ours s | baseline s | ratio | target | met | peak RSS MB |\n"
            "|---|---|---|---|---|---|---|---|---|")
    mark = {True: "yes", False: "**no**", None: "—"}
    rows = [f"| {r.case} | {r.ours} | {r.baseline} | {r.seconds} | {r.baseline_seconds or '—'} | "
            f"{r.ratio or '—'} | {r.target} | {mark[r.met]} | {r.peak_rss_mb or '—'} |" for r in results]
    return "\n".join([head, *rows])


GROUPS = {"cold": cold_start, "import": imports, "wide": wide, "year": year, "melbourne": melbourne}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1 run per case, small data (a smoke test)")
    ap.add_argument("--only", help="comma-separated case groups: " + ", ".join(GROUPS))
    ap.add_argument("--sqlite-only", action="store_true", help="skip the MariaDB cases")
    ap.add_argument("--out", default=str(HERE / "results.json"))
    args = ap.parse_args()
    scale = QUICK if args.quick else Scale()
    wanted = [g for g in GROUPS if not args.only or any(g.startswith(p) for p in args.only.split(","))]
    work = Path(tempfile.mkdtemp(prefix="cctv-bench-"))
    results: list[Result] = []
    started = time.time()
    load_before = load_average()

    def emit(result: Result | list[Result]) -> None:
        for r in result if isinstance(result, list) else [result]:
            results.append(r)
            print(render([r]).splitlines()[-1], flush=True)

    print(render([]), flush=True)
    try:
        for group in wanted:
            GROUPS[group](work, scale, args.sqlite_only, emit)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    info = (f"machine: {machine()}; load average before {load_before}, after {load_average()}; "
            f"{(time.time() - started) / 60:.0f} min{' (--quick)' if args.quick else ''}")
    print()
    print(info)
    print()
    print(render(results))
    Path(args.out).write_text(json.dumps({"machine": machine(), "date": time.strftime("%Y-%m-%d"),
                                          "quick": args.quick, "info": info,
                                          "results": [r.as_dict() for r in results]}, indent=2) + "\n")


if __name__ == "__main__":
    main()
