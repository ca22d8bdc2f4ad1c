"""``imports undo`` SIGKILLed anywhere leaves the database as before or as after, never between.

The undo runs as the installed ``cctvctl`` in a subprocess with ``-v``, whose debug log names each
statement before it runs. It is killed at eleven points from its first statement to its last —
deleting the import's counts, restoring the replaced rows, rewriting the ledger, deleting and
re-judging flags, deleting and recomputing statistics rows; every killed run must leave exactly
the state before, or (where the kill came after the commit) exactly the state of a database that
never saw the undone import, as must the run that completes. Both backends.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fault_helpers import cli_env, is_sql, run_cctvctl, stats_snapshot  # noqa: E402
from import_helpers import fresh_url, shared_mysql_url  # noqa: E402,F401

from cctvctl.cli import app  # noqa: E402

TZ = "Asia/Seoul"
HEADER = "camera,start,people,vehicle\n"
#: where the undo is killed: the nth statement matching the pattern, in the order they run
KILL_AT = [("FROM imports WHERE id", 1),  # its first statement
           ("DELETE FROM counts", 2),  # the import's rows (one statement per camera)
           ("INSERT INTO counts", 1),  # the replaced rows restored from the revision log
           ("DELETE FROM count_revisions", 1),
           ("UPDATE imports SET status", 1),
           ("DELETE FROM outliers", 2),  # flags whose interval left
           ("DELETE FROM stats", 1),
           ("DELETE FROM day_hours", 1),
           ("INTO (TABLE )?stats", 1),  # recomputed day and hour rows
           ("INTO (TABLE )?day_hours", 1),  # and their packed rows
           ("DELETE FROM weekday_stats", 2),
           ("INTO (TABLE )?weekday_stats", 2),
           ("AND method = ", 1)]  # re-judging the touched days on them: the last statement


def _file(path: Path, cameras: list[str], days: range, people) -> Path:
    """Hourly rows of ``cameras`` over August ``days`` (local time)."""
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(HEADER)
        for cam in cameras:
            for d in days:
                for h in range(24):
                    fh.write(f"{cam},2021-08-{d:02d} {h:02d}:00,{people(cam, d, h)},{h % 5}\n")
    return path


def _state(url: str) -> dict:
    """Everything undo may change (flags without their detection time)."""
    from cctvctl.db import connect

    out = {"stats": stats_snapshot(url)}
    with connect(url) as db:
        for name, sql in (
                ("counts", "SELECT * FROM counts ORDER BY camera, start_utc"),
                ("revisions", "SELECT * FROM count_revisions ORDER BY import_id, camera, start_utc"),
                ("import_days", "SELECT * FROM import_days ORDER BY import_id, camera, utc_day"),
                ("imports", "SELECT id, status FROM imports ORDER BY id"),
                ("agg_state", "SELECT name, value FROM agg_state ORDER BY name"),
                ("outliers", "SELECT camera, start_utc, metric, method, direction, observed, "
                             "expected, score, params FROM outliers ORDER BY camera, start_utc, "
                             "metric, method")):
            out[name] = [tuple(r) for r in db.query(sql)]
    return out


def _import(runner, url: str, path: Path, *extra: str) -> dict:
    r = runner.invoke(app, ["--db", url, "--tz", TZ, "import", str(path), "--format", "json", *extra])
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


@pytest.mark.slow
def test_sigkill_anywhere_in_undo_leaves_before_or_after(fresh_url, runner, tmp_path):
    base = _file(tmp_path / "base.csv", ["a", "b"], range(1, 23), lambda c, d, h: 5 + (h * 7 + d) % 11)
    fix = _file(tmp_path / "fix.csv", ["a", "new"], range(16, 25), lambda c, d, h: 90 + h)
    _import(runner, fresh_url, base)
    assert runner.invoke(app, ["--db", fresh_url, "--tz", TZ, "aggregate", "all", "-q"]).exit_code == 0
    never = _state(fresh_url)
    done = _import(runner, fresh_url, fix, "--replace")
    assert done["replaced"] == 7 * 24 and done["inserted"] == 2 * 24 + 9 * 24
    assert runner.invoke(app, ["--db", fresh_url, "--tz", TZ, "aggregate", "all", "-q"]).exit_code == 0
    before = _state(fresh_url)
    assert before["stats"] != never["stats"] and before["revisions"]

    args = ["-v", "--db", fresh_url, "imports", "undo", str(done["import_id"])]
    # A kill lands a few milliseconds after the statement is announced (this process reads the
    # log through a pipe), so near the end the undo may already have committed: "after" is then
    # the right answer, and the kills stop there.
    before_kills, finished = [], False
    for pattern, nth in KILL_AT:
        seen = [0]

        def stop(lines: list[str], pattern=pattern, nth=nth, seen=seen) -> bool:
            seen[0] += is_sql(lines[-1]) and re.search(pattern, lines[-1]) is not None
            return seen[0] >= nth

        run = run_cctvctl(args, cli_env(), stop=stop)
        state = _state(fresh_url)
        if run.killed and state == before:
            before_kills.append(pattern)
            continue
        _assert_never_saw(state, never, done["import_id"])  # as after: committed before the kill
        finished = True
        break
    if not finished:
        run = run_cctvctl(args, cli_env())
        assert run.returncode == 0, run.lines[-3:]
        last = [line for line in run.lines if is_sql(line)][-1]
        assert re.search(KILL_AT[-1][0], last), f"the last kill was not at the last statement: {last}"
        _assert_never_saw(_state(fresh_url), never, done["import_id"])
    assert len(before_kills) >= 8, before_kills


def _assert_never_saw(after: dict, never: dict, undone: int) -> None:
    """The state after the undo is that of the database before the import, plus its ledger row."""
    assert after["counts"] == never["counts"]
    assert after["stats"] == never["stats"]
    assert after["outliers"] == never["outliers"]
    assert after["revisions"] == [] and after["import_days"] == never["import_days"]
    assert after["imports"] == never["imports"] + [(undone, "undone")]
