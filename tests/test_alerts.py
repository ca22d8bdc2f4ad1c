"""`cctvctl alerts`: each episode told once per consumer, re-sent after a crash, never lost."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cctvctl.cli import app

TZ = "Asia/Seoul"
NOW = "2021-03-27T00:00"
SINCE = "2021-03-20"


def _cctvctl() -> str:
    return str(Path(sys.executable).with_name("cctvctl"))


@pytest.fixture
def loaded(runner, db_url, tmp_path):
    """26 days of hourly counts for three cameras: gate-1 surges ×20 for three hours on
    2021-03-24, gate-3 goes dark after 2021-03-22 16:00. Detection runs at import."""
    stamps = pd.date_range("2021-03-01", periods=26 * 24, freq="h")
    rng = np.random.default_rng(5)
    level = 20 + 200 * np.exp(-((stamps.hour.to_numpy() - 13) ** 2) / 12)
    frames = []
    for camera in ("gate-1", "gate-2", "gate-3"):
        people = rng.poisson(level)
        keep = np.ones(len(stamps), bool)
        if camera == "gate-1":
            surge = (stamps >= "2021-03-24 12:00") & (stamps < "2021-03-24 15:00")
            people[surge] *= 20
        if camera == "gate-3":
            keep = stamps < "2021-03-22 16:00"
        frames.append(pd.DataFrame({"camera": camera, "start": stamps.strftime("%Y-%m-%d %H:%M"),
                                    "people": people})[keep])
    path = tmp_path / "counts.csv"
    pd.concat(frames).to_csv(path, index=False)
    result = runner.invoke(app, ["import", str(path), "--db", db_url, "--tz", TZ, "--interval", "60"])
    assert result.exit_code == 0, result.output
    return db_url


def _alerts(runner, url, *args):
    return runner.invoke(app, ["alerts", "--db", url, "--tz", TZ, "--since", SINCE, "--now", NOW,
                               *args])


def _records(result) -> list[dict]:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_each_episode_is_told_once(runner, loaded):
    first = _records(_alerts(runner, loaded, "--consumer", "mail", "--format", "json"))
    kinds = {(r["camera"], r["kind"]) for r in first}
    assert ("gate-1", "outlier") in kinds, first
    assert ("gate-3", "dark") in kinds, first
    surge = [r for r in first if r["camera"] == "gate-1" and r["kind"] == "outlier"
             and r["direction"] == "high"]
    assert len(surge) == 1, "three consecutive flagged hours are one episode"
    assert surge[0]["start"].startswith("2021-03-24T12:00") and surge[0]["intervals"] == 3
    dark = [r for r in first if r["kind"] == "dark"]
    assert [r["start"][:16] for r in dark] == ["2021-03-22T16:00"]
    again = _alerts(runner, loaded, "--consumer", "mail")
    assert (again.exit_code, again.stdout) == (0, "")


def test_two_consumers_are_independent(runner, loaded):
    mail = _records(_alerts(runner, loaded, "--consumer", "mail", "--format", "json"))
    assert _alerts(runner, loaded, "--consumer", "mail").stdout == ""
    pager = _records(_alerts(runner, loaded, "--consumer", "pager", "--format", "json"))
    assert [r["summary"] for r in pager] == [r["summary"] for r in mail]


def test_table_prints_one_sentence_per_episode(runner, loaded):
    result = _alerts(runner, loaded, "--consumer", "mail")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert any(line.startswith("camera gate-1 people high") for line in lines), lines
    assert "camera gate-3 has sent no counts since 2021-03-22 16:00" in lines


def test_dark_after_zero_turns_dark_cameras_off(runner, loaded):
    records = _records(_alerts(runner, loaded, "--consumer", "x", "--dark-after", "0",
                               "--format", "json"))
    assert records and all(r["kind"] != "dark" for r in records)


def test_a_failing_hook_is_retried_on_the_next_run(runner, loaded, tmp_path):
    failed = _alerts(runner, loaded, "--consumer", "hook", "--exec", "cat > /dev/null; exit 3")
    assert failed.exit_code == 1
    assert "not delivered: the --exec command exited with 3; it is retried on the next run" in failed.stderr
    out = tmp_path / "got.jsonl"
    ok = _alerts(runner, loaded, "--consumer", "hook", "--exec", f"cat >> '{out}'")
    assert ok.exit_code == 0, ok.output
    got = [json.loads(line) for line in out.read_text().splitlines()]
    assert {(g["camera"], g["kind"]) for g in got} >= {("gate-1", "outlier"), ("gate-3", "dark")}
    assert all(g["consumer"] == "hook" for g in got)
    assert _alerts(runner, loaded, "--consumer", "hook", "--exec", f"cat >> '{out}'").stdout == ""
    assert len(out.read_text().splitlines()) == len(got)


def test_a_hook_that_hangs_is_killed_and_retried(runner, loaded, tmp_path):
    result = _alerts(runner, loaded, "--consumer", "slow", "--exec", "sleep 30", "--timeout", "0.5")
    assert result.exit_code == 1
    assert "did not finish within 0.5 s (killed)" in result.stderr
    again = _records(_alerts(runner, loaded, "--consumer", "slow", "--format", "json"))
    assert again, "nothing was marked, so everything is still pending"


def test_sigkill_between_delivery_and_mark_resends(loaded, tmp_path):
    """The hook kills cctvctl itself after receiving the first episode: it was delivered but
    never marked, so the next run sends it again (at least once, never lost)."""
    out = tmp_path / "got.jsonl"
    env = {**os.environ, "CCTV_TZ": TZ}
    base = [_cctvctl(), "alerts", "--db", loaded, "--since", SINCE, "--now", NOW, "--consumer", "k"]
    killed = subprocess.run([*base, "--exec", f"cat >> '{out}'; kill -9 $PPID"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert killed.returncode == -9
    first = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(first) == 1
    rerun = subprocess.run([*base, "--format", "json"], env=env, capture_output=True, text=True,
                           timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    resent = json.loads(rerun.stdout)
    assert first[0]["summary"] in [r["summary"] for r in resent]


def test_no_news_is_silent_and_exit_0(runner, db_url, tmp_path):
    path = tmp_path / "one.csv"
    path.write_text("camera,start,people\ng,2021-03-01 00:00,3\n")
    assert runner.invoke(app, ["import", str(path), "--db", db_url, "--tz", TZ]).exit_code == 0
    result = runner.invoke(app, ["alerts", "--db", db_url, "--tz", TZ, "--consumer", "c"])
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "")


@pytest.mark.parametrize("args, message", [
    (["--consumer", "a b"], "--consumer 'a b' must be 1-80 letters"),
    (["--consumer", "x" * 81], "must be 1-80 letters"),
    (["--dark-after", "-1"], "--dark-after must be between 0 and 8784 hours"),
    (["--timeout", "0"], "--timeout must be between 0 and 3600 seconds"),
    (["--format", "xml"], "--format must be table or json"),
    (["--now", "yesterday"], "--now 'yesterday' is not a local time"),
    (["--since", "2021-03-28"], "--since 2021-03-28 is not before --now"),
])
def test_bad_usage_exits_2_with_one_line(runner, sqlite_url, args, message):
    result = runner.invoke(app, ["alerts", "--db", sqlite_url, "--now", NOW, *args])
    assert result.exit_code == 2, result.output
    assert message in result.stderr and len(result.stderr.splitlines()) == 1


def test_detect_episodes_groups_consecutive_flags(runner, loaded):
    result = runner.invoke(app, ["detect", "--db", loaded, "--tz", TZ, "--since", "2021-03-24",
                                 "--until", "2021-03-24", "--camera", "gate-1", "--episodes",
                                 "--format", "json"])
    episodes = _records(result)
    flags = _records(runner.invoke(app, ["detect", "--db", loaded, "--tz", TZ, "--since",
                                         "2021-03-24", "--until", "2021-03-24", "--camera",
                                         "gate-1", "--format", "json"]))
    assert sum(e["intervals"] for e in episodes) == len(flags)
    surge = [e for e in episodes if e["start"].startswith("2021-03-24T12:00")]
    assert surge and surge[0]["intervals"] == 3 and surge[0]["end"].startswith("2021-03-24T15:00")
