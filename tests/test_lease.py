"""Cluster run-lock leases on one MariaDB server (the SQL is the same as on Galera, where
`Database.cluster` makes every run lock a lease): one clock, and a lost lease writes nothing."""

from __future__ import annotations

import time

import pytest

from cctvctl.db import connect
from cctvctl.db.lease import STALE_S, Lease
from cctvctl.errors import DatabaseError, LockTimeout


def _cluster_db(url):
    db = connect(url)
    db.cluster = True  # what connect() sets on a Galera node
    return db


def test_a_client_clock_ahead_cannot_take_a_live_lease(mysql_url, monkeypatch):
    with _cluster_db(mysql_url) as first, _cluster_db(mysql_url) as second:
        held = Lease.take(first, "import", timeout=1)
        try:
            real = time.time
            monkeypatch.setattr(time, "time", lambda: real() + 10 * STALE_S)  # a host's clock is off
            with pytest.raises(LockTimeout):
                Lease.take(second, "import", timeout=1)
        finally:
            monkeypatch.undo()
            held.release()


def test_a_run_that_lost_its_lease_commits_nothing(mysql_url):
    with _cluster_db(mysql_url) as db, connect(mysql_url) as other:
        other.execute("CREATE TABLE fenced (x INT PRIMARY KEY)")
        db.acquire_lock("aggregate", timeout=5)
        try:
            with pytest.raises(DatabaseError, match="lost its 'aggregate' lease"):
                with db.atomic():
                    db.execute("INSERT INTO fenced VALUES (1)")
                    # this run stalls past STALE_S; another run takes the lease over
                    other.execute("UPDATE run_locks SET holder = 'someone else' WHERE name = 'aggregate'")
            assert other.scalar("SELECT COUNT(*) FROM fenced") == 0
        finally:
            db.release_lock("aggregate")
        db.acquire_lock("import", timeout=5)
        try:
            with db.atomic():  # a lease still held commits, twice in the same second too
                db.execute("INSERT INTO fenced VALUES (2)")
            with db.atomic():
                db.execute("INSERT INTO fenced VALUES (3)")
        finally:
            db.release_lock("import")
        assert other.scalar("SELECT COUNT(*) FROM fenced") == 2
