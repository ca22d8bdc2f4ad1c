"""Faults done for real: a database server killed mid-import and mid-aggregation, unreachable
hosts, wrong passwords, a full disk and a read-only file. Each must end in exit 1 with one clear
line, lose nothing, and heal on the next run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mariadb_instance import free_port, private_instance  # noqa: E402

from cctvctl.cli import app
from fault_helpers import (HeldStateRow, cli_env, counts_frame, difference, load, pandas_problems,
                           stats_snapshot, uncommitted_rows)

SECRET = "Pw-f4ult-7Hq9-zz"


def write_counts(path: Path, cameras: int, intervals: int) -> int:
    lines = ["camera,start,people,vehicle"]
    for c in range(cameras):
        for i in range(intervals):
            h, m = divmod(i * 5, 60)
            d, h = divmod(h, 24)
            lines.append(f"cam-{c},2021-{1 + d // 28:02d}-{1 + d % 28:02d} {h:02d}:{m:02d},{(i * 7 + c) % 50},{i % 9}")
    path.write_text("\n".join(lines) + "\n")
    return cameras * intervals


def one_line(text: str) -> str:
    lines = [l for l in text.splitlines() if l.strip()]
    assert len(lines) == 1, f"expected one error line, got: {text!r}"
    return lines[0]


@pytest.fixture(scope="module")
def private_mariadb(tmp_path_factory):
    yield from private_instance(tmp_path_factory.mktemp("mariadb"))


def test_server_killed_during_import_exits_1_then_rerun_heals(private_mariadb, tmp_path):
    inst = private_mariadb
    with inst.admin().cursor() as cur:
        cur.execute("CREATE DATABASE IF NOT EXISTS crash1")
    url = inst.url("crash1")
    data = tmp_path / "big.csv"
    rows = write_counts(data, cameras=20, intervals=20_000)
    env = {**os.environ, "CCTV_DB": url, "CCTV_TZ": "UTC", "CCTV_DB_PASSWORD": ""}
    proc = subprocess.Popen([sys.executable, "-m", "cctvctl", "import", str(data), "--no-detect"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    admin = inst.admin()
    with admin.cursor() as cur:  # dirty reads: see the import's rows before it commits
        cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ UNCOMMITTED")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # wait until the import is writing inside its transaction
        with admin.cursor() as cur:
            cur.execute("SELECT COUNT(*) FROM information_schema.tables "
                        "WHERE table_schema = 'crash1' AND table_name = 'counts'")
            if cur.fetchone()[0]:
                cur.execute("SELECT COUNT(*) FROM crash1.counts")
                if cur.fetchone()[0] > 0:
                    break
        assert proc.poll() is None, "import finished before the server could be killed; use more rows"
        time.sleep(0.05)
    admin.close()
    inst.kill()
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1
    line = one_line(err)
    assert line.startswith("error: ") and f"127.0.0.1:{inst.port}" in line
    assert "Traceback" not in err
    inst.start()
    with inst.admin().cursor() as cur:  # InnoDB recovery rolled the import back
        cur.execute("SELECT COUNT(*) FROM crash1.counts")
        assert cur.fetchone()[0] == 0
        cur.execute("SELECT COUNT(*) FROM crash1.imports WHERE status = 'ok'")
        assert cur.fetchone()[0] == 0
    again = subprocess.run([sys.executable, "-m", "cctvctl", "import", str(data), "--no-detect"],
                           env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    with inst.admin().cursor() as cur:
        cur.execute("SELECT COUNT(*), COUNT(DISTINCT camera) FROM crash1.counts")
        assert cur.fetchone() == (rows, 20)


def test_server_killed_during_aggregate_exits_1_then_rerun_heals(private_mariadb, runner, tmp_path):
    """The server dies while ``aggregate all`` is inside a transaction (its day rows committed,
    its week rows written but not committed); after a restart the next run completes the work."""
    inst = private_mariadb
    with inst.admin().cursor() as cur:
        cur.execute("CREATE DATABASE IF NOT EXISTS crash2")
    url = inst.url("crash2")
    frame = counts_frame(date(2020, 12, 10), date(2021, 1, 31), cameras=2)
    load(url, frame)
    reference = f"sqlite://{tmp_path / 'undisturbed.db'}"  # the same data, an undisturbed run
    load(reference, frame)
    assert runner.invoke(app, ["--db", reference, "aggregate", "all", "-q"]).exit_code == 0
    assert pandas_problems(reference, frame) == []
    want = stats_snapshot(reference)

    held = HeldStateRow(inst.admin(), "crash2")
    watcher = inst.admin()
    proc = subprocess.Popen([sys.executable, "-m", "cctvctl", "--db", url, "aggregate", "all"],
                            env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        held.wait_until_blocking(proc, watcher)
        assert uncommitted_rows(watcher, "crash2", "week") > 0
    finally:
        watcher.close()
        inst.kill()
    out, err = proc.communicate(timeout=120)
    assert (proc.returncode, out) == (1, "")
    line = one_line(err)
    assert line.startswith("error: ") and f"127.0.0.1:{inst.port}" in line and "Traceback" not in err
    print(f"\nserver killed during aggregate all: {line}")

    inst.start()
    left = stats_snapshot(url)  # committed day rows survive; recovery rolled the week rows back
    assert {key[2] for key in left} == {"day", "hour"}
    assert difference(left, want).wrong == []
    again = subprocess.run([sys.executable, "-m", "cctvctl", "--db", url, "aggregate", "all", "-q"],
                           env=cli_env(), capture_output=True, text=True, timeout=120)
    assert (again.returncode, again.stdout, again.stderr) == (0, "", "")
    assert difference(stats_snapshot(url), want).none


def test_unreachable_server_is_exit_1_with_host_port_and_no_password(runner, monkeypatch):
    monkeypatch.setenv("CCTV_DB_PASSWORD", SECRET)
    port = free_port()
    result = runner.invoke(app, ["db", "status", "--db", f"mysql://cctv@127.0.0.1:{port}/cctv", "-v"])
    assert result.exit_code == 1
    assert f"127.0.0.1:{port}" in result.stderr
    assert SECRET not in result.stdout + result.stderr


def test_wrong_password_is_exit_1_and_never_printed(private_mariadb, monkeypatch, tmp_path):
    inst = private_mariadb
    with inst.admin().cursor() as cur:
        cur.execute("CREATE DATABASE IF NOT EXISTS pw")
        cur.execute("CREATE USER IF NOT EXISTS 'cctv_pw'@'127.0.0.1' IDENTIFIED BY 'the-right-one'")
        cur.execute("GRANT ALL ON pw.* TO 'cctv_pw'@'127.0.0.1'")
    env = {**os.environ, "CCTV_DB_PASSWORD": SECRET, "CCTV_TZ": "UTC"}
    for args in (["db", "status"], ["-v", "db", "status"], ["import", "-", "--camera", "x"]):
        proc = subprocess.run([sys.executable, "-m", "cctvctl", "--db", inst.url("pw", "cctv_pw"), *args],
                              env=env, capture_output=True, text=True, input="start,people\n", timeout=60)
        assert proc.returncode == 1, proc.stderr
        assert SECRET not in proc.stdout + proc.stderr
        assert "Access denied" in proc.stderr and f"127.0.0.1:{inst.port}" in proc.stderr
        if "-v" not in args:
            one_line(proc.stderr)


@pytest.fixture
def tiny_mount(tmp_path):
    """A 1 MB tmpfs: a disk that really fills up (root only; skipped elsewhere)."""
    from conftest import require_privileged

    require_privileged("mounts a tmpfs")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], capture_output=True)
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {res.stderr.decode().strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_full_disk_is_a_clear_error_and_writes_nothing(tiny_mount, tmp_path, runner):
    data = tmp_path / "c.csv"
    write_counts(data, cameras=10, intervals=3000)
    url = f"sqlite://{tiny_mount / 'cctv.db'}"
    result = runner.invoke(app, ["import", str(data), "--db", url, "--tz", "UTC", "--no-detect"])
    assert result.exit_code == 1
    line = one_line(result.stderr)
    assert "full" in line and str(tiny_mount) in line
    subprocess.run(["rm", "-f", *map(str, tiny_mount.glob("cctv.db-*"))])
    status = runner.invoke(app, ["db", "status", "--db", url, "--format", "json"])
    if status.exit_code == 0:  # the database survived: it holds none of the rows
        assert '"rows": 0' in status.stdout


def test_read_only_database_is_a_clear_error(tiny_mount, tmp_path, runner):
    url = f"sqlite://{tiny_mount / 'cctv.db'}"
    assert runner.invoke(app, ["db", "init", "--db", url]).exit_code == 0
    subprocess.run(["mount", "-o", "remount,ro", str(tiny_mount)], check=True)
    data = tmp_path / "c.csv"
    write_counts(data, cameras=1, intervals=10)
    result = runner.invoke(app, ["import", str(data), "--db", url, "--tz", "UTC"])
    assert result.exit_code == 1
    line = one_line(result.stderr)
    assert "read" in line.lower() and "only" in line.lower()
