"""Findings of the adversarial review of the import path (F21, F25, F27, F29): each test failed
on the code before its fix.

Imports run the installed ``cctvctl`` in a subprocess on a real SQLite file and a real MariaDB
database (``fresh_url``); stored values are compared with an independent pandas reading.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from import_helpers import fresh_url, local_epoch, shared_mysql_url, stored  # noqa: E402,F401

CCTVCTL = str(Path(sys.executable).with_name("cctvctl"))


def cctv(url: str, *args: str, tz: str = "Asia/Seoul") -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CCTV_")}
    return subprocess.run([CCTVCTL, "--db", url, "--tz", tz, *args], capture_output=True,
                          text=True, env=env, timeout=300)


def write(tmp_path: Path, text: str, name: str = "counts.csv") -> str:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return str(path)


def summary(proc: subprocess.CompletedProcess) -> dict:
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


# -- F25: a vehicle total below its known classes ----------------------------------------------------
def test_vehicle_below_its_known_classes_is_refused(fresh_url, tmp_path):
    path = write(tmp_path, "camera,start,people,vehicle,n_car,n_truck\n"
                           "g,2021-08-01 09:05,1,1,-1,2\n"      # truck 2 > vehicle 1: impossible
                           "g,2021-08-01 09:10,1,5,-1,2\n"      # car unknown, 3 of them: fine
                           "g,2021-08-01 09:15,1,0,-1,-1\n")    # nothing known of the classes
    proc = cctv(fresh_url, "import", path, "--na", "-1", "--no-detect")
    assert proc.returncode == 2, proc.stderr
    assert f"{path}:2: vehicle 1 is less than its known classes (2" in proc.stderr
    assert "3:" not in proc.stderr.replace(path + ":2", "")
    assert stored(fresh_url) == []
    got = summary(cctv(fresh_url, "import", path, "--na", "-1", "--no-detect", "--on-error", "skip",
                       "--rejected", str(tmp_path / "bad.csv"), "--format", "json"))
    assert (got["inserted"], got["rejected"]) == (2, 1)
    ref = pd.read_csv(path).replace(-1, pd.NA)
    ref = ref[~((ref.n_truck.fillna(0) + ref.n_car.fillna(0)) > ref.vehicle)]
    expected = [("g", local_epoch(r.start, "Asia/Seoul"), r.vehicle,
                 None if pd.isna(r.n_car) else r.n_car, None if pd.isna(r.n_truck) else r.n_truck)
                for r in ref.itertuples()]
    assert stored(fresh_url, ("camera", "start_utc", "vehicle", "car", "truck")) == expected


# -- F29: the rejected-rows file is renamed in only after the COMMIT ----------------------------------
def test_a_commit_that_fails_keeps_the_previous_rejected_rows_file(tmp_path):
    """A real commit-time failure: a deferred foreign key (checked by SQLite at COMMIT) that a
    trigger on the ledger's final update violates. The earlier run's ``*.rejected.csv`` must
    survive and no temporary file may be left; nothing is imported."""
    import pytest

    from cctvctl.db import connect
    from cctvctl.errors import CctvError
    from cctvctl.ingest import ImportOptions, import_file
    from zoneinfo import ZoneInfo

    data = write(tmp_path, "camera,start,people\ng,2021-08-01 09:00,5\ng,2021-08-01 09:05,x\n")
    previous = tmp_path / "counts.csv.rejected.csv"
    earlier = "line,reason,camera,start,people\n3,an earlier run,g,2021-08-01 09:05,y\n"
    previous.write_text(earlier)
    db = connect(f"sqlite:///{tmp_path / 'cctv.db'}")
    try:
        db.conn.execute("PRAGMA foreign_keys = ON")
        db.execute("CREATE TABLE t_parent (id INTEGER PRIMARY KEY)")
        db.execute("CREATE TABLE t_child (parent INTEGER REFERENCES t_parent (id) "
                   "DEFERRABLE INITIALLY DEFERRED)")
        db.execute("CREATE TRIGGER t_fail AFTER UPDATE OF status ON imports WHEN NEW.status = 'ok' "
                   "BEGIN INSERT INTO t_child VALUES (NEW.id + 1000); END")
        options = ImportOptions(tz=ZoneInfo("Asia/Seoul"), on_error="skip", detect=False)
        with pytest.raises(CctvError, match="FOREIGN KEY"):
            import_file(db, data, options)
        assert previous.read_text() == earlier
        assert sorted(p.name for p in tmp_path.iterdir() if "counts" in p.name) == [
            "counts.csv", "counts.csv.rejected.csv"]  # no temporary file left either
        assert db.scalar("SELECT COUNT(*) FROM counts") == 0
        # the same import without the failing trigger: committed, then the file renamed in
        db.execute("DROP TRIGGER t_fail")
        result = import_file(db, data, options)
        assert (result.inserted, result.rejected) == (1, 1)
        assert previous.read_text().splitlines()[1].startswith("3,")
        assert "an earlier run" not in previous.read_text()
    finally:
        db.close()


# -- F27: rows with no known count take part in the spacing -------------------------------------------
def _stats(url: str) -> list[tuple]:
    from import_helpers import _open

    with _open(url) as db:
        return [(str(r[0]), str(r[1]), int(r[2]), int(r[3]), int(r[4]), float(r[5])) for r in db.query(
            "SELECT camera, period_start, hour, n, expected, coverage FROM stats "
            "WHERE grain = 'hour' ORDER BY camera, period_start, hour")]


def test_every_other_reading_unknown_is_a_half_covered_five_minute_file(fresh_url, tmp_path):
    lines = ["camera,start,people"]
    for i in range(48):  # 4 hours of 5-minute readings, every other one unknown (-1)
        m = i * 5
        lines.append(f"g,2021-08-02 {m // 60:02d}:{m % 60:02d}," + (str(10 + i % 3) if i % 2 == 0 else "-1"))
    # and a camera whose first hour is an outage: no stats for it, full hours after
    lines += [f"h,2021-08-02 {m // 60:02d}:{m % 60:02d},-1" for m in range(0, 60, 5)]
    lines += [f"h,2021-08-02 {m // 60:02d}:{m % 60:02d},7" for m in range(60, 240, 5)]
    path = write(tmp_path, "\n".join(lines) + "\n")
    got = summary(cctv(fresh_url, "import", path, "--na", "-1", "--no-detect", "--format", "json"))
    assert (got["interval"], got["unknown"]) == (300, 24 + 12), got
    proc = cctv(fresh_url, "aggregate", "all")
    assert proc.returncode == 0, proc.stderr
    # independent reading: known rows per local hour, 12 five-minute intervals expected
    ref = pd.read_csv(path)
    known = ref[ref.people != -1].copy()
    stamp = pd.to_datetime(known.start)
    known["day"], known["hour"] = stamp.dt.strftime("%Y-%m-%d"), stamp.dt.hour
    per_hour = known.groupby(["camera", "day", "hour"]).size()
    expected = [(c, d, h, n, 12, n / 12) for (c, d, h), n in per_hour.items()]
    assert _stats(fresh_url) == expected
    assert expected[0][3:] == (6, 12, 0.5)  # the adversary's 100 % was the bug


# -- F21: control and invisible characters in camera names ---------------------------------------------
#: one of each kind: C1 control, bidi override and isolate, line separator, zero-width space,
#: zero-width joiner, word joiner, BOM inside a name, soft hyphen (format)
HIDDEN = ["\u0095", "\u202e", "\u2067", "\u2028", "\u200b", "\u200d", "\u2060", "\ufeff", "\u00ad"]


def _escaped(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def test_names_with_hidden_characters_are_refused_from_files_and_rows(fresh_url, tmp_path):
    import csv as csvmod

    from cctvctl.db import connect
    from cctvctl.errors import CountFileError
    from cctvctl.ingest import ImportOptions, import_rows
    from zoneinfo import ZoneInfo

    rows = [("gate-1", "2021-08-01 09:00", 5)] + [(f"gate-{c}1", "2021-08-01 09:00", 5) for c in HIDDEN]
    path = tmp_path / "hidden.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csvmod.writer(fh)
        writer.writerow(["camera", "start", "people"])
        writer.writerows(rows)
    got = summary(cctv(fresh_url, "import", str(path), "--on-error", "skip", "--no-detect",
                       "--format", "json"))
    assert (got["inserted"], got["rejected"]) == (1, len(HIDDEN))
    assert stored(fresh_url, ("camera",)) == [("gate-1",)]
    with open(str(path) + ".rejected.csv", newline="", encoding="utf-8") as fh:
        reasons = [r[1] for r in list(csvmod.reader(fh))[1:]]
    assert reasons == [f"camera name contains a control or invisible character ({_escaped(c)})"
                       for c in HIDDEN]
    # the same names as rows through the Python API (serve's JSON rows take this path)
    with connect(fresh_url) as db:
        for c in HIDDEN:
            try:
                import_rows(db, [{"camera": f"gate{c}1", "start": "2021-08-01 10:00", "people": 1}],
                            ImportOptions(tz=ZoneInfo("Asia/Seoul"), detect=False))
            except CountFileError as exc:
                assert "control or invisible character" in "\n".join(exc.problems)
            else:
                raise AssertionError(f"{c!r} stored")
    assert stored(fresh_url, ("camera",)) == [("gate-1",)]


def test_hidden_characters_in_camera_and_wide_options_are_usage_errors(tmp_path):
    url = f"sqlite:///{tmp_path / 'cctv.db'}"
    plain = write(tmp_path, "start,people\n2021-08-01 09:00,5\n")
    wide = write(tmp_path, "start,west\n2021-08-01 09:00,5\n", name="wide.csv")
    for c in HIDDEN:
        proc = cctv(url, "import", plain, "--camera", f"gate{c}1")
        assert proc.returncode == 2 and "control or invisible character" in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr and c not in proc.stderr
        proc = cctv(url, "import", wide, "--wide", f"west=we{c}st")
        assert proc.returncode == 2 and "control or invisible character" in proc.stderr, proc.stderr
        proc = cctv(url, "token", "create", "--name", "t", "--camera", f"gate{c}*")
        assert proc.returncode == 2 and "control or invisible" in proc.stderr, proc.stderr
    assert stored(url) == []


def test_a_device_cannot_post_a_visual_twin_of_its_camera(tmp_path):
    from test_serve import post_csv, run, serving

    url = f"sqlite://{tmp_path / 'cctv.db'}"
    writer = run(url, "token", "create", "--name", "box-1", "--camera", "gate-*").stdout.strip()
    with serving(url, tmp_path) as server:
        server.writer = writer
        for c in ("\u200b", "\u202e", "\u0095"):
            answer = post_csv(server, f"camera,start,people\ngate-1{c},2021-08-01 09:00,5\n")
            assert answer.status_code == 422, answer.text
            assert "control or invisible character" in answer.text
    assert stored(url) == []


def test_a_utf8_file_read_with_another_encoding_is_told_to_drop_it(tmp_path):
    url = f"sqlite:///{tmp_path / 'cctv.db'}"
    path = write(tmp_path, "camera,start,people\n정문,2021-08-01 09:00,5\n")
    proc = cctv(url, "import", path, "--encoding", "cp949")
    assert proc.returncode == 2
    assert "not valid cp949 (byte 0xec); the bytes read as UTF-8: drop --encoding" in proc.stderr
    assert "e.g. --encoding cp949" not in proc.stderr


# -- F26: a host list is for the nodes of one Galera cluster --------------------------------------------
def test_a_host_list_refuses_a_server_that_is_not_a_galera_node(mysql_url, tmp_path):
    """The shared MariaDB is a standalone server: named alone it is used; named after a dead
    host (the moment a failover would happen) it is refused, and nothing is written there."""
    from cctvctl.db.connect import parse_url

    u = parse_url(mysql_url)
    path = write(tmp_path, "camera,start,people\ng,2021-08-01 09:00,5\n")
    assert cctv(mysql_url, "db", "status").returncode == 0
    for dead in ("127.0.0.1:1", "[::1]:1"):
        listed = f"mysql://{u.user}@{dead},{u.host}:{u.port}/{u.database}"
        for args in (("db", "status"), ("import", path, "--no-detect")):
            proc = cctv(listed, *args)
            assert proc.returncode == 2, (listed, proc.stderr)
            assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr
            assert (f"{u.host}:{u.port} is not a Galera cluster node (wsrep_on is OFF)"
                    in proc.stderr), proc.stderr
    assert stored(mysql_url) == []


def test_a_host_list_may_name_ipv6_addresses_in_brackets():
    import pytest

    from cctvctl.db.connect import parse_url
    from cctvctl.errors import UsageError

    url = parse_url("mysql://u@[::1]:3307,db2,[fd00::7],db3:3310/cctv")
    assert url.hosts == (("::1", 3307), ("db2", 3306), ("fd00::7", 3306), ("db3", 3310))
    assert (url.host, url.port, url.database) == ("::1", 3307, "cctv")
    assert url.display() == "mysql://u@[::1]:3307,db2:3306,[fd00::7]:3306,db3:3310/cctv"
    for bad in ("[::1,db2", "[::1]x,db2", "::1,db2", "[]:3306,db2", "[::1]:0,db2"):
        with pytest.raises(UsageError, match="invalid host"):
            parse_url(f"mysql://u@{bad}/cctv")
