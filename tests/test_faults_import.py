"""An import killed with SIGKILL half-way leaves nothing of itself; running it again completes it.

The importer runs as the installed ``cctvctl`` in a subprocess with ``-v``, whose debug log names
each statement before it runs: once the *second* chunk's INSERT is announced, the first chunk's
50,000 rows have been written inside the open transaction (on MariaDB the test also sees the
transaction's modified rows in ``information_schema.innodb_trx``). Then the process is killed.
"""

from __future__ import annotations

import os
import sys
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fault_helpers import run_cctvctl  # noqa: E402
from import_helpers import count_rows, fresh_url, shared_mysql_url, snapshot  # noqa: E402,F401

from cctvctl.cli import app  # noqa: E402

CAMERAS = 4
PER_CAMERA = 27_500  # 110,000 rows: three chunks of the default 50,000


def big_file(path: Path) -> Path:
    base = datetime(2021, 1, 1)
    stamps = [(base + timedelta(minutes=5 * i)).strftime("%Y-%m-%d %H:%M") for i in range(PER_CAMERA)]
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("camera,start,people,vehicle\n")
        for cam in range(CAMERAS):
            fh.write("".join(f"cam-{cam},{s},{i % 97},{i % 13}\n" for i, s in enumerate(stamps)))
    return path


def _rows_modified_by_others(url: str) -> int:
    """Rows changed by open transactions on the MariaDB server (the victim's, here)."""
    from conftest import mysql_admin

    admin = mysql_admin()
    try:
        with admin.cursor() as cur:
            cur.execute("SELECT COALESCE(SUM(trx_rows_modified), 0) FROM information_schema.innodb_trx")
            return int(cur.fetchone()[0])
    finally:
        admin.close()


def _writes_counts(debug_line: str) -> bool:
    """A statement that writes a chunk of counts (multi-row INSERT, or MySQL's LOAD DATA)."""
    return (("INSERT" in debug_line and "INTO counts" in debug_line)
            or ("LOAD DATA" in debug_line and "INTO TABLE counts" in debug_line))


def _kill_while_writing(url: str, path: Path) -> list[str]:
    """SIGKILL the import as its second chunk of counts is announced (the first is written)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CCTV_")}
    env["CCTV_TZ"] = "Asia/Seoul"

    def second_chunk(lines: list[str]) -> bool:
        if sum(_writes_counts(line) for line in lines) < 2:
            return False
        if url.startswith("mysql"):
            assert _rows_modified_by_others(url) >= 50_000, "no uncommitted rows seen before the kill"
        return True

    run = run_cctvctl(["-v", "--db", url, "import", str(path), "--no-detect"], env, stop=second_chunk)
    assert run.killed, f"the import ended before it could be killed: {run.lines[-5:]}"
    return run.lines


def test_sigkill_mid_import_leaves_nothing_and_a_rerun_completes(fresh_url, runner, tmp_path):
    small = tmp_path / "before.csv"
    small.write_text("camera,start,people,vehicle\nold,2020-12-31 23:55,1,1\n")
    assert runner.invoke(app, ["--db", fresh_url, "import", str(small), "--no-detect"]).exit_code == 0
    before = snapshot(fresh_url)
    path = big_file(tmp_path / "big.csv")

    log = _kill_while_writing(fresh_url, path)
    assert sum(_writes_counts(line) for line in log) == 2
    assert snapshot(fresh_url) == before, "rows or ledger entries of the killed import survived"
    assert count_rows(fresh_url) == 1

    result = runner.invoke(app, ["--db", fresh_url, "import", str(path), "--no-detect", "--format", "json"])
    assert (result.exit_code, result.stderr) == (0, ""), result.stdout
    assert '"inserted": 110000' in result.stdout
    assert count_rows(fresh_url) == 110_001
    from cctvctl.db import connect

    with connect(fresh_url) as db:
        ok = db.query("SELECT rows_read, inserted FROM imports WHERE status = 'ok' ORDER BY id")
        assert ok == [(1, 1), (110_000, 110_000)]
        assert db.scalar("SELECT COUNT(*) FROM imports WHERE status = 'running'") == 0
        per_camera = db.query("SELECT camera, COUNT(*), SUM(people) FROM counts WHERE camera <> 'old' "
                              "GROUP BY camera ORDER BY camera")
    expected_sum = sum(i % 97 for i in range(PER_CAMERA))
    assert per_camera == [(f"cam-{c}", PER_CAMERA, expected_sum) for c in range(CAMERAS)]
