"""Statistics written through MySQL's bulk path are the rows the upsert path writes, exactly.

Large batches of statistics rows go through ``LOAD DATA LOCAL INFILE … REPLACE`` of a file
written by cctvctl. Here every batch takes that path (the row threshold is lowered) and the
stored tables are compared value for value — floats bit for bit, NULLs as NULLs — with a run
that used the upsert, and with pandas on the raw rows.
"""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

import pandas as pd

from aggref import compare, import_frame, make_counts, reference, stored
from cctvctl.db import connect
from cctvctl.stats import run, run_aggregate, upsert

TZ = "America/New_York"
LATER = date(2022, 6, 1)


def _raw() -> pd.DataFrame:
    first, last = date(2021, 10, 25), date(2021, 11, 14)  # the fall-back day inside
    return pd.concat([make_counts(TZ, first, last, "gate\\north", seed=1),  # a backslash in a name
                      make_counts(TZ, first, last, "roof", 900, seed=2, vehicle=False,
                                  drop_days=[date(2021, 11, 3)])], ignore_index=True)


def _tables(db) -> dict[str, list[tuple]]:
    out = {}
    for table, keys in (("stats", "camera, grain, period_start, hour"),
                        ("weekday_stats", "camera, scope, period_start, weekday")):
        rows = db.query(f"SELECT * FROM {table} ORDER BY {keys}")
        skip = _computed_at(db, table)
        out[table] = [r[:skip] + r[skip + 1:] for r in rows]
    return out


def _computed_at(db, table: str) -> int:
    cur = db.conn.cursor()
    cur.execute(f"SELECT * FROM {table} WHERE 1 = 0")
    names = [c[0] for c in cur.description]
    cur.close()
    return names.index("computed_at")


def _aggregate(url: str, raw: pd.DataFrame, bulk: bool, monkeypatch,
               expect_bulk: bool | None = None) -> dict[str, list[tuple]]:
    monkeypatch.setattr(upsert, "BULK_MIN_ROWS", 1 if bulk else 10**9)
    monkeypatch.setattr(run, "BATCH_HOUR_ROWS", 24 * 2 * 8)  # three batches
    calls = []
    original = upsert._load
    monkeypatch.setattr(upsert, "_load", lambda *a: calls.append(a[1]) or original(*a))
    with connect(url) as db:
        import_frame(db, raw, TZ)
        run_aggregate(db, "all", ZoneInfo(TZ), now=pd.Timestamp(LATER, tz="UTC").timestamp())
        tables = _tables(db)
        assert compare(stored(db), reference(raw, TZ, {"gate\\north": 300, "roof": 900})) == []
    expect_bulk = bulk if expect_bulk is None else expect_bulk
    assert bool(calls) == expect_bulk
    assert not expect_bulk or {"stats", "weekday_stats"} <= set(calls)
    return tables


def test_bulk_and_upsert_store_identical_rows(mysql_url, monkeypatch):
    raw = _raw()
    with_bulk = _aggregate(mysql_url, raw, True, monkeypatch)
    from conftest import temporary_mysql_database

    with temporary_mysql_database() as other:
        with_upsert = _aggregate(other, raw, False, monkeypatch)
    assert with_bulk["stats"] and with_bulk == with_upsert


def test_a_rerun_replaces_rows_in_place(mysql_url, monkeypatch):
    """REPLACE on existing keys: an explicit recompute leaves the same rows, not duplicates."""
    raw = _raw()
    first = _aggregate(mysql_url, raw, True, monkeypatch)
    with connect(mysql_url) as db:
        run_aggregate(db, "all", ZoneInfo(TZ), since="2021-10-25", until="2021-11-14",
                      now=pd.Timestamp(LATER, tz="UTC").timestamp())
        assert _tables(db) == first


def test_sqlite_writes_through_executemany(sqlite_url, monkeypatch):
    _aggregate(sqlite_url, _raw(), True, monkeypatch, expect_bulk=False)
    with connect(sqlite_url) as db:
        assert db.dialect.bulk_replace("stats", ["camera"]) is None


def test_bulk_text_formats_each_distinct_value_once_and_identically():
    """The bulk file's columns come from formatting each distinct value once: the text must be
    exactly the value-by-value text (floats' shortest round-trip form, NaN as NULL, -0.0 kept,
    backslashes doubled in names)."""
    import numpy as np

    floats = pd.Series([1.5, np.nan, 1.5, 0.1 + 0.2, 0.3, 2 / 3, 2 / 3, float("inf"), 1e-300])
    cases = [(floats, "people_mean"), (pd.Series([0.0, -0.0, 0.0]), "people_std"),
             (pd.Series([7, 7, -1, 2**62]), "n"), (pd.Series([True, False, True]), "flag"),
             (pd.Series(["gate\\north", "roof", "gate\\north"], dtype=object), "camera"),
             (pd.Series(["gate\\north", "roof", "roof"], dtype="str"), "camera"),
             (pd.Series(["2021-01-01", "2021-01-01"], dtype=object), "period_start"),
             (pd.Series([1, 1.0, True], dtype=object), "mixed")]  # equal keys, different text
    for series, name in cases:
        assert upsert._text(series, name) == upsert._text_each(series, name), name
    assert upsert._text(pd.Series([0.0, -0.0]), "x") == ["0.0", "-0.0"]
    assert upsert._text(floats, "x")[1] == upsert.NULL_TEXT
    # sums that arrive as floats stay whole numbers, NaN as NULL
    assert upsert._whole(pd.Series([3.0, np.nan, 2.0**60])) == ["3", upsert.NULL_TEXT, str(2**60)]


def test_day_and_hour_rows_are_one_write(db_url, monkeypatch):
    """A step's day and hour rows reach ``stats`` in one statement (one bulk file on MySQL when
    large, one executemany otherwise), and every row is stored."""
    raw = _raw()
    statements = []
    with connect(db_url) as db:
        import_frame(db, raw, TZ)
        original = db.executemany
        monkeypatch.setattr(db, "executemany",
                            lambda sql, rows: statements.append((sql, len(rows))) or original(sql, rows))
        loads = []
        original_load = upsert._load
        monkeypatch.setattr(upsert, "_load", lambda *a: loads.append(sum(len(f) for f in a[3]))
                            or original_load(*a))
        result = run_aggregate(db, "day", ZoneInfo(TZ), date="2021-11-07", keep_rows=True)
        grains = {r["grain"] for r in result.rows}
        assert grains == {"day", "hour"}
        writes = [n for sql, n in statements if "stats" in sql] + loads
        assert writes == [len(result.rows)]
        assert len(result.rows) == 2 * (1 + 24)  # the repeated wall hour is one row
        stored_rows = db.query("SELECT COUNT(*) FROM stats WHERE period_start = '2021-11-07'")
        assert stored_rows[0][0] == len(result.rows)
