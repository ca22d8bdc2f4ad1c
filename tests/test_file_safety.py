"""Files cctvctl writes and reads, attacked (issue 12: H2, M2, M13, L6, L7).

Side files (rejected rows, charts, samples, the demo's files, lock files) never follow a planted
link, never replace a file cctvctl did not write under a name it chose, and never lose what was
there when writing fails; the input is read through one descriptor, so a file renamed over it
mid-import cannot pair one version's hash with another's rows; ``--rejected`` naming the input
is refused; no temporary file outlives its process; a CR inside a field refuses its row.
Real files, the installed ``cctvctl`` in a subprocess, SQLite and MariaDB.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from import_helpers import fresh_url, shared_mysql_url, stored  # noqa: E402,F401

CCTVCTL = str(Path(sys.executable).with_name("cctvctl"))
GOOD = "camera,start,people\ngate-1,2021-08-01 00:00,5\ngate-1,2021-08-01 00:05,6\n"
ONE_BAD = GOOD + "gate-1,2021-08-01 00:10,-3\n"


def cctv(*args: str, cwd: Path | None = None, env_extra: dict | None = None, stdin: str | None = None,
         preexec=None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CCTV_")}
    env.update(env_extra or {})
    return subprocess.run([CCTVCTL, "--tz", "Asia/Seoul", *args], capture_output=True, text=True,
                          env=env, cwd=cwd, input=stdin, timeout=120, preexec_fn=preexec)


def refused(proc: subprocess.CompletedProcess, *words: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    line = proc.stderr.strip()
    assert "\n" not in line and "Traceback" not in line, line
    for word in words:
        assert word in line, line


@pytest.fixture
def victim(tmp_path) -> Path:
    path = tmp_path / "victim.txt"
    path.write_text("precious\n")
    return path


# -- H2: the rejected-rows file ----------------------------------------------------------------------
def test_planted_symlink_at_the_rejected_file_is_not_followed(fresh_url, tmp_path, victim):
    data = tmp_path / "x.csv"
    data.write_text(ONE_BAD)
    (tmp_path / "x.csv.rejected.csv").symlink_to(victim)
    proc = cctv("--db", fresh_url, "import", str(data), "--on-error", "skip")
    refused(proc, "x.csv.rejected.csv", "symbolic link", "--rejected")
    assert victim.read_text() == "precious\n"
    assert os.path.islink(tmp_path / "x.csv.rejected.csv")
    assert stored(fresh_url) == []  # refused before anything was read


def test_default_name_replaces_only_a_file_cctvctl_wrote(sqlite_url, tmp_path):
    data = tmp_path / "x.csv"
    data.write_text(ONE_BAD)
    side = tmp_path / "x.csv.rejected.csv"
    side.write_text("my notes\n")
    refused(cctv("--db", sqlite_url, "import", str(data), "--on-error", "skip"), "did not write")
    assert side.read_text() == "my notes\n"
    side.unlink()
    assert cctv("--db", sqlite_url, "import", str(data), "--on-error", "skip").returncode == 0
    first = side.read_text()
    data.write_text(ONE_BAD.replace("-3", "-4"))  # other bytes: imported again, the list replaced
    assert cctv("--db", sqlite_url, "import", str(data), "--on-error", "skip").returncode == 0
    assert side.read_text() == first.replace("-3", "-4") and not side.is_symlink()
    assert [p.name for p in tmp_path.iterdir() if ".cctvctl-tmp-" in p.name] == []


@pytest.mark.parametrize("kind", ["fifo", "directory"])
def test_rejected_target_that_is_not_a_regular_file_is_refused(sqlite_url, tmp_path, kind):
    data = tmp_path / "x.csv"
    data.write_text(ONE_BAD)
    target = tmp_path / "target"
    if kind == "fifo":
        os.mkfifo(target)
    else:
        target.mkdir()
    refused(cctv("--db", sqlite_url, "import", str(data), "--on-error", "skip", "--rejected", str(target)),
            "refusing to write the rejected rows", "not a regular file")
    assert target.exists()  # never removed


def test_a_link_the_user_names_is_replaced_never_written_through(sqlite_url, tmp_path, victim):
    data = tmp_path / "x.csv"
    data.write_text(ONE_BAD)
    target = tmp_path / "list.csv"
    target.symlink_to(victim)
    assert cctv("--db", sqlite_url, "import", str(data), "--on-error", "skip", "--rejected",
                str(target)).returncode == 0
    assert victim.read_text() == "precious\n" and not target.is_symlink()
    assert target.read_text().startswith("line,reason,")


def test_a_named_file_survives_a_failed_write_of_the_rejected_rows(sqlite_url, tmp_path):
    """The write fails (file size limit, like a full disk): the file named by --rejected keeps
    its content. (An earlier version removed the target after a failed write: /dev/full.)"""
    data = tmp_path / "x.csv"
    bad = "".join(f"gate-{'x' * 60},2021-08-01 00:{m % 60:02d},-{m + 1}\n" for m in range(20000))
    data.write_text(GOOD + bad)
    target = tmp_path / "list.csv"
    target.write_text("kept\n")
    cctv("--db", sqlite_url, "db", "init")

    def small_files():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1_500_000, 1_500_000))

    proc = cctv("--db", sqlite_url, "import", str(data), "--on-error", "skip", "--rejected",
                str(target), preexec=small_files)
    assert proc.returncode in (1, 2) and "Traceback" not in proc.stderr, proc.stderr
    assert target.read_text() == "kept\n"
    assert [p.name for p in tmp_path.iterdir() if ".cctvctl-tmp-" in p.name] == []
    assert stored(sqlite_url) == []


# -- M13: --rejected naming the input ------------------------------------------------------------------
@pytest.mark.parametrize("spelling", ["same", "dotted", "hardlink", "symlink"])
def test_rejected_equal_to_the_input_is_refused(sqlite_url, tmp_path, spelling):
    data = tmp_path / "x.csv"
    data.write_text(ONE_BAD)
    (tmp_path / "sub").mkdir()
    target = {"same": str(data), "dotted": str(tmp_path / "sub" / ".." / "x.csv"),
              "hardlink": str(tmp_path / "hard.csv"), "symlink": str(tmp_path / "soft.csv")}[spelling]
    if spelling == "hardlink":
        os.link(data, target)
    elif spelling == "symlink":
        os.symlink(data, target)
    refused(cctv("--db", sqlite_url, "import", str(data), "--on-error", "skip", "--rejected", target),
            "refusing to write the rejected rows")
    assert data.read_text() == ONE_BAD
    assert stored(sqlite_url) == []


# -- H2: every other file cctvctl writes ---------------------------------------------------------------
def test_plot_sample_and_events_never_write_through_a_link(sqlite_url, tmp_path, victim):
    data = tmp_path / "x.csv"
    data.write_text(GOOD)
    assert cctv("--db", sqlite_url, "import", str(data)).returncode == 0
    fifo = tmp_path / "chart.png"
    os.mkfifo(fifo)
    refused(cctv("--db", sqlite_url, "report", "--day", "2021-08-01", "--plot", str(fifo)),
            "not a regular file", "--plot")
    for option in ("-o", "--events-json"):
        link = tmp_path / f"link{option}"
        link.symlink_to(victim)
        args = ["sample", "--since", "2021-08-01", "--until", "2021-08-01", "-q"]
        args += [option, str(link)] + (["-o", str(tmp_path / "s.csv")] if option != "-o" else [])
        assert cctv(*args).returncode == 0
        assert not link.is_symlink() and link.stat().st_size > 0
    assert victim.read_text() == "precious\n"
    assert [p.name for p in tmp_path.iterdir() if ".cctvctl-tmp-" in p.name] == []


def test_demo_keeps_a_foreign_file_in_its_folder(tmp_path):
    folder = tmp_path / "demo"
    folder.mkdir()
    (folder / "sample_counts.csv").write_text("not a sample\n")
    refused(cctv("demo", "--dir", str(folder)), "sample_counts.csv", "did not write")
    assert (folder / "sample_counts.csv").read_text() == "not a sample\n"


def test_a_planted_link_at_the_sqlite_lock_file_is_not_followed(tmp_path):
    target = tmp_path / "elsewhere" / "created-by-cctvctl"
    target.parent.mkdir()
    (tmp_path / "cctv.db.import.lock").symlink_to(target)
    data = tmp_path / "x.csv"
    data.write_text(GOOD)
    proc = cctv("--db", f"sqlite://{tmp_path / 'cctv.db'}", "import", str(data))
    assert proc.returncode != 0 and "lock file" in proc.stderr and "Traceback" not in proc.stderr
    assert not target.exists()


# -- M2: one descriptor ------------------------------------------------------------------------------
def test_a_file_renamed_over_the_input_mid_import_does_not_mix_versions(fresh_url, tmp_path):
    """Version A is imported; after its first chunk, B is renamed over its name. The ledger
    holds A's hash, the rows are A's, and the rejected rows show A's text."""
    from cctvctl.db import connect
    from cctvctl.ingest import ImportOptions, import_file

    rows_a = [f"gate-1,2021-08-01 {h:02d}:{m:02d},{h + m}" for h in range(4) for m in range(0, 60, 5)]
    a = "camera,start,people\n" + "\n".join(rows_a) + "\ngate-1,2021-08-01 05:00,-1\n"
    b = a.replace("gate-1", "gate-B").replace(",-1\n", ",-2\n")
    path, other = tmp_path / "live.csv", tmp_path / "next.csv"
    path.write_text(a)
    other.write_text(b)
    swapped = []

    def progress(done, total):
        if not swapped:
            os.replace(other, path)
            swapped.append(True)

    options = ImportOptions(tz=ZoneInfo("Asia/Seoul"), on_error="skip", chunk_rows=5, detect=False)
    with connect(fresh_url) as db:
        result = import_file(db, path, options, progress)
        ledger = db.query("SELECT sha256 FROM imports WHERE status = 'ok'")
    assert swapped and result.inserted == len(rows_a) and result.rejected == 1
    assert [r[0] for r in ledger] == [hashlib.sha256(a.encode()).hexdigest()]
    assert {r[0] for r in stored(fresh_url, ("camera",))} == {"gate-1"}
    listed = Path(result.rejected_file).read_text().splitlines()
    assert listed[1].startswith("50,negative people count '-1',gate-1,")
    Path(result.rejected_file).unlink()


# -- L6: temporary files -------------------------------------------------------------------------------
def test_killed_stdin_import_leaves_no_spool(sqlite_url, tmp_path):
    spool_dir = tmp_path / "tmp"
    spool_dir.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CCTV_")}
    env["TMPDIR"] = str(spool_dir)
    proc = subprocess.Popen([CCTVCTL, "--tz", "Asia/Seoul", "--db", sqlite_url, "import", "-",
                             "--camera", "c"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=env)
    try:
        proc.stdin.write(b"start,people\n" + b"2021-08-01 00:00,1\n" * 20000)
        proc.stdin.flush()
        time.sleep(2.0)  # the spool holds what was sent; the stream is still open
        proc.kill()
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert sorted(p.name for p in spool_dir.iterdir()) == []


def test_temporary_files_of_dead_processes_are_swept(fresh_url, tmp_path):
    """A killed aggregation's ``cctvctl-stats-PID-*`` and a killed import's rejected-rows temp
    file are removed by the next run; a live process's are kept."""
    spool_dir = tmp_path / "tmp"
    spool_dir.mkdir()
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = spool_dir / f"cctvctl-stats-{dead.pid}-abcd1234"
    stale.mkdir()
    (stale / "stats.tsv").write_text("x")
    live = spool_dir / f"cctvctl-stats-{os.getpid()}-abcd1234"
    live.mkdir()
    data = tmp_path / "x.csv"
    rows = [f"cam-{c},2021-08-{d:02d} {h:02d}:00,{h}" for c in range(3) for d in range(1, 29) for h in range(24)]
    data.write_text("camera,start,people\n" + "\n".join(rows) + "\ncam-0,2021-08-01 00:30,-1\n")
    stale_side = tmp_path / f".x.csv.rejected.csv.cctvctl-tmp-{dead.pid}-0a0b0c0d"
    stale_side.write_text("half")
    env = {"TMPDIR": str(spool_dir)}
    assert cctv("--db", fresh_url, "import", str(data), "--on-error", "skip", "--interval", "60",
                "--no-detect", env_extra=env).returncode == 0
    assert not stale_side.exists()
    proc = cctv("--db", fresh_url, "aggregate", "all", env_extra=env)
    assert proc.returncode == 0, proc.stderr
    assert not stale.exists() and live.exists()
    (tmp_path / "x.csv.rejected.csv").unlink()


# -- L7: a bare CR inside a field ----------------------------------------------------------------------
def test_a_cr_inside_a_field_refuses_the_row_never_a_cut_value(fresh_url, tmp_path):
    data = tmp_path / "cr.csv"
    data.write_bytes(b"camera,start,people\ngate-1,2021-08-01 00:00,12\r3\ngate-1,2021-08-01 00:05,4\n")
    proc = cctv("--db", fresh_url, "import", str(data))
    assert proc.returncode == 2 and "cr.csv:2: a carriage return (CR) inside a field" in proc.stderr
    proc = cctv("--db", fresh_url, "import", str(data), "--on-error", "skip", "--format", "json")
    got = json.loads(proc.stdout)
    assert (got["inserted"], got["rejected"]) == (1, 1)
    assert [r[0] for r in stored(fresh_url, ("people",))] == [4]  # never 12
    listed = Path(got["rejected_file"]).read_text().splitlines()
    assert listed[1].startswith('2,"a carriage return (CR) inside a field')
    # a lone CR between whole records is a line end (mixed line ends), as before
    data.write_bytes(b"camera,start,people\r\ngate-2,2021-08-01 00:00,1\rgate-2,2021-08-01 00:05,2\n"
                     b"gate-2,2021-08-01 00:10,3")
    got = json.loads(cctv("--db", fresh_url, "import", str(data), "--format", "json").stdout)
    assert (got["read"], got["inserted"]) == (3, 3)
