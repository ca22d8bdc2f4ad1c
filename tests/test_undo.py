"""``--replace`` always replaces, and every import can be listed and undone (issues 11 and 12).

Both backends. The CLI runs in-process (CliRunner) on real databases; what is stored is read back
with plain SQL, and statistics are checked against the independent pandas reference of
``aggref``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from import_helpers import _mysql_connections, fresh_url, shared_mysql_url, stored  # noqa: E402,F401
from test_grants import _as, _refused, accounts  # noqa: E402,F401  (a fixture, by name)

from cctvctl.cli import app  # noqa: E402

HEADER = "camera,start,people,vehicle\n"


def write(path: Path, rows: list[tuple]) -> Path:
    path.write_text(HEADER + "".join(",".join(str(v) for v in r) + "\n" for r in rows),
                    encoding="utf-8")
    return path


def cli(runner, url: str, *args: str):
    return runner.invoke(app, ["--db", url, *args])


def values(url: str) -> dict[tuple, tuple]:
    """(camera, start_utc) → (people, vehicle) of every stored row."""
    return {(r[0], r[1]): (r[2], r[3]) for r in stored(url, ("camera", "start_utc", "people", "vehicle"))}


STARTS = ["2021-08-02 08:00", "2021-08-02 08:05", "2021-08-02 08:10"]
BASE = [("gate", s, 10 + i, 1) for i, s in enumerate(STARTS)]
CHANGED = [("gate", s, 50 + i, 2) for i, s in enumerate(STARTS)]


# -- piece 1: --replace whatever earlier imports of the same file did --------------------------
def test_replace_after_a_skip_import_of_the_same_file(fresh_url, runner, tmp_path):
    """Issue 11 finding 3: a conflicting file imported with --on-error skip, then --replace."""
    cli(runner, fresh_url, "import", str(write(tmp_path / "base.csv", BASE)), "--no-detect")
    fix = write(tmp_path / "fix.csv", CHANGED + [("gate", "2021-08-02 08:15", 7, 0)])
    first = cli(runner, fresh_url, "import", str(fix), "--on-error", "skip", "--no-detect")
    assert first.exit_code == 0, first.output
    assert "inserted 1, duplicates 0, rejected 3" in first.stdout
    again = cli(runner, fresh_url, "import", str(fix), "--on-error", "skip", "--replace", "--no-detect")
    assert again.exit_code == 0, again.output
    assert "already imported" not in again.stdout
    assert "inserted 0, duplicates 1, replaced 3, rejected 0" in again.stdout
    assert sorted(v for v in values(fresh_url).values()) == [(7, 0), (50, 2), (51, 2), (52, 2)]


def test_replace_after_an_identical_earlier_import(fresh_url, runner, tmp_path):
    """Issue 12 M9: bytes imported before (plain or with --replace) are compared again."""
    base = write(tmp_path / "base.csv", BASE)
    other = write(tmp_path / "other.csv", CHANGED)
    assert cli(runner, fresh_url, "import", str(base), "--no-detect").exit_code == 0
    for _ in range(2):  # the second round: base was already imported *with* --replace
        r = cli(runner, fresh_url, "import", str(other), "--replace", "--no-detect")
        assert r.exit_code == 0 and "replaced 3" in r.stdout, r.output
        assert sorted(values(fresh_url).values()) == [(50, 2), (51, 2), (52, 2)]
        r = cli(runner, fresh_url, "import", str(base), "--replace", "--no-detect")
        assert r.exit_code == 0 and "replaced 3" in r.stdout, r.output
        assert sorted(values(fresh_url).values()) == [(10, 1), (11, 1), (12, 1)]
    # without --replace identical content stays a no-op
    r = cli(runner, fresh_url, "import", str(base), "--no-detect")
    assert "already imported" in r.stdout, r.output


def test_replace_of_unchanged_rows_counts_duplicates(fresh_url, runner, tmp_path):
    """A --replace import whose rows are all stored already writes nothing and says so."""
    base = write(tmp_path / "base.csv", BASE)
    assert cli(runner, fresh_url, "import", str(base), "--no-detect").exit_code == 0
    r = cli(runner, fresh_url, "import", str(base), "--replace", "--no-detect")
    assert r.exit_code == 0 and "inserted 0, duplicates 3, rejected 0" in r.stdout, r.output


# -- issue 12 M8 and L3: repeats across chunks, totals-only replacements --------------------------
def _api_import(url: str, path: Path, **options):
    from cctvctl.db import connect
    from cctvctl.ingest import ImportOptions, import_file
    from zoneinfo import ZoneInfo

    with connect(url) as db:
        return import_file(db, path, ImportOptions(tz=ZoneInfo("Asia/Seoul"), detect=False, **options))


@pytest.mark.parametrize("replace", [False, True])
def test_a_key_repeated_chunks_apart_is_a_duplicate_even_after_matching_a_stored_row(
        fresh_url, runner, tmp_path, replace):
    """M8: line 2 equals the stored row; line 6 (another chunk) contradicts it: refused, never
    silently winning with --replace, and an identical late repeat is a duplicate too."""
    from cctvctl.errors import CountFileError

    cli(runner, fresh_url, "import", str(write(tmp_path / "base.csv", BASE)), "--no-detect")
    rows = [BASE[0]] + [("gate", f"2021-08-03 0{h}:00", 1, 0) for h in range(3)] \
        + [("gate", STARTS[0], 99, 9), BASE[1], BASE[1]]
    path = write(tmp_path / "late-repeat.csv", rows)
    with pytest.raises(CountFileError) as err:
        _api_import(fresh_url, path, chunk_rows=2, replace=replace)
    # chunks of two rows: lines 2-3, 4-5, 6-7, 8; lines 2 and 7 equal stored rows
    assert [Path(p).name for p in err.value.problems] == [
        f"late-repeat.csv:{n}: duplicate of an earlier row of this file (same camera and start)"
        for n in (6, 8)]
    assert values(fresh_url)[("gate", 1627858800)] == (10, 1)
    result = _api_import(fresh_url, path, chunk_rows=2, replace=replace, on_error="skip")
    assert result.rejected == 2 and result.replaced == 0, result
    assert values(fresh_url)[("gate", 1627858800)] == (10, 1)


def test_the_reported_case_a_repeat_more_than_50000_rows_apart(fresh_url, runner, tmp_path):
    """M8 as reported, through the CLI and its default chunk of 50,000 rows: line 2 equals a
    stored row, line 50,003 (the next chunk) contradicts it: --replace refuses the file."""
    from datetime import datetime, timedelta

    cli(runner, fresh_url, "import", str(write(tmp_path / "base.csv", BASE[:1])), "--no-detect")
    first = datetime(2020, 1, 1)
    filler = [("other", (first + timedelta(minutes=5 * i)).strftime("%Y-%m-%d %H:%M"), 1, 0)
              for i in range(50_000)]
    path = write(tmp_path / "far.csv", [BASE[0]] + filler + [("gate", STARTS[0], 99, 9)])
    r = cli(runner, fresh_url, "import", str(path), "--replace", "--no-detect")
    assert r.exit_code == 2, r.output
    assert r.stderr.splitlines()[0].endswith(
        "far.csv:50003: duplicate of an earlier row of this file (same camera and start)")
    assert values(fresh_url) == {("gate", 1627858800): (10, 1)}


def test_replace_with_totals_clears_stale_vehicle_classes_and_undo_restores_them(fresh_url, runner, tmp_path):
    """L3: vehicle 10 from a totals-only file must not sit beside car 3 + truck 2."""
    classes = tmp_path / "classes.csv"
    classes.write_text("camera,start,people,car,truck\ngate,2021-08-02 08:00,4,3,2\n", encoding="utf-8")
    totals = tmp_path / "totals.csv"
    totals.write_text("camera,start,people,vehicle\ngate,2021-08-02 08:00,4,10\n", encoding="utf-8")
    assert cli(runner, fresh_url, "import", str(classes), "--no-detect").exit_code == 0
    cols = ("people", "vehicle", "car", "truck", "bus")
    assert stored(fresh_url, cols) == [(4, 5, 3, 2, None)]
    r = cli(runner, fresh_url, "import", str(totals), "--replace", "--no-detect", "--format", "json")
    assert json.loads(r.stdout)["replaced"] == 1, r.output
    assert stored(fresh_url, cols) == [(4, 10, None, None, None)]
    undo = cli(runner, fresh_url, "imports", "undo", str(json.loads(r.stdout)["import_id"]))
    assert undo.exit_code == 0, undo.output
    assert stored(fresh_url, cols) == [(4, 5, 3, 2, None)]


# -- the revision log and the list ---------------------------------------------------------------
def test_replace_logs_the_overwritten_values_and_owner(fresh_url, runner, tmp_path):
    cli(runner, fresh_url, "import", str(write(tmp_path / "base.csv", BASE)), "--no-detect")
    r = cli(runner, fresh_url, "import", str(write(tmp_path / "fix.csv", CHANGED[:2])), "--replace",
            "--no-detect", "--format", "json")
    fix_id = json.loads(r.stdout)["import_id"]
    base_id = imports(runner, fresh_url)[-1]["id"]
    from import_helpers import _open

    with _open(fresh_url) as db:
        revs = db.query("SELECT import_id, camera, people, vehicle, old_import_id FROM count_revisions "
                        "ORDER BY start_utc")
    assert [tuple(r) for r in revs] == [(fix_id, "gate", 10, 1, base_id), (fix_id, "gate", 11, 1, base_id)]


def imports(runner, url: str, *args: str) -> list[dict]:
    r = cli(runner, url, "imports", "list", "--format", "json", *args)
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


LIST_KEYS = ["id", "source", "sha256", "tz", "read", "inserted", "duplicates", "replaced", "rejected",
             "status", "started_at", "finished_at"]


def test_list_shows_every_import_newest_first_with_stable_keys(fresh_url, runner, tmp_path):
    base = write(tmp_path / "base.csv", BASE)
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "gate,2021-08-02 09:00,-1,0\n", encoding="utf-8")
    cli(runner, fresh_url, "import", str(base), "--no-detect")
    assert cli(runner, fresh_url, "import", str(bad), "--no-detect").exit_code == 2
    cli(runner, fresh_url, "import", str(write(tmp_path / "fix.csv", CHANGED)), "--replace", "--no-detect")
    got = imports(runner, fresh_url)
    assert [list(d) for d in got] == [LIST_KEYS] * 3
    assert [(Path(d["source"]).name, d["status"], d["inserted"], d["replaced"], d["rejected"])
            for d in got] == [("fix.csv", "ok", 0, 3, 0), ("bad.csv", "rejected", 0, 0, 1),
                              ("base.csv", "ok", 3, 0, 0)]
    assert got[0]["id"] > got[1]["id"] > got[2]["id"]
    assert got[0]["started_at"].endswith("+00:00")
    assert [d["status"] for d in imports(runner, fresh_url, "--status", "ok", "--limit", "1")] == ["ok"]
    assert len(imports(runner, fresh_url, "--limit", "0")) == 3
    table = cli(runner, fresh_url, "imports", "list")
    assert table.exit_code == 0 and "rejected" in table.stdout and "fix.csv" in table.stdout
    wrong = cli(runner, fresh_url, "imports", "list", "--status", "maybe")
    assert wrong.exit_code == 2 and wrong.stderr.startswith("error: --status must be one of"), wrong.output


def test_list_escapes_hostile_source_names(sqlite_url, runner, tmp_path, monkeypatch):
    """L4 for the ledger: a file name with an escape sequence, CSI (U+009B) and a bidi override."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "200")
    name = "evil\x1b[2J\u009b31m\u202etxt.csv"
    write(tmp_path / name, BASE)
    assert cli(runner, sqlite_url, "import", name, "--no-detect").exit_code == 0
    out = cli(runner, sqlite_url, "imports", "list").stdout
    assert "\x1b" not in out and "\u009b" not in out and "\u202e" not in out
    assert "evil\\x1b[2J\\x9b31m\\u202etxt.csv" in out
    assert imports(runner, sqlite_url)[0]["source"] == name  # JSON keeps the name exact
    undo = cli(runner, sqlite_url, "imports", "undo", "1")
    assert "\x1b" not in undo.stdout and "\\x1b" in undo.stdout


# -- undo ---------------------------------------------------------------------------------------
def test_undo_refusals_are_one_clear_line(fresh_url, runner, tmp_path):
    base = write(tmp_path / "base.csv", BASE)
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "gate,2021-08-02 09:00,-1,0\n", encoding="utf-8")
    cli(runner, fresh_url, "import", str(base), "--no-detect")
    cli(runner, fresh_url, "import", str(bad), "--no-detect")
    base_id, bad_id = (d["id"] for d in reversed(imports(runner, fresh_url)))
    cases = [(str(bad_id), f"error: import #{bad_id} was rejected: it stored nothing, so there is nothing to undo"),
             (str(bad_id + 100), f"error: there is no import #{bad_id + 100} (cctvctl imports list shows them)")]
    for arg, message in cases:
        r = cli(runner, fresh_url, "imports", "undo", arg)
        assert (r.exit_code, r.stderr) == (2, message + "\n"), r.output
    assert cli(runner, fresh_url, "imports", "undo", str(base_id)).exit_code == 0
    r = cli(runner, fresh_url, "imports", "undo", str(base_id))
    assert (r.exit_code, r.stderr) == (2, f"error: import #{base_id} was undone already; nothing to do\n")
    assert values(fresh_url) == {}
    # undone content may be imported again (it is no longer "already imported")
    again = cli(runner, fresh_url, "import", str(base), "--no-detect")
    assert "inserted 3" in again.stdout, again.output


def test_ids_and_limits_past_a_bigint_are_refused_with_the_bound(fresh_url, runner, tmp_path):
    """F17: an id or --limit no BIGINT holds was an OverflowError (SQLite) or an SQL error
    (LIMIT formatted into the SQL), exit 1; now exit 2 naming the bound. The bound itself works."""
    cli(runner, fresh_url, "import", str(write(tmp_path / "base.csv", BASE)), "--no-detect")
    huge, top = "99999999999999999999999", str(2**63 - 1)
    r = cli(runner, fresh_url, "imports", "undo", huge)
    assert (r.exit_code, r.stderr) == (2, "error: import ID must be a whole number from 1 to "
                                          f"9,223,372,036,854,775,807, not {huge}\n"), r.output
    r = cli(runner, fresh_url, "imports", "list", "--limit", huge)
    assert (r.exit_code, r.stderr) == (2, "error: --limit must be a whole number from 0 to "
                                          f"9,223,372,036,854,775,807, not {huge}\n"), r.output
    assert len(imports(runner, fresh_url, "--limit", top)) == 1
    r = cli(runner, fresh_url, "imports", "undo", top)
    assert (r.exit_code, r.stderr) == (2, f"error: there is no import #{top} (cctvctl imports list "
                                          "shows them)\n"), r.output
    from cctvctl import api
    from cctvctl.errors import UsageError

    with pytest.raises(UsageError, match="--limit must be a whole number from 1 to"):
        api.list_imports(db=fresh_url, limit=2**64)


def test_undo_in_order_when_later_imports_replaced_the_rows(fresh_url, runner, tmp_path):
    """A chain base → fix1 → fix2 on the same keys: fix1 waits for fix2; newest first restores
    each earlier state."""
    base = write(tmp_path / "base.csv", BASE)
    fix1 = write(tmp_path / "fix1.csv", CHANGED)
    fix2 = write(tmp_path / "fix2.csv", [("gate", STARTS[0], 77, 7)])
    states = []
    for path, extra in ((base, ()), (fix1, ("--replace",)), (fix2, ("--replace",))):
        assert cli(runner, fresh_url, "import", str(path), "--no-detect", *extra).exit_code == 0
        states.append(values(fresh_url))
    fix2_id, fix1_id, base_id = (d["id"] for d in imports(runner, fresh_url))
    r = cli(runner, fresh_url, "imports", "undo", str(fix1_id))
    assert r.exit_code == 2 and r.stderr == (
        f"error: import #{fix1_id} cannot be undone yet: later import(s) #{fix2_id} (1 row) replaced "
        f"rows it wrote; undo those first, newest first (cctvctl imports undo {fix2_id}), then this one\n")
    assert values(fresh_url) == states[2]
    r = cli(runner, fresh_url, "imports", "undo", str(base_id))
    assert r.exit_code == 2 and f"later import(s) #{fix1_id} (3 rows) replaced" in r.stderr
    assert cli(runner, fresh_url, "imports", "undo", str(fix2_id)).exit_code == 0
    assert values(fresh_url) == states[1]
    r = cli(runner, fresh_url, "imports", "undo", str(fix1_id), "--format", "json")
    assert json.loads(r.stdout)["restored"] == 3 and json.loads(r.stdout)["removed"] == 0
    assert values(fresh_url) == states[0]
    assert [d["status"] for d in imports(runner, fresh_url)] == ["undone", "undone", "ok"]
    assert stored(fresh_url, ("import_id",)) == [(base_id,)] * 3


# -- undo brings statistics and flags back: against pandas and a database that never saw it -------
TZ = "Asia/Seoul"


def _csv(frame, path: Path) -> Path:
    """Raw rows as a count file with UTC offsets (what a detector writes)."""
    import pandas as pd

    out = frame.copy()
    for col in ("start_utc", "end_utc"):
        out[col] = pd.to_datetime(out[col], unit="s", utc=True).dt.strftime("%Y-%m-%dT%H:%M:%S+00:00")
    out = out.rename(columns={"start_utc": "start", "end_utc": "end"})
    out[["camera", "start", "end", "people", "vehicle"]].to_csv(path, index=False)
    return path


def _flags(url: str) -> list[tuple]:
    from import_helpers import _open

    with _open(url) as db:
        return [tuple(r) for r in db.query(
            "SELECT camera, start_utc, metric, method, direction, observed, expected, band_low, "
            "band_high, score, params FROM outliers ORDER BY camera, start_utc, metric, method")]


def _base_and_fix():
    """Five weeks of two cameras; the fix overwrites three days of cam-0 (a surge), adds two
    days after the end and a third camera."""
    from datetime import date

    import pandas as pd
    from aggref import make_counts

    base = pd.concat([make_counts(TZ, date(2021, 7, 5), date(2021, 8, 8), f"cam-{i}", 1800, seed=i,
                                  null_share=0.0) for i in range(2)], ignore_index=True)
    local = pd.to_datetime(base["start_utc"], unit="s", utc=True).dt.tz_convert(TZ)
    days = local.dt.date
    # an event in the base itself, so that it holds flags to compare: the robust default (issue
    # 13) flags nothing on clean counts, where the old seasonal default raised a few
    event = (base["camera"] == "cam-1") & (days == date(2021, 7, 29)) & local.dt.hour.between(10, 13)
    base.loc[event, "people"] = base.loc[event, "people"] * 4 + 1
    hit = (base["camera"] == "cam-0") & days.between(date(2021, 8, 2), date(2021, 8, 4))
    surge = base[hit].copy()
    surge["people"] = surge["people"] * 4 + 1
    extra = pd.concat([make_counts(TZ, date(2021, 8, 9), date(2021, 8, 10), "cam-0", 1800, seed=7,
                                   null_share=0.0),
                       make_counts(TZ, date(2021, 8, 1), date(2021, 8, 3), "cam-new", 1800, seed=8,
                                   null_share=0.0)], ignore_index=True)
    return base, pd.concat([surge, extra], ignore_index=True)


def test_undo_after_replace_equals_a_database_that_never_saw_the_file(fresh_url, runner, tmp_path):
    """Issue 11: counts, statistics (= pandas on the raw rows) and stored flags after
    import base → aggregate → import fix --replace → aggregate → undo fix equal those of
    import base → aggregate."""
    from cctvctl.db import connect
    from aggref import compare, reference, stored as stored_stats
    from fault_helpers import stats_snapshot

    base, fix = _base_and_fix()
    base_csv, fix_csv = _csv(base, tmp_path / "base.csv"), _csv(fix, tmp_path / "fix.csv")
    never = f"sqlite:///{tmp_path / 'never.db'}"
    for url in (never, fresh_url):
        r = cli(runner, url, "--tz", TZ, "import", str(base_csv), "--format", "json")
        assert r.exit_code == 0, r.output
        assert cli(runner, url, "--tz", TZ, "aggregate", "all", "-q").exit_code == 0
    base_id = json.loads(r.stdout)["import_id"]
    assert _flags(never), "the surge-free base should still have a few flags to compare"

    r = cli(runner, fresh_url, "--tz", TZ, "import", str(fix_csv), "--replace", "--format", "json")
    done = json.loads(r.stdout)
    assert (done["replaced"], done["inserted"]) == (3 * 48, 2 * 48 + 3 * 48), r.output
    assert done["outliers"] > 0  # the surge is flagged
    assert cli(runner, fresh_url, "--tz", TZ, "aggregate", "all", "-q").exit_code == 0
    assert stats_snapshot(fresh_url) != stats_snapshot(never)

    r = cli(runner, fresh_url, "imports", "undo", str(done["import_id"]), "--format", "json")
    assert r.exit_code == 0, r.output
    undone = json.loads(r.stdout)
    assert (undone["removed"], undone["restored"]) == (5 * 48, 3 * 48)
    assert undone["cameras"] == ["cam-0", "cam-new"]

    cols = ("camera", "start_utc", "end_utc", "people", "vehicle", "car", "import_id")
    assert stored(fresh_url, cols) == [r[:-1] + (base_id,) for r in stored(never, cols)]
    assert stats_snapshot(fresh_url) == stats_snapshot(never)
    assert _flags(fresh_url) == _flags(never)
    with connect(fresh_url) as db:
        assert compare(stored_stats(db), reference(base, TZ, {"cam-0": 1800, "cam-1": 1800})) == []
        assert db.scalar("SELECT COUNT(*) FROM count_revisions") == 0
        assert db.scalar("SELECT COUNT(*) FROM import_days WHERE import_id = ?", (done["import_id"],)) == 0
    # aggregation afterwards has nothing to change, and the fix can be imported again
    assert cli(runner, fresh_url, "--tz", TZ, "aggregate", "all", "-q").exit_code == 0
    assert stats_snapshot(fresh_url) == stats_snapshot(never)
    again = cli(runner, fresh_url, "--tz", TZ, "import", str(fix_csv), "--replace", "--format", "json")
    assert json.loads(again.stdout)["replaced"] == 3 * 48


def test_only_the_administrator_may_undo_and_ingest_may_replace(accounts, mysql_url, runner,
                                                                 monkeypatch, tmp_path):
    """Grants: cctv_ingest logs what --replace overwrites (INSERT on count_revisions) but can
    neither undo nor rewrite the log; the cron account cannot undo either; the administrator can."""
    ingest = _as("ingest", accounts, monkeypatch)
    for path, extra in ((write(tmp_path / "base.csv", BASE), ()),
                        (write(tmp_path / "fix.csv", CHANGED), ("--replace",))):
        r = cli(runner, ingest, "import", str(path), "--no-detect", *extra)
        assert r.exit_code == 0, r.output
    _refused(ingest, "DELETE FROM count_revisions")
    _refused(ingest, "UPDATE count_revisions SET people = 0")
    monkeypatch.delenv("CCTV_DB_PASSWORD")
    before = values(mysql_url)  # the administrator reads (a connection kept for the test)
    for role in ("ingest", "cron"):
        r = cli(runner, _as(role, accounts, monkeypatch), "imports", "undo", "2")
        assert r.exit_code == 1 and "denied" in r.stderr and r.stderr.count("\n") == 1, r.output
        assert r.stderr.endswith("run it with the administrator's account, not a cctv_* job account)\n")
        assert values(mysql_url) == before
    monkeypatch.delenv("CCTV_DB_PASSWORD")
    r = cli(runner, mysql_url, "imports", "undo", "2")
    assert r.exit_code == 0, r.output
    assert sorted(values(mysql_url).values()) == [(10, 1), (11, 1), (12, 1)]
    _mysql_connections.pop(mysql_url).close()  # before the database is dropped
