"""`cctvctl db init|status`, database errors and the password: exit codes and exact output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import MYSQL_URL, require_mysql  # noqa: E402
from import_helpers import fresh_url, shared_mysql_url  # noqa: E402,F401

from cctvctl.cli import app  # noqa: E402
from cctvctl.db.connect import parse_url  # noqa: E402
from cctvctl.db.schema import LATEST, MIGRATIONS  # noqa: E402

SECRET = "Zq7-unicorn-PASSWORD-4412"
COUNTS = ("camera,start,end,people,vehicle\n"
          "a,2021-08-01 00:00,2021-08-01 00:05,1,2\n"
          "b,2021-08-01 23:55,2021-08-02 00:00,3,4\n"
          "a,2021-07-31 12:00,2021-07-31 12:05,5,6\n")


def invoke(runner, *args, **kw):
    return runner.invoke(app, list(args), **kw)


def test_db_init_is_idempotent(db_url, runner):
    display = parse_url(db_url).display()
    versions = ", ".join(str(m[0]) for m in MIGRATIONS)
    first = invoke(runner, "--db", db_url, "db", "init")
    assert (first.exit_code, first.stderr) == (0, "")
    assert first.stdout == (f"{display}: applied migration(s) {versions}; schema version {LATEST}; "
                            "zone Asia/Seoul (recorded now)\n")
    for _ in range(2):
        again = invoke(runner, "--db", db_url, "db", "init")
        assert again.stdout == (f"{display}: schema is up to date (version {LATEST}); "
                                "zone Asia/Seoul (recorded)\n")
    quiet = invoke(runner, "--db", db_url, "db", "init", "--quiet")
    assert (quiet.exit_code, quiet.stdout, quiet.stderr) == (0, "", "")


def test_db_init_creates_the_default_database(runner, tmp_path):
    result = invoke(runner, "db", "init")  # no --db, no CCTV_DB: the XDG default
    expected = tmp_path / "xdg-data" / "cctvctl" / "cctv.db"
    assert result.exit_code == 0 and expected.exists()
    assert result.stdout.startswith(f"sqlite://{expected}: applied migration(s)")


def test_db_status_json_and_table(fresh_url, runner, tmp_path):
    tz = ZoneInfo("Asia/Seoul")
    assert invoke(runner, "--db", fresh_url, "db", "init").exit_code == 0
    empty = json.loads(invoke(runner, "--db", fresh_url, "db", "status", "--format", "json").stdout)
    assert empty == {"backend": parse_url(fresh_url).backend, "url": parse_url(fresh_url).display(),
                     "schema_version": LATEST, "schema_latest": LATEST, "cameras": 0, "rows": 0,
                     "first": None, "last": None, "last_import": None, "zone": "Asia/Seoul",
                     "zone_recorded": True, "cluster": None}
    path = tmp_path / "c.csv"
    path.write_text(COUNTS)
    assert invoke(runner, "--db", fresh_url, "import", str(path), "--no-detect").exit_code == 0
    status = invoke(runner, "--db", fresh_url, "db", "status", "--format", "json")
    assert (status.exit_code, status.stderr) == (0, "")
    data = json.loads(status.stdout)
    assert (data["cameras"], data["rows"]) == (2, 3)
    # covered: the earliest start to the latest end, in local time with the offset
    assert data["first"] == datetime(2021, 7, 31, 12, 0, tzinfo=tz).isoformat() == "2021-07-31T12:00:00+09:00"
    assert data["last"] == "2021-08-02T00:00:00+09:00"
    li = data["last_import"]
    assert (li["source"], li["status"], li["read"], li["inserted"], li["duplicates"], li["rejected"]) == (
        str(path), "ok", 3, 3, 0, 0)
    assert isinstance(li["id"], int) and li["finished"].endswith("+09:00")
    # a flag at either level beats CCTV_TZ (which the tests set to Asia/Seoul): here it reaches
    # the check of the database's zone, which refuses it
    for args in (["--tz", "UTC", "db", "status"], ["db", "status", "--tz", "UTC"]):
        utc = invoke(runner, "--db", fresh_url, *args, "--format", "json")
        assert utc.exit_code == 2 and "this database's zone is Asia/Seoul" in utc.stderr
    table = invoke(runner, "--db", fresh_url, "db", "status")
    assert table.exit_code == 0 and "[" not in table.stdout
    lines = [" ".join(line.split()) for line in table.stdout.splitlines()]
    assert f"backend {parse_url(fresh_url).backend}" in lines
    assert f"schema version {LATEST} (latest {LATEST})" in lines
    assert "cameras 2" in lines and "rows 3" in lines and "zone Asia/Seoul" in lines
    assert "covers 2021-07-31T12:00:00+09:00 … 2021-08-02T00:00:00+09:00" in lines
    bad = invoke(runner, "--db", fresh_url, "db", "status", "--format", "yaml")
    assert (bad.exit_code, bad.stderr) == (2, "error: --format must be table or json\n")


def test_db_status_reports_a_rejected_attempt_as_the_last_import(sqlite_url, runner, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("camera,start,people\na,2021-08-01 00:00,-1\n")
    assert invoke(runner, "--db", sqlite_url, "import", str(path)).exit_code == 2
    data = json.loads(invoke(runner, "--db", sqlite_url, "db", "status", "--format", "json").stdout)
    assert data["rows"] == 0
    assert (data["last_import"]["status"], data["last_import"]["rejected"]) == ("rejected", 1)


# -- database errors: exit 1, one line naming where ------------------------------------------------
def test_unreachable_mysql_is_exit_1_naming_host_and_port(runner):
    for args in (["db", "status"], ["db", "init"], ["import", "-"]):
        result = invoke(runner, "--db", "mysql://cctv@127.0.0.1:1/cctv", *args, input="")
        assert result.exit_code == 1, args
        assert result.stderr == ("error: cannot connect to MySQL at 127.0.0.1:1: Can't connect to MySQL "
                                 "server on '127.0.0.1' ([Errno 111] Connection refused)\n")


def test_unknown_host_is_exit_1(runner):
    result = invoke(runner, "--db", "mysql://cctv@no-such-host.invalid:3306/cctv", "db", "status")
    assert result.exit_code == 1 and len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("error: cannot connect to MySQL at no-such-host.invalid:3306: ")


def test_password_in_the_url_is_refused(runner):
    result = invoke(runner, "--db", f"mysql://root:{SECRET}@127.0.0.1:3306/cctv", "db", "status")
    assert (result.exit_code, result.stderr) == (
        2, "error: do not put the password in the database URL; set CCTV_DB_PASSWORD or use a MySQL "
           "option file (~/.my.cnf)\n")
    assert SECRET not in result.stdout + result.stderr


def test_bad_sqlite_url_and_scheme(runner, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = invoke(runner, "--db", f"sqlite://{blocker}/sub/cctv.db", "db", "init")
    assert result.exit_code == 1 and result.stderr.startswith(f"error: cannot create {blocker}/sub: ")
    result = invoke(runner, "--db", "postgres://x/y", "db", "status")
    assert (result.exit_code, result.stderr) == (
        2, "error: unsupported database scheme 'postgres': use sqlite:// or mysql://\n")


# -- the password never appears ------------------------------------------------------------------
def _mysql_target() -> str:
    u = parse_url(MYSQL_URL)
    return f"mysql://{u.user or 'root'}@{u.host}:{u.port}/{u.database or 'test'}"


def _run(args, env, stdin="") -> subprocess.CompletedProcess:
    return subprocess.run([str(Path(sys.executable).with_name("cctvctl")), *args], input=stdin, text=True,
                          capture_output=True, env=env, timeout=120)


def test_password_never_appears_in_any_output(runner, tmp_path, monkeypatch):
    """Wrong password against the real server, with and without -v, in-process and installed."""
    require_mysql()
    if os.environ.get("CCTV_TEST_MYSQL_PASSWORD"):
        pytest.skip("the test server has a password; this test needs one the server refuses")
    monkeypatch.setenv("CCTV_DB_PASSWORD", SECRET)
    target = _mysql_target()
    path = tmp_path / "c.csv"
    path.write_text(COUNTS)
    runs = []
    for verbose in ([], ["-v"]):
        for args in (["db", "status"], ["db", "init"], ["import", str(path)], ["import", "-"]):
            result = invoke(runner, "--db", target, *verbose, *args, input=COUNTS)
            assert result.exit_code == 1, (verbose, args, result.stderr)
            runs.append(result.stdout + result.stderr + repr(result.exception))
    env = {**os.environ, "CCTV_DB_PASSWORD": SECRET, "CCTV_TZ": "Asia/Seoul"}
    for args in (["-v", "--db", target, "import", "-"], ["--db", target, "db", "status"],
                 ["-v", "--db", "mysql://root@127.0.0.1:1/x", "db", "status"],
                 ["--db", f"mysql://root:{SECRET}@127.0.0.1/x", "db", "status"]):
        proc = _run(args, env, COUNTS)
        assert proc.returncode in (1, 2), args
        runs.append(proc.stdout + proc.stderr)
    assert "Access denied for user" in runs[0] and "(using password: YES)" in runs[0]
    assert "Traceback" in runs[4] and "Traceback" not in runs[0]
    for text in runs:
        assert SECRET not in text


@pytest.mark.privileged  # creates an account on the test server
def test_password_is_used_and_still_never_printed(tmp_path):
    """A real account with a password: it works, and -v output of a whole import omits it."""
    require_mysql()
    from conftest import mysql_admin

    admin = mysql_admin()
    user, database = "cctv_pw_test", "cctv_pw_" + os.urandom(3).hex()
    try:
        with admin.cursor() as cur:
            cur.execute(f"CREATE DATABASE {database}")
            cur.execute(f"DROP USER IF EXISTS '{user}'@'%'")
            cur.execute(f"CREATE USER '{user}'@'%%' IDENTIFIED BY %s", (SECRET,))
            cur.execute(f"GRANT ALL ON {database}.* TO '{user}'@'%'")
        host = parse_url(MYSQL_URL)
        url = f"mysql://{user}@{host.host}:{host.port}/{database}"
        env = {**os.environ, "CCTV_DB_PASSWORD": SECRET, "CCTV_TZ": "Asia/Seoul"}
        ok = _run(["-v", "--db", url, "import", "-", "--no-detect"], env, COUNTS)
        assert ok.returncode == 0, ok.stderr
        assert "inserted 3" in ok.stdout and "SQL" in ok.stderr  # debug output was on
        status = _run(["-v", "--db", url, "db", "status", "--format", "json"], env)
        assert json.loads(status.stdout)["rows"] == 3
        wrong = _run(["--db", url, "db", "status"], {**env, "CCTV_DB_PASSWORD": SECRET[::-1]})
        assert wrong.returncode == 1
        for text in (ok.stdout, ok.stderr, status.stdout, status.stderr, wrong.stdout, wrong.stderr):
            assert SECRET not in text and SECRET[::-1] not in text
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP USER IF EXISTS '{user}'@'%'")
            cur.execute(f"DROP DATABASE IF EXISTS {database}")
        admin.close()


@pytest.mark.parametrize("command", [["db", "status"], ["aggregate", "all"], ["detect", "--since", "2021-08-01"]])
def test_a_missing_sqlite_database_is_an_error_not_a_new_empty_one(runner, tmp_path, command):
    """A mistyped path under cron must fail loudly (exit 1), never aggregate nothing forever."""
    missing = tmp_path / "typo.db"
    result = invoke(runner, "--db", f"sqlite://{missing}", *command)
    assert (result.exit_code, result.stderr) == (1, f"error: no database at {missing} (run `cctvctl db init`)\n")
    assert not missing.exists()
