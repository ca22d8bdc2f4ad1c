"""`cctvctl demo`: the first command a newcomer runs works on a fresh install, in seconds."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

from cctvctl.cli import app


def test_demo_on_a_fresh_install_prints_the_month_report_with_outliers(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CCTV_") and k not in ("TZ", "COLUMNS")}
    env.update(HOME=str(tmp_path / "home"), XDG_DATA_HOME=str(tmp_path / "xdg"))
    exe = Path(sys.executable).with_name("cctvctl")
    clock = time.monotonic()
    proc = subprocess.run([str(exe) if exe.exists() else "cctvctl", "demo"], capture_output=True,
                          text=True, env=env, cwd=tmp_path, timeout=300)
    seconds = time.monotonic() - clock
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "cctvctl report · month 2021-08 · Asia/Seoul" in out
    assert "statistics: from the stats table" in out  # aggregate ran before the report
    assert "coverage 100.0% (26,784 of 26,784 intervals)" in out
    outliers = out.split("\nOutliers", 1)[1]
    assert re.search(r"^08-04 19:00 +2h +gate-north +people high", outliers, re.M)  # the festival
    assert len(re.findall(r"^08-\d\d \d\d:\d\d", outliers, re.M)) >= 4
    assert out.count(" → flagged (") == 4 and "NOT flagged" not in out
    report = out.split("5. report", 1)[1].split("\n", 1)[1].split("The demo database", 1)[0]
    assert max(len(line) for line in report.splitlines()) <= 80  # off a terminal: 80 columns
    assert proc.stderr == ""
    # a temporary database, removed afterwards; the default database is never created
    sample = re.search(r"→ (\S+)/sample_counts\.csv", out).group(1)
    assert not Path(sample).exists()
    assert not (tmp_path / "xdg" / "cctvctl").exists() and not (tmp_path / "home" / ".local").exists()
    assert seconds < 60, f"the demo took {seconds:.1f} s"


def test_demo_keeps_its_folder_and_ignores_cctv_db(runner, tmp_path, monkeypatch):
    production = tmp_path / "production.db"
    monkeypatch.setenv("CCTV_DB", f"sqlite:///{production}")
    folder = tmp_path / "demo"
    result = runner.invoke(app, ["demo", "--dir", str(folder)])
    assert result.exit_code == 0, result.output
    assert not production.exists()
    assert (folder / "cctv.db").is_file()  # beside it: SQLite's WAL files and cctvctl's lock files
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith("cctv.db")) == [
        "report-2021-08.png", "sample_counts.csv"]
    assert f"chart: {folder / 'report-2021-08.png'}" in result.stdout
    url = f"sqlite://{(folder / 'cctv.db').resolve()}"
    assert f"Explore it: cctvctl --db {url} --tz Asia/Seoul report --week 2021-W34" in result.stdout
    week = runner.invoke(app, ["report", "--week", "2021-W34", "--db", url, "--tz", "Asia/Seoul",
                               "--format", "csv", "--section", "cameras"])
    assert week.exit_code == 0, week.output
    assert week.stdout.splitlines()[1].startswith("gate-north,2016,2016,1.0,")
    # running it again over the same folder is a no-op import, and the same report
    again = runner.invoke(app, ["demo", "--dir", str(folder)])
    assert again.exit_code == 0, again.output
    assert "2. import: already imported (no-op)" in again.stdout
    report = result.stdout.split("5. report", 1)[1].split("\n", 1)[1]
    assert again.stdout.split("5. report", 1)[1].split("\n", 1)[1] == report


def test_demo_refuses_an_unknown_zone(runner):
    result = runner.invoke(app, ["demo", "--tz", "Mars/Olympus"])
    assert result.exit_code == 2
    assert result.stderr == "error: unknown time zone 'Mars/Olympus' (use an IANA name such as Asia/Seoul)\n"


def test_demo_takes_a_database_typed_before_the_command(runner):
    """`cctvctl --db URL demo` uses URL (here an unreachable server: a runtime failure, exit 1)."""
    result = runner.invoke(app, ["--db", "mysql://demo@127.0.0.1:1/cctv", "demo"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: cannot connect to MySQL at 127.0.0.1:1: ")
