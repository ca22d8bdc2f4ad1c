"""Database hardening (issue 12): the server's sql_mode, LOAD DATA checked, TMPDIR paths, locks.

* H3 — a server whose ``sql_mode`` has NO_BACKSLASH_ESCAPES (``'\\t'`` is then two characters)
  or ANSI stored a one-row chunk as one garbage row with exit 0. The session mode is pinned on
  every connection, LOAD DATA's separators are hex literals, and what LOAD DATA stored is
  checked (lines read, warnings). End to end on a private MariaDB started with each mode
  (CCTV_TEST_PRIVILEGED=1); the statements themselves also on the shared server with the mode
  set for one session.
* L10 — a TMPDIR holding ``'`` or ``\\`` broke every MariaDB import (the path was pasted into
  the SQL); it is now a bound parameter.
* L1 — cctvctl's run locks are rows of ``run_locks`` a SELECT-only account cannot lock; a
  GET_LOCK held by such an account no longer blocks anything.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import mysql_admin, require_privileged  # noqa: E402
from mariadb_instance import private_instance  # noqa: E402

from cctvctl.cli import app  # noqa: E402
from cctvctl.db import connect, parse_url  # noqa: E402
from cctvctl.errors import DatabaseError, LockTimeout  # noqa: E402
from cctvctl.ingest.writer import CountWriter  # noqa: E402

ONE_ROW = "camera,start,people,vehicle\ngate-1,2021-08-01 00:00,3,4\n"
STORED_ONE = [("gate-1", 1627743600, 1627743900, 3, 4)]  # 00:00 Asia/Seoul = 15:00 UTC the day before


def _hourly(days: int = 30, cameras: int = 3) -> str:
    """Hourly rows of a month: enough statistics rows for aggregation's LOAD DATA path."""
    lines = ["camera,start,people,vehicle"]
    for c in range(1, cameras + 1):
        lines += [f"cam-{c},2021-08-{d:02d} {h:02d}:00,{(d * 7 + h * 3 + c) % 50},{(d + h * c) % 9}"
                  for d in range(1, days + 1) for h in range(24)]
    return "\n".join(lines) + "\n"


def cctvctl(*args, env=None, stdin=None, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run(["cctvctl", *args], input=stdin, capture_output=True, text=True,
                          env=env or os.environ.copy(), timeout=timeout)


def counts(url):
    with connect(url, migrate=False) as db:
        return db.query("SELECT camera, start_utc, end_utc, people, vehicle FROM counts "
                        "ORDER BY camera, start_utc")


def stats(url):
    with connect(url, migrate=False) as db:
        rows = db.query("SELECT * FROM stats ORDER BY camera, grain, period_start, hour")
        names = [r[1] if db.backend == "sqlite" else r[0] for r in db.query(
            "PRAGMA table_info(stats)" if db.backend == "sqlite" else
            "SELECT column_name FROM information_schema.columns WHERE table_schema = DATABASE() "
            "AND table_name = 'stats' ORDER BY ordinal_position")]
    keep = [i for i, n in enumerate(names) if n != "computed_at"]
    return [tuple(r[i] for i in keep) for r in rows]


# -- H3: the server's sql_mode does not matter --------------------------------------------------
@pytest.fixture(scope="module")
def odd_mode_server(tmp_path_factory):
    """A private MariaDB started with sql_mode NO_BACKSLASH_ESCAPES (ours: set its modes)."""
    yield from private_instance(tmp_path_factory.mktemp("mariadb-mode"),
                                ("--sql-mode=NO_BACKSLASH_ESCAPES",))


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["NO_BACKSLASH_ESCAPES", "ANSI"])
def test_one_row_imports_and_aggregation_under_the_servers_sql_mode(mode, odd_mode_server, tmp_path):
    admin = odd_mode_server.admin()
    name = "mode_" + secrets.token_hex(4)
    with admin.cursor() as cur:
        cur.execute(f"SET GLOBAL sql_mode = '{mode}'")  # a private server: its global is ours
        cur.execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
        cur.execute("SELECT @@GLOBAL.sql_mode")
        assert mode.split(",")[0] in cur.fetchone()[0]
    url = odd_mode_server.url(name)
    env = dict(os.environ, CCTV_TZ="Asia/Seoul")
    one = tmp_path / "one.csv"
    one.write_text(ONE_ROW)
    res = cctvctl("--db", url, "import", str(one), "--no-detect", env=env)
    assert res.returncode == 0, res.stderr
    assert counts(url) == STORED_ONE
    res = cctvctl("--db", url, "import", "-", "--no-detect", env=env,
                  stdin=ONE_ROW.replace("gate-1", "gate-2"))
    assert res.returncode == 0, res.stderr
    assert counts(url) == STORED_ONE + [("gate-2",) + STORED_ONE[0][1:]]

    month = tmp_path / "month.csv"
    month.write_text(_hourly())
    res = cctvctl("--db", url, "import", str(month), "--no-detect", env=env)
    assert res.returncode == 0, res.stderr
    res = cctvctl("--db", url, "aggregate", "all", env=env)
    assert res.returncode == 0, res.stderr

    # the same files on SQLite: every stored row and statistic equal
    ref = f"sqlite://{tmp_path / 'ref.db'}"
    for path in (one, month):
        assert cctvctl("--db", ref, "import", str(path), "--no-detect", env=env).returncode == 0
    assert cctvctl("--db", ref, "import", "-", "--no-detect", env=env,
                   stdin=ONE_ROW.replace("gate-1", "gate-2")).returncode == 0
    assert cctvctl("--db", ref, "aggregate", "all", env=env).returncode == 0
    assert counts(url) == counts(ref)
    mine, theirs = stats(url), stats(ref)
    assert len(mine) > 2000  # aggregation wrote through its LOAD DATA path
    assert pd.DataFrame(mine).equals(pd.DataFrame(theirs))
    with admin.cursor() as cur:
        cur.execute(f"DROP DATABASE {name}")
    admin.close()


@pytest.mark.parametrize("mode", ["NO_BACKSLASH_ESCAPES", "ANSI", "NO_BACKSLASH_ESCAPES,ANSI_QUOTES"])
def test_load_data_statements_mean_the_same_in_every_session_mode(mode, mysql_url, tmp_path):
    """cctvctl's own LOAD DATA statements, run on a session whose mode was changed after the
    connection pinned it: separators written as hex mean a tab in every mode."""
    with connect(mysql_url) as db:
        db.execute(f"SET SESSION sql_mode = '{mode}'")
        writer = CountWriter(db, import_id=1, replace=False)
        rows = pd.DataFrame({"camera": ["a\\b"], "start_utc": [600], "end_utc": [900],
                             "people": [5], "line": [2]})
        with db.atomic():
            assert writer.write(rows).inserted == 1
        writer.close()
        assert db.query("SELECT camera, start_utc, end_utc, people, vehicle FROM counts") == [
            ("a\\b", 600, 900, 5, None)]
        path = tmp_path / "state.tsv"  # the statistics file format: backslashes doubled
        path.write_text("k\\\\1\tv\\\\x\nk2\ttab-free\n")
        db.load_file(db.dialect.bulk_replace("agg_state", ["name", "value"]), str(path),
                     (str(path),)).check(str(path), 2)
        assert sorted(db.query("SELECT name, value FROM agg_state")) == [("k2", "tab-free"),
                                                                         ("k\\1", "v\\x")]


def test_what_load_data_stored_is_checked(mysql_url, tmp_path):
    """A file the server reads otherwise than it was written (a short line) is an error, never
    a silently stored half row."""
    with connect(mysql_url) as db:
        db.execute("CREATE TABLE probe (a INTEGER, b INTEGER)")
        good, short = tmp_path / "good.tsv", tmp_path / "short.tsv"
        good.write_text("1\t2\n3\t4\n")
        short.write_text("1\t2\n3\n")
        sql = ("LOAD DATA LOCAL INFILE ? INTO TABLE probe FIELDS TERMINATED BY X'09' "
               "ESCAPED BY '' LINES TERMINATED BY X'0A' (a, b)")
        db.load_file(sql, str(good), (str(good),)).check(str(good), 2)
        result = db.load_file(sql, str(short), (str(short),))
        with pytest.raises(DatabaseError, match=r"LOAD DATA read 2 line\(s\) of the 2 .* 1 warning"):
            result.check(str(short), 2)
        with pytest.raises(DatabaseError, match=r"read 2 line\(s\) of the 3"):
            db.load_file(sql, str(good), (str(good),)).check(str(good), 3)


# -- L10: a TMPDIR with quotes and backslashes ---------------------------------------------------
def test_tmpdir_with_quote_and_backslash_imports_and_aggregates(mysql_url, tmp_path):
    odd = tmp_path / "it's a \\ dir"
    odd.mkdir()
    month = tmp_path / "month.csv"
    month.write_text(_hourly(days=30, cameras=3))
    env = dict(os.environ, TMPDIR=str(odd), CCTV_TZ="Asia/Seoul")
    res = cctvctl("--db", mysql_url, "import", str(month), "--no-detect", env=env)
    assert res.returncode == 0, res.stderr
    res = cctvctl("--db", mysql_url, "import", "-", "--no-detect", env=env, stdin=ONE_ROW)
    assert res.returncode == 0, res.stderr
    res = cctvctl("--db", mysql_url, "aggregate", "all", env=env)
    assert res.returncode == 0, res.stderr
    stored = counts(mysql_url)
    assert len(stored) == 3 * 30 * 24 + 1
    assert len(stats(mysql_url)) > 2000
    assert list(odd.iterdir()) == []


# -- L1: run locks only writers can take ---------------------------------------------------------
def test_a_killed_lock_holder_releases_the_lock(mysql_url):
    """The row lock lives in the holder's connection: SIGKILL of the process frees it."""
    connect(mysql_url).close()
    code = ("import sys, time\nfrom cctvctl.db import connect\n"
            f"db = connect({mysql_url!r})\ndb.acquire_lock('import', 5)\n"
            "print('held', flush=True)\ntime.sleep(600)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        with connect(mysql_url) as db:
            with pytest.raises(LockTimeout, match="another cctvctl run holds the 'import' lock"):
                db.acquire_lock("import", 1)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        start = time.monotonic()
        with connect(mysql_url) as db, db.lock("import", timeout=20):
            pass
        assert time.monotonic() - start < 10
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.fixture
def analyst_url(mysql_url):
    """The documented SELECT-only analyst account on a fresh database (dropped afterwards)."""
    require_privileged("creates a MySQL account")
    from cctvctl.grants import apply_grants, plan_grants

    u = parse_url(mysql_url)
    connect(mysql_url).close()
    prefix = "l1" + secrets.token_hex(3) + "_"
    password = "pw-" + secrets.token_hex(8)
    accounts = [a for a in plan_grants(u.database, "127.0.0.1", prefix) if a.role == "analyst"]
    with connect(mysql_url) as db:
        apply_grants(db, accounts, {"analyst": password})
    try:
        yield f"mysql://{prefix}analyst@127.0.0.1:{u.port}/{u.database}", password
    finally:
        admin = mysql_admin()
        with admin.cursor() as cur:
            cur.execute(f"DROP USER IF EXISTS '{prefix}analyst'@'127.0.0.1'")
        admin.close()


def test_the_analyst_cannot_block_imports(analyst_url, mysql_url, tmp_path, monkeypatch):
    url, password = analyst_url
    import pymysql

    u = parse_url(url)
    squatter = pymysql.connect(host=u.host, port=u.port, user=u.user, password=password,
                               database=u.database, autocommit=False)
    try:
        with squatter.cursor() as cur:
            for name in ("import", "aggregate", "migrate"):  # what the old GET_LOCK names were
                cur.execute("SELECT GET_LOCK(%s, 0)", (f"cctvctl.{u.database}.{name}"[:64],))
                assert cur.fetchone()[0] == 1
            for sql in ("SELECT * FROM run_locks FOR UPDATE", "UPDATE run_locks SET holder = 'x'",
                        "INSERT INTO run_locks (name, holder, acquired_at) VALUES ('import', 'x', 0)",
                        "SELECT * FROM schema_steps FOR UPDATE"):
                with pytest.raises(pymysql.err.OperationalError, match="denied"):
                    cur.execute(sql)
        f = tmp_path / "c.csv"
        f.write_text(ONE_ROW)
        env = dict(os.environ, CCTV_TZ="Asia/Seoul")
        start = time.monotonic()
        for args in (("import", str(f)), ("aggregate", "all"), ("db", "init")):
            res = cctvctl("--db", mysql_url, *args, env=env, timeout=60)
            assert res.returncode == 0, (args, res.stderr)
        assert time.monotonic() - start < 30
        monkeypatch.setenv("CCTV_DB_PASSWORD", password)
        with connect(url) as db:
            with pytest.raises(DatabaseError, match="may not take cctvctl's 'import' lock.*denied"):
                db.acquire_lock("import", 1)
    finally:
        squatter.close()


# -- L5: `--camera "gate "` means the same on both backends ---------------------------------------
CAMERA_COMMANDS = [("report", "--day", "2021-08-01"), ("aggregate", "all"),
                   ("detect", "--since", "2021-08-01", "--until", "2021-08-01")]


@pytest.mark.parametrize("name", ["gate ", " gate", "gate\t"])
def test_camera_option_with_outer_spaces_is_refused_on_both_backends(name, db_url, runner, tmp_path):
    """MariaDB's PAD SPACE collation matched 'gate ' to gate, SQLite matched nothing: now both
    refuse (exit 2, the same line); the stored name itself still works, and import refuses it."""
    f = tmp_path / "a.csv"
    f.write_text(ONE_ROW.replace("gate-1", "gate"))
    assert runner.invoke(app, ["--db", db_url, "import", str(f), "--no-detect"]).exit_code == 0
    for args in CAMERA_COMMANDS:
        refused = runner.invoke(app, ["--db", db_url, *args, "--camera", name])
        assert refused.exit_code == 2, (args, refused.output)
        assert refused.stderr == (f"error: --camera {name!r}: a camera name never starts or ends "
                                  "with a space (import refuses such names)\n")
        assert runner.invoke(app, ["--db", db_url, *args, "--camera", "gate"]).exit_code == 0, args
    imported = runner.invoke(app, ["--db", db_url, "import", str(f), "--camera", name])
    assert imported.exit_code == 2 and "no leading or trailing spaces" in imported.stderr
    from cctvctl.errors import UsageError
    from cctvctl.stats.moments import camera_filter

    with pytest.raises(UsageError):  # the library's filter too, not only the CLI option
        camera_filter([name])


# -- issue 11 finding 9: the suite stays in its lane ----------------------------------------------
def _pytest(env_extra: dict, *args) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CCTV_")}
    env.update(env_extra)
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
                           *args], cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:]
    return proc.stdout


def test_plain_pytest_touches_no_server_accounts_mounts_or_private_servers():
    """Without CCTV_TEST_MYSQL_URL no MySQL test connects anywhere (127.0.0.1 answers here);
    without CCTV_TEST_PRIVILEGED=1 nothing creates accounts, mounts or starts a server."""
    out = _pytest({}, "tests/test_grants.py", "tests/test_faults.py", "-k",
                  "accounts or ingest or cron or analyst or full_disk or read_only or killed_during_import")
    assert " passed" not in out.splitlines()[-1], out[-2000:]
    assert "CCTV_TEST_MYSQL_URL is not set" in out
    assert "runs only with CCTV_TEST_PRIVILEGED=1" in out  # the tmpfs tests
    named = _pytest({"CCTV_TEST_MYSQL_URL": os.environ.get("CCTV_TEST_MYSQL_URL", ""),
                     "CCTV_REQUIRE_MYSQL": "1"} if os.environ.get("CCTV_TEST_MYSQL_URL") else {},
                    "tests/test_grants.py", "-k", "ingest_account or analyst_account")
    assert "creates MySQL accounts: runs only with CCTV_TEST_PRIVILEGED=1" in named or \
        "CCTV_TEST_MYSQL_URL is not set" in named
