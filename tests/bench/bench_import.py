"""Import cases: against each database's own bulk loader, with and without detection, RSS.

Each run imports into a fresh database: ours is ``cctvctl import`` as a user runs it (validation,
dedupe, the imports ledger, and detection unless ``--no-detect``); the baseline is the engine's
bulk path into a table with the same key, with no validation at all.
"""

from __future__ import annotations

import time
from pathlib import Path

from env import cctv, mysql_admin, mysql_url, remove_sqlite, reset_mysql, sql, sqlite_url
from harness import Result, Sample, compare, run_child

BENCH_DB = "cctv_bench"
SQLITE_BASELINE = ("CREATE TABLE counts_csv (camera VARCHAR(64), start_date TEXT, end_date TEXT, "
                   "people INTEGER, vehicle INTEGER, PRIMARY KEY (camera, start_date)) WITHOUT ROWID;\n"
                   ".mode csv\n.import --skip 1 {data} counts_csv\n")
MYSQL_TABLE = ("CREATE TABLE counts_csv (camera VARCHAR(64) NOT NULL, start_date DATETIME NOT NULL, "
               "end_date DATETIME NOT NULL, people INT, vehicle INT, PRIMARY KEY (start_date, camera), "
               "KEY (camera, start_date)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin")
MYSQL_LOAD = ("LOAD DATA LOCAL INFILE '{data}' INTO TABLE counts_csv FIELDS TERMINATED BY ',' "
              "IGNORE 1 LINES (camera, start_date, end_date, people, vehicle)")


def sqlite_bulk(work: Path, data: Path) -> Sample:
    """The sqlite3 shell's ``.import`` of ``data`` into a fresh table with our key."""
    base_db = work / "base.db"
    remove_sqlite(base_db)
    script = work / "base.sql"
    script.write_text(SQLITE_BASELINE.format(data=data))
    return run_child(["sqlite3", str(base_db)], stdin_path=str(script))


def mysql_bulk(data: Path) -> Sample:
    """``LOAD DATA LOCAL INFILE`` of ``data`` into a fresh table with our key (load timed)."""
    reset_mysql(BENCH_DB)
    conn = mysql_admin(BENCH_DB)
    with conn.cursor() as cur:
        cur.execute(MYSQL_TABLE)
        start = time.perf_counter()
        cur.execute(MYSQL_LOAD.format(data=data))
        conn.commit()
        elapsed = time.perf_counter() - start
    conn.close()
    return Sample(elapsed)


def case_import_sqlite(work: Path, data: Path, runs: int, rows: str, detect: bool) -> Result:
    db = work / "imp.db"
    flag = [] if detect else ["--no-detect"]
    label = "cctvctl import" + ("" if detect else " --no-detect")
    return compare(f"import {rows} rows, SQLite{', detection on' if detect else ''}", label,
                   "sqlite3 .import (same key)", "≤ 1.5×", runs,
                   lambda: cctv("import", str(data), *flag, db=sqlite_url(db)),
                   lambda: sqlite_bulk(work, data), lambda: remove_sqlite(db), max_ratio=1.5)


def case_import_mysql(data: Path, runs: int, rows: str, detect: bool) -> Result:
    flag = [] if detect else ["--no-detect"]
    label = "cctvctl import" + ("" if detect else " --no-detect")
    return compare(f"import {rows} rows, MariaDB{', detection on' if detect else ''}", label,
                   "LOAD DATA LOCAL INFILE (same key)", "≤ 1.5×", runs,
                   lambda: cctv("import", str(data), *flag, db=mysql_url(BENCH_DB)),
                   lambda: mysql_bulk(data), lambda: reset_mysql(BENCH_DB), max_ratio=1.5)


def case_detection_cost(url: str, data: Path, runs: int, rows: str, reset) -> Result:
    """What detection adds to importing a whole file into an empty database (issue 13: ≤ 1.5×
    ``--no-detect``; a 35-day file: its first days are judged while the cameras are learning)."""
    return compare(f"import {rows} rows, {backend_name(url)}: detection on vs --no-detect",
                   "cctvctl import", "cctvctl import --no-detect", "≤ 1.5×", runs,
                   lambda: cctv("import", str(data), db=url),
                   lambda: cctv("import", str(data), "--no-detect", db=url), reset, max_ratio=1.5)


def case_import_rss(url: str, data: Path, rows: str, reset) -> Result:
    """Peak RSS of one import (the file is never held whole: memory must not grow with it)."""
    return compare(f"import {rows} rows, {backend_name(url)}: peak RSS", "cctvctl import --no-detect",
                   "—", "RSS ≤ 400 MB, flat in file size", 1,
                   lambda: cctv("import", str(data), "--no-detect", db=url), None, reset,
                   max_rss=400)


def case_daily_import_detection(url: str, day_file: Path, day_start: int, runs: int,
                                rows: str) -> Result:
    """The nightly import of one new day into a database with history: detection on vs off.

    Between runs the new day is forgotten (its counts, ledger row, touched days and flags), so
    every run imports the same day into the same history.
    """
    before = int(sql(url, ["SELECT COALESCE(MAX(id), 0) FROM imports"])[0][0])

    def forget() -> None:
        sql(url, ["DELETE FROM counts WHERE start_utc >= ?"], (day_start,))
        sql(url, ["DELETE FROM import_days WHERE import_id > ?"], (before,))
        sql(url, ["DELETE FROM imports WHERE id > ?"], (before,))
        sql(url, ["DELETE FROM outliers WHERE start_utc >= ?"], (day_start,))

    return compare(f"import-time detection: 1 new day of {rows} cameras, {backend_name(url)}",
                   "cctvctl import (detection on)", "cctvctl import --no-detect", "≤ 1.3×", runs,
                   lambda: cctv("import", str(day_file), db=url),
                   lambda: cctv("import", str(day_file), "--no-detect", db=url), forget,
                   max_ratio=1.3)


def backend_name(url: str) -> str:
    return "MariaDB" if url.startswith("mysql") else "SQLite"
