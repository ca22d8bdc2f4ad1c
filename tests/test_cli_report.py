"""`cctvctl report` as a command: exit codes, exact error lines, read-only use, the installed command."""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from cctvctl.cli import app
from conftest import SAMPLE_DATA, mysql_admin

MONTH_FILE = SAMPLE_DATA / "counts_2021-08.csv"
SECTIONS = "period, cameras, summary, classes, breakdown, weekday, hour, outliers"


@pytest.fixture
def sample_db(tmp_path, runner) -> str:
    """A SQLite file holding the sample month (imported by the CLI, detection on)."""
    url = f"sqlite:///{tmp_path / 'cctv.db'}"
    result = runner.invoke(app, ["import", str(MONTH_FILE), "--db", url, "--tz", "Asia/Seoul"])
    assert result.exit_code == 0, result.output
    return url


@pytest.mark.parametrize("args,message", [
    ([], "give exactly one of --day, --week, --month or --year"),
    (["--day", "2021-08-01", "--month", "2021-08"],
     "give exactly one of --day, --week, --month or --year (got --day, --month)"),
    (["--month", "2021-13"], "invalid month '2021-13' (expected e.g. 2021-08)"),
    (["--week", "2021-W54"], "invalid week '2021-W54' (expected e.g. 2021-W31)"),
    (["--month", "2021-08", "--format", "xml"], "--format must be one of table, markdown, csv, json"),
    (["--month", "2021-08", "--compare", "lastyear"], "--compare must be one of previous, last-year, none"),
    (["--month", "2021-08", "--top", "-1"], "--top must be 0 (every outlier) or more"),
    (["--month", "2021-08", "--section", "totals"], f"unknown --section 'totals' (one of {SECTIONS})"),
    (["--month", "2021-08", "--section", "summary", "--format", "json"],
     "--section does not apply to --format json (it always has every key)"),
    (["--month", "2021-08", "--plot", "chart.jpg"],
     "--plot writes a PNG image: give a file name ending in .png, not 'chart.jpg'"),
])
def test_bad_usage_is_refused_up_front(runner, tmp_path, args, message):
    missing = tmp_path / "never.db"
    result = runner.invoke(app, ["report", *args, "--db", f"sqlite:///{missing}"])
    assert result.exit_code == 2
    assert result.stderr == f"error: {message}\n"
    assert result.stdout == ""
    assert not missing.exists()


def test_unknown_camera_is_named(runner, sample_db):
    result = runner.invoke(app, ["report", "--month", "2021-08", "--db", sample_db, "--camera", "gate-nort"])
    assert result.exit_code == 2
    assert result.stderr == "error: no counts for camera 'gate-nort' in this database\n"


def test_a_missing_database_is_not_created(runner, tmp_path):
    path = tmp_path / "nowhere" / "cctv.db"
    result = runner.invoke(app, ["report", "--month", "2021-08", "--db", f"sqlite://{path}"])
    assert result.exit_code == 1
    assert result.stderr == f"error: no database at {path} (run `cctvctl db init`)\n"
    assert not path.parent.exists()


def test_a_database_without_tables_is_explained(runner, tmp_path):
    import sqlite3

    path = tmp_path / "empty.db"
    sqlite3.connect(path).close()
    result = runner.invoke(app, ["report", "--month", "2021-08", "--db", f"sqlite://{path}"])
    assert result.exit_code == 1
    assert result.stderr == (f"error: sqlite://{path} holds no cctvctl tables "
                             "(run `cctvctl db init`, or import counts first)\n")


def test_unreachable_mysql_is_a_runtime_failure(runner):
    result = runner.invoke(app, ["report", "--month", "2021-08", "--db", "mysql://u@127.0.0.1:1/cctv"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: cannot connect to MySQL at 127.0.0.1:1: ")
    assert result.stderr.count("\n") == 1


def _files(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())
            if p.is_file()}


def test_report_writes_nothing_to_sqlite(runner, sample_db, tmp_path):
    """Every format, every grain: the database files are byte-for-byte unchanged."""
    before = _files(tmp_path)
    for args in (["--month", "2021-08"], ["--week", "2021-W33", "--format", "csv"],
                 ["--day", "2021-08-22", "--format", "markdown"], ["--year", "2021", "--format", "json"]):
        result = runner.invoke(app, ["report", *args, "--db", sample_db, "--tz", "Asia/Seoul"])
        assert result.exit_code == 0, result.output
    assert _files(tmp_path) == before


def test_each_format_on_the_sample_month(runner, sample_db, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")  # what Rich assumes off a terminal without COLUMNS

    def run(*args):
        result = runner.invoke(app, ["report", "--month", "2021-08", "--db", sample_db,
                                     "--tz", "Asia/Seoul", *args])
        assert result.exit_code == 0, result.output
        return result.stdout

    table = run()
    assert table.startswith("cctvctl report · month 2021-08 · Asia/Seoul\n")
    assert "statistics: computed now, read-only (not aggregated yet), k = 1.5" in table
    assert max(len(line) for line in table.splitlines()) <= 80  # not a terminal: 80 columns
    assert "\x1b[" not in table
    assert re.search(r"^08-22 19:00 +2h +gate-north +people high", table, re.M)  # the festival
    md = run("--format", "markdown")
    assert md.startswith("# cctvctl report · month 2021-08 · Asia/Seoul\n")
    assert "| day |   | coverage | people | vehicle |   |" in md
    csv_text = run("--format", "csv", "--section", "breakdown")
    lines = csv_text.splitlines()
    assert lines[0] == "label,weekday,start,end,intervals,expected,coverage,people,vehicle"
    assert len(lines) == 32 and lines[1].startswith("2021-08-01,Sun,2021-08-01T00:00:00+09:00,")
    assert run("--format", "csv", "--section", "breakdown") == csv_text  # byte-stable
    data = json.loads(run("--format", "json"))
    assert data["period"]["label"] == "2021-08" and data["intervals"] == 26784
    assert run("--format", "json") == run("--format", "json")


def test_compare_last_year_and_none(runner, sample_db):
    def run(*args):
        result = runner.invoke(app, ["report", "--month", "2021-08", "--db", sample_db, "--tz",
                                     "Asia/Seoul", "--format", "json", *args])
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    last_year = run("--compare", "last-year")
    assert last_year["compare"]["label"] == "2020-08" and last_year["compare"]["mode"] == "last-year"
    assert all(c["people"]["compare_mean"] is None and c["people"]["change"] is None
               for c in last_year["cameras"])  # no data in 2020: missing, not 0 %
    assert run("--compare", "none")["compare"] is None


def test_a_period_without_counts_says_so(runner, sample_db):
    result = runner.invoke(app, ["report", "--month", "2030-01", "--db", sample_db, "--tz", "Asia/Seoul"])
    assert result.exit_code == 0, result.output
    assert "0 cameras: none\ncoverage: no intervals expected\n" in result.stdout
    assert "statistics: none — no counts in this period\n" in result.stdout
    assert "computed now" not in result.stdout and "no counts in this period" in result.stdout


def test_installed_command_in_a_subprocess(sample_db, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CCTV_")}
    env.update(CCTV_DB=sample_db, CCTV_TZ="Asia/Seoul", COLUMNS="80")
    exe = Path(sys.executable).with_name("cctvctl")
    proc = subprocess.run([str(exe) if exe.exists() else "cctvctl", "report", "--week", "2021-W33",
                           "--format", "csv", "--section", "cameras"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "camera,intervals,expected,coverage,outliers",
        *[f"{c},2016,2016,1.0,{n}" for c, n in _week_outliers(sample_db).items()]]


def _week_outliers(url: str) -> dict[str, int]:
    from cctvctl.db import connect

    with connect(url) as db:
        rows = db.query("SELECT camera, COUNT(DISTINCT start_utc) FROM outliers WHERE start_utc >= ? "
                        "AND start_utc < ? GROUP BY camera", (1629039600, 1629644400))
    counts = dict(rows)
    return {c: counts.get(c, 0) for c in ("gate-north", "market-st", "parking-east")}


def test_an_analyst_account_with_select_only_gets_the_full_report(mysql_url, runner, monkeypatch):
    """On MariaDB: `db grants` makes a SELECT-only account; the report works with it, stats or not."""
    from cctvctl.db import connect
    from cctvctl.db.connect import parse_url
    from cctvctl.stats import run_aggregate
    from zoneinfo import ZoneInfo

    result = runner.invoke(app, ["import", str(MONTH_FILE), "--db", mysql_url, "--tz", "Asia/Seoul"])
    assert result.exit_code == 0, result.output
    prefix = "r" + secrets.token_hex(3) + "_"
    password = "pw-" + secrets.token_hex(8)
    monkeypatch.setenv("CCTV_ANALYST_PASSWORD", password)
    for role in ("INGEST", "CRON"):
        monkeypatch.setenv(f"CCTV_{role}_PASSWORD", "pw-" + secrets.token_hex(8))
    granted = runner.invoke(app, ["db", "grants", "--db", mysql_url, "--host", "127.0.0.1",
                                  "--prefix", prefix, "--apply"])
    assert granted.exit_code == 0, granted.output
    u = parse_url(mysql_url)
    analyst = f"mysql://{prefix}analyst@127.0.0.1:{u.port}/{u.database}"
    try:
        monkeypatch.setenv("CCTV_DB_PASSWORD", password)
        args = ["report", "--month", "2021-08", "--db", analyst, "--tz", "Asia/Seoul", "--format", "json",
                "--top", "0"]
        computed = runner.invoke(app, args)
        assert computed.exit_code == 0, computed.output
        monkeypatch.delenv("CCTV_DB_PASSWORD")
        with connect(mysql_url) as db:
            run_aggregate(db, "all", ZoneInfo("Asia/Seoul"), keep_rows=False)
        monkeypatch.setenv("CCTV_DB_PASSWORD", password)
        stored = runner.invoke(app, args)
        assert stored.exit_code == 0, stored.output
        a, b = json.loads(computed.stdout), json.loads(stored.stdout)
        assert (a["source"], b["source"]) == ("computed", "stats")
        assert a["cameras"] == b["cameras"] and a["outliers"] == b["outliers"] and a["outliers"]
        assert password not in computed.output + stored.output
    finally:
        admin = mysql_admin()
        with admin.cursor() as cur:
            for role in ("ingest", "cron", "analyst"):
                cur.execute(f"DROP USER IF EXISTS '{prefix}{role}'@'127.0.0.1'")
        admin.close()
