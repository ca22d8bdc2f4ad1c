"""One zone per database (issue 11, finding 2): recorded, used by default, a different one refused.

Real SQLite files and a real MariaDB database (``fresh_url``), the installed ``cctvctl`` in a
subprocess where the environment (TZ, CCTV_TZ) is the point, and the system-zone lookup run
against fake root directories with real files and links.
"""

from __future__ import annotations

import json
import re
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from import_helpers import (  # noqa: E402,F401  (fixtures are used by name)
    count_rows, fresh_url, idb, local_epoch, shared_mysql_url, snapshot, stored)

from cctvctl.cli import app  # noqa: E402
from cctvctl.db.connect import parse_url  # noqa: E402
from cctvctl.errors import UsageError  # noqa: E402
from cctvctl.zone import system_zone_name  # noqa: E402

ZONEINFO = Path("/usr/share/zoneinfo")
SEOUL = ("camera,start,end,people,vehicle\n"
         "gate-1,2021-08-01 00:00:00,2021-08-01 00:05:00,3,4\n"
         "gate-1,2021-08-01 00:05:00,2021-08-01 00:10:00,5,6\n")
MORE = ("camera,start,end,people,vehicle\n"
        "gate-1,2021-08-02 00:00:00,2021-08-02 00:05:00,7,8\n")


def invoke(runner, *args):
    return runner.invoke(app, list(args))


def cli(*args, env_extra: dict | None = None, drop=("CCTV_TZ",)) -> subprocess.CompletedProcess:
    """The installed cctvctl, with the test's environment less ``drop`` plus ``env_extra``."""
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(env_extra or {})
    exe = str(Path(sys.executable).with_name("cctvctl"))  # the venv of this interpreter, PATH or not
    return subprocess.run([exe, *args], env=env, capture_output=True, text=True, timeout=120)


def starts(url: str) -> list[int]:
    return [row[1] for row in stored(url, ("camera", "start_utc"))]


def db_zone(url: str) -> tuple:
    """(zone, where it is recorded) as every command finds it."""
    from import_helpers import _open

    from cctvctl.zone import stored_zone

    with _open(url) as db:
        return stored_zone(db)


def agg_zone(url: str):
    from import_helpers import _open

    with _open(url) as db:
        row = db.query_one("SELECT value FROM agg_state WHERE name = 'tz'")
    return row[0] if row else None


# -- the system zone ---------------------------------------------------------------------------
@pytest.fixture
def no_tz(monkeypatch):
    monkeypatch.delenv("TZ", raising=False)


def test_system_zone_from_etc_timezone(tmp_path, no_tz):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "timezone").write_text("Asia/Seoul\n")
    assert system_zone_name(root=str(tmp_path), env={}) == "Asia/Seoul"


def test_system_zone_from_the_localtime_link(tmp_path, no_tz):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "localtime").symlink_to(ZONEINFO / "Europe" / "Berlin")
    assert system_zone_name(root=str(tmp_path), env={}) == "Europe/Berlin"


@pytest.mark.parametrize("layout", ["nothing", "copied-localtime", "empty-timezone"])
def test_system_zone_unknown_is_refused_never_utc(tmp_path, no_tz, layout):
    """A container without /etc/timezone or a /etc/localtime link: refused, not UTC."""
    (tmp_path / "etc").mkdir()
    if layout == "copied-localtime":  # a file, not a link: it does not name its zone
        shutil.copyfile(ZONEINFO / "Asia" / "Seoul", tmp_path / "etc" / "localtime")
    elif layout == "empty-timezone":
        (tmp_path / "etc" / "timezone").write_text("\n")
    with pytest.raises(UsageError, match=r"cannot tell the system time zone .*--tz ZONE"):
        system_zone_name(root=str(tmp_path), env={})


@pytest.mark.parametrize("value,expected", [
    ("Asia/Seoul", "Asia/Seoul"),
    (":America/New_York", "America/New_York"),
    (str(ZONEINFO / "Australia" / "Melbourne"), "Australia/Melbourne"),
])
def test_system_zone_from_tz_variable(tmp_path, value, expected):
    assert system_zone_name(root=str(tmp_path), env={"TZ": value}) == expected


@pytest.mark.parametrize("value", ["KST-9", "Mars/Olympus"])
def test_tz_variable_without_an_iana_zone_is_refused(tmp_path, value):
    with pytest.raises(UsageError, match="TZ environment variable"):
        system_zone_name(root=str(tmp_path), env={"TZ": value})


@pytest.mark.parametrize("zone", ["localtime", "posixrules", "Factory", "right/Asia/Seoul",
                                  "posix/Asia/Seoul"])
def test_zone_files_that_are_not_a_place_are_refused(tmp_path, zone):
    """`localtime` would follow the host's link, `right/…` counts leap seconds: neither may
    become a database's one zone."""
    path = tmp_path / "c.csv"
    path.write_text("camera,start,people\ng,2021-08-01 09:00,5\n")
    url = f"sqlite:///{tmp_path / 'z.db'}"
    refused = cli("--db", url, "--tz", zone, "import", str(path), "--no-detect")
    assert refused.returncode == 2 and "not a place's zone" in refused.stderr, refused.stderr


def test_first_import_uses_and_records_the_system_zone_from_tz(fresh_url, tmp_path):
    """TZ=Asia/Seoul, no --tz, no CCTV_TZ: the file is read as Seoul time and Seoul recorded."""
    path = tmp_path / "seoul.csv"
    path.write_text(SEOUL)
    proc = cli("--db", fresh_url, "import", str(path), "--no-detect", env_extra={"TZ": "Asia/Seoul"})
    assert proc.returncode == 0, proc.stderr
    assert starts(fresh_url) == [local_epoch("2021-08-01 00:00:00", "Asia/Seoul"),
                                 local_epoch("2021-08-01 00:05:00", "Asia/Seoul")]
    assert db_zone(fresh_url) == ("Asia/Seoul", "imports")  # the ledger row records it
    assert "zone Asia/Seoul (the system zone)" in proc.stdout


# -- the database's zone wins ------------------------------------------------------------------
def test_import_without_tz_uses_the_database_zone(fresh_url, tmp_path):
    """Issue 11 finding 2: a Seoul database, a shell in UTC, no --tz: read as Seoul, not UTC."""
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    first.write_text(SEOUL)
    second.write_text(MORE)
    assert cli("--db", fresh_url, "import", str(first), "--tz", "Asia/Seoul", "--no-detect").returncode == 0
    proc = cli("--db", fresh_url, "import", str(second), "--no-detect", env_extra={"TZ": "UTC"})
    assert proc.returncode == 0, proc.stderr
    assert local_epoch("2021-08-02 00:00:00", "Asia/Seoul") in starts(fresh_url)
    display = parse_url(fresh_url).display()
    assert proc.stdout.splitlines()[-1] == f"  into {display}, zone Asia/Seoul (the database's zone)"


@pytest.mark.parametrize("how", ["flag", "env"])
def test_a_different_zone_is_refused_and_nothing_written(fresh_url, runner, tmp_path, monkeypatch, how):
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    first.write_text(SEOUL)
    second.write_text(MORE)
    assert invoke(runner, "--db", fresh_url, "import", str(first), "--no-detect").exit_code == 0
    before = snapshot(fresh_url)
    if how == "flag":
        result = invoke(runner, "--db", fresh_url, "import", str(second), "--tz", "Europe/Berlin")
    else:
        monkeypatch.setenv("CCTV_TZ", "Europe/Berlin")
        result = invoke(runner, "--db", fresh_url, "import", str(second))
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("error: this database's zone is Asia/Seoul; --tz/CCTV_TZ "
                                    "Europe/Berlin differs")
    assert snapshot(fresh_url) == before


def test_every_command_refuses_another_zone(fresh_url, runner, tmp_path):
    path = tmp_path / "a.csv"
    path.write_text(SEOUL)
    assert invoke(runner, "--db", fresh_url, "import", str(path), "--no-detect").exit_code == 0
    for args in (["aggregate", "all"], ["report", "--day", "2021-08-01"],
                 ["detect", "--since", "2021-08-01", "--until", "2021-08-01"],
                 ["db", "status"], ["db", "init"], ["cron"]):
        result = invoke(runner, "--db", fresh_url, "--tz", "UTC", *args)
        assert result.exit_code == 2, (args, result.stdout, result.stderr)
        assert "this database's zone is Asia/Seoul" in result.stderr, args
        same = invoke(runner, "--db", fresh_url, "--tz", "Asia/Seoul", *args)
        assert same.exit_code == 0, (args, same.stderr)
    assert agg_zone(fresh_url) == "Asia/Seoul"


def test_db_init_records_the_zone_and_a_rejected_first_import_records_none(fresh_url, runner, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("camera,start,end,people\ngate-1,2021-08-01 00:00:00,2021-08-01 00:05:00,-3\n")
    assert invoke(runner, "--db", fresh_url, "--tz", "Europe/Berlin", "import", str(bad)).exit_code == 2
    assert db_zone(fresh_url) == (None, "")
    init = invoke(runner, "--db", fresh_url, "db", "init", "--tz", "America/New_York")
    assert init.exit_code == 0 and init.stdout.rstrip().endswith("zone America/New_York (recorded now)")
    assert agg_zone(fresh_url) == "America/New_York"
    status = json.loads(invoke(runner, "--db", fresh_url, "--tz", "America/New_York", "db", "status",
                               "--format", "json").stdout)
    assert (status["zone"], status["zone_recorded"]) == ("America/New_York", True)


def test_library_import_without_tz_uses_the_database_zone(fresh_url, tmp_path, monkeypatch):
    from cctvctl import api

    monkeypatch.delenv("CCTV_TZ")
    path = tmp_path / "a.csv"
    path.write_text(SEOUL)
    api.import_file(str(path), db=fresh_url, tz="Asia/Seoul", policy=api.ImportPolicy(detect=False))
    api.import_rows([{"camera": "gate-2", "start": "2021-08-01 01:00:00",
                      "end": "2021-08-01 01:05:00", "people": 1}], db=fresh_url, detect=False)
    assert local_epoch("2021-08-01 01:00:00", "Asia/Seoul") in starts(fresh_url)
    with pytest.raises(UsageError, match="zone is Asia/Seoul"):
        api.import_file(str(path), db=fresh_url, tz="UTC")


def test_database_from_before_zones_adopts_its_imports_zone(fresh_url, runner, tmp_path):
    """A database imported by an older cctvctl holds the zone only in its ledger."""
    from import_helpers import _open

    one, two = tmp_path / "a.csv", tmp_path / "b.csv"
    one.write_text(SEOUL)
    two.write_text(MORE)
    assert invoke(runner, "--db", fresh_url, "import", str(one), "--no-detect").exit_code == 0
    with _open(fresh_url) as db:
        db.execute("DELETE FROM agg_state WHERE name = 'tz'")
    refused = invoke(runner, "--db", fresh_url, "--tz", "UTC", "import", str(two))
    assert refused.exit_code == 2 and "zone is Asia/Seoul" in refused.stderr
    with _open(fresh_url) as db:  # a ledger of two zones: the user must choose
        db.execute("UPDATE imports SET tz = 'UTC' WHERE id = (SELECT MAX(id) FROM imports)")
        db.execute("INSERT INTO imports (source, sha256, options_sha256, tz, status, started_at) "
                   "VALUES ('x', 'x', 'x', 'Asia/Seoul', 'ok', 0)")
    mixed = invoke(runner, "--db", fresh_url, "db", "status")
    assert mixed.exit_code == 2 and "several zones (Asia/Seoul, UTC)" in mixed.stderr
    assert "db set-zone ZONE --force" in mixed.stderr
    fixed = invoke(runner, "--db", fresh_url, "db", "set-zone", "Asia/Seoul", "--force")
    assert fixed.exit_code == 0, fixed.stderr
    assert agg_zone(fresh_url) == "Asia/Seoul"


def test_set_zone_needs_force_with_counts_and_drops_what_was_cut_in_the_old_zone(fresh_url, runner, tmp_path):
    path = tmp_path / "a.csv"
    path.write_text(SEOUL)
    assert invoke(runner, "--db", fresh_url, "db", "init", "--tz", "UTC").exit_code == 0
    empty = invoke(runner, "--db", fresh_url, "db", "set-zone", "Asia/Seoul")  # no counts: allowed
    assert empty.exit_code == 0 and agg_zone(fresh_url) == "Asia/Seoul"
    assert invoke(runner, "--db", fresh_url, "import", str(path), "--no-detect").exit_code == 0
    assert invoke(runner, "--db", fresh_url, "aggregate", "day", "--date", "2021-08-01").exit_code == 0
    assert count_rows(fresh_url, "stats") > 0
    before = stored(fresh_url)
    refused = invoke(runner, "--db", fresh_url, "db", "set-zone", "UTC")
    assert refused.exit_code == 2 and "add --force" in refused.stderr and agg_zone(fresh_url) == "Asia/Seoul"
    changed = invoke(runner, "--db", fresh_url, "db", "set-zone", "UTC", "--force")
    assert changed.exit_code == 0, changed.stderr
    assert "zone Asia/Seoul → UTC; dropped" in changed.stdout
    assert (agg_zone(fresh_url), count_rows(fresh_url, "stats")) == ("UTC", 0)
    assert stored(fresh_url) == before  # instants stay
    redo = invoke(runner, "--db", fresh_url, "--tz", "UTC", "aggregate", "day", "--date", "2021-07-31")
    assert redo.exit_code == 0 and "statistics written in UTC" in redo.stdout


# -- the DST fall-back hour split across two imports (issue 12 M3) -------------------------------
BERLIN = "Europe/Berlin"


def _fall_day() -> list[tuple[str, int, int]]:
    """Hourly rows of 2021-10-31 in Berlin: 25 (local text, fold, people); 02:00 twice."""
    rows = []
    for h in range(24):
        for fold in ((0, 1) if h == 2 else (0,)):
            rows.append((f"2021-10-31 {h:02d}:00", fold, 10 + h))  # both 02:00 passes count 12
    return rows


def test_fall_back_hour_split_across_two_imports_keeps_both_passes(fresh_url, runner, tmp_path):
    rows = _fall_day()
    head = "camera,start,people\n"
    first = write_rows(tmp_path / "first.csv", head, rows[:3])  # 00:00, 01:00, 02:00 (summer)
    second = write_rows(tmp_path / "second.csv", head, rows[3:])  # 02:00 (winter) … 23:00
    for path in (first, second):
        result = runner.invoke(app, ["--db", fresh_url, "--tz", BERLIN, "import", str(path),
                                     "--interval", "60", "--no-detect"])
        assert result.exit_code == 0, result.stderr
    expected = [("cam", local_epoch(text, BERLIN, fold=fold), people) for text, fold, people in rows]
    assert stored(fresh_url, ("camera", "start_utc", "people")) == sorted(expected)
    assert len(expected) == 25
    # a later export of the whole day is recognised row by row: 25 duplicates, nothing new
    whole = write_rows(tmp_path / "whole.csv", head, rows)
    again = runner.invoke(app, ["--db", fresh_url, "--tz", BERLIN, "import", str(whole), "--interval", "60",
                                "--no-detect", "--format", "json"])
    assert again.exit_code == 0, again.stderr
    assert (json.loads(again.stdout)["inserted"], json.loads(again.stdout)["duplicates"]) == (0, 25)


def test_a_file_beginning_in_the_hour_without_a_stored_first_pass_is_the_first_pass(idb, tmp_path):
    from zoneinfo import ZoneInfo

    from cctvctl.ingest import ImportOptions, import_file

    path = write_rows(tmp_path / "late.csv", "camera,start,people\n", _fall_day()[2:4])
    result = import_file(idb, path, ImportOptions(tz=ZoneInfo(BERLIN), detect=False, interval=3600))
    assert result.dst["ambiguous_earliest"] == 1 and result.dst["ambiguous_latest"] == 1
    assert [r[1] for r in stored(idb, ("camera", "start_utc"))] == [
        local_epoch("2021-10-31 02:00", BERLIN, fold=0), local_epoch("2021-10-31 02:00", BERLIN, fold=1)]


def write_rows(path: Path, head: str, rows) -> Path:
    path.write_text(head + "".join(f"cam,{text},{people}\n" for text, _, people in rows))
    return path


# -- several files: say exactly what was committed (issue 12) -------------------------------------
def _one(tmp_path, name: str, minute: int, people: int) -> Path:
    path = tmp_path / name
    path.write_text(f"camera,start,end,people\ng,2021-08-01 00:{minute:02d},2021-08-01 00:{minute + 5:02d},{people}\n")
    return path


def test_several_files_one_refused_says_what_was_committed(fresh_url, tmp_path):
    a, bad, c = _one(tmp_path, "a.csv", 0, 1), _one(tmp_path, "bad.csv", 5, -1), _one(tmp_path, "c.csv", 10, 2)
    proc = cli("--db", fresh_url, "--tz", "Asia/Seoul", "import", str(a), str(bad), str(c),
               "--no-detect", "-q")
    assert proc.returncode == 2
    last = proc.stderr.splitlines()[-1]
    assert re.fullmatch(rf"summary: 2 of 3 files committed: {re.escape(str(a))} \(import #\d+, inserted 1\), "
                        rf"{re.escape(str(c))} \(import #\d+, inserted 1\); not imported: {re.escape(str(bad))}",
                        last), last
    assert [r[3] for r in stored(fresh_url)] == [1, 2]  # a and c are in, bad is not
    # a run stopped by an error names what it committed before and what it never tried
    gone = tmp_path / "gone.csv"
    stop = cli("--db", fresh_url, "import", str(a), str(gone), str(c), "--no-detect", "-q")
    assert stop.returncode == 2
    assert (f"summary: 1 of 3 files committed: {a} (already imported as #") in stop.stderr
    assert f"; not imported: {gone}, {c}" in stop.stderr
