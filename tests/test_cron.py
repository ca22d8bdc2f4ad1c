"""cron/: every schedule line is valid and runs a command that exists; `cctvctl cron` too."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from aggref import import_frame, make_counts
from cctvctl.cli import app
from cctvctl.db import connect

CRON_DIR = Path(__file__).resolve().parent.parent / "cron"
FIELDS = [("minute", 0, 59, {}), ("hour", 0, 23, {}), ("day of month", 1, 31, {}),
          ("month", 1, 12, {m: i + 1 for i, m in enumerate(
              "jan feb mar apr may jun jul aug sep oct nov dec".split())}),
          ("day of week", 0, 7, {d: i for i, d in enumerate("sun mon tue wed thu fri sat".split())})]
MACROS = {"@reboot", "@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
ENV_LINE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$")


def _value(text: str, lo: int, hi: int, names: dict) -> int:
    value = names[text.lower()] if text.lower() in names else int(text)
    if not lo <= value <= hi:
        raise ValueError(f"{text} outside {lo}-{hi}")
    return value


def check_field(text: str, lo: int, hi: int, names: dict) -> None:
    """One crontab time field (lists, ranges, steps, names); ValueError when invalid."""
    for part in text.split(","):
        base, _, step = part.partition("/")
        if step and (not step.isdigit() or int(step) < 1):
            raise ValueError(f"bad step in {part!r}")
        if base == "*":
            continue
        a, dash, b = base.partition("-")
        first = _value(a, lo, hi, names)
        if dash and _value(b, lo, hi, names) < first:
            raise ValueError(f"backwards range {base!r}")
        if step and not dash:
            raise ValueError(f"step without a range in {part!r}")


def parse_crontab(text: str) -> tuple[dict[str, str], list[list[str]]]:
    """(environment lines, schedule lines split into fields + command); raises on bad lines."""
    env: dict[str, str] = {}
    jobs: list[list[str]] = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = ENV_LINE.match(line)
        if m and not line.split()[0].startswith(("@", "*")) and not line[0].isdigit():
            env[m[1]] = m[2].strip().strip('"')
            continue
        if line.startswith("@"):
            macro, command = line.split(None, 1)
            assert macro in MACROS, f"line {number}: unknown {macro}"
            jobs.append([command])
            continue
        parts = line.split(None, 5)
        assert len(parts) == 6, f"line {number}: needs five time fields and a command: {line!r}"
        for (name, lo, hi, names), text_ in zip(FIELDS, parts[:5]):
            try:
                check_field(text_, lo, hi, names)
            except ValueError as exc:
                raise AssertionError(f"line {number}: invalid {name} {text_!r}: {exc}") from None
        jobs.append(parts[5:])
    return env, jobs


def test_the_validator_rejects_bad_lines():
    for bad in ("61 0 * * * /bin/true", "0 24 * * * /bin/true", "* * * 13 * /bin/true",
                "5-1 * * * * /bin/true", "*/0 * * * * /bin/true", "0 0 * * /bin/true"):
        with pytest.raises(AssertionError):
            parse_crontab(bad)
    env, jobs = parse_crontab("CRON_TZ=UTC\n*/15 1-5,7 1 jan-mar mon /bin/true\n@daily /bin/true\n")
    assert env == {"CRON_TZ": "UTC"} and len(jobs) == 2


def _runs_help(command: str, executable: str) -> None:
    """Run the line's command with --help, through the given executable."""
    argv = shlex.split(command)
    assert os.path.isabs(argv[0]), f"cron needs an absolute path: {argv[0]}"
    result = subprocess.run([executable, *argv[1:], "--help"], capture_output=True, text=True,
                            timeout=60, env={**os.environ, "COLUMNS": "100"})
    assert result.returncode == 0, result.stderr
    assert "Usage:" in result.stdout


def test_reference_crontab_lines_are_valid_and_their_commands_exist():
    files = sorted(p for p in CRON_DIR.iterdir() if p.name == "crontab" or p.suffix == ".cron")
    assert files, f"no crontab in {CRON_DIR}"
    installed = str(Path(sys.executable).with_name("cctvctl"))
    assert Path(installed).exists(), "the cctvctl entry point is not installed"
    for path in files:
        env, jobs = parse_crontab(path.read_text())
        ZoneInfo(env["CRON_TZ"])  # a real zone
        assert env.get("CCTV_TZ") == env["CRON_TZ"]
        assert env["CCTV_DB"].startswith(("sqlite://", "mysql://"))
        assert jobs
        for (command,) in jobs:
            assert Path(shlex.split(command)[0]).name == "cctvctl"
            assert "--quiet" in shlex.split(command)
            # The reference path is /opt/…; the same command must exist in this installation.
            _runs_help(command, installed)


def test_cctvctl_cron_prints_lines_that_run_here(runner, tmp_path):
    url = f"sqlite:///{tmp_path / 'cron.db'}"
    exe = str(Path(sys.executable).with_name("cctvctl"))
    printed = subprocess.run([exe, "cron", "--db", url, "--tz", "Asia/Seoul", "--at", "01:30"],
                             capture_output=True, text=True, timeout=60)
    assert printed.returncode == 0, printed.stderr
    env, jobs = parse_crontab(printed.stdout)
    assert env["CRON_TZ"] == "Asia/Seoul" and env["CCTV_TZ"] == "Asia/Seoul"
    assert env["CCTV_DB"] == url
    assert [shlex.split(j[0])[1:] for j in jobs] == [["alerts", "--consumer", "cron-mail", "--quiet"],
                                                     ["aggregate", "all", "--quiet"]]
    assert printed.stdout.splitlines()[-1].startswith("30 1 * * * /")
    command = shlex.split(jobs[1][0])
    assert os.access(command[0], os.X_OK)
    _runs_help(jobs[0][0], command[0])
    _runs_help(jobs[1][0], command[0])
    # Run the job as cron would: its environment lines, its command; silent on success.
    with connect(url) as db:
        import_frame(db, make_counts("Asia/Seoul", date(2021, 8, 1), date(2021, 8, 2), "gate"), "Asia/Seoul")
    job = subprocess.run(command, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), **env},
                         capture_output=True, text=True, timeout=120)
    assert (job.returncode, job.stdout, job.stderr) == (0, "", "")
    with connect(url) as db:
        assert db.scalar("SELECT COUNT(*) FROM stats WHERE grain = 'day'") == 2
    # the alerts job: no news this week (the data is from 2021), so cron has nothing to mail
    alerts = subprocess.run(shlex.split(jobs[0][0]), env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), **env},
                            capture_output=True, text=True, timeout=120)
    assert (alerts.returncode, alerts.stdout, alerts.stderr) == (0, "", "")


def test_cron_rejects_a_bad_time(runner):
    result = runner.invoke(app, ["cron", "--at", "25:00"])
    assert result.exit_code == 2
    assert result.stderr == "error: invalid --at '25:00' (expected HH:MM, e.g. 00:15)\n"
