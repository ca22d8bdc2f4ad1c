"""Option and environment values at their limits: one clear line and exit 2 (or 1), never
``unexpected …`` (issue 12 L8, L9).

Dates outside 1970–2099, intervals of inf/nan/1e20 minutes, k of 1e308, negative seeds, codecs
that are not text encodings, UTF-16 without a byte-order mark, a DST gap at midnight in
``sample``, a full disk under ``--rejected`` (/dev/full: never removed or replaced), a repeated
``[client]`` group in ``~/.my.cnf`` and Python warnings under ``-W error``.
"""

from __future__ import annotations

import csv
import io
import math
import os
import stat
import subprocess
import sys
from datetime import date
from zoneinfo import ZoneInfo

import pytest

from cctvctl import validate
from cctvctl.cli import app
from cctvctl.errors import UsageError
from conftest import MYSQL_URL, require_mysql, temporary_mysql_database
from pathlib import Path

RANGE = "(1970-01-01 … 2099-12-31)"
GOOD_ROWS = ("camera,start,end,people\n"
             "g,2021-08-01T00:00:00+00:00,2021-08-01T00:05:00+00:00,3\n"
             "g,2021-08-01T00:05:00+00:00,2021-08-01T00:10:00+00:00,-3\n"
             "g,2021-08-01T00:10:00+00:00,2021-08-01T00:15:00+00:00,4\n")


@pytest.mark.parametrize("args,message", [
    (["report", "--year", "9999"], f"--year 9999 is outside the days cctvctl handles {RANGE}"),
    (["report", "--year", "0001"], f"--year 0001 is outside the days cctvctl handles {RANGE}"),
    (["report", "--day", "9999-12-31"], f"--day 9999-12-31 is outside the days cctvctl handles {RANGE}"),
    (["report", "--week", "9999-W52"], f"--week 9999-W52 is outside the days cctvctl handles {RANGE}"),
    (["report", "--month", "0001-01"], f"--month 0001-01 is outside the days cctvctl handles {RANGE}"),
    (["report", "--week", "2099-W53"], f"--week 2099-W53 is outside the days cctvctl handles {RANGE}"),
    (["detect", "--since", "0001-01-01"], f"--since 0001-01-01 is outside the days cctvctl handles {RANGE}"),
    (["detect", "--since", "2021-01-01", "--until", "9999-12-31"],
     f"--until 9999-12-31 is outside the days cctvctl handles {RANGE}"),
    (["aggregate", "day", "--date", "9999-12-31"], f"--date 9999-12-31 is outside the days cctvctl handles {RANGE}"),
    (["aggregate", "day", "--since", "0001-01-01"], f"--since 0001-01-01 is outside the days cctvctl handles {RANGE}"),
    (["aggregate", "all", "--k", "1e308"], "--k must be at most 100 (got 1e+308)"),
    (["aggregate", "all", "--k", "inf"], "--k must be a finite number ≥ 0"),
    (["aggregate", "all", "--k", "nan"], "--k must be a finite number ≥ 0"),
    (["detect", "--since", "2021-01-01", "--k", "1e308"], "--k must be at most 100 (got 1e+308)"),
    (["detect", "--since", "2021-01-01", "--k", "inf"], "--k must be a positive number"),
    (["detect", "--since", "2021-01-01", "--method", "robust", "--k", "nan"], "--k must be a positive number"),
    (["import", "-", "--interval", "inf"], "--interval must be a positive number of minutes (whole seconds)"),
    (["import", "-", "--interval", "nan"], "--interval must be a positive number of minutes (whole seconds)"),
    (["import", "-", "--interval", "-inf"], "--interval must be a positive number of minutes (whole seconds)"),
    (["import", "-", "--interval", "1e20"], "--interval must be at most 1440 minutes (one day), not 1e+20"),
    (["import", "-", "--encoding", "rot13"], "--encoding 'rot13' is not a text encoding (e.g. utf-8, cp949, latin-1)"),
    (["import", "-", "--encoding", "base64"], "--encoding 'base64' is not a text encoding (e.g. utf-8, cp949, latin-1)"),
    (["sample", "--seed", "-5"], "--seed must be a whole number from 0 to 18,446,744,073,709,551,615, not -5"),
    (["sample", "--since", "9999-12-30", "--until", "9999-12-31"],
     f"--since 9999-12-30 is outside the days cctvctl handles {RANGE}"),
    (["sample", "--since", "0001-01-01", "--until", "0001-01-02"],
     f"--since 0001-01-01 is outside the days cctvctl handles {RANGE}"),
])
def test_values_at_the_limits_are_one_usage_line(runner, tmp_path, args, message):
    missing = tmp_path / "never.db"
    result = runner.invoke(app, ["--db", f"sqlite:///{missing}", "--tz", "Asia/Seoul", *args], input="")
    assert result.exit_code == 2, result.output
    assert result.stderr == f"error: {message}\n"
    assert not missing.exists()


def test_the_library_refuses_the_same_values():
    from cctvctl.detect import make_params
    from cctvctl.ingest import ImportOptions
    from cctvctl.periods import local_midnight_utc, parse_period
    from cctvctl.sample import SampleSpec
    from cctvctl.stats.run import requested_days

    seoul = ZoneInfo("Asia/Seoul")
    refused = [lambda: parse_period("year", "9999"), lambda: local_midnight_utc(date(1, 1, 1), seoul),
               lambda: requested_days(date(9999, 12, 31)), lambda: make_params("seasonal", math.inf),
               lambda: make_params("robust", 1e308), lambda: make_params("threshold", -1.0),
               lambda: ImportOptions(tz=seoul, interval=10**20), lambda: ImportOptions(tz=seoul, interval=0),
               lambda: ImportOptions(tz=seoul, encoding="rot13"),
               lambda: SampleSpec(date(2021, 1, 1), date(2021, 1, 2), seoul, seed=-5),
               lambda: validate.k_factor(float("nan")), lambda: validate.interval_minutes("1e400")]
    for i, call in enumerate(refused):
        with pytest.raises(UsageError):
            call()
            pytest.fail(f"case {i} was accepted")
    assert validate.k_factor(100) == 100.0 and validate.interval_minutes(0.5) == 30
    assert validate.interval_minutes(1440) == 86400 and validate.seed(2**64 - 1) == 2**64 - 1


def test_utf16_without_a_byte_order_mark_is_one_line_naming_the_fix(runner, tmp_path):
    path = tmp_path / "u16.csv"
    path.write_bytes(GOOD_ROWS.replace(",-3", ",5").encode("utf-16-le"))
    url = f"sqlite:///{tmp_path / 'cctv.db'}"
    bad = runner.invoke(app, ["--db", url, "import", str(path), "--encoding", "utf-16"])
    assert bad.exit_code == 2
    assert bad.stderr == (f"error: {path}:1: not valid utf-16: UTF-16 stream does not start with BOM; "
                          "use --encoding (utf-16-le or utf-16-be for UTF-16 without a byte-order mark)\n")
    good = runner.invoke(app, ["--db", url, "import", str(path), "--encoding", "utf-16-le"])
    assert good.exit_code == 0, good.stderr
    assert "inserted 3" in good.stdout


def test_sample_across_a_dst_gap_at_midnight_round_trips(runner, tmp_path):
    """America/Santiago: 2022-09-11 00:00 does not exist (the day starts at 01:00)."""
    out = tmp_path / "santiago.csv"
    result = runner.invoke(app, ["sample", "--tz", "America/Santiago", "--since", "2022-09-10",
                                 "--until", "2022-09-12", "--interval", "60", "--cameras", "1",
                                 "--events", "0", "-o", str(out)])
    assert result.exit_code == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    per_day = {}
    for r in rows:
        per_day[r["start_date"][:10]] = per_day.get(r["start_date"][:10], 0) + 1
    assert per_day == {"2022-09-10": 24, "2022-09-11": 23, "2022-09-12": 24}
    assert not any(r["start_date"].startswith("2022-09-11 00:") for r in rows)
    url = f"sqlite:///{tmp_path / 'cctv.db'}"
    back = runner.invoke(app, ["--db", url, "--tz", "America/Santiago", "import", str(out)])
    assert back.exit_code == 0, back.stderr
    assert "inserted 71" in back.stdout


def _cli(args, env, **kw):
    return subprocess.run([str(Path(sys.executable).with_name("cctvctl")), *args], capture_output=True, text=True, env=env,
                          timeout=120, **kw)


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CCTV_")}
    env.update(CCTV_TZ="Asia/Seoul", **extra)
    return env


def test_rejected_rows_on_a_full_disk_fail_whole_and_leave_dev_full_alone(db_url, tmp_path):
    if not os.path.exists("/dev/full") or not stat.S_ISCHR(os.stat("/dev/full").st_mode):
        pytest.skip("no /dev/full character device here")
    before = os.stat("/dev/full")
    src = tmp_path / "counts.csv"
    src.write_text(GOOD_ROWS)
    env = _env(CCTV_DB=db_url)
    run = _cli(["import", str(src), "--on-error", "skip", "--rejected", "/dev/full"], env)
    after = os.stat("/dev/full")
    assert stat.S_ISCHR(after.st_mode) and (after.st_ino, after.st_rdev) == (before.st_ino, before.st_rdev)
    assert run.returncode == 2  # refused before anything is read: a device is no place for a file
    assert run.stderr == ("error: /dev/full: refusing to write the rejected rows there: it exists and "
                          "is not a regular file (choose another place with --rejected)\n")
    from cctvctl.db import connect

    db = connect(db_url)
    try:
        assert db.scalar("SELECT COUNT(*) FROM counts") == 0  # the import rolled back whole
    finally:
        db.close()
    # the same file with a writable --rejected: imported, the rejected list written
    ok = _cli(["import", str(src), "--on-error", "skip", "--rejected", str(tmp_path / "bad.csv")], env)
    assert ok.returncode == 0, ok.stderr
    assert (tmp_path / "bad.csv").read_text().splitlines()[1].startswith("3,")


def test_a_repeated_client_group_merges_and_a_bad_option_file_quotes_nothing(tmp_path):
    require_mysql()
    with temporary_mysql_database() as url:
        host_part = url.split("@", 1)[1]  # no user in the URL: it comes from the option file
        home = tmp_path / "home"
        home.mkdir()
        cnf = home / ".my.cnf"
        cnf.write_text("[client]\nuser=nobody-here\n\n[mysql]\nuser=other\n[client]\n"
                       f"user={MYSQL_URL.split('//', 1)[1].split('@', 1)[0] or 'root'}\n")
        env = _env(HOME=str(home), CCTV_DB=f"mysql://{host_part}")
        env.pop("CCTV_DB_PASSWORD", None)
        run = _cli(["db", "init"], env)
        assert run.returncode == 0, run.stderr  # the later [client] value won, as for mysql(1)
        cnf.write_text("password=hunter2-secret\n[client]\nuser=root\n")
        bad = _cli(["db", "status"], env)
        assert bad.returncode == 2
        assert bad.stderr == (f"error: {cnf}:1: not a valid MySQL option file line: an option before "
                              "any [group] header (put it under [client]) (the line is not shown: it "
                              "may hold a password)\n")
        assert "hunter2" not in bad.stdout + bad.stderr


def test_python_warnings_never_reach_stderr_even_under_W_error(tmp_path):
    """A warning raised inside a command (here injected into the aggregate step) is filtered
    at the CLI entry: under ``python -W error`` it neither becomes a traceback nor is printed."""
    url = f"sqlite:///{tmp_path / 'cctv.db'}"
    src = tmp_path / "counts.csv"
    src.write_text(GOOD_ROWS.replace(",-3", ",5"))
    env = _env(CCTV_DB=url, PYTHONWARNINGS="error")
    assert _cli(["import", str(src)], env).returncode == 0
    code = ("import sys, warnings\n"
            "import cctvctl.stats.run as r\n"
            "orig = r.run_aggregate\n"
            "def noisy(*a, **k):\n"
            "    warnings.warn('overflow encountered in multiply', RuntimeWarning)\n"
            "    warnings.warn('a deprecated call', DeprecationWarning)\n"
            "    return orig(*a, **k)\n"
            "r.run_aggregate = noisy\n"
            "sys.argv = ['cctvctl', 'aggregate', 'all']\n"
            "from cctvctl.cli import main\n"
            "main()\n")
    run = subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True, text=True,
                         env=env, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stderr == "" and "statistics written" in run.stdout
    for args in (["report", "--day", "2021-08-01", "--format", "json"],
                 ["detect", "--since", "2021-08-01", "--until", "2021-08-01"]):
        plain = _cli(args, env)
        assert plain.returncode == 0 and plain.stderr == "", (args, plain.stderr)


def test_k_at_the_bound_stores_finite_figures_on_both_backends(db_url):
    from cctvctl.db import connect
    from cctvctl.stats import run_aggregate
    from aggref import import_frame, make_counts

    tz = "Asia/Seoul"
    db = connect(db_url)
    try:
        import_frame(db, make_counts(tz, date(2021, 8, 1), date(2021, 8, 2), "g", seed=3), tz)
        run_aggregate(db, "day", ZoneInfo(tz), k=validate.K_MAX, since="2021-08-01", until="2021-08-02")
        refs = [r[0] for r in db.query("SELECT people_ref FROM stats WHERE grain = 'day'")]
        assert refs and all(math.isfinite(float(v)) for v in refs)
        with pytest.raises(UsageError):
            run_aggregate(db, "day", ZoneInfo(tz), k=1e308, since="2021-08-01", until="2021-08-02")
    finally:
        db.close()
