"""What every benchmark case shares: the installed command, the databases, and resetting them.

``cctvctl`` is run as the console script beside this interpreter (not a pyenv or venv shim,
whose own start-up would be charged to us), so its cold start is comparable with
``python -c 'import typer'`` run by the same interpreter.
"""

from __future__ import annotations

import os
import platform
import shutil
import sqlite3
import sys
from pathlib import Path

from harness import Sample, run_child

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
MYSQL_HOST = os.environ.get("CCTV_BENCH_MYSQL_HOST", "127.0.0.1")
TZ = "UTC"


def _console_script() -> str:
    beside = Path(sys.executable).parent / "cctvctl"
    return str(beside) if beside.exists() else (shutil.which("cctvctl") or "cctvctl")


CCTVCTL = _console_script()


def mysql_url(name: str) -> str:
    return f"mysql://root@{MYSQL_HOST}:3306/{name}"


def sqlite_url(path: Path) -> str:
    return f"sqlite://{path}" if str(path).startswith("/") else f"sqlite:///{path}"


def mysql_admin(database: str | None = None):
    import pymysql

    return pymysql.connect(host=MYSQL_HOST, port=3306, user="root", password="", autocommit=True,
                           local_infile=True, database=database)


def reset_mysql(name: str) -> None:
    conn = mysql_admin()
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {name}")
        cur.execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    conn.close()


def drop_mysql(name: str) -> None:
    conn = mysql_admin()
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {name}")
    conn.close()


def remove_sqlite(path: Path) -> None:
    for p in path.parent.glob(path.name + "*"):
        p.unlink()


def cctv(*args: str, db: str, tz: str = TZ, env: dict | None = None) -> Sample:
    """One ``cctvctl`` process, quiet; wall time and its peak RSS."""
    return run_child([CCTVCTL, "--db", db, "--tz", tz, "-q", *args], env=env)


def sql(url: str, statements: list[str], params: tuple = ()) -> list[tuple]:
    """Run statements on a bench database outside cctvctl (setup between runs); last result."""
    rows: list[tuple] = []
    if url.startswith("mysql"):
        conn = mysql_admin(url.rsplit("/", 1)[1])
        with conn.cursor() as cur:
            for s in statements:
                cur.execute(s.replace("?", "%s"), params if "?" in s else ())
                rows = list(cur.fetchall())
        conn.close()
        return rows
    conn = sqlite3.connect(url.split("sqlite://", 1)[1], isolation_level=None)
    try:
        for s in statements:
            rows = conn.execute(s, params if "?" in s else ()).fetchall()
    finally:
        conn.close()
    return rows


def analyze(url: str) -> None:
    """Fresh optimizer statistics, so that hand-written baselines get the engine's best plan
    (SQLite's skip-scan of the camera-first key for a bare time range; MariaDB's loose index
    scan for DISTINCT camera). Applied to both sides of a comparison alike."""
    sql(url, ["ANALYZE TABLE counts" if url.startswith("mysql") else "ANALYZE"])


def clear_stats(url: str) -> None:
    """Forget every aggregation (so the next ``aggregate all`` is a first full run)."""
    sql(url, ["DELETE FROM stats", "DELETE FROM weekday_stats", "DELETE FROM agg_state"])


def machine() -> str:
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = ""
    try:
        with open("/proc/meminfo") as fh:
            kb = int(fh.readline().split()[1])
            mem = f", {kb / 1024 / 1024:.0f} GB RAM"
    except (OSError, ValueError, IndexError):
        pass
    server = ""
    try:
        conn = mysql_admin()
        with conn.cursor() as cur:
            cur.execute("SELECT VERSION()")
            server = f", server {cur.fetchone()[0]}"
        conn.close()
    except Exception:  # no server: the MySQL cases will say so
        pass
    return (f"{os.cpu_count()} cores, {cpu}{mem}, Python {platform.python_version()}, "
            f"SQLite {sqlite3.sqlite_version}{server}, {platform.system()} {platform.release()}")


def load_average() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "?"
