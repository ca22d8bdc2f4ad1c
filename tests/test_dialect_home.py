"""One home for backend differences: ``cctvctl/db/dialect.py`` and the ``Database`` object.

The savepoint, the connection's capabilities and the statements that differ per engine are
checked on both backends here; a scan of the package keeps the rest of the code free of
backend checks, hand-written savepoint SQL and private attributes of the drivers.
"""

from __future__ import annotations

import pytest

from cctvctl.errors import DatabaseError

TABLE = "CREATE TABLE sp_probe (k INTEGER NOT NULL PRIMARY KEY)"


def _keys(db) -> list[int]:
    return [k for (k,) in db.query("SELECT k FROM sp_probe ORDER BY k")]


@pytest.fixture
def probe(db):
    db.execute(TABLE)
    return db


def test_a_savepoint_that_ends_well_keeps_its_writes_and_is_released(probe):
    db = probe
    with db.atomic():
        db.execute("INSERT INTO sp_probe VALUES (1)")
        with db.savepoint("step") as point:
            db.execute("INSERT INTO sp_probe VALUES (2)")
        with pytest.raises(DatabaseError):  # released: there is nothing to roll back to
            point.rollback()
    assert _keys(db) == [1, 2]


def test_an_error_inside_a_savepoint_undoes_only_the_step(probe):
    db = probe
    with db.atomic():
        db.execute("INSERT INTO sp_probe VALUES (1)")
        with pytest.raises(KeyError):
            with db.savepoint("step") as point:
                db.execute("INSERT INTO sp_probe VALUES (2)")
                raise KeyError("boom")
        assert _keys(db) == [1]
        db.execute("INSERT INTO sp_probe VALUES (3)")  # the transaction goes on
        with pytest.raises(DatabaseError):
            point.rollback()  # released after the rollback too
    assert _keys(db) == [1, 3]


def test_rollback_on_the_handle_undoes_and_the_block_goes_on(probe):
    db = probe
    with db.atomic():
        with db.savepoint("outer"):
            db.execute("INSERT INTO sp_probe VALUES (1)")
            with db.savepoint("inner") as point:
                db.execute("INSERT INTO sp_probe VALUES (2)")
                point.rollback()
                assert _keys(db) == [1]
                db.execute("INSERT INTO sp_probe VALUES (4)")
            db.execute("INSERT INTO sp_probe VALUES (5)")
    assert _keys(db) == [1, 4, 5]


def test_a_savepoint_name_is_an_identifier(probe):
    with probe.atomic():
        with pytest.raises(ValueError):
            with probe.savepoint("x; DROP TABLE sp_probe"):
                pass
    assert probe.table_exists("sp_probe")


def test_the_connection_says_what_it_can_do(db):
    db.execute("CREATE TABLE id_probe (id " + db.dialect.autoinc_pk + ", v INTEGER)")
    with db.atomic():
        db.execute("INSERT INTO id_probe (v) VALUES (7)")
        first = db.last_insert_id()
        db.execute("INSERT INTO id_probe (v) VALUES (8)")
        assert db.last_insert_id() == first + 1
    assert db.query("SELECT id, v FROM id_probe ORDER BY id") == [(first, 7), (first + 1, 8)]
    assert db.json_rows == (db.backend == "sqlite")  # MySQL's bulk path is LOAD DATA instead
    if db.backend == "sqlite":
        assert not db.local_infile
    db.refresh_planner_statistics()
    db.allow_long_concat()


def test_packed_concat_joins_every_row_of_a_group(db):
    """The detection's packed read: one comma-joined text per group, longer than MySQL's
    default 1 KiB cap once the session allows it."""
    db.execute("CREATE TABLE pc_probe (g INTEGER NOT NULL, a INTEGER NOT NULL, b INTEGER NOT NULL, "
               "PRIMARY KEY (g, a))")
    rows = [(1, a, a * 1000) for a in range(400)] + [(2, 5, 6)]
    db.executemany("INSERT INTO pc_probe VALUES (?, ?, ?)", rows)
    db.allow_long_concat()
    got = dict(db.query(f"SELECT g, {db.dialect.packed_concat(['a', 'b'])} FROM pc_probe GROUP BY g"))
    for g in (1, 2):
        want = sorted((a, b) for gg, a, b in rows if gg == g)
        values = [int(v) for v in got[g].split(",")]
        assert sorted(zip(values[::2], values[1::2])) == want
