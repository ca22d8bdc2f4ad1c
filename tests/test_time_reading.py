"""Reading timestamps from files of the field, through the installed `cctvctl`, on both backends.

Issue 11 finding 1 / issue 12 M6 (date order per file), the 12-hour clocks and Unix epochs of
issue 11, issue 12 M5 (offsets), M7 (zone abbreviations) and fractional seconds. Expected
instants come from ``datetime``/``zoneinfo`` directly, never from cctvctl's parser.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from import_helpers import count_rows, fresh_url, shared_mysql_url, stored  # noqa: E402,F401

SEOUL = ZoneInfo("Asia/Seoul")


def cctvctl(url: str, *args: str, cwd: Path, installed: bool = False, tz: str = "Asia/Seoul"):
    """`cctvctl import` (in-process by default; ``installed``: the entry point in a subprocess)."""
    argv = ["--db", url, "import", *args, "--tz", tz, "--no-detect"]
    if installed:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CCTV_")}
        return subprocess.run(["cctvctl", *argv], capture_output=True, text=True, env=env,
                              cwd=cwd, timeout=120)
    from typer.testing import CliRunner

    from cctvctl.cli import app

    old = os.getcwd()
    os.chdir(cwd)
    try:
        result = CliRunner().invoke(app, argv)
    finally:
        os.chdir(old)
    result.returncode = result.exit_code
    return result


def write(tmp_path: Path, lines: list[str], name: str = "counts.csv", header: str = "camera,start,people") -> Path:
    path = tmp_path / name
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    return path


def at(y, mo, d, h=0, mi=0, s=0, tz=SEOUL) -> int:
    return int(datetime(y, mo, d, h, mi, s, tzinfo=tz).timestamp())


def starts(url) -> list[int]:
    return [r[0] for r in stored(url, ("start_utc",))]


# -- date order: one per file (issue 11 finding 1, issue 12 M6) ---------------------------------
def _month(fmt: str) -> tuple[list[str], list[int]]:
    """September 2021 every 6 hours, written with ``fmt``; and the true instants."""
    lines, truth = [], []
    for day in range(1, 31):
        for hour in range(0, 24, 6):
            t = datetime(2021, 9, day, hour)
            lines.append(f"gate,{t.strftime(fmt)},{day}")
            truth.append(int(t.replace(tzinfo=SEOUL).timestamp()))
    return lines, truth


@pytest.mark.parametrize("fmt", ["%d/%m/%Y %H:%M", "%m.%d.%Y %H:%M", "%d-%m-%Y %H:%M"])
def test_a_month_of_dates_is_read_in_the_order_the_file_proves(fresh_url, tmp_path, fmt):
    lines, truth = _month(fmt)
    proc = cctvctl(fresh_url, str(write(tmp_path, lines)), cwd=tmp_path, installed=fmt.startswith("%d/"))
    assert (proc.returncode, proc.stderr) == (0, "")
    assert starts(fresh_url) == sorted(truth)


def test_a_file_whose_order_cannot_be_decided_is_refused_with_both_readings(fresh_url, tmp_path):
    lines = [f"gate,{d:02d}/{m:02d}/2021 09:00,1" for d in range(1, 13) for m in (3, 4)]
    path = write(tmp_path, lines)
    proc = cctvctl(fresh_url, str(path), "--on-error", "skip", cwd=tmp_path, installed=True)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == (
        f"error: {path}:2: cannot tell the date order: '01/03/2021 09:00' reads as 2021-01-03 "
        "(month first) or 2021-03-01 (day first), and no date in the file has a day above 12; "
        "use --dayfirst or --monthfirst\n")
    assert count_rows(fresh_url) == 0
    proc = cctvctl(fresh_url, str(path), "--dayfirst", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert starts(fresh_url) == sorted(at(2021, m, d, 9) for d in range(1, 13) for m in (3, 4))


def test_monthfirst_settles_an_undecidable_file(fresh_url, tmp_path):
    path = write(tmp_path, ["gate,01/03/2021 09:00,1", "gate,03/01/2021 09:00,2", "gate,05/05/2021 09:00,3"])
    proc = cctvctl(fresh_url, str(path), "--monthfirst", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert starts(fresh_url) == [at(2021, 1, 3, 9), at(2021, 3, 1, 9), at(2021, 5, 5, 9)]
    both = cctvctl(fresh_url, str(path), "--monthfirst", "--dayfirst", cwd=tmp_path)
    assert (both.returncode, both.stderr) == (
        2, "error: --dayfirst and --monthfirst contradict each other: give one\n")


def test_a_row_contradicting_the_files_order_is_refused(fresh_url, tmp_path):
    lines, truth = _month("%d/%m/%Y %H:%M")
    path = write(tmp_path, lines + ["gate,10/13/2021 09:00,5"])
    proc = cctvctl(fresh_url, str(path), cwd=tmp_path)
    reason = (f"{path}:122: date '10/13/2021 09:00' reads only month-first (2021-10-13), but this "
              f"file's dates are day-first (line 50: '13/09/2021 00:00'); fix the row, or give the "
              "file's order with --dayfirst or --monthfirst")
    assert proc.returncode == 2 and proc.stderr.splitlines()[0] == reason
    assert count_rows(fresh_url) == 0
    proc = cctvctl(fresh_url, str(path), "--on-error", "skip", cwd=tmp_path)
    assert proc.returncode == 0 and "rejected 1" in proc.stdout
    assert starts(fresh_url) == sorted(truth)


def test_a_row_contradicting_an_explicit_order_is_refused(fresh_url, tmp_path):
    path = write(tmp_path, ["gate,01/02/2021 09:00,1", "gate,13/02/2021 09:00,2"])
    proc = cctvctl(fresh_url, str(path), "--monthfirst", "--on-error", "skip", cwd=tmp_path)
    assert proc.returncode == 0 and "rejected 1" in proc.stdout
    rejected = (tmp_path / "counts.csv.rejected.csv").read_text().splitlines()
    assert rejected[1].startswith("3,date '13/02/2021 09:00' is not month-first (--monthfirst): "
                                  "only day-first reads it (2021-02-13)")
    assert starts(fresh_url) == [at(2021, 1, 2, 9)]


def test_equal_numbers_of_rows_proving_each_order_are_refused(fresh_url, tmp_path):
    path = write(tmp_path, ["gate,13/02/2021 09:00,1", "gate,02/13/2021 10:00,2"])
    proc = cctvctl(fresh_url, str(path), "--on-error", "skip", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr == (f"error: {path}: the file mixes date orders: 1 row(s) read only day-first "
                           "(line 2: '13/02/2021 09:00') and as many only month-first (line 3: "
                           "'02/13/2021 10:00'); use --dayfirst or --monthfirst (rows of the other "
                           "order are then refused)\n")
    assert count_rows(fresh_url) == 0


def test_a_later_chunk_decides_the_order_of_earlier_chunks(fresh_url, tmp_path):
    """Chunks of 10 rows: the first 48 rows have days ≤ 12 (read month-first at first); the
    day-first proof arrives later and the whole file is read again, day-first."""
    from cctvctl import api

    lines, truth = _month("%d/%m/%Y %H:%M")
    result = api.import_file(write(tmp_path, lines), db=fresh_url, tz="Asia/Seoul",
                             chunk_rows=10, detect=False)
    assert (result.inserted, result.rejected) == (120, 0)
    assert starts(fresh_url) == sorted(truth)


def test_date_and_hour_columns_follow_the_files_order(fresh_url, tmp_path):
    lines = [f"gate,{d:02d}/08/2021,{h},1" for d in (1, 2, 20) for h in (0, 13)]
    proc = cctvctl(fresh_url, str(write(tmp_path, lines, header="camera,date,hour,people")),
                   "--interval", "60", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert starts(fresh_url) == [at(2021, 8, d, h) for d in (1, 2, 20) for h in (0, 13)]


def rejected_reasons(tmp_path: Path, name: str = "counts.csv") -> dict[int, str]:
    import csv

    with open(tmp_path / f"{name}.rejected.csv", newline="", encoding="utf-8") as fh:
        return {int(r["line"]): r["reason"] for r in csv.DictReader(fh)}


# -- 12-hour clocks and Unix epochs (issue 11 finding 6) ---------------------------------------
def test_english_and_korean_12_hour_clocks_need_no_flag(fresh_url, tmp_path):
    cases = [("2021-08-01 1:05 PM", (1, 13, 5)), ("2021-08-01 12:00 AM", (1, 0, 0)),
             ("2021-08-01 12:00 PM", (1, 12, 0)), ("2021-08-01 11:59:59 pm", (1, 23, 59, 59)),
             ("2021-08-02 1:05:00 p.m.", (2, 13, 5)), ("2021-08-02 오후 1:05:00", (2, 13, 6)),
             ("2021-08-02 오전 12:30:00", (2, 0, 30)), ("2021-08-02 오후 12:10:00", (2, 12, 10)),
             ("2021. 8. 3. 오후 11:59:59", (3, 23, 59, 59)), ("2021-08-03 오전 9:00", (3, 9, 0)),
             ("2021-08-03 9:01 오후", (3, 21, 1))]
    lines = [f"gate,{text},1" for text, _ in cases]
    lines[5] = "gate,2021-08-02 오후 1:06:00,1"
    # 13:05 and 13:06 one minute apart: --interval 1 keeps them from overlapping
    proc = cctvctl(fresh_url, str(write(tmp_path, lines)), "--interval", "1", cwd=tmp_path,
                   installed=True)
    assert (proc.returncode, proc.stderr) == (0, "")
    assert starts(fresh_url) == sorted(at(2021, 8, *when) for _, when in cases)


def test_12_hour_clocks_in_a_files_date_order(fresh_url, tmp_path):
    """The Brooklyn shape, day-first: `13/11/2017 06:00:00 PM`."""
    lines = ["gate,13/11/2017 06:00:00 PM,1", "gate,01/12/2017 12:00:00 AM,2", "gate,01/12/2017 12:00:00 PM,3"]
    proc = cctvctl(fresh_url, str(write(tmp_path, lines)), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert starts(fresh_url) == [at(2017, 11, 13, 18), at(2017, 12, 1, 0), at(2017, 12, 1, 12)]


def test_an_explicit_format_with_p_reads_korean_markers(fresh_url, tmp_path):
    """The issue's attempt: `--time-format '%Y-%m-%d %p %I:%M:%S'` stored afternoons as mornings."""
    lines = ["gate,2021-08-01 오후 1:05:00,1", "gate,2021-08-01 오전 12:05:00,2", "gate,2021-08-01 오후 12:05:00,3"]
    proc = cctvctl(fresh_url, str(write(tmp_path, lines)), "--time-format", "%Y-%m-%d %p %I:%M:%S",
                   cwd=tmp_path)
    assert proc.returncode == 0, proc.output
    assert starts(fresh_url) == [at(2021, 8, 1, 0, 5), at(2021, 8, 1, 12, 5), at(2021, 8, 1, 13, 5)]


def test_hours_outside_a_12_hour_clock_are_refused(fresh_url, tmp_path):
    lines = ["gate,2021-08-01 13:05 PM,1", "gate,2021-08-01 0:30 AM,2", "gate,2021-08-01 오후 2:00 PM,3",
             "gate,2021-08-01 10:00 AM,4"]
    proc = cctvctl(fresh_url, str(write(tmp_path, lines)), "--on-error", "skip", cwd=tmp_path)
    assert proc.returncode == 0 and "rejected 3" in proc.stdout
    assert rejected_reasons(tmp_path) == {
        2: "timestamp '2021-08-01 13:05 PM' has an AM/PM marker but its hour is not 1–12",
        3: "timestamp '2021-08-01 0:30 AM' has an AM/PM marker but its hour is not 1–12",
        4: "timestamp '2021-08-01 오후 2:00 PM' has two AM/PM markers"}
    assert starts(fresh_url) == [at(2021, 8, 1, 10)]


@pytest.mark.parametrize("fmt,scale", [("epoch", 1), ("epoch_ms", 1000)])
def test_unix_epoch_start_column(fresh_url, tmp_path, fmt, scale):
    instants = [1627776000, 1627776300, 4102444799]
    lines = [f"gate,{t * scale},1" for t in instants] + ["gate,1627776600.5,1" if scale == 1 else
                                                         "gate,1627776600500,1", "gate,-5,1", "gate,x,1"]
    proc = cctvctl(fresh_url, str(write(tmp_path, lines)), "--time-format", fmt, "--on-error", "skip",
                   cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert starts(fresh_url) == instants
    unit = "seconds" if scale == 1 else "milliseconds"
    assert rejected_reasons(tmp_path) == {
        5: f"timestamp {lines[3].split(',')[1]!r} has a fraction of a second; rows are stored at "
           "whole seconds (round the column to the second)",
        6: f"timestamp '-5' is not Unix {unit} (--time-format {fmt})",
        7: f"timestamp 'x' is not Unix {unit} (--time-format {fmt})"}


# -- zones inside timestamps (issue 12 M5, M7) -------------------------------------------------
def test_offsets_mixed_with_naive_times_are_honoured_per_row(fresh_url, tmp_path):
    lines = ["gate,2021-08-01 09:00,1", "gate,2021-08-01 10:00+09,2", "gate,2021-08-01 03:00+0100,3",
             "gate,2021-08-01T04:00:00Z,4", "gate,2021-07-31 21:30-05:30,5", "gate,2021-08-01 14:00,6"]
    proc = cctvctl(fresh_url, str(write(tmp_path, lines)), cwd=tmp_path, installed=True)
    assert (proc.returncode, proc.stderr) == (0, "")
    utc = timezone.utc
    assert starts(fresh_url) == [at(2021, 8, 1, 9), at(2021, 8, 1, 10), at(2021, 8, 1, 2, tz=utc),
                                 at(2021, 8, 1, 3, tz=utc), at(2021, 8, 1, 4, tz=utc), at(2021, 8, 1, 14)]


def test_one_row_with_an_offset_is_not_a_crash(fresh_url, tmp_path):
    proc = cctvctl(fresh_url, str(write(tmp_path, ["gate,2021-08-01 09:00+09,1"])), cwd=tmp_path)
    assert proc.returncode == 0, proc.output
    assert starts(fresh_url) == [at(2021, 8, 1, 9)]


def test_impossible_offsets_are_refused_and_the_rest_imports(fresh_url, tmp_path):
    lines = ["gate,2021-08-01 09:00,1", "gate,2021-08-01 10:00+15:00,2", "gate,2021-08-01 11:00+09:75,3",
             "gate,2021-08-01 12:00+09,4"]
    path = write(tmp_path, lines)
    proc = cctvctl(fresh_url, str(path), cwd=tmp_path)
    assert proc.returncode == 2 and count_rows(fresh_url) == 0
    assert proc.stderr.splitlines()[:2] == [
        f"{path}:3: timestamp '2021-08-01 10:00+15:00': +15:00 is not a UTC offset",
        f"{path}:4: timestamp '2021-08-01 11:00+09:75': +09:75 is not a UTC offset"]
    proc = cctvctl(fresh_url, str(path), "--on-error", "skip", cwd=tmp_path)
    assert proc.returncode == 0 and "rejected 2" in proc.stdout
    assert starts(fresh_url) == [at(2021, 8, 1, 9), at(2021, 8, 1, 12)]


def test_abbreviations_of_other_zones_are_refused_never_dropped(fresh_url, tmp_path):
    lines = ["gate,2021-08-01 09:00 PST,1", "gate,2021-08-01 10:00 KST,2", "gate,2021-08-01 02:00 UTC,3",
             "gate,2021-08-01 03:00 GMT,4", "gate,2021-08-01 11:00 CST,5"]
    proc = cctvctl(fresh_url, str(write(tmp_path, lines)), "--on-error", "skip", cwd=tmp_path)
    assert proc.returncode == 0 and "rejected 2" in proc.stdout
    tail = ("is not one Asia/Seoul uses (KDT, KST); abbreviations are ambiguous, so only UTC/GMT and "
            "the import zone's own are read — write the offset (+09:00) or import with --tz set to "
            "the file's zone")
    assert rejected_reasons(tmp_path) == {
        2: f"timestamp '2021-08-01 09:00 PST': zone abbreviation PST {tail}",
        6: f"timestamp '2021-08-01 11:00 CST': zone abbreviation CST {tail}"}
    utc = timezone.utc
    assert starts(fresh_url) == [at(2021, 8, 1, 10), at(2021, 8, 1, 2, tz=utc), at(2021, 8, 1, 3, tz=utc)]


def test_the_zones_own_abbreviations_fix_the_instant_at_a_dst_change(fresh_url, tmp_path):
    """New York's fall-back night: 01:30 EDT and 01:30 EST are an hour apart, no rule needed;
    PST in a Los Angeles file in July is still UTC−8 (the file said so)."""
    lines = ["gate,2021-11-07 01:30 EST,1", "gate,2021-11-07 01:30 EDT,2", "gate,2021-11-07 01:00 edt,3"]
    proc = cctvctl(fresh_url, str(write(tmp_path, lines)), "--ambiguous", "reject", cwd=tmp_path,
                   tz="America/New_York")
    assert proc.returncode == 0, proc.output
    utc = timezone.utc
    assert starts(fresh_url) == [at(2021, 11, 7, 5, tz=utc), at(2021, 11, 7, 5, 30, tz=utc),
                                 at(2021, 11, 7, 6, 30, tz=utc)]


def test_fractions_of_a_second_are_refused_not_truncated(fresh_url, tmp_path):
    lines = ["gate,2021-08-01 09:30:00.000,1", "gate,2021-08-01 09:34:59.999,2",
             "gate,2021-08-01T09:40:00.5+09:00,3", "gate,2021-08-01 09:45:00,4"]
    proc = cctvctl(fresh_url, str(write(tmp_path, lines)), "--on-error", "skip", cwd=tmp_path)
    assert proc.returncode == 0 and "rejected 2" in proc.stdout
    reason = ("has a fraction of a second; rows are stored at whole seconds (round the column to "
              "the second)")
    assert rejected_reasons(tmp_path) == {3: f"timestamp '2021-08-01 09:34:59.999' {reason}",
                                          4: f"timestamp '2021-08-01T09:40:00.5+09:00' {reason}"}
    assert starts(fresh_url) == [at(2021, 8, 1, 9, 30), at(2021, 8, 1, 9, 45)]


# -- adversarial review: impossible clocks, compact shapes, Unix time, UTC headers ---------------
def test_impossible_clock_times_are_refused_not_rolled_over(fresh_url, tmp_path):
    """`09:60` was stored as 10:00 and reported as a duplicate of the real 10:00 row (blaming it);
    `99:99:99` moved four days on, `오후 12:75` became 13:15."""
    lines = ["gate,2021-08-01 09:60,1", "gate,2021-08-01 10:00,2"]
    path = write(tmp_path, lines)
    proc = cctvctl(fresh_url, str(path), "--interval", "5", cwd=tmp_path, installed=True)
    assert proc.returncode == 2 and count_rows(fresh_url) == 0
    assert proc.stderr.splitlines()[0] == f"{path}:2: timestamp '2021-08-01 09:60': minute 60 is not 0–59"
    others = ["2021-08-01 99:99:99", "2021-08-01 25:00", "2021/08/01 47:00", "13/08/2021 30:00",
              "2021-08-01 23:60", "2021-08-01 09:00:60", "2021-08-01 오후 12:75", "2021-08-01 24:00",
              "202108012500"]
    path = write(tmp_path, lines + [f"cam{i},{t},{i}" for i, t in enumerate(others)])
    proc = cctvctl(fresh_url, str(path), "--interval", "5", "--on-error", "skip", cwd=tmp_path)
    assert proc.returncode == 0 and f"rejected {len(others) + 1}" in proc.stdout, proc.output
    assert starts(fresh_url) == [at(2021, 8, 1, 10)]
    why = rejected_reasons(tmp_path)
    assert why[2] == "timestamp '2021-08-01 09:60': minute 60 is not 0–59"
    assert why[4] == "timestamp '2021-08-01 99:99:99': hour 99 is not 0–23"
    assert why[10] == "timestamp '2021-08-01 오후 12:75': minute 75 is not 0–59"
    assert why[11] == ("timestamp '2021-08-01 24:00': hour 24 is not 0–23 (24:00 is not read: "
                       "write 00:00 of the next day)")
    assert sorted(why) == [2, *range(4, 4 + len(others))]


def test_compact_timestamps_are_read_exactly_or_refused(fresh_url, tmp_path):
    """`202108011745` was stored at 17:04:05, `20210801093` at 00:09:03, `20210801 123` at 12:03."""
    good = [("202108011745", (1, 17, 45)), ("202108010930", (1, 9, 30)), ("20210802093000", (2, 9, 30)),
            ("20210802 0935", (2, 9, 35)), ("20210803", (3, 0, 0))]
    bad = ["20210801093", "20210801 123", "20210801 930", "2021111", "202181", "2021111093000"]
    lines = [f"c{i},{t},1" for i, (t, _) in enumerate(good)] + [f"x{i},{t},1" for i, t in enumerate(bad)]
    proc = cctvctl(fresh_url, str(write(tmp_path, lines)), "--interval", "5", "--on-error", "skip",
                   cwd=tmp_path)
    assert proc.returncode == 0 and f"rejected {len(bad)}" in proc.stdout, proc.output
    assert starts(fresh_url) == [at(2021, 8, *when) for _, when in good]  # by camera c0…c4
    assert rejected_reasons(tmp_path) == {2 + len(good) + i: f"unparseable timestamp {t!r}"
                                          for i, t in enumerate(bad)}


def test_unix_time_in_the_wrong_unit_or_without_the_flag_is_refused_naming_the_flag(fresh_url, tmp_path):
    """Seconds under epoch_ms were stored in January 1970; seconds without a flag were refused
    as out of range (1970–2099)."""
    path = write(tmp_path, ["gate,1627776000,1", "gate,1627776300,2"])
    proc = cctvctl(fresh_url, str(path), "--time-format", "epoch_ms", cwd=tmp_path, installed=True)
    assert proc.returncode == 2 and count_rows(fresh_url) == 0
    assert proc.stderr.splitlines()[0] == (
        f"{path}:2: timestamp '1627776000' is before 1973 as Unix milliseconds: it looks like "
        "Unix seconds; read the column with --time-format epoch")
    proc = cctvctl(fresh_url, str(path), cwd=tmp_path)
    assert proc.returncode == 2 and count_rows(fresh_url) == 0
    assert proc.stderr.splitlines()[0] == (
        f"{path}:2: timestamp '1627776000' is no date: it looks like Unix epoch seconds "
        "(2021-08-01 00:00:00 UTC); read the column with --time-format epoch")
    proc = cctvctl(fresh_url, str(path), "--time-format", "epoch", cwd=tmp_path)
    assert proc.returncode == 0, proc.output
    assert starts(fresh_url) == [1627776000, 1627776300]


@pytest.mark.parametrize("header", ["camera,start_utc,end_utc,people", "camera,StartUTC,end,people"])
def test_a_column_whose_header_says_utc_is_read_as_utc(fresh_url, tmp_path, header):
    """`start_utc` holding naive values was read in --tz (Asia/Seoul: nine hours off)."""
    lines = ["gate,2021-08-01 00:00,2021-08-01 00:05,1", "gate,2021-08-01 00:05,2021-08-01 00:10,2"]
    if "end," in header:  # a local end beside a UTC start: each column by its own header
        lines = ["gate,2021-08-01 00:00,2021-08-01 09:05,1", "gate,2021-08-01 00:05,2021-08-01 09:10,2"]
    proc = cctvctl(fresh_url, str(write(tmp_path, lines, header=header)), cwd=tmp_path)
    assert proc.returncode == 0, proc.output
    utc = timezone.utc
    assert stored(fresh_url, ("start_utc", "end_utc")) == [
        (at(2021, 8, 1, 0, 0, tz=utc), at(2021, 8, 1, 0, 5, tz=utc)),
        (at(2021, 8, 1, 0, 5, tz=utc), at(2021, 8, 1, 0, 10, tz=utc))]


def test_a_plain_start_column_stays_local_time(fresh_url, tmp_path):
    proc = cctvctl(fresh_url, str(write(tmp_path, ["gate,2021-08-01 09:00,1"])), cwd=tmp_path)
    assert proc.returncode == 0, proc.output
    assert starts(fresh_url) == [at(2021, 8, 1, 9)]


def test_a_date_column_holding_a_time_is_never_added_to_the_time(fresh_url, tmp_path):
    """A date column exported as a datetime (`2021-08-01 00:00:00`) beside a time column is read;
    one holding another time of day was silently replaced (date + time) or added (date + hour)."""
    path = write(tmp_path, ["gate,2021-08-01 00:00:00,09:30,1", "gate,2021-08-01 10:00,09:35,2"],
                 header="camera,date,time,people")
    proc = cctvctl(fresh_url, str(path), "--interval", "5", "--on-error", "skip", cwd=tmp_path)
    assert proc.returncode == 0 and "rejected 1" in proc.stdout, proc.output
    assert starts(fresh_url) == [at(2021, 8, 1, 9, 30)]
    assert rejected_reasons(tmp_path) == {3: "timestamp '2021-08-01 10:00 09:35' has two times of day "
                                             "(10:00, 09:35)"}
    path = write(tmp_path, ["gate,2021-08-02 10:00,1,1", "gate,2021-08-02,2,2"], name="hours.csv",
                 header="camera,date,hour,people")
    proc = cctvctl(fresh_url, str(path), "--interval", "60", "--on-error", "skip", cwd=tmp_path)
    assert proc.returncode == 0 and "rejected 1" in proc.stdout, proc.output
    assert starts(fresh_url) == [at(2021, 8, 1, 9, 30), at(2021, 8, 2, 2)]
    assert rejected_reasons(tmp_path, "hours.csv") == {
        2: "date '2021-08-02 10:00' has a time of day; the hour column gives the hour"}


def test_an_explicit_compact_format_refuses_a_missing_digit(fresh_url, tmp_path):
    path = write(tmp_path, ["gate,202108011745,1", "gate,20210801930,2", "gate,2021111,3"])
    proc = cctvctl(fresh_url, str(path), "--time-format", "%Y%m%d%H%M", "--interval", "5",
                   "--on-error", "skip", cwd=tmp_path)
    assert proc.returncode == 0 and "rejected 2" in proc.stdout, proc.output
    assert starts(fresh_url) == [at(2021, 8, 1, 17, 45)]
    tail = "does not fill --time-format '%Y%m%d%H%M': fields written together need all their digits"
    assert rejected_reasons(tmp_path) == {3: f"timestamp '20210801930' {tail}",
                                          4: "unparseable timestamp '2021111'"}
