"""Shared by the fault and concurrency tests: a count data set, statistics snapshots, and a run of
the installed ``cctvctl`` that is SIGKILLed at a chosen debug line.

Snapshots compare every column of ``stats`` and ``weekday_stats`` except ``computed_at`` (the
clock of the run). The two backends store identical values, so one undisturbed run is the
reference for both; that run is itself checked against the independent pandas computation of
``aggref.reference``.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Callable
from pathlib import Path

import pandas as pd

from aggref import compare, import_frame, make_counts, reference, stored

TZ = "Asia/Seoul"
INTERVAL = 1800

STATS_SQL = ("SELECT * FROM stats", "SELECT * FROM weekday_stats")


def counts_frame(first: date, last: date, cameras: int = 3, seed: int = 0,
                 prefix: str = "cam") -> pd.DataFrame:
    """Half-hourly counts with a gap, a missing day and unknown vehicle values per camera."""
    parts = [make_counts(TZ, first, last, f"{prefix}-{i}", INTERVAL, seed=seed + i,
                         gaps=[(first + timedelta(days=3 + i), 8, 12)],
                         drop_days=[first + timedelta(days=20 + i)])
             for i in range(cameras)]
    return pd.concat(parts, ignore_index=True)


def load(url: str, frame: pd.DataFrame, source: str = "<faults>") -> None:
    """Import raw rows through the real import path (detection off: it is not under test)."""
    from cctvctl.db import connect

    with connect(url) as db:
        import_frame(db, frame, TZ, source=source)


def pandas_problems(url: str, frame: pd.DataFrame) -> list[str]:
    """Differences between the stored statistics and pandas on the raw rows (empty: equal)."""
    from cctvctl.db import connect

    intervals = {c: INTERVAL for c in frame["camera"].unique()}
    with connect(url) as db:
        return compare(stored(db), reference(frame, TZ, intervals))


def stats_snapshot(url: str) -> dict[tuple, tuple]:
    """Every statistics row: (table, key columns…) → the other columns but ``computed_at``."""
    from cctvctl.db import connect

    out: dict[tuple, tuple] = {}
    with connect(url) as db:
        for sql in STATS_SQL:
            cur = db.conn.cursor()
            try:
                cur.execute(sql)
                names = [c[0].lower() for c in cur.description]
                rows = cur.fetchall()
            finally:
                cur.close()
            table = "weekday" if "scope" in names else "stats"
            keys = [names.index(n) for n in names[:4]]  # camera, grain|scope, period_start, hour|weekday
            skip = set(keys) | {names.index("computed_at")}
            for r in rows:
                out[(table,) + tuple(r[i] for i in keys)] = tuple(
                    v for i, v in enumerate(r) if i not in skip)
    return out


@dataclass
class Difference:
    """How a snapshot differs from the reference."""

    lost: list[tuple] = field(default_factory=list)  # reference rows that are missing
    wrong: list[tuple] = field(default_factory=list)  # present with other values
    extra: list[tuple] = field(default_factory=list)  # rows the reference does not have

    @property
    def none(self) -> bool:
        return not (self.lost or self.wrong or self.extra)


def difference(got: dict, want: dict) -> Difference:
    return Difference(lost=sorted(set(want) - set(got)), extra=sorted(set(got) - set(want)),
                      wrong=sorted(k for k in set(got) & set(want) if got[k] != want[k]))


def agg_state(url: str) -> dict[str, str]:
    from cctvctl.db import connect

    with connect(url) as db:
        return {name: value for name, value in db.query("SELECT name, value FROM agg_state")}


def covered_by_state(state: dict[str, str], want: dict) -> set[tuple]:
    """Reference rows that ``through:<grain>`` says are complete (they must all be stored)."""
    out = set()
    for key in want:
        table, _, grain, start, _ = key
        name = {"stats": grain if grain != "hour" else "day",
                "weekday": f"{grain}_weekday"}[table]
        through = state.get(f"through:{name}")
        if through is not None and start <= through:
            out.add(key)
    return out


def cli_env(**extra: str) -> dict[str, str]:
    """The environment of a subprocess: no CCTV_* from the test run, the tests' zone."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CCTV_")}
    env["CCTV_TZ"] = TZ
    env.update(extra)
    return env


@dataclass
class Run:
    """A ``cctvctl`` subprocess that was (or was not) SIGKILLed."""

    killed: bool
    returncode: int
    lines: list[str]

    @property
    def sql_lines(self) -> int:
        return sum(1 for line in self.lines if is_sql(line))


def is_sql(line: str) -> bool:
    """A debug line announcing a statement (printed just before the statement runs)."""
    return " DEBUG SQL" in line


def run_cctvctl(args: list[str], env: dict, stop: Callable[[list[str]], bool] | None = None,
                timeout: float = 120) -> Run:
    """Run the installed ``cctvctl`` with ``args``; SIGKILL it as soon as ``stop(stderr lines)``."""
    exe = str(Path(sys.executable).with_name("cctvctl"))
    assert Path(exe).exists(), "the cctvctl entry point is not installed"
    proc = subprocess.Popen([exe, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    lines: list[str] = []
    killed = False
    selector = selectors.DefaultSelector()
    selector.register(proc.stderr, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    try:
        while True:
            assert time.monotonic() < deadline, f"cctvctl {' '.join(args)} did not finish: {lines[-3:]}"
            if not selector.select(timeout=1):
                continue
            line = proc.stderr.readline().decode("utf-8", "replace")
            if not line:
                break
            lines.append(line)
            if stop is not None and stop(lines):
                os.kill(proc.pid, signal.SIGKILL)
                killed = True
                break
        code = proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        selector.close()
        proc.stderr.close()
    if killed:
        assert code == -signal.SIGKILL
    return Run(killed=killed, returncode=code, lines=lines)


def after_sql_lines(n: int) -> Callable[[list[str]], bool]:
    """A stop condition: the ``n``-th statement has been announced (it is about to run)."""
    seen = [0]

    def stop(lines: list[str]) -> bool:
        if is_sql(lines[-1]):
            seen[0] += 1
        return seen[0] >= n

    return stop


# -- holding a MariaDB aggregation run in the middle of its transaction ------------------------
LOCK_WAITS = (
    "SELECT COUNT(*) FROM information_schema.innodb_lock_waits w "
    "JOIN information_schema.innodb_trx t ON t.trx_id = w.requesting_trx_id "
    "JOIN information_schema.processlist p ON p.id = t.trx_mysql_thread_id WHERE p.db = %s")
HELD_KEY = "through:week"


class HeldStateRow:
    """An uncommitted catch-up state row (``through:week``) in a session of its own.

    An ``aggregate`` run writes its week rows and then upserts that key in the same transaction,
    so it waits there — with its day rows committed and its week rows written but uncommitted —
    until :meth:`release` (or the server dies). Deterministic, unlike a race.
    """

    def __init__(self, admin, database: str):
        self.admin = admin
        self.database = database
        with admin.cursor() as cur:
            cur.execute("BEGIN")
            cur.execute(f"INSERT INTO `{database}`.agg_state (name, value) VALUES (%s, 'held')",
                        (HELD_KEY,))

    def wait_until_blocking(self, proc: subprocess.Popen, watcher, timeout: float = 120) -> None:
        """Until the run waits for this row (``watcher``: another admin connection)."""
        deadline = time.monotonic() + timeout
        while True:
            with watcher.cursor() as cur:
                cur.execute(LOCK_WAITS, (self.database,))
                if cur.fetchone()[0]:
                    return
            assert proc.poll() is None, f"the run ended without waiting: {proc.communicate()}"
            assert time.monotonic() < deadline, "the run never reached the held row"
            time.sleep(0.25)  # InnoDB refreshes these tables only after 0.1 s without a reader

    def release(self) -> None:
        self.admin.rollback()


def uncommitted_rows(watcher, database: str, grain: str) -> int:
    """Statistics rows of ``grain`` visible to a dirty read (written by an open transaction)."""
    with watcher.cursor() as cur:
        cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ UNCOMMITTED")
        cur.execute(f"SELECT COUNT(*) FROM `{database}`.stats WHERE grain = %s", (grain,))
        count = cur.fetchone()[0]
        cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
    return int(count)
