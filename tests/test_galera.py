"""cctvctl on a real three-node MariaDB Galera cluster (private servers: CCTV_TEST_PRIVILEGED=1).

One cluster per module (~30 s to start). Each test gets its own database, created through
node 1 and replicated to all. Figures are checked against the independent pandas reference.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from aggref import compare, make_counts, reference, stored  # noqa: E402
from conftest import REQUIRE_MYSQL, require_privileged  # noqa: E402
from galera_cluster import GaleraCluster, unavailable  # noqa: E402

TZ = "Asia/Seoul"
pytestmark = [pytest.mark.privileged, pytest.mark.mysql, pytest.mark.slow]


@pytest.fixture(scope="module")
def cluster():
    require_privileged("a private Galera cluster")
    problem = unavailable()
    if problem:
        if REQUIRE_MYSQL:
            pytest.fail(f"CCTV_REQUIRE_MYSQL=1 but {problem}")
        pytest.skip(problem)
    # not under pytest's tmp folder: that is private to root, and the nodes run as mysql
    root = Path(tempfile.mkdtemp(prefix="cctvctl-galera-"))
    root.chmod(0o755)
    c = GaleraCluster(root)
    try:
        c.start()
        yield c
    finally:
        c.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def dbname(cluster):
    name = "cctv_g_" + secrets.token_hex(4)
    with cluster.admin(0).cursor() as cur:
        cur.execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    yield name
    for i in range(cluster.n):
        if cluster.alive(i):
            with cluster.admin(i).cursor() as cur:
                cur.execute(f"DROP DATABASE IF EXISTS {name}")
            break


def cctvctl(url: str, *args: str, check: bool = True, **popen) -> subprocess.CompletedProcess:
    exe = str(Path(sys.executable).with_name("cctvctl"))
    proc = subprocess.run([exe, "--db", url, "--tz", TZ, *args], capture_output=True, text=True,
                          timeout=600, env={**os.environ, "CCTV_TZ": TZ}, **popen)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def on_nodes_at_once(cluster, dbname: str, nodes: tuple[int, ...], *args: str) -> list:
    """Run the same command on several nodes at the same moment (two crons, two detector boxes)."""
    results: list = []

    def run(i):
        results.append(cctvctl(cluster.url(dbname, i), *args, check=False))

    threads = [threading.Thread(target=run, args=(i,)) for i in nodes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def counts_file(tmp_path: Path, cameras: int = 3, days: int = 10) -> tuple[Path, pd.DataFrame]:
    frames = [make_counts(TZ, date(2021, 8, 1), date(2021, 8, days), f"cam-{c}", seed=c)
              for c in range(cameras)]
    frame = pd.concat(frames, ignore_index=True)
    local = pd.to_datetime(frame["start_utc"], unit="s", utc=True).dt.tz_convert(TZ)
    out = pd.DataFrame({"camera": frame["camera"], "start": local.dt.strftime("%Y-%m-%d %H:%M"),
                        "people": frame["people"], "vehicle": frame["vehicle"]})
    path = tmp_path / "counts.csv"
    out.to_csv(path, index=False)
    return path, frame


def node_db(cluster, dbname: str, i: int):
    from cctvctl.db import connect

    return connect(cluster.url(dbname, i))


def test_import_on_node1_aggregate_on_node3_equal_on_every_node(cluster, dbname, tmp_path):
    path, frame = counts_file(tmp_path)
    cctvctl(cluster.url(dbname, 0), "import", str(path), "--na", "")
    cctvctl(cluster.url(dbname, 2), "aggregate", "all")
    want = reference(frame, TZ, {c: 300 for c in frame["camera"].unique()})
    tables = []
    for i in range(cluster.n):
        with node_db(cluster, dbname, i) as db:
            got = stored(db)
            assert compare(got, want, grains=["day", "hour", "week", "month"]) == [], f"node{i + 1}"
            tables.append(db.query("SELECT camera, grain, period_start, hour, n, people_sum, "
                                   "vehicle_sumsq FROM stats ORDER BY 1, 2, 3, 4"))
    assert tables[0] == tables[1] == tables[2]


def test_the_run_lock_holds_across_nodes(cluster, dbname):
    from cctvctl.errors import LockTimeout

    with node_db(cluster, dbname, 0) as one, node_db(cluster, dbname, 1) as two:
        assert one.cluster and two.cluster
        with one.lock("aggregate", timeout=5):
            started = time.monotonic()
            with pytest.raises(LockTimeout, match="holds the 'aggregate' lock on the cluster"):
                with two.lock("aggregate", timeout=1.5):
                    pass
            assert time.monotonic() - started >= 1.4
        with two.lock("aggregate", timeout=5):  # released: the other node takes it at once
            pass


def test_a_dead_holders_lease_is_taken_over(cluster, dbname, monkeypatch):
    from cctvctl.db import lease

    with node_db(cluster, dbname, 0) as one, node_db(cluster, dbname, 2) as three:
        one.execute("INSERT INTO run_locks (name, holder, acquired_at) VALUES "
                    "('aggregate', 'pid 1 on a node that died', ?)", (int(time.time()) - lease.STALE_S - 1,))
        with three.lock("aggregate", timeout=5):
            holder = three.scalar("SELECT holder FROM run_locks WHERE name = 'aggregate'")
            assert "died" not in holder


def test_cron_on_two_nodes_at_once_equals_one_serial_run(cluster, dbname, tmp_path):
    path, frame = counts_file(tmp_path, cameras=4, days=14)
    cctvctl(cluster.url(dbname, 0), "import", str(path), "--na", "")
    results = on_nodes_at_once(cluster, dbname, (0, 1), "aggregate", "all")
    assert [r.returncode for r in results] == [0, 0], [r.stderr for r in results]
    want = reference(frame, TZ, {c: 300 for c in frame["camera"].unique()})
    with node_db(cluster, dbname, 2) as db:
        assert compare(stored(db), want, grains=["day", "hour", "week", "month"]) == []


def test_a_node_killed_mid_import_leaves_nothing_and_the_failover_url_completes(cluster, dbname, tmp_path):
    path, frame = counts_file(tmp_path, cameras=30, days=14)
    exe = str(Path(sys.executable).with_name("cctvctl"))
    pause_log = tmp_path / "import.err"
    proc = subprocess.Popen([exe, "--db", cluster.url(dbname, 0), "--tz", TZ, "import", str(path),
                             "--na", "", "--no-detect"], stderr=open(pause_log, "w"), text=True,
                            env={**os.environ, "CCTV_TZ": TZ, "CCTV_TEST_IMPORT_PAUSE": "1"})
    deadline = time.monotonic() + 120  # kill node 1 while the import is writing through it
    while "paused mid-import" not in (pause_log.read_text() if pause_log.exists() else ""):
        assert time.monotonic() < deadline and proc.poll() is None, "the import never paused"
        time.sleep(0.02)
    cluster.kill(0)
    try:
        proc.kill()  # the client is paused (its node is gone): what it wrote is uncommitted
        proc.wait(timeout=60)
        with node_db(cluster, dbname, 1) as db:
            assert db.scalar("SELECT COUNT(*) FROM counts") == 0
        # the failover URL names the dead node first: the next answering member is used
        verbose = cctvctl(cluster.url(dbname, 0, 1, 2), "-v", "import", str(path), "--na", "", "--no-detect")
        assert f"connected to 127.0.0.1:{cluster.sql[1]}" in verbose.stderr
        with node_db(cluster, dbname, 2) as db:
            assert db.scalar("SELECT COUNT(*) FROM counts") == len(frame)
    finally:
        cluster.start_node(0)  # rejoins and catches up (IST)
    cluster.wait_size(3)
    with node_db(cluster, dbname, 0) as db:
        assert db.scalar("SELECT COUNT(*) FROM counts") == len(frame)


def test_db_status_names_the_cluster(cluster, dbname):
    import json

    status = json.loads(cctvctl(cluster.url(dbname, 1), "db", "status", "--format", "json").stdout)
    assert status["cluster"]["size"] == 3 and status["cluster"]["status"] == "Primary"
    assert status["cluster"]["node"] == "node2" and status["cluster"]["ready"] is True
    table = cctvctl(cluster.url(dbname, 1), "db", "status").stdout
    assert "Galera, 3 node(s), Primary" in table


def test_every_table_has_a_primary_key(cluster, dbname):
    with node_db(cluster, dbname, 0) as db:
        missing = db.query(
            "SELECT t.table_name FROM information_schema.tables t WHERE t.table_schema = DATABASE() "
            "AND NOT EXISTS (SELECT 1 FROM information_schema.table_constraints c WHERE "
            "c.table_schema = t.table_schema AND c.table_name = t.table_name "
            "AND c.constraint_type = 'PRIMARY KEY')")
    assert missing == []


def test_a_write_conflict_is_retried_whole(cluster, dbname, tmp_path):
    """Imports of overlapping files on two nodes at once: certification fails one commit
    (or the lease serialises them); either way both finish and every row is stored once."""
    path, frame = counts_file(tmp_path, cameras=2, days=3)
    results = on_nodes_at_once(cluster, dbname, (0, 2), "import", str(path), "--na", "", "--no-detect")
    assert [r.returncode for r in results] == [0, 0], [r.stderr for r in results]
    with node_db(cluster, dbname, 1) as db:
        assert db.scalar("SELECT COUNT(*) FROM counts") == len(frame)


def test_a_certification_failure_is_a_conflict_retried_whole(cluster, dbname):
    """A transaction on node 1 loses to a commit of the same row on node 2: the library sees
    ConflictError (not a generic failure), and retry_conflicts runs the unit again."""
    from cctvctl.db.retry import retry_conflicts
    from cctvctl.errors import ConflictError

    with node_db(cluster, dbname, 0) as one, node_db(cluster, dbname, 1) as two:
        one.execute("INSERT INTO run_locks (name, holder, acquired_at) VALUES ('probe', '', 0)")
        time.sleep(0.5)
        calls: list[int] = []

        def unit(db):
            calls.append(1)
            with db.atomic():
                db.execute("UPDATE run_locks SET acquired_at = acquired_at + 1 WHERE name = 'probe'")
                if len(calls) == 1:  # meanwhile another node commits the same row
                    two.execute("UPDATE run_locks SET acquired_at = acquired_at + 10 WHERE name = 'probe'")
                    time.sleep(1.0)
            return len(calls)

        with pytest.raises(ConflictError):
            calls.clear()
            unit_once = unit(one)  # noqa: F841  (the first attempt alone fails)
        calls.clear()
        assert retry_conflicts(one, unit, one) == 2
        assert one.scalar("SELECT acquired_at FROM run_locks WHERE name = 'probe'") == 21


def test_an_import_past_the_write_set_limit_is_refused_before_writing(cluster, dbname, tmp_path):
    path, frame = counts_file(tmp_path, cameras=1, days=2)  # 576 rows
    with cluster.admin(0).cursor() as cur:
        cur.execute("SET GLOBAL wsrep_max_ws_rows = 400")  # this private node only
    try:
        refused = cctvctl(cluster.url(dbname, 0), "import", str(path), "--na", "", check=False)
    finally:
        with cluster.admin(0).cursor() as cur:
            cur.execute("SET GLOBAL wsrep_max_ws_rows = 0")
    assert refused.returncode == 2, refused.stderr
    assert "too many for one transaction on this Galera cluster" in refused.stderr
    assert "wsrep_max_ws_rows 400" in refused.stderr and "split the file" in refused.stderr
    with node_db(cluster, dbname, 1) as db:
        assert db.scalar("SELECT COUNT(*) FROM counts") == 0
        assert db.scalar("SELECT COUNT(*) FROM imports") == 0


def _ws_rows_limit(cluster, limit: int) -> None:
    with cluster.admin(0).cursor() as cur:
        cur.execute(f"SET GLOBAL wsrep_max_ws_rows = {int(limit)}")  # this private node only


def test_wide_and_replace_imports_are_estimated_past_the_limit_before_writing(cluster, dbname, tmp_path):
    """F18: 250 lines of a wide file are 500 rows (lines × cameras), and a --replace import of
    250 changed rows writes 500 (updates and their revisions): both are refused up front (exit 2),
    not at commit (exit 1, wsrep_max_ws_rows exceeded). Plain files of 250 lines still fit."""
    url = cluster.url(dbname, 0)
    starts = pd.date_range("2021-08-02", periods=250, freq="5min").strftime("%Y-%m-%d %H:%M")
    wide = tmp_path / "wide.csv"
    pd.DataFrame({"start": starts, "west": 1, "east": 2}).to_csv(wide, index=False)
    plain, changed = tmp_path / "plain.csv", tmp_path / "changed.csv"
    pd.DataFrame({"camera": "gate", "start": starts, "people": 3}).to_csv(plain, index=False)
    pd.DataFrame({"camera": "gate", "start": starts, "people": 4}).to_csv(changed, index=False)
    _ws_rows_limit(cluster, 400)
    try:
        refused = cctvctl(url, "import", str(wide), "--wide", "west=west", "--wide", "east=east",
                          "--no-detect", check=False)
        assert refused.returncode == 2, refused.stderr
        assert refused.stderr.startswith(f"error: {wide}: 500 rows are too many for one transaction")
        cctvctl(url, "import", str(plain), "--no-detect")
        replaced = cctvctl(url, "import", str(changed), "--replace", "--no-detect", check=False)
    finally:
        _ws_rows_limit(cluster, 0)
    assert replaced.returncode == 2, replaced.stderr
    assert "500 rows are too many" in replaced.stderr and "--replace counts each row twice" in replaced.stderr
    with node_db(cluster, dbname, 1) as db:
        assert db.scalar("SELECT COUNT(*) FROM counts") == 250
        assert db.scalar("SELECT SUM(people) FROM counts") == 750


def test_an_undo_past_the_write_set_limit_is_refused_before_writing(cluster, dbname, tmp_path):
    """F18: ``imports undo`` had no pre-check and failed at commit (exit 1); now exit 2, one line."""
    url = cluster.url(dbname, 0)
    path, _ = counts_file(tmp_path, cameras=1, days=2)  # 576 rows
    done = cctvctl(url, "import", str(path), "--na", "", "--no-detect", "--format", "json")
    import json

    import_id = json.loads(done.stdout)["import_id"]
    _ws_rows_limit(cluster, 400)
    try:
        refused = cctvctl(url, "imports", "undo", str(import_id), check=False)
    finally:
        _ws_rows_limit(cluster, 0)
    assert refused.returncode == 2, refused.stderr
    assert refused.stderr.count("\n") == 1
    assert refused.stderr.startswith(f"error: import #{import_id} ({path}): undoing it writes ")
    assert "wsrep_max_ws_rows 400" in refused.stderr and "nothing was changed" in refused.stderr
    with node_db(cluster, dbname, 1) as db:
        assert db.scalar("SELECT COUNT(*) FROM counts") == 576
    cctvctl(url, "imports", "undo", str(import_id))
    with node_db(cluster, dbname, 1) as db:
        assert db.scalar("SELECT COUNT(*) FROM counts") == 0
