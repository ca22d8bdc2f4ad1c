"""H1: a migration killed at any statement never bricks the database (issue 12).

MySQL commits every DDL statement on its own, so a first ``db init`` killed half-way used to
leave some tables and no version row, and every later command failed with ``Table 'imports'
already exists`` forever. Here the real ``cctvctl db init`` is paused (test hook
``CCTV_TEST_MIGRATION_PAUSE=N``) at every step point of every migration — after each statement
ran but before it was recorded, and after each migration's statements before its version row —
and SIGKILLed there; a plain ``db init`` must then finish with exactly the schema of an
uninterrupted run, on SQLite and MariaDB.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import temporary_mysql_database  # noqa: E402

from cctvctl.cli import app  # noqa: E402
from cctvctl.db import connect  # noqa: E402
from cctvctl.db.schema import LATEST, MIGRATIONS, PAUSE_ENV  # noqa: E402


def step_points(url: str) -> int:
    """How many pause points a full migration run has on this backend."""
    with connect(url, migrate=False) as db:
        return sum(len(build(db)) + 1 for _, _, build in MIGRATIONS)


def snapshot(url: str) -> dict:
    """The schema as the catalog describes it, and the recorded versions."""
    with connect(url, migrate=False) as db:
        if db.backend == "sqlite":
            shape = sorted(db.query("SELECT type, name, tbl_name, sql FROM sqlite_master "
                                    "WHERE name NOT LIKE 'sqlite_%'"))
        else:
            shape = sorted(db.query(
                "SELECT table_name, column_name, column_type, is_nullable, column_default, column_key "
                "FROM information_schema.columns WHERE table_schema = DATABASE()")) + sorted(db.query(
                    "SELECT table_name, index_name, seq_in_index, column_name, non_unique "
                    "FROM information_schema.statistics WHERE table_schema = DATABASE()"))
        versions = [v for (v,) in db.query("SELECT version FROM schema_version ORDER BY version")]
        steps = db.query("SELECT version, step FROM schema_steps WHERE version > 0")
    return {"shape": shape, "versions": versions, "steps": steps}


def run_until_paused(url: str, point: int, sig: int = signal.SIGKILL) -> int:
    """Start the real `cctvctl db init`, wait until it pauses at ``point``, send ``sig``."""
    env = dict(os.environ, **{PAUSE_ENV: str(point)})
    proc = subprocess.Popen(["cctvctl", "--db", url, "db", "init"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    seen = b""
    while b"paused at step point" not in seen:
        ready, _, _ = select.select([proc.stderr], [], [], max(0.0, deadline - time.monotonic()))
        chunk = os.read(proc.stderr.fileno(), 4096) if ready else b""
        if not chunk:
            proc.kill()
            proc.wait()
            pytest.fail(f"db init never paused at point {point} (exit {proc.returncode}): {seen!r}")
        seen += chunk
    proc.send_signal(sig)
    rc = proc.wait(timeout=30)
    proc.stderr.close()
    return rc


def kill_everywhere(url_for, runner):
    """Kill at every point on a fresh database each, then `db init` must heal it."""
    with url_for() as url:
        assert runner.invoke(app, ["--db", url, "db", "init"]).exit_code == 0
        reference = snapshot(url)
        points = step_points(url)
    assert reference["versions"] == sorted(m[0] for m in MIGRATIONS)
    assert points >= 2 * len(MIGRATIONS)
    for point in range(1, points + 1):
        with url_for() as url:
            assert run_until_paused(url, point) == -signal.SIGKILL
            healed = runner.invoke(app, ["--db", url, "db", "init"])
            assert (healed.exit_code, healed.stderr) == (0, ""), (point, healed.output)
            assert f"schema version {LATEST}" in healed.stdout
            assert snapshot(url) == reference, point
            again = runner.invoke(app, ["--db", url, "db", "init"])
            assert "schema is up to date" in again.stdout, (point, again.output)
    return points


def _sqlite_urls(tmp_path):
    from contextlib import contextmanager
    counter = iter(range(10_000))

    @contextmanager
    def fresh():
        yield f"sqlite://{tmp_path / f'db{next(counter)}.db'}"

    return fresh


def test_sqlite_killed_at_every_migration_statement_heals(tmp_path, runner):
    assert kill_everywhere(_sqlite_urls(tmp_path), runner) >= 15


@pytest.mark.slow
def test_mariadb_killed_at_every_migration_statement_heals(runner):
    assert kill_everywhere(temporary_mysql_database, runner) >= 16


@pytest.mark.parametrize("backend", ["sqlite", "mysql"])
def test_interrupted_migration_exits_130_and_heals(backend, tmp_path, runner):
    """Ctrl-C (SIGINT) in the middle of the first migration: exit 130, then init completes."""
    fresh = _sqlite_urls(tmp_path) if backend == "sqlite" else temporary_mysql_database
    with fresh() as url:
        assert run_until_paused(url, 3, signal.SIGINT) == 130
        healed = runner.invoke(app, ["--db", url, "db", "init"])
        assert healed.exit_code == 0, healed.output
        assert snapshot(url)["versions"] == sorted(m[0] for m in MIGRATIONS)


def test_tables_left_by_an_old_interrupted_init_are_adopted(tmp_path, runner):
    """The state the old code left behind (tables created, no version row) migrates cleanly."""
    url = f"sqlite://{tmp_path / 'old.db'}"
    with connect(url, migrate=False) as db:
        db.execute("CREATE TABLE schema_version (version INTEGER NOT NULL PRIMARY KEY, "
                   "description VARCHAR(255) NOT NULL, applied_at BIGINT NOT NULL)")
        for stmt in MIGRATIONS[0][2](db)[:4]:
            db.execute(stmt)
    result = runner.invoke(app, ["--db", url, "db", "init"])
    assert result.exit_code == 0, result.output
    assert snapshot(url)["versions"] == sorted(m[0] for m in MIGRATIONS)
