"""The storage layer on both backends: migrations, transactions, locks, dialect statements, URLs."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from import_helpers import fresh_url, idb, shared_mysql_url  # noqa: E402,F401

from cctvctl.db import connect, parse_url  # noqa: E402
from cctvctl.db.schema import LATEST, MIGRATIONS, current_version, migrate  # noqa: E402
from cctvctl.errors import DatabaseError, LockTimeout, SchemaError, UsageError  # noqa: E402

ROW = ("c", 100, 400, 1, 2, 7)
INSERT = "INSERT INTO counts (camera, start_utc, end_utc, people, vehicle, import_id) VALUES (?, ?, ?, ?, ?, ?)"


# -- migrations ---------------------------------------------------------------------------------
def test_fresh_database_is_at_the_latest_version_and_migrate_is_idempotent(db):
    assert current_version(db) == LATEST == MIGRATIONS[-1][0]
    assert migrate(db) == []
    versions = [v for (v,) in db.query("SELECT version FROM schema_version ORDER BY version")]
    assert versions == [m[0] for m in MIGRATIONS]
    for table in ("counts", "imports", "import_days", "stats", "weekday_stats", "outliers", "agg_state"):
        assert db.table_exists(table), table
    assert not db.table_exists("nonexistent_table")


def test_unmigrated_database_migrates_on_connect(sqlite_url):
    raw = connect(sqlite_url, migrate=False)
    assert current_version(raw) == 0
    assert migrate(raw) == [m[0] for m in MIGRATIONS]
    raw.close()
    with connect(sqlite_url) as again:
        assert current_version(again) == LATEST


def test_a_newer_schema_is_refused(db_url):
    """(A database of its own: the shared one must stay at our version.)"""
    with connect(db_url) as db:
        db.execute("INSERT INTO schema_version (version, description, applied_at) VALUES (?, ?, ?)",
                   (LATEST + 1, "from the future", 0))
    with pytest.raises(SchemaError, match=f"schema is version {LATEST + 1}, newer than"):
        connect(db_url)


# -- statements and transactions ----------------------------------------------------------------
def test_execute_query_and_rowcounts(idb):
    assert idb.execute(INSERT, ROW) == 1
    assert idb.executemany(INSERT, [("d", 100, 400, 1, None, 7), ("e", 100, 400, None, 3, 7)]) == 2
    assert idb.executemany(INSERT, []) == 0
    assert idb.query("SELECT camera, people, vehicle FROM counts ORDER BY camera") == [
        ("c", 1, 2), ("d", 1, None), ("e", None, 3)]
    assert idb.query_one("SELECT camera FROM counts WHERE camera = ?", ("zzz",)) is None
    assert idb.scalar("SELECT COUNT(*) FROM counts WHERE people IS NULL") == 1


def test_percent_and_question_marks_in_values_are_data(idb):
    """`?` is the only placeholder; `%` in SQL is the modulo operator; values are bound."""
    hostile = "100% ?, %s %% '); DROP TABLE counts; --"
    idb.execute(INSERT, (hostile, 100, 400, 7, 9, 1))
    assert idb.scalar("SELECT camera FROM counts WHERE camera = ?", (hostile,)) == hostile
    assert idb.scalar("SELECT people % 4 FROM counts") == 3
    assert idb.scalar("SELECT COUNT(*) FROM counts WHERE camera LIKE ?", ("100%",)) == 1


def test_duplicate_key_is_a_database_error(idb):
    idb.execute(INSERT, ROW)
    with pytest.raises(DatabaseError) as err:
        idb.execute(INSERT, ROW)
    assert "\n" not in str(err.value)
    assert str(err.value).startswith(("SQLite error on ", "MySQL error on "))


def test_atomic_commits_and_rolls_back(idb):
    with idb.atomic():
        idb.execute(INSERT, ROW)
    assert idb.scalar("SELECT COUNT(*) FROM counts") == 1
    with pytest.raises(RuntimeError):
        with idb.atomic():
            idb.execute(INSERT, ("x", 1, 2, 3, 4, 5))
            with idb.atomic():  # nested: joins the outer transaction
                idb.execute(INSERT, ("y", 1, 2, 3, 4, 5))
                assert idb.in_transaction
            raise RuntimeError("boom")
    assert not idb.in_transaction
    assert idb.query("SELECT camera FROM counts") == [("c",)]


def test_uncommitted_rows_are_invisible_to_another_connection(fresh_url):
    with connect(fresh_url) as writer, connect(fresh_url) as reader:
        with writer.atomic():
            writer.execute(INSERT, ROW)
            assert reader.scalar("SELECT COUNT(*) FROM counts") == 0
        assert reader.scalar("SELECT COUNT(*) FROM counts") == 1


def test_upsert_and_insert_ignore(idb):
    cols = ["name", "value"]
    upsert = idb.dialect.upsert("agg_state", cols, ["name"])
    idb.execute(upsert, ("a", "1"))
    idb.execute(upsert, ("a", "2"))
    assert idb.query("SELECT name, value FROM agg_state") == [("a", "2")]
    ignore = idb.dialect.insert_ignore("agg_state", cols)
    assert idb.execute(ignore, ("a", "3")) == 0
    assert idb.execute(ignore, ("b", "3")) == 1
    assert idb.query("SELECT name, value FROM agg_state ORDER BY name") == [("a", "2"), ("b", "3")]


def test_insert_ignore_does_not_swallow_range_errors(idb):
    """MySQL's INSERT IGNORE would store 2147483647 for 2^31; ours must fail loudly."""
    sql = idb.dialect.insert_ignore("counts", ["camera", "start_utc", "end_utc", "people", "import_id"])
    if idb.backend == "mysql":
        with pytest.raises(DatabaseError, match="Out of range"):
            idb.execute(sql, ("c", 1, 2, 2**31, 1))
    else:  # SQLite stores any integer; the importer's bound keeps MySQL's range
        idb.execute(sql, ("c", 1, 2, 2**31, 1))


def test_identifiers_are_guarded(idb):
    with pytest.raises(ValueError, match="not a safe SQL identifier"):
        idb.dialect.upsert("counts; DROP TABLE counts", ["a"], ["a"])


# -- locks --------------------------------------------------------------------------------------
def test_lock_excludes_a_second_holder_until_released(fresh_url):
    with connect(fresh_url) as one, connect(fresh_url) as two:
        one.acquire_lock("import", timeout=1)
        t0 = time.monotonic()
        with pytest.raises(LockTimeout, match="another cctvctl run holds the 'import' lock"):
            two.acquire_lock("import", timeout=1)
        assert time.monotonic() - t0 >= 0.9
        one.release_lock("import")
        with two.lock("import", timeout=1):
            pass


def test_lock_waits_for_the_holder(fresh_url):
    holder = connect(fresh_url)
    holder.acquire_lock("aggregate", timeout=1)
    with connect(fresh_url) as waiter:  # connected first: a slow connect must not eat the wait
        threading.Timer(0.5, holder.close).start()  # closing releases the lock
        t0 = time.monotonic()
        with waiter.lock("aggregate", timeout=10):
            waited = time.monotonic() - t0
    assert 0.3 < waited < 5


# -- URLs ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("url,expected", [
    ("sqlite:///var/lib/cctv.db", dict(backend="sqlite", path="/var/lib/cctv.db")),
    ("sqlite://relative.db", dict(backend="sqlite", path="relative.db")),
    ("sqlite://", dict(backend="sqlite", path=":memory:")),
    ("cctv.sqlite3", dict(backend="sqlite", path="cctv.sqlite3")),
    ("mysql://ingest@db.example:3307/cctv", dict(backend="mysql", user="ingest", host="db.example", port=3307, database="cctv")),
    ("mariadb://db/cctv", dict(backend="mysql", user=None, host="db", port=3306, database="cctv")),
    ("mysql://u@h/cctv?ssl_ca=/etc/ca.pem&ssl_verify_cert=true",
     dict(backend="mysql", options={"ssl_ca": "/etc/ca.pem", "ssl_verify_cert": "true"})),
])
def test_parse_url(url, expected):
    parsed = parse_url(url)
    for key, value in expected.items():
        assert getattr(parsed, key) == value, key


@pytest.mark.parametrize("url,message", [
    ("mysql://root:hunter2@localhost/cctv", "do not put the password in the database URL"),
    ("postgres://x/y", "unsupported database scheme 'postgres'"),
    ("mysql://u@h:99999/cctv", "invalid port in database URL"),
    ("mysql://u@h/cctv?sslmode=require", "unknown MySQL URL option(s): sslmode"),
    ("just-a-name", "database URL must start with sqlite:// or mysql://"),
])
def test_bad_urls(url, message):
    with pytest.raises(UsageError) as err:
        parse_url(url)
    assert message in str(err.value)
    assert "hunter2" not in str(err.value)


def test_display_never_shows_a_password():
    assert parse_url("mysql://ingest@db:3306/cctv?ssl_ca=/x").display() == "mysql://ingest@db:3306/cctv"


def test_mysql_needs_a_database_name():
    with pytest.raises(UsageError, match="needs a database name"):
        connect("mysql://root@127.0.0.1:1")


def test_sqlite_directory_is_created(tmp_path):
    path = tmp_path / "a" / "b" / "cctv.db"
    with connect(f"sqlite:///{path}") as db:
        assert db.backend == "sqlite"
    assert path.exists()


def test_sqlite_in_an_unwritable_place_is_a_database_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(DatabaseError, match="cannot create"):
        connect(f"sqlite:///{blocker}/cctv.db")
