"""Shared by the import tests: fast fresh databases on both backends, and independent readers.

A fresh MariaDB database per test costs ~0.65 s (CREATE DATABASE + migrations); the import
tests run hundreds of cases, so on MySQL they share one database per module and wipe its data
tables before each test (``fresh_url``). SQLite gets a new file per test, as in conftest.

The ``expected_*`` helpers compute what the database should hold straight from the file with
pandas and zoneinfo — never from our own code — so the tests compare two independent readings.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import temporary_mysql_database  # noqa: E402

#: tables holding data (everything but schema_version), wiped between tests on MySQL
_KEEP = {"schema_version"}


@pytest.fixture(scope="module")
def shared_mysql_url():
    """One MariaDB database for the whole test module (dropped at the end)."""
    from cctvctl.db import connect

    with temporary_mysql_database() as url:
        connect(url).close()  # migrate once
        try:
            yield url
        finally:
            cached = _mysql_connections.pop(url, None)
            if cached is not None:
                cached.close()


def wipe(url: str) -> None:
    with _open(url) as db:
        tables = [t for (t,) in db.query("SELECT table_name FROM information_schema.tables "
                                         "WHERE table_schema = DATABASE()") if t not in _KEEP]
        for table in tables:
            db.execute(f"DELETE FROM {table}")


@pytest.fixture(params=["sqlite", "mysql"])
def fresh_url(request, tmp_path):
    """An empty, migrated database on each backend (a new SQLite file; a wiped MariaDB one)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'cctv.db'}"
    url = request.getfixturevalue("shared_mysql_url")
    wipe(url)
    return url


@pytest.fixture
def idb(fresh_url):
    """A connected :class:`Database` on ``fresh_url``."""
    from cctvctl.db import connect

    database = connect(fresh_url)
    yield database
    database.close()


# -- reading the database back ------------------------------------------------------------------
COLUMNS = ("camera", "start_utc", "end_utc", "people", "vehicle", "car", "truck", "bus",
           "bicycle", "motorcycle", "scooter")
_mysql_connections: dict = {}


@contextmanager
def _open(url_or_db):
    """A Database for reading: the given one, a cached MySQL connection (autocommit, so it sees
    every commit; a MySQL connect costs ~30 ms of TLS set-up) or a new SQLite one."""
    from cctvctl.db import connect

    if not isinstance(url_or_db, str):
        yield url_or_db
    elif url_or_db.startswith("mysql"):
        db = _mysql_connections.get(url_or_db)
        if db is None:
            db = _mysql_connections[url_or_db] = connect(url_or_db)
        yield db
    else:
        with connect(url_or_db) as db:
            yield db


def stored(url_or_db, columns=COLUMNS) -> list[tuple]:
    """Every counts row (selected columns), sorted by camera and start."""
    with _open(url_or_db) as db:
        return [tuple(r) for r in db.query(f"SELECT {', '.join(columns)} FROM counts "
                                           "ORDER BY camera, start_utc")]


def count_rows(url_or_db, table: str = "counts") -> int:
    with _open(url_or_db) as db:
        return int(db.scalar(f"SELECT COUNT(*) FROM {table}"))


def snapshot(url_or_db) -> dict:
    """Everything an import may change, to prove that a refused one changed nothing."""
    with _open(url_or_db) as db:
        out = {table: db.query(f"SELECT * FROM {table} ORDER BY {order}")
               for table, order in (("counts", "camera, start_utc"),
                                    ("import_days", "import_id, camera, utc_day"),
                                    ("outliers", "camera, start_utc, metric, method"))}
        out["ok_imports"] = db.query("SELECT id, status FROM imports WHERE status = 'ok' ORDER BY id")
    return out


# -- independent expectations -------------------------------------------------------------------
def local_epoch(text: str, tz: str, fold: int = 0) -> int:
    """A naive local wall time → UTC epoch seconds, by zoneinfo (not our parser)."""
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=ZoneInfo(tz), fold=fold)
    return int(dt.timestamp())


def expected_from_csv(path, tz: str, *, sep: str = ",", encoding: str = "utf-8-sig",
                      camera: str | None = None, interval: int = 300) -> list[tuple]:
    """Rows of a clean original-layout file, as the database should hold them (pandas reading)."""
    import pandas as pd

    df = pd.read_csv(path, sep=sep, encoding=encoding, dtype=str, keep_default_na=False)
    df.columns = [c.strip().lower() for c in df.columns]
    out = []
    for rec in df.to_dict("records"):
        start = local_epoch(rec["start_date"], tz)
        end = local_epoch(rec["end_date"], tz) if "end_date" in rec else start + interval
        cam = camera or rec["camera"].strip()

        def num(key):
            return int(rec[key]) if key in rec and rec[key] != "" else None

        out.append((cam, start, end, num("people"), num("vehicle"), None, None, None, None, None, None))
    return sorted(out)
