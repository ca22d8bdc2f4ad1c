"""Least privilege on a real MariaDB: each account can do its job and is refused the rest.

Each account runs its own commands end to end (ingest: ``import``; cron: ``aggregate all`` and
``detect``; analyst: ``report`` and ``db status``); every command that would write what the
account may not write exits 1 with one line naming the server, and changes nothing.
"""

from __future__ import annotations

import secrets
from datetime import date

import pytest

from cctvctl.cli import app
from cctvctl.db import connect, parse_url
from cctvctl.errors import DatabaseError
from conftest import mysql_admin, require_privileged

SMALL = "camera,start,people,vehicle\ncam-1,2021-08-01 00:00,3,4\ncam-1,2021-08-01 00:05,5,1\n"


def test_grants_script_prints_placeholders_not_passwords(runner, monkeypatch):
    monkeypatch.setenv("CCTV_INGEST_PASSWORD", "s3cret-ingest-Zq")
    result = runner.invoke(app, ["db", "grants", "--db", "mysql://admin@db:3306/cctv", "--host", "10.0.0.%"])
    assert result.exit_code == 0, result.output
    assert "s3cret-ingest-Zq" not in result.output
    assert "'cctv_ingest'@'10.0.0.%' IDENTIFIED BY '<password>'" in result.output
    assert "GRANT SELECT ON `cctv`.`counts` TO 'cctv_analyst'@'10.0.0.%';" in result.output
    ingest = [l for l in result.output.splitlines() if "cctv_ingest" in l and "GRANT" in l]
    assert [l for l in ingest if "DELETE" in l] == []  # L2: not even on the derived flags
    assert "GRANT SELECT ON `cctv`.`outliers` TO 'cctv_ingest'@'10.0.0.%';" in ingest
    assert "GRANT SELECT, INSERT ON `cctv`.`outlier_runs` TO 'cctv_ingest'@'10.0.0.%';" in ingest


@pytest.mark.parametrize("args,message", [
    (["--host", "%'; DROP USER root; --"], "host pattern"),
    (["--prefix", "x'y"], "account prefix"),
    (["--database", "cctv`; --"], "database name"),
])
def test_grants_refuse_hostile_names(runner, args, message):
    result = runner.invoke(app, ["db", "grants", "--db", "mysql://admin@db:3306/cctv", *args])
    assert result.exit_code == 2
    assert message in result.stderr


@pytest.fixture
def accounts(mysql_url, runner, monkeypatch, tmp_path):
    """Three fresh accounts on a fresh database; dropped afterwards (CCTV_TEST_PRIVILEGED=1)."""
    require_privileged("creates MySQL accounts")
    connect(mysql_url).close()  # the administrator migrates the schema
    prefix = "t" + secrets.token_hex(3) + "_"
    passwords = {role: "pw-" + secrets.token_hex(8) for role in ("ingest", "cron", "analyst")}
    for role, pw in passwords.items():
        monkeypatch.setenv(f"CCTV_{role.upper()}_PASSWORD", pw)
    result = runner.invoke(app, ["db", "grants", "--db", mysql_url, "--host", "127.0.0.1",
                                 "--prefix", prefix, "--apply"])
    assert result.exit_code == 0, result.output
    for pw in passwords.values():
        assert pw not in result.output
    u = parse_url(mysql_url)
    urls = {role: f"mysql://{prefix}{role}@127.0.0.1:{u.port}/{u.database}" for role in passwords}
    try:
        yield urls, passwords
    finally:
        admin = mysql_admin()
        with admin.cursor() as cur:
            for role in passwords:
                cur.execute(f"DROP USER IF EXISTS '{prefix}{role}'@'127.0.0.1'")
        admin.close()


def _as(role, accounts, monkeypatch):
    urls, passwords = accounts
    monkeypatch.setenv("CCTV_DB_PASSWORD", passwords[role])
    return urls[role]


def _refused(url, sql, params=()):
    with connect(url) as db, pytest.raises(DatabaseError, match="denied"):
        db.execute(sql, params)


def test_ingest_account_imports_but_cannot_delete_or_touch_statistics(accounts, runner, monkeypatch, tmp_path):
    url = _as("ingest", accounts, monkeypatch)
    f = tmp_path / "c.csv"
    f.write_text(SMALL)
    result = runner.invoke(app, ["import", str(f), "--db", url, "--tz", "Asia/Seoul"])
    assert result.exit_code == 0, result.output
    with connect(url) as db:
        assert db.scalar("SELECT COUNT(*) FROM counts") == 2
    _refused(url, "DELETE FROM counts")
    _refused(url, "DELETE FROM imports")
    _refused(url, "INSERT INTO agg_state (name, value) VALUES ('x', 'y')")
    _refused(url, "UPDATE stats SET n = 0")
    _refused(url, "DROP TABLE counts")


def test_cron_account_writes_statistics_but_not_counts(accounts, monkeypatch):
    url = _as("cron", accounts, monkeypatch)
    with connect(url) as db:
        db.execute("INSERT INTO agg_state (name, value) VALUES ('probe', '1')")
        db.execute("DELETE FROM agg_state WHERE name = 'probe'")
    _refused(url, "INSERT INTO counts (camera, start_utc, end_utc, people, import_id) VALUES ('c', 0, 300, 1, 1)")
    _refused(url, "UPDATE counts SET people = 0")
    _refused(url, "DELETE FROM imports")


def test_analyst_account_reads_only(accounts, runner, monkeypatch):
    url = _as("analyst", accounts, monkeypatch)
    result = runner.invoke(app, ["db", "status", "--db", url, "--format", "json"])
    assert result.exit_code == 0, result.output
    _refused(url, "INSERT INTO counts (camera, start_utc, end_utc, people, import_id) VALUES ('c', 0, 300, 1, 1)")
    _refused(url, "UPDATE imports SET status = 'x'")
    _refused(url, "INSERT INTO outliers (camera, start_utc, metric, method, direction, observed, expected, score, params, detected_at) VALUES ('c', 0, 'people', 'm', 'high', 1, 1, 1, '{}', 0)")


def _hourly(camera_days: dict[str, range], bump: int = 0) -> str:
    lines = ["camera,start,people,vehicle"]
    for camera, days in camera_days.items():
        lines += [f"{camera},2021-08-{d:02d} {h:02d}:00,{(d * 5 + h * 7) % 60 + bump},{(d + h) % 9}"
                  for d in days for h in range(24)]
    return "\n".join(lines) + "\n"


def _everything(url) -> dict:
    """Every row of every table, read by the administrator."""
    with connect(url) as db:
        return {t: sorted(db.query(f"SELECT * FROM {t}"), key=repr)
                for t in ("counts", "imports", "import_days", "stats", "weekday_stats", "outliers",
                          "agg_state")}


def test_each_account_runs_its_commands_and_is_refused_the_others(accounts, mysql_url, runner,
                                                                   monkeypatch, tmp_path):
    def run(role, *args):
        return runner.invoke(app, [*args, "--db", _as(role, accounts, monkeypatch), "--tz", "Asia/Seoul"])

    first, more = tmp_path / "first.csv", tmp_path / "more.csv"
    first.write_text(_hourly({"gate-1": range(1, 22), "gate-2": range(1, 22)}))
    more.write_text(_hourly({"gate-3": range(1, 3)}))
    own = [("ingest", "import", str(first)),
           ("cron", "aggregate", "all"),
           ("cron", "detect", "--since", "2021-08-01", "--until", "2021-08-21"),
           ("analyst", "report", "--month", "2021-08", "--format", "json"),
           ("analyst", "db", "status")]
    for role, *args in own:
        result = run(role, *args)
        assert (result.exit_code, result.stderr) == (0, ""), (role, args, result.stdout)
    monkeypatch.delenv("CCTV_DB_PASSWORD")  # the administrator reads
    with connect(mysql_url) as db:
        assert db.scalar("SELECT COUNT(*) FROM counts") == 2 * 21 * 24
        weeks = {date(2021, 8, d).isocalendar()[:2] for d in range(1, 22)}
        assert db.scalar("SELECT COUNT(*) FROM stats WHERE grain = 'week'") == 2 * len(weeks)
        assert db.scalar("SELECT COUNT(*) FROM outliers") > 0  # detect wrote (and may rewrite) flags

    before = _everything(mysql_url)
    explicit = ("aggregate", "all", "--since", "2021-08-01", "--until", "2021-08-21")  # writes, due or not
    refused = [("ingest", explicit, "stats"),
               ("cron", ("import", str(more)), "imports"),
               # the analyst is refused already at the run lock (L1: it cannot take one)
               ("analyst", ("import", str(more)), "run_locks"),
               ("analyst", explicit, "run_locks"),
               ("analyst", ("detect", "--since", "2021-08-01", "--until", "2021-08-21"), "run_locks")]
    port = parse_url(mysql_url).port
    for role, args, table in refused:
        result = run(role, *args)
        assert result.exit_code == 1, (role, args, result.output)
        assert result.stdout == ""
        line = result.stderr.rstrip("\n")
        assert "\n" not in line, (role, args, result.stderr)
        assert line.startswith(f"error: MySQL error on 127.0.0.1:{port}: ") and "denied" in line, line
        assert f"`{table}`" in line or f"'{table}'" in line, (role, args, line)
    monkeypatch.delenv("CCTV_DB_PASSWORD")
    assert _everything(mysql_url) == before


# -- M10: --apply converges; L2: the ingest account cannot move rows or rewrite the ledger -------
def _drop_users(prefix):
    admin = mysql_admin()
    with admin.cursor() as cur:
        for role in ("ingest", "cron", "analyst"):
            cur.execute(f"DROP USER IF EXISTS '{prefix}{role}'@'127.0.0.1'")
    admin.close()


def _apply(runner, mysql_url, prefix, monkeypatch):
    """`db grants --apply` with fresh passwords; (result, passwords)."""
    passwords = {role: "pw-" + secrets.token_hex(8) for role in ("ingest", "cron", "analyst")}
    for role, pw in passwords.items():
        monkeypatch.setenv(f"CCTV_{role.upper()}_PASSWORD", pw)
    return runner.invoke(app, ["db", "grants", "--db", mysql_url, "--host", "127.0.0.1",
                               "--prefix", prefix, "--apply"]), passwords


def _grants_for(user):
    with mysql_admin().cursor() as cur:
        cur.execute(f"SHOW GRANTS FOR '{user}'@'127.0.0.1'")
        return [r[0] for r in cur.fetchall()]


def _can_login(url, password):
    import pymysql

    u = parse_url(url)
    try:
        pymysql.connect(host=u.host, port=u.port, user=u.user, password=password,
                        database=u.database, connect_timeout=5).close()
        return True
    except pymysql.err.OperationalError:
        return False


def test_apply_converges_an_over_privileged_account_with_an_old_password(mysql_url, runner, monkeypatch):
    require_privileged("creates MySQL accounts")
    connect(mysql_url).close()
    u = parse_url(mysql_url)
    prefix = "m" + secrets.token_hex(3) + "_"
    user = prefix + "ingest"
    admin = mysql_admin()
    try:
        for sql in (f"CREATE USER '{user}'@'127.0.0.1' IDENTIFIED BY 'old-password-1'",
                    f"GRANT ALL ON `{u.database}`.* TO '{user}'@'127.0.0.1' WITH GRANT OPTION",
                    f"GRANT PROCESS ON *.* TO '{user}'@'127.0.0.1'",
                    f"GRANT DELETE, DROP ON `{u.database}`.`counts` TO '{user}'@'127.0.0.1'"):
            admin.cursor().execute(sql)
        result, passwords = _apply(runner, mysql_url, prefix, monkeypatch)
        assert result.exit_code == 0, result.output
        assert result.stdout.startswith("converged (password set, exactly the documented privileges, verified): ")
        url = f"mysql://{user}@127.0.0.1:{u.port}/{u.database}"
        assert not _can_login(url, "old-password-1")
        assert _can_login(url, passwords["ingest"])
        text = "\n".join(_grants_for(user))
        for gone in ("ALL PRIVILEGES", "PROCESS", "GRANT OPTION", "DROP", "DELETE ON `" + u.database + "`.`counts`"):
            assert gone not in text, (gone, text)
        # what is left is exactly the documented list (and a second --apply changes nothing)
        from cctvctl.grants import plan_grants, verify_grants

        with connect(mysql_url) as db:
            for acc in plan_grants(u.database, "127.0.0.1", prefix):
                assert verify_grants(db, acc) == [], acc.role
        again, _ = _apply(runner, mysql_url, prefix, monkeypatch)
        assert again.exit_code == 0, again.output
        unhashed = lambda lines: sorted(l.split(" IDENTIFIED BY ")[0] for l in lines)  # noqa: E731
        assert unhashed(_grants_for(user)) == unhashed(text.split("\n"))
    finally:
        admin.close()
        _drop_users(prefix)


def test_apply_takes_away_a_role_and_verify_names_what_is_extra(mysql_url, runner, monkeypatch):
    """A role granted to an account goes with --apply too; a privilege added afterwards is named
    by the verification (which --apply runs, and fails with, when something stays)."""
    require_privileged("creates MySQL accounts and a role")
    from cctvctl.grants import plan_grants, verify_grants

    connect(mysql_url).close()
    u = parse_url(mysql_url)
    prefix = "r" + secrets.token_hex(3) + "_"
    role = "cctv_role_" + secrets.token_hex(3)
    admin = mysql_admin()
    try:
        with admin.cursor() as cur:
            cur.execute(f"CREATE ROLE {role}")
            cur.execute(f"GRANT ALL ON `{u.database}`.* TO {role}")
            cur.execute(f"CREATE USER '{prefix}cron'@'127.0.0.1' IDENTIFIED BY 'x-old'")
            cur.execute(f"GRANT {role} TO '{prefix}cron'@'127.0.0.1'")
        result, _ = _apply(runner, mysql_url, prefix, monkeypatch)
        assert result.exit_code == 0, result.output
        assert not any(role in line for line in _grants_for(prefix + "cron"))
        with admin.cursor() as cur:
            cur.execute(f"GRANT DELETE ON `{u.database}`.`counts` TO '{prefix}cron'@'127.0.0.1'")
            cur.execute(f"GRANT {role} TO '{prefix}cron'@'127.0.0.1'")
        cron = [a for a in plan_grants(u.database, "127.0.0.1", prefix) if a.role == "cron"][0]
        with connect(mysql_url) as db:
            problems = verify_grants(db, cron)
            assert f"{prefix}cron@127.0.0.1 holds DELETE on {u.database}.counts, not documented" in problems
            assert any(f"is granted the role(s) `{role}`" in p for p in problems), problems
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP ROLE IF EXISTS {role}")
        admin.close()
        _drop_users(prefix)


def test_ingest_cannot_move_rows_or_rewrite_the_ledger_but_can_replace(accounts, runner, monkeypatch,
                                                                        tmp_path):
    url = _as("ingest", accounts, monkeypatch)
    f = tmp_path / "c.csv"
    f.write_text(SMALL)
    assert runner.invoke(app, ["import", str(f), "--db", url, "--tz", "Asia/Seoul"]).exit_code == 0
    for sql in ("UPDATE counts SET camera = 'moved'", "UPDATE counts SET start_utc = start_utc + 86400",
                "UPDATE imports SET sha256 = 'x'", "UPDATE imports SET source = 'elsewhere'",
                "UPDATE imports SET tz = 'UTC'", "DELETE FROM counts", "DELETE FROM imports"):
        _refused(url, sql)
    f.write_text(SMALL.replace("cam-1,2021-08-01 00:00,3,4", "cam-1,2021-08-01 00:00,30,40"))
    result = runner.invoke(app, ["import", str(f), "--db", url, "--tz", "Asia/Seoul", "--replace"])
    assert result.exit_code == 0, result.output
    with connect(url) as db:
        assert sorted(db.query("SELECT people, vehicle FROM counts")) == [(5, 1), (30, 40)]


# -- L2: the ingest account cannot delete or rewrite flags, and late data still re-judges --------
def _late_files(tmp_path):
    """Four weeks of two cameras without 10 August (a surge on the 24th), and that day late."""
    def hourly(camera_days, bump=0):
        lines = ["camera,start,people,vehicle"]
        for camera, days in camera_days.items():
            lines += [f"{camera},2021-08-{d:02d} {h:02d}:00,"
                      f"{(d * 5 + h * 7) % 60 + bump + (400 if (camera, d) == ('gate-1', 24) and 10 <= h <= 12 else 0)},"
                      f"{(d + h) % 9}" for d in days for h in range(24)]
        return "\n".join(lines) + "\n"
    first, late = tmp_path / "first.csv", tmp_path / "late.csv"
    days = [d for d in range(1, 29) if d != 10]
    first.write_text(hourly({"gate-1": days, "gate-2": days}))
    late.write_text(hourly({"gate-1": [10], "gate-2": [10]}, bump=300))
    return first, late


def _verdicts(url) -> list[tuple]:
    from cctvctl.detect.store import load_flags

    with connect(url) as db:
        return sorted((f.camera, f.start_utc, f.end_utc, f.metric, f.method, f.direction, f.observed,
                       round(f.expected, 9), f.band_low is None or round(f.band_low, 9),
                       f.band_high is None or round(f.band_high, 9), round(f.score, 9))
                      for f in load_flags(db, 0, 2**40))


def test_ingest_appends_flag_runs_and_late_data_gives_the_flags_of_detect(accounts, mysql_url, runner,
                                                                          monkeypatch, tmp_path):
    """The ingest account holds no DELETE or UPDATE on any flag table; its imports retract and
    rewrite flags by appending runs, and after a late day the flags in force equal those the
    administrator's ``detect`` writes over the month (which folds the runs into outliers)."""
    url = _as("ingest", accounts, monkeypatch)
    first, late = _late_files(tmp_path)
    for f in (first, late):
        result = runner.invoke(app, ["import", str(f), "--db", url, "--tz", "Asia/Seoul"])
        assert result.exit_code == 0, result.output
    for sql in ("DELETE FROM outliers", "UPDATE outliers SET score = 0", "DELETE FROM outlier_log",
                "UPDATE outlier_log SET score = 0", "DELETE FROM outlier_runs",
                "UPDATE outlier_runs SET end_utc = 0",
                "INSERT INTO outliers (camera, start_utc, metric, method, direction, observed, expected, "
                "score, params, detected_at) VALUES ('c', 0, 'people', 'm', 'high', 1, 1, 1, '{}', 0)"):
        _refused(url, sql)
    monkeypatch.delenv("CCTV_DB_PASSWORD")  # the administrator from here on
    with connect(mysql_url) as db:
        runs = db.scalar("SELECT COUNT(DISTINCT run_id) FROM outlier_runs")
        stale = db.scalar("SELECT COUNT(*) FROM outliers")
    assert runs == 2 and stale == 0  # both imports appended (nothing could be written in place)
    by_ingest = _verdicts(mysql_url)
    # the nightly aggregate as cron folds the runs: the same flags, now rows of outliers
    result = runner.invoke(app, ["aggregate", "all", "--db", _as("cron", accounts, monkeypatch),
                                 "--tz", "Asia/Seoul", "-q"])
    assert result.exit_code == 0, result.output
    monkeypatch.delenv("CCTV_DB_PASSWORD")
    with connect(mysql_url) as db:
        assert db.scalar("SELECT COUNT(*) FROM outlier_runs") == 0
        assert db.scalar("SELECT COUNT(*) FROM outliers") == len(by_ingest)
    assert _verdicts(mysql_url) == by_ingest
    url = _as("ingest", accounts, monkeypatch)  # another late day: a new run over folded flags
    later = tmp_path / "later.csv"
    later.write_text("camera,start,people,vehicle\n" + "".join(
        f"gate-2,2021-08-03 {h:02d}:00,{200 + h},{h % 9}\n" for h in range(24)))
    result = runner.invoke(app, ["import", str(later), "--db", url, "--tz", "Asia/Seoul", "--replace"])
    assert result.exit_code == 0, result.output
    monkeypatch.delenv("CCTV_DB_PASSWORD")
    with connect(mysql_url) as db:
        assert db.scalar("SELECT COUNT(DISTINCT run_id) FROM outlier_runs") == 1
    by_ingest = _verdicts(mysql_url)
    result = runner.invoke(app, ["detect", "--db", mysql_url, "--tz", "Asia/Seoul",
                                 "--since", "2021-07-25", "--until", "2021-08-31", "-q"])
    assert result.exit_code == 0, result.output
    with connect(mysql_url) as db:
        assert db.scalar("SELECT COUNT(*) FROM outlier_runs") == 0  # folded into outliers
        assert db.scalar("SELECT COUNT(*) FROM outlier_log") == 0
        assert db.scalar("SELECT COUNT(*) FROM outliers") == len(by_ingest)
    assert by_ingest and by_ingest == _verdicts(mysql_url)


def test_late_data_retracts_flags_the_same_through_runs_and_in_place(accounts, mysql_url, runner,
                                                                     monkeypatch, tmp_path):
    """The same two imports as the administrator (flags rewritten in place) and as the ingest
    account (runs appended) leave the same flags in force, including those the late day took
    back; the first import's flags as the ingest account, read through its run, are those
    detect writes over that data."""
    first, late = _late_files(tmp_path)
    url = _as("ingest", accounts, monkeypatch)
    assert runner.invoke(app, ["import", str(first), "--db", url, "--tz", "Asia/Seoul"]).exit_code == 0
    monkeypatch.delenv("CCTV_DB_PASSWORD")
    before_late = _verdicts(mysql_url)
    url = _as("ingest", accounts, monkeypatch)
    assert runner.invoke(app, ["import", str(late), "--db", url, "--tz", "Asia/Seoul"]).exit_code == 0
    monkeypatch.delenv("CCTV_DB_PASSWORD")
    through_runs = _verdicts(mysql_url)
    retracted = set(before_late) - set(through_runs)
    assert retracted, "the late day should take back some flags"
    from cctvctl.db import connect as plain

    admin_db = tmp_path / "admin.db"  # the same imports by an account that may delete: SQLite
    for f in (first, late):
        result = runner.invoke(app, ["import", str(f), "--db", f"sqlite:///{admin_db}", "--tz", "Asia/Seoul"])
        assert result.exit_code == 0, result.output
    with plain(f"sqlite:///{admin_db}") as db:
        assert db.scalar("SELECT COUNT(*) FROM outlier_runs") == 0
    assert _verdicts(f"sqlite:///{admin_db}") == through_runs


def test_accounts_granted_before_schema_8_are_told_to_grant_again(accounts, mysql_url, runner,
                                                                   monkeypatch, tmp_path):
    """Accounts granted before ``day_hours`` existed (schema 8) hold nothing on it: cron's
    aggregate is refused with one line naming the fix, writes no statistics without their
    packed rows, and runs once ``db grants --apply`` has been run again."""
    first, _ = _late_files(tmp_path)
    result = runner.invoke(app, ["import", str(first), "--db", mysql_url, "--tz", "Asia/Seoul", "--no-detect"])
    assert result.exit_code == 0, result.output
    urls, _ = accounts
    user = parse_url(urls["cron"]).user
    admin = mysql_admin()
    with admin.cursor() as cur:  # as the grants of a cctvctl before schema 8 left it
        cur.execute(f"REVOKE SELECT, INSERT, UPDATE, DELETE ON `{parse_url(mysql_url).database}`.`day_hours` "
                    f"FROM '{user}'@'127.0.0.1'")
    admin.close()
    result = runner.invoke(app, ["aggregate", "all", "--db", _as("cron", accounts, monkeypatch),
                                 "--tz", "Asia/Seoul", "-q"])
    assert result.exit_code == 1
    assert "run `cctvctl db grants --apply`" in result.output and "Traceback" not in result.output
    monkeypatch.delenv("CCTV_DB_PASSWORD")
    with connect(mysql_url) as db:
        assert db.scalar("SELECT COUNT(*) FROM stats") == db.scalar("SELECT COUNT(*) FROM day_hours") == 0
    prefix = user[:-len("cron")]
    result = runner.invoke(app, ["db", "grants", "--db", mysql_url, "--host", "127.0.0.1",
                                 "--prefix", prefix, "--apply"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["aggregate", "all", "--db", _as("cron", accounts, monkeypatch),
                                 "--tz", "Asia/Seoul", "-q"])
    assert result.exit_code == 0, result.output
    monkeypatch.delenv("CCTV_DB_PASSWORD")
    with connect(mysql_url) as db:
        assert db.scalar("SELECT COUNT(*) FROM day_hours") == db.scalar(
            "SELECT COUNT(*) FROM stats WHERE grain = 'day'") > 0
