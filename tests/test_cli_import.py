"""`cctvctl import` from the outside: the bad-input corpus, exit codes, stderr, stdin, JSON.

The corpus is the table in ``tests/fixtures/README.md``: each row is run on both backends and
its exit code, exact standard error and resulting row count are asserted (a refused file leaves
the database exactly as it was).
"""

from __future__ import annotations

import csv
import json
import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from import_helpers import (  # noqa: E402,F401  (fixtures are used by name)
    count_rows, fresh_url, local_epoch, shared_mysql_url, snapshot, stored)

from cctvctl.cli import app  # noqa: E402

FIXTURES = Path(__file__).resolve().parent / "fixtures"
GOOD = ("camera,start_date,end_date,people,vehicle\n"
        "gate-1,2021-08-01 00:00:00,2021-08-01 00:05:00,3,4\n"
        "gate-1,2021-08-01 00:05:00,2021-08-01 00:10:00,5,6\n"
        "gate-2,2021-08-01 00:00:00,2021-08-01 00:05:00,7,8\n")


# -- the corpus table -------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    file: str
    options: tuple[str, ...]
    first: str | None
    shows: str
    exit: int
    rows: int
    stderr: tuple[str, ...]

    @property
    def id(self) -> str:
        return " ".join([self.file, *self.options])


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _code(text: str) -> str:
    text = text.strip()
    return text[1:-1] if text.startswith("`") and text.endswith("`") else text


def load_cases() -> list[Case]:
    lines = (FIXTURES / "README.md").read_text(encoding="utf-8").splitlines()
    start = next(i for i, l in enumerate(lines) if l.startswith("| file |"))
    cases = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        file, options, first, shows, code, rows, err = _cells(line)
        cases.append(Case(
            file=_code(file), options=tuple(shlex.split(_code(options))) if options else (),
            first=_code(first) or None, shows=shows, exit=int(code), rows=int(rows),
            stderr=tuple(_code(part) for part in err.split("<br>")) if err else ()))
    return cases


CASES = load_cases()


def generate(name: str, directory: Path) -> Path:
    """The corpus files not worth committing (1 MB lines)."""
    target = directory / name
    header = "camera,start_date,end_date,people,vehicle\n"
    good = "gate-1,2021-08-01 00:00:00,2021-08-01 00:05:00,3,4\n"
    megabyte = "x" * (1 << 20)
    if name == "long_line.csv":
        target.write_text(header + good + f"{megabyte},2021-08-01 00:05:00,2021-08-01 00:10:00,5,6\n" + good)
    elif name == "long_header.csv":
        target.write_text(header.rstrip("\n") + "," + megabyte + "\n" + good)
    else:
        raise AssertionError(f"no generator for {name}")
    return target


def _place(name: str, directory: Path) -> Path:
    source = FIXTURES / name
    if source.exists():
        return Path(shutil.copy(source, directory / name))
    return generate(name, directory)


def invoke(runner, url: str, *args: str, input=None):
    return runner.invoke(app, ["--db", url, *args], input=input)


def test_every_fixture_file_is_in_the_table():
    files = {p.name for p in FIXTURES.glob("*.csv")}
    in_table = {c.file for c in CASES} | {c.first for c in CASES if c.first}
    generated = {c.file for c in CASES if "(generated)" in c.shows}
    assert files == in_table - generated
    assert len(CASES) >= 40


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_corpus(case: Case, fresh_url, runner, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    if case.first:
        _place(case.first, tmp_path)
        first = invoke(runner, fresh_url, "import", case.first, "--no-detect")
        assert first.exit_code == 0, first.stderr
    before = snapshot(fresh_url)
    _place(case.file, tmp_path)
    result = invoke(runner, fresh_url, "import", case.file, "--no-detect", *case.options)
    assert (result.exit_code, result.stderr.splitlines()) == (case.exit, list(case.stderr)), result.stdout
    assert count_rows(fresh_url) == case.rows
    if case.exit:
        assert snapshot(fresh_url) == before, "a refused import changed the database"
        assert "Traceback" not in result.stdout + result.stderr
    else:
        assert result.stdout.startswith(f"{case.file}: read ")


# -- what particular corpus files store ----------------------------------------------------------
def test_hostile_camera_names_are_stored_literally(fresh_url, runner, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = _place("camera_hostile.csv", tmp_path)
    result = invoke(runner, fresh_url, "import", path.name, "--on-error", "skip", "--no-detect")
    assert result.exit_code == 0, result.stderr
    with open(path, newline="", encoding="utf-8") as fh:
        names = [row["camera"].strip() for row in csv.DictReader(fh)]
    good = [n for n in names if n and len(n) <= 64 and "\t" not in n]
    assert len(good) == 7 and "gate;DROP TABLE counts;--" in good and "100% ?, %s and \\N" in good
    got = stored(fresh_url, ("camera", "people"))
    assert sorted(c for c, _ in got) == sorted(good)
    # each stored name kept its own row's count (nothing merged or reordered)
    with open(path, newline="", encoding="utf-8") as fh:
        people = {row["camera"].strip(): int(row["people"]) for row in csv.DictReader(fh)}
    assert all(people[c] == p for c, p in got)
    with open(tmp_path / "camera_hostile.csv.rejected.csv", newline="", encoding="utf-8") as fh:
        rejected = list(csv.reader(fh))
    assert rejected[0] == ["line", "reason", "camera", "start_date", "end_date", "people", "vehicle"]
    assert [(r[0], r[1]) for r in rejected[1:]] == [
        ("9", "camera name longer than 64 characters"),
        ("10", "camera name contains a control or invisible character (\\t)"), ("11", "missing camera")]
    assert rejected[1][2] == "x" * 300


def test_camera_names_of_64_characters_fit_on_both_backends(fresh_url, runner, tmp_path):
    emoji = "🎥" * 64  # 64 characters, 256 bytes in UTF-8
    ascii_ = "c" * 64
    path = tmp_path / "names.csv"
    path.write_text("camera,start,people\n"
                    f"{emoji},2021-08-01 00:00,1\n{ascii_},2021-08-01 00:00,2\n"
                    f"{'d' * 65},2021-08-01 00:00,3\n", encoding="utf-8")
    result = invoke(runner, fresh_url, "import", str(path), "--on-error", "skip", "--no-detect",
                    "--rejected", str(tmp_path / "bad.csv"))
    assert result.exit_code == 0, result.stderr
    assert sorted(c for (c,) in stored(fresh_url, ("camera",))) == sorted([emoji, ascii_])


def test_cp949_names_are_stored_as_text(fresh_url, runner, tmp_path):
    path = _place("cp949.csv", tmp_path)
    result = invoke(runner, fresh_url, "import", str(path), "--encoding", "cp949", "--no-detect")
    assert result.exit_code == 0, result.stderr
    assert [c for (c,) in stored(fresh_url, ("camera",))] == sorted(["정문", "후문 카메라"])


def test_dst_ambiguous_reads_each_half_hour_once(fresh_url, runner, tmp_path):
    path = _place("dst_ambiguous.csv", tmp_path)
    result = invoke(runner, fresh_url, "import", str(path), "--tz", "Europe/Berlin", "--no-detect")
    assert result.exit_code == 0, result.stderr
    assert "DST rules applied: ambiguous earliest 2, ambiguous latest 2" in result.stdout
    rows = stored(fresh_url, ("start_utc", "end_utc", "people"))
    # independent: the file's half hours are consecutive real half hours from 01:30 CEST
    first = local_epoch("2021-10-31 01:30", "Europe/Berlin")
    assert rows == [(first + 1800 * i, first + 1800 * (i + 1), i + 1) for i in range(6)]


def test_missing_people_column_is_null_not_zero(fresh_url, runner, tmp_path):
    path = _place("missing_people_column.csv", tmp_path)
    assert invoke(runner, fresh_url, "import", str(path), "--no-detect").exit_code == 0
    assert [(p, v) for p, v in stored(fresh_url, ("people", "vehicle"))] == [(None, 4), (None, 6)]


# -- exit codes, stderr, quiet, json ----------------------------------------------------------------
def _write(tmp_path, name="counts.csv", text=GOOD) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_success_prints_a_summary_and_quiet_prints_nothing(sqlite_url, runner, tmp_path):
    path = _write(tmp_path)
    result = invoke(runner, sqlite_url, "import", str(path), "--no-detect")
    assert result.exit_code == 0 and result.stderr == ""
    assert result.stdout.startswith(f"{path}: read 3, inserted 3, duplicates 0, rejected 0, outliers 0 (import #1, ")
    other = _write(tmp_path, "other.csv", GOOD.replace(",3,4", ",30,4"))
    quiet = invoke(runner, sqlite_url, "--quiet", "import", str(other), "--on-error", "skip", "--no-detect")
    # skipped rows are never silent, not even under cron: one warning line on stderr
    assert (quiet.exit_code, quiet.stdout, quiet.stderr) == (
        0, "", f"warning: {other}: 1 bad row(s) skipped, listed with reasons in {other}.rejected.csv\n")
    sub_quiet = invoke(runner, sqlite_url, "import", "-q", str(path), "--no-detect")
    assert (sub_quiet.exit_code, sub_quiet.stdout, sub_quiet.stderr) == (0, "", "")


def test_quiet_still_reports_failures(sqlite_url, runner, tmp_path):
    path = _place("negative_count.csv", tmp_path)
    result = invoke(runner, sqlite_url, "--quiet", "import", str(path))
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.splitlines()[-1].startswith(f"error: {path}: rejected, 1 bad row")


def test_json_summary_has_stable_keys_and_numbers(fresh_url, runner, tmp_path):
    path = _write(tmp_path)
    result = invoke(runner, fresh_url, "import", str(path), "--format", "json", "--no-detect")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    for key, value in {"read": 3, "inserted": 3, "duplicates": 0, "rejected": 0, "replaced": 0,
                       "status": "ok", "source": str(path)}.items():
        assert data[key] == value, key
    assert isinstance(data["import_id"], int) and isinstance(data["seconds"], float)
    assert set(data) >= {"outliers", "dst", "rejected_file", "sha256"}
    again = json.loads(invoke(runner, fresh_url, "import", str(path), "--format", "json").stdout)
    assert (again["status"], again["inserted"], again["previous_import"]) == ("unchanged", 0, data["import_id"])


def test_json_of_a_rejected_file(sqlite_url, runner, tmp_path):
    path = _place("duplicate_rows.csv", tmp_path)
    result = invoke(runner, sqlite_url, "import", str(path), "--format", "json")
    assert result.exit_code == 2
    data = json.loads(result.stdout)
    assert (data["status"], data["read"], data["inserted"], data["rejected"]) == ("rejected", 4, 0, 2)
    assert "[" not in result.stderr  # no Rich markup off a terminal


def test_usage_errors_exit_2_with_one_line(sqlite_url, runner, tmp_path):
    path = _write(tmp_path)
    cases = {
        ("--format", "xml"): "error: --format must be table or json",
        ("--rejected", "x.csv"): "error: --rejected only makes sense with --on-error skip",
        ("--interval", "0"): "error: --interval must be a positive number of minutes (whole seconds)",
        ("--interval", "0.001"): "error: --interval must be a positive number of minutes (whole seconds)",
        ("--on-error", "ignore"): "error: --on-error must be reject or skip, not 'ignore'",
        ("--nonexistent", "guess"): "error: --nonexistent must be one of reject, shift-forward, shift-backward",
        ("--ambiguous", "guess"): "error: --ambiguous must be one of infer, earliest, latest, reject",
        ("--map", "people"): "error: --map 'people': expected FIELD=COLUMN, e.g. --map people=PedestrianCount",
        ("--map", "people=nope"): f"error: {path}:1: --map people=nope: no such column (columns: camera, start_date, end_date, people, vehicle)",
        ("--tz", "Mars/Olympus"): "error: unknown time zone 'Mars/Olympus' (use an IANA name such as Asia/Seoul)",
        ("--time-format", "%Q"): "error: --time-format '%Q': 'Q' is a bad directive in format '%Q'",
        ("--delimiter", ";;"): "error: --delimiter must be one character (or tab), not ';;'",
        ("--camera", "bad\tname"): "error: invalid camera name 'bad\\tname': it contains a control or invisible character (\\t)",
    }
    for args, line in cases.items():
        result = invoke(runner, sqlite_url, "import", str(path), *args)
        assert (result.exit_code, result.stderr) == (2, line + "\n"), args
    missing = invoke(runner, sqlite_url, "import", str(tmp_path / "nope.csv"))
    assert (missing.exit_code, missing.stderr) == (2, f"error: {tmp_path / 'nope.csv'}: no such file\n")
    folder = invoke(runner, sqlite_url, "import", str(tmp_path))
    assert (folder.exit_code, folder.stderr) == (2, f"error: {tmp_path}: is a directory, not a count file\n")
    assert count_rows(sqlite_url) == 0


def test_no_traceback_without_verbose_and_one_with_it(runner, tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["pytest", "-v"])  # the runner's own -v must not count
    path = _write(tmp_path)
    url = "mysql://nobody@127.0.0.1:1/cctv"
    plain = runner.invoke(app, ["--db", url, "import", str(path)])
    assert plain.exit_code == 1
    assert len(plain.stderr.splitlines()) == 1 and "Traceback" not in plain.stderr
    assert plain.stderr.startswith("error: cannot connect to MySQL at 127.0.0.1:1: ")
    for flags in (["-v", "import", str(path)], ["import", str(path), "--verbose"]):
        verbose = runner.invoke(app, ["--db", url, *flags])
        assert verbose.exit_code == 1 and "Traceback" in verbose.stderr, flags
        assert verbose.stderr.splitlines()[-1] == plain.stderr.strip()
    value = runner.invoke(app, ["--db", url, "import", str(path), "--camera", "-v"])
    assert value.exit_code == 1 and "Traceback" not in value.stderr  # a value, not the flag


def test_more_than_twenty_bad_rows_show_twenty_lines_and_the_count(sqlite_url, runner, tmp_path):
    rows = "".join(f"c,2021-08-01 {h:02d}:{m:02d},x\n" for h in range(2) for m in range(0, 60, 5))
    path = _write(tmp_path, text="camera,start,people\n" + rows)
    result = invoke(runner, sqlite_url, "import", str(path))
    lines = result.stderr.splitlines()
    assert result.exit_code == 2 and len(lines) == 21
    assert lines[0] == f"{path}:2: people count 'x' is not a number"
    assert lines[19] == f"{path}:21: people count 'x' is not a number"
    assert lines[20] == (f"error: {path}: rejected, 24 bad rows (showing the first 20); nothing was "
                         "written (use --on-error skip to import the good rows)")


def test_several_files_each_one_transaction(fresh_url, runner, tmp_path):
    good = _write(tmp_path)
    bad = _place("negative_count.csv", tmp_path)
    more = _write(tmp_path, "more.csv", GOOD.replace("2021-08-01", "2021-08-02"))
    result = invoke(runner, fresh_url, "import", str(good), str(bad), str(more), "--no-detect")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-2].startswith(f"error: {bad}: rejected, 1 bad row")
    assert result.stderr.splitlines()[-1].startswith("summary: 2 of 3 files committed: ")
    assert count_rows(fresh_url) == 6  # both good files, nothing of the bad one


# -- skip, re-import, duplicates ---------------------------------------------------------------
def test_skip_writes_good_rows_and_every_bad_row_beside_the_input(fresh_url, runner, tmp_path):
    path = _place("non_numeric_count.csv", tmp_path)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write("gate-9,2021-08-01 00:00:00,2021-08-01 00:05:00,1,2\n")
    result = invoke(runner, fresh_url, "import", str(path), "--on-error", "skip", "--no-detect")
    assert result.exit_code == 0 and result.stderr == ""
    assert "read 4, inserted 1, duplicates 0, rejected 3" in result.stdout
    assert f"bad rows with reasons: {path}.rejected.csv" in result.stdout
    assert stored(fresh_url, ("camera", "people", "vehicle")) == [("gate-9", 1, 2)]
    with open(f"{path}.rejected.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows == [
        ["line", "reason", "camera", "start_date", "end_date", "people", "vehicle"],
        ["2", "people count 'abc' is not a number", "gate-1", "2021-08-01 00:00:00", "2021-08-01 00:05:00", "abc", "4"],
        ["3", "missing people count", "gate-1", "2021-08-01 00:05:00", "2021-08-01 00:10:00", "", "4"],
        ["4", "vehicle count 'NaN' is not a number", "gate-1", "2021-08-01 00:10:00", "2021-08-01 00:15:00", "5", "NaN"],
    ]


def test_rejected_file_in_an_unwritable_place_is_a_clean_error(sqlite_url, runner, tmp_path):
    path = _place("negative_count.csv", tmp_path)
    target = tmp_path / "no" / "such" / "dir.csv"
    result = invoke(runner, sqlite_url, "import", str(path), "--on-error", "skip", "--rejected", str(target))
    assert (result.exit_code, result.stderr) == (
        2, f"error: cannot write the rejected rows to {target}: No such file or directory "
           "(choose another place with --rejected)\n")
    assert count_rows(sqlite_url) == 0


def test_reimport_is_a_noop_that_says_so(fresh_url, runner, tmp_path):
    path = _write(tmp_path)
    first = invoke(runner, fresh_url, "import", str(path), "--no-detect")
    assert first.exit_code == 0
    before = snapshot(fresh_url)
    again = invoke(runner, fresh_url, "import", str(path), "--no-detect")
    assert again.exit_code == 0 and again.stderr == ""
    assert again.stdout.startswith(f"{path}: already imported (import #")
    assert again.stdout.splitlines()[0].endswith("same content and options); nothing to do")
    assert snapshot(fresh_url) == before
    copy = tmp_path / "renamed.csv"
    shutil.copy(path, copy)  # same bytes under another name: still the same content
    assert "already imported" in invoke(runner, fresh_url, "import", str(copy), "--no-detect").stdout


def test_identical_rows_from_another_file_are_duplicates(fresh_url, runner, tmp_path):
    path = _write(tmp_path)
    assert invoke(runner, fresh_url, "import", str(path), "--no-detect").exit_code == 0
    before = stored(fresh_url)
    overlap = _write(tmp_path, "overlap.csv", GOOD.replace("gate-2,", "gate-3,") + "\n")
    result = invoke(runner, fresh_url, "import", str(overlap), "--no-detect")
    assert result.exit_code == 0, result.stderr
    assert "read 3, inserted 1, duplicates 2, rejected 0" in result.stdout
    assert stored(fresh_url) == sorted(before + [("gate-3", local_epoch("2021-08-01 00:00:00", "Asia/Seoul"),
                                                  local_epoch("2021-08-01 00:05:00", "Asia/Seoul"),
                                                  7, 8, None, None, None, None, None, None)])


# -- standard input ---------------------------------------------------------------------------
def test_stdin_via_runner(fresh_url, runner, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke(runner, fresh_url, "import", "-", "--no-detect", input=GOOD)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("<stdin>: read 3, inserted 3")
    again = invoke(runner, fresh_url, "import", "-", "--no-detect", input=GOOD)
    assert again.stdout.startswith("<stdin>: already imported")
    bad = invoke(runner, fresh_url, "import", "-", "--on-error", "skip", "--no-detect",
                 input="camera,start,people\ngate-5,2021-08-01 00:00,-1\ngate-5,2021-08-01 00:05,2\n")
    assert bad.exit_code == 0 and "read 2, inserted 1, duplicates 0, rejected 1" in bad.stdout
    assert (tmp_path / "stdin.rejected.csv").read_text().splitlines()[1].startswith("2,negative people count '-1'")
    twice = invoke(runner, fresh_url, "import", "-", "-", input=GOOD)
    assert (twice.exit_code, twice.stderr) == (2, "error: standard input (-) can be given only once\n")


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CCTV_")}
    env.update(CCTV_TZ="Asia/Seoul", **extra)
    return env


def test_installed_command_reads_a_pipe(fresh_url, tmp_path):
    exe = str(Path(sys.executable).with_name("cctvctl"))
    assert Path(exe).exists(), "the cctvctl entry point is not installed"
    proc = subprocess.run([exe, "--db", fresh_url, "import", "-", "--no-detect"], input=GOOD,
                          capture_output=True, text=True, env=_env(), cwd=tmp_path, timeout=120)
    assert (proc.returncode, proc.stderr) == (0, "")
    assert proc.stdout.startswith("<stdin>: read 3, inserted 3, duplicates 0, rejected 0")
    # a real pipe from another process, through python -m cctvctl, and a rejected file
    producer = subprocess.Popen(["cat", str(_place("duplicate_rows.csv", tmp_path))], stdout=subprocess.PIPE)
    proc = subprocess.run([sys.executable, "-m", "cctvctl", "--db", fresh_url, "import", "-"],
                          stdin=producer.stdout, capture_output=True, text=True, env=_env(),
                          cwd=tmp_path, timeout=120)
    producer.stdout.close()
    producer.wait()
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.splitlines() == [
        "<stdin>:4: duplicate of line 2 (same camera and start)",
        "<stdin>:5: duplicate of line 3 (same camera and start)",
        "error: <stdin>: rejected, 2 bad rows; nothing was written (use --on-error skip to import the good rows)"]
    assert count_rows(fresh_url) == 3


def test_a_named_pipe_is_read_once(sqlite_url, tmp_path):
    """/dev/stdin and <(…) are pipes: they must not be hashed and then found empty."""
    proc = subprocess.run(["cctvctl", "--db", sqlite_url, "import", "/dev/stdin", "--no-detect"],
                          input=GOOD, capture_output=True, text=True, env=_env(), cwd=tmp_path, timeout=120)
    assert (proc.returncode, proc.stderr) == (0, "")
    assert proc.stdout.startswith("/dev/stdin: read 3, inserted 3")


def test_a_db_flag_at_either_level_beats_cctv_db(runner, tmp_path, monkeypatch):
    """CCTV_DB also fills the subcommand's --db; it must not override `cctvctl --db X import`."""
    env_db, root_db, sub_db = (tmp_path / n for n in ("env.db", "root.db", "sub.db"))
    monkeypatch.setenv("CCTV_DB", f"sqlite://{env_db}")
    path = _write(tmp_path)
    assert runner.invoke(app, ["--db", f"sqlite://{root_db}", "import", str(path), "--no-detect"]).exit_code == 0
    assert runner.invoke(app, ["import", str(path), "--db", f"sqlite://{sub_db}", "--no-detect"]).exit_code == 0
    assert (count_rows(f"sqlite://{root_db}"), count_rows(f"sqlite://{sub_db}")) == (3, 3)
    assert not env_db.exists()
    assert runner.invoke(app, ["import", str(path), "--no-detect"]).exit_code == 0
    assert count_rows(f"sqlite://{env_db}") == 3


@pytest.mark.parametrize("options,line", [
    (["--nonexistent", "shift-forward"], "  DST rules applied: nonexistent shifted 1"),
    (["--nonexistent", "shift-backward"], "  DST rules applied: nonexistent shifted 1"),
    (["--on-error", "skip"], "  DST rules applied: nonexistent rejected 1"),
])
def test_summary_says_how_many_rows_each_dst_rule_touched(sqlite_url, runner, tmp_path, options, line):
    path = _place("dst_nonexistent.csv", tmp_path)
    result = invoke(runner, sqlite_url, "import", str(path), "--tz", "Europe/Berlin", "--interval", "60",
                    "--no-detect", *options)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[1] == line
