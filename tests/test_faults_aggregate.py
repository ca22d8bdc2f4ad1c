"""`cctvctl aggregate all` SIGKILLed at seeded random points, on both backends: what the kill
leaves is consistent, and the next run completes the work exactly.

The victim is the installed ``cctvctl -v aggregate all`` in a subprocess; its debug log names
each statement just before it runs, so "after N statements" is a kill point that moves through
every phase of a run (day batches, hour rows, week/month/year and weekday roll-ups, the catch-up
state). Half the points are drawn uniformly over the statements of an undisturbed run, half at
the statements that write statistics (killed while a batch's upsert runs). After each kill:

* every statistics row present equals the undisturbed run's row (no half-written or stale row);
* the catch-up state never runs ahead: every row of a period it calls complete is stored;
* a re-run exits 0 and leaves exactly the undisturbed run's rows: none lost, none different.

The undisturbed run is made on a SQLite copy of the same data and checked against pandas on raw
rows; both backends must reproduce it exactly (they store identical values).
"""

from __future__ import annotations

import random
import shutil
from datetime import date
from pathlib import Path

import pytest

from cctvctl.cli import app
from cctvctl.db import connect
from fault_helpers import (after_sql_lines, agg_state, cli_env, counts_frame, covered_by_state,
                           difference, is_sql, load, pandas_problems, run_cctvctl, stats_snapshot)

SEED = 20210801
TRIALS = 6
FIRST, LAST = date(2020, 11, 20), date(2021, 2, 10)  # weeks, months, two years, a year boundary


@pytest.fixture(scope="module")
def raw():
    return counts_frame(FIRST, LAST, cameras=3)


@pytest.fixture(scope="module")
def undisturbed(raw, tmp_path_factory):
    """The data in a SQLite template, and one undisturbed ``-v`` run on a copy of it."""
    folder = tmp_path_factory.mktemp("aggregate-template")
    template = folder / "template.db"
    load(f"sqlite://{template}", raw)
    assert not Path(f"{template}-wal").exists() or Path(f"{template}-wal").stat().st_size == 0
    copy = folder / "undisturbed.db"
    shutil.copy(template, copy)
    run = run_cctvctl(["-v", "--db", f"sqlite://{copy}", "aggregate", "all"], cli_env())
    assert run.returncode == 0, run.lines[-3:]
    assert pandas_problems(f"sqlite://{copy}", raw) == []
    rows = stats_snapshot(f"sqlite://{copy}")
    statements = [line for line in run.lines if is_sql(line)]
    return template, rows, statements


def kill_points(statements: list[str], trials: int, seed: int) -> list[int]:
    """Distinct seeded kill points (1-based statement numbers): half drawn uniformly, half at
    the statements that write statistics rows."""
    rng = random.Random(seed)
    writes = [i + 1 for i, s in enumerate(statements)
              if "INTO stats" in s or "INTO weekday_stats" in s]
    at_writes = rng.sample(writes, trials // 2)
    others = [i for i in range(1, len(statements)) if i not in at_writes]
    points = at_writes + rng.sample(others, trials - len(at_writes))
    rng.shuffle(points)
    return points


def test_sigkill_during_aggregate_all_then_a_rerun_heals(db_url, raw, undisturbed, runner, tmp_path):
    template, want, statements = undisturbed
    backend = db_url.split(":", 1)[0]
    seed = SEED + (backend == "mysql")
    if backend == "mysql":
        load(db_url, raw)
        # kill points from this backend's own statements: a MySQL run has fewer (no temporary
        # scan tables, bulk files), so a point drawn from SQLite's could lie past its end
        full = run_cctvctl(["-v", "--db", db_url, "aggregate", "all"], cli_env())
        assert full.returncode == 0, full.lines[-3:]
        statements = [line for line in full.lines if is_sql(line)]
    figures = {"killed": 0, "survived": 0, "lost": 0, "wrong": 0}  # printed: the README's figures
    for trial, point in enumerate(kill_points(statements, TRIALS, seed)):
        if backend == "sqlite":  # a fresh copy of the same data
            url = f"sqlite://{tmp_path / f'trial{trial}.db'}"
            shutil.copy(template, tmp_path / f"trial{trial}.db")
        else:  # the same data, statistics and catch-up state wiped
            url = db_url
            with connect(url) as db, db.atomic():
                for table in ("stats", "weekday_stats", "agg_state"):
                    db.execute(f"DELETE FROM {table}")
        run = run_cctvctl(["-v", "--db", url, "aggregate", "all"], cli_env(),
                          stop=after_sql_lines(point))
        assert run.killed, f"trial {trial}: the run ended before statement {point}"
        figures["killed"] += 1

        left = stats_snapshot(url)
        diff = difference(left, want)
        assert diff.wrong == [] and diff.extra == [], f"trial {trial} (killed at {point}): {diff}"
        ahead = covered_by_state(agg_state(url), want) - set(left)
        assert not ahead, f"trial {trial}: state claims periods whose rows are missing: {sorted(ahead)[:5]}"

        result = runner.invoke(app, ["--db", url, "aggregate", "all", "--quiet"])
        assert (result.exit_code, result.stdout, result.stderr) == (0, "", "")
        healed = difference(stats_snapshot(url), want)
        figures["lost"] += len(healed.lost)
        figures["wrong"] += len(healed.wrong) + len(healed.extra)
        assert healed.none, f"trial {trial} (killed at {point}): {healed}"
        figures["survived"] += 1
    print(f"\naggregate all SIGKILLed on {backend}: {figures}")
