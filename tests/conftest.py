"""Shared fixtures: real SQLite files, a real MariaDB database per test, isolated config.

Tests stay in their lane. By default they touch only SQLite files in temporary folders. MySQL
tests run only when CCTV_TEST_MYSQL_URL names a server (e.g. mysql://root@127.0.0.1:3306/test);
each test then creates a database of its own there and drops it. Without the variable or a
reachable server they skip with the reason, unless CCTV_REQUIRE_MYSQL=1 (CI), where that is a
failure. Tests that create accounts, mount file systems or start private servers run only with
CCTV_TEST_PRIVILEGED=1 (``require_privileged`` / ``@pytest.mark.privileged``), as .ci/run sets.
"""

from __future__ import annotations

import os
import secrets
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_DATA = ROOT / "sample_data"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SHARED_DATA = ROOT.parent / "shared" / "data"

#: the server named for MySQL tests; the default only shapes URLs, it is never connected to
MYSQL_URL = os.environ.get("CCTV_TEST_MYSQL_URL") or "mysql://root@127.0.0.1:3306/test"
MYSQL_NAMED = bool(os.environ.get("CCTV_TEST_MYSQL_URL"))
REQUIRE_MYSQL = os.environ.get("CCTV_REQUIRE_MYSQL") == "1"
PRIVILEGED_ENV = "CCTV_TEST_PRIVILEGED"

_mysql_problem: list[str] = []

# Tests run the entry point installed beside this interpreter, whatever PATH holds: a
# subprocess that says "cctvctl" must never reach another installation (or none).
os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])


def mysql_admin():
    """A raw PyMySQL connection to the test server (for creating/dropping test databases)."""
    import pymysql

    from cctvctl.db.connect import parse_url

    u = parse_url(MYSQL_URL)
    return pymysql.connect(host=u.host, port=u.port, user=u.user or "root",
                           password=os.environ.get("CCTV_TEST_MYSQL_PASSWORD", ""),
                           autocommit=True, connect_timeout=5)


def mysql_available() -> str | None:
    """None when the server answers, else the reason it does not."""
    if _mysql_problem:
        return _mysql_problem[0] or None
    if not MYSQL_NAMED:
        _mysql_problem.append("CCTV_TEST_MYSQL_URL is not set (MySQL tests use only a server you name)")
        return _mysql_problem[0]
    try:
        mysql_admin().close()
        _mysql_problem.append("")
        return None
    except Exception as exc:  # any failure to connect is a skip reason
        _mysql_problem.append(f"MariaDB/MySQL not reachable at {MYSQL_URL}: {exc}")
        return _mysql_problem[0]


def require_mysql():
    problem = mysql_available()
    if problem:
        if REQUIRE_MYSQL:
            pytest.fail(f"CCTV_REQUIRE_MYSQL=1 but {problem}")
        pytest.skip(problem)


def privileged() -> bool:
    return os.environ.get(PRIVILEGED_ENV) == "1"


def require_privileged(what: str) -> None:
    """Skip unless CCTV_TEST_PRIVILEGED=1: creating accounts, mounting file systems and
    starting private servers are never done by a plain `python -m pytest`."""
    if not privileged():
        pytest.skip(f"{what}: runs only with {PRIVILEGED_ENV}=1")


def pytest_collection_modifyitems(config, items):
    if privileged():
        return
    skip = pytest.mark.skip(reason=f"creates accounts, mounts or starts servers: runs only with "
                                   f"{PRIVILEGED_ENV}=1")
    for item in items:
        if "privileged" in item.keywords:
            item.add_marker(skip)


@contextmanager
def temporary_mysql_database():
    """A fresh MySQL database (its URL), dropped afterwards."""
    require_mysql()
    from cctvctl.db.connect import parse_url

    name = "cctv_t_" + secrets.token_hex(4)
    admin = mysql_admin()
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    u = parse_url(MYSQL_URL)
    try:
        yield f"mysql://{u.user or 'root'}@{u.host}:{u.port}/{name}"
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {name}")
        admin.close()


@pytest.fixture
def mysql_url():
    """URL of a fresh, empty MySQL database, dropped after the test."""
    with temporary_mysql_database() as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite://{tmp_path / 'cctv.db'}"


@pytest.fixture(params=["sqlite", "mysql"])
def db_url(request, tmp_path):
    """Both backends: a migrated-on-first-use database URL."""
    if request.param == "sqlite":
        yield f"sqlite://{tmp_path / 'cctv.db'}"
    else:
        yield request.getfixturevalue("mysql_url")


@pytest.fixture
def db(db_url):
    from cctvctl.db import connect

    database = connect(db_url)
    yield database
    database.close()


@pytest.fixture
def sqlite_db(sqlite_url):
    from cctvctl.db import connect

    database = connect(sqlite_url)
    yield database
    database.close()


@pytest.fixture
def mem_db():
    from cctvctl.db import connect

    database = connect("sqlite://:memory:")
    yield database
    database.close()


@pytest.fixture(autouse=True)
def isolated_config(tmp_path, monkeypatch):
    """No CCTV_* from the developer's shell; a private XDG data dir and a fixed default zone."""
    for key in list(os.environ):
        if key.startswith("CCTV_") and key not in ("CCTV_TEST_MYSQL_URL", "CCTV_REQUIRE_MYSQL",
                                                   "CCTV_TEST_MYSQL_PASSWORD", PRIVILEGED_ENV):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.setenv("CCTV_TZ", "Asia/Seoul")


@pytest.fixture
def runner():
    from typer.testing import CliRunner

    return CliRunner()


@pytest.fixture
def shared_data():
    """../shared/data, or a skip with the reason where it is absent (a user's machine)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent")
    return SHARED_DATA
