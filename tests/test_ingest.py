"""The import rules of DESIGN §7, through the library, on both backends.

Every expectation is computed independently of the importer (zoneinfo for times, pandas or the
csv module for the file), and every refused import is checked to have written nothing.
"""

from __future__ import annotations

import csv
import json
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from import_helpers import (  # noqa: E402,F401  (fixtures are used by name)
    COLUMNS, count_rows, expected_from_csv, fresh_url, idb, local_epoch, shared_mysql_url,
    snapshot, stored)

from cctvctl.errors import CountFileError, UsageError  # noqa: E402
from cctvctl.ingest import ImportOptions, import_file, import_rows  # noqa: E402
from cctvctl.zone import set_zone  # noqa: E402

SEOUL = "Asia/Seoul"
ORIGINAL = ("camera,start_date,end_date,people,vehicle\n"
            "gate-1,2021-08-01 00:00:00,2021-08-01 00:05:00,3,4\n"
            "gate-1,2021-08-01 00:05:00,2021-08-01 00:10:00,5,6\n"
            "gate-2,2021-08-01 00:00:00,2021-08-01 00:05:00,7,8\n"
            "gate-2,2021-08-31 23:55:00,2021-09-01 00:00:00,0,0\n")


def opts(tz: str = SEOUL, **kw) -> ImportOptions:
    kw.setdefault("detect", False)
    return ImportOptions(tz=ZoneInfo(tz), **kw)


def write(tmp_path, text: str, name: str = "counts.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def row(camera, start, end=None, people=None, vehicle=None, **classes) -> tuple:
    """An expected counts row; start/end are naive Seoul wall times unless given as epochs."""
    s = start if isinstance(start, int) else local_epoch(start, SEOUL)
    e = end if isinstance(end, int) else (s + 300 if end is None else local_epoch(end, SEOUL))
    return (camera, s, e, people, vehicle, *(classes.get(c) for c in COLUMNS[5:]))


# -- formats ----------------------------------------------------------------------------------
@pytest.mark.parametrize("sep,name", [(",", "csv"), ("\t", "tsv"), (";", "semicolon"), ("|", "pipe")])
def test_original_layout_in_every_delimiter(idb, tmp_path, sep, name):
    path = write(tmp_path, ORIGINAL.replace(",", sep), f"counts.{name}")
    result = import_file(idb, path, opts())
    assert (result.status, result.read, result.inserted, result.rejected) == ("ok", 4, 4, 0)
    assert stored(idb) == expected_from_csv(path, SEOUL, sep=sep)


def test_explicit_tab_delimiter(idb, tmp_path):
    path = write(tmp_path, ORIGINAL.replace(",", "\t"))
    import_file(idb, path, opts(delimiter="tab"))
    assert stored(idb) == expected_from_csv(path, SEOUL, sep="\t")


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp949"])
def test_encodings(idb, tmp_path, encoding):
    text = ORIGINAL.replace("gate-2", "남문 카메라")
    path = write(tmp_path, text, encoding=encoding)
    options = opts(encoding="cp949") if encoding == "cp949" else opts()
    import_file(idb, path, options)
    assert stored(idb) == expected_from_csv(path, SEOUL, encoding=encoding)
    assert {r[0] for r in stored(idb)} == {"gate-1", "남문 카메라"}


def test_without_camera_column_camera_option(idb, tmp_path):
    text = "start_date,end_date,people,vehicle\n2021-08-01 00:00:00,2021-08-01 00:05:00,3,4\n"
    import_file(idb, write(tmp_path, text), opts(camera="lobby"))
    assert stored(idb) == [row("lobby", "2021-08-01 00:00:00", people=3, vehicle=4)]


def test_camera_option_overrides_the_column(idb, tmp_path):
    text = "camera,start,people\nignored,2021-08-01 00:00,1\nalso-ignored,2021-08-01 00:05,2\n"
    import_file(idb, write(tmp_path, text), opts(camera="override"))
    assert stored(idb, ("camera", "people")) == [("override", 1), ("override", 2)]


def test_camera_override_that_creates_duplicates_is_refused(idb, tmp_path):
    text = ("camera,start_date,people\n"
            "a,2021-08-01 00:00,1\n"
            "b,2021-08-01 00:00,2\n")
    with pytest.raises(CountFileError) as err:
        import_file(idb, write(tmp_path, text), opts(camera="one"))
    assert err.value.problems == [f"{tmp_path / 'counts.csv'}:3: duplicate of line 2 (same camera and start)"]
    assert count_rows(idb) == 0


def test_per_class_layout_vehicle_is_the_sum(idb, tmp_path):
    text = ("camera,date_time,n_person,n_car,n_truck,n_bus,n_bicycle,n_motorcycle,n_electric_scooter\n"
            "cross,2021-08-01 08:00,10,5,1,2,3,4,6\n"
            "cross,2021-08-01 08:05,0,0,0,0,0,0,0\n")
    result = import_file(idb, write(tmp_path, text), opts())
    assert result.inserted == 2
    assert stored(idb) == [
        row("cross", "2021-08-01 08:00", people=10, vehicle=5 + 1 + 2 + 3 + 4 + 6, car=5, truck=1, bus=2,
            bicycle=3, motorcycle=4, scooter=6),
        row("cross", "2021-08-01 08:05", people=0, vehicle=0, car=0, truck=0, bus=0, bicycle=0,
            motorcycle=0, scooter=0)]


def test_per_class_with_a_vehicle_column_that_disagrees(idb, tmp_path):
    text = ("camera,start,people,vehicle,car,bus\n"
            "c,2021-08-01 08:00,1,7,3,4\n"
            "c,2021-08-01 08:05,1,8,3,4\n")
    with pytest.raises(CountFileError) as err:
        import_file(idb, write(tmp_path, text), opts())
    assert err.value.problems == [f"{tmp_path / 'counts.csv'}:3: vehicle 8 is not the sum of the classes (7)"]
    assert count_rows(idb) == 0


def test_some_classes_only_the_rest_is_null(idb, tmp_path):
    text = "camera,start,car,bus\nc,2021-08-01 08:00,3,4\n"
    import_file(idb, write(tmp_path, text), opts())
    assert stored(idb) == [row("c", "2021-08-01 08:00", people=None, vehicle=7, car=3, bus=4)]


def test_a_metric_the_file_lacks_is_null_never_zero(idb, tmp_path):
    import_file(idb, write(tmp_path, "camera,start,people\nc,2021-08-01 08:00,0\n"), opts())
    assert stored(idb) == [row("c", "2021-08-01 08:00", people=0)]
    with idb.atomic():
        assert idb.scalar("SELECT COUNT(*) FROM counts WHERE vehicle IS NULL AND car IS NULL") == 1


def test_derived_vehicle_is_held_to_the_sanity_bound(idb, tmp_path):
    text = "camera,start,n_car,n_bus\nc,2021-08-01 08:00,60,50\n"
    with pytest.raises(CountFileError) as err:
        import_file(idb, write(tmp_path, text), opts(max_count=100))
    assert err.value.problems[0].endswith(
        ":2: vehicle count 110 (the sum of the classes) is above the sanity bound 100 (see --max-count)")


# -- --map --------------------------------------------------------------------------------------
def test_map_every_field(idb, tmp_path):
    fields = ["camera", "start", "end", "people", "car", "truck", "bus", "bicycle", "motorcycle", "scooter"]
    header = ["Cam ID", "Von", "Bis", "Fussgaenger", "PKW", "LKW", "Omnibus", "Rad", "Krad", "Roller", "Notes"]
    text = ",".join(header) + "\nK1,2021-08-01 09:00,2021-08-01 09:15,1,2,3,4,5,6,7,x\n"
    mapping = [f"{f}={h}" for f, h in zip(fields, header)]
    import_file(idb, write(tmp_path, text), opts(mapping=mapping))
    assert stored(idb) == [row("K1", "2021-08-01 09:00", "2021-08-01 09:15", people=1,
                               vehicle=2 + 3 + 4 + 5 + 6 + 7, car=2, truck=3, bus=4, bicycle=5,
                               motorcycle=6, scooter=7)]


def test_map_vehicle_and_case_insensitive_names(idb, tmp_path):
    text = "SENSOR,WHEN,Walkers,Autos\ns,2021-08-01 09:00,4,5\n"
    import_file(idb, write(tmp_path, text), opts(mapping=["camera=sensor", "start=when",
                                                          "people=WALKERS", "vehicle=autos"]))
    assert stored(idb) == [row("s", "2021-08-01 09:00", people=4, vehicle=5)]


def test_map_date_and_hour_with_interval(idb, tmp_path):
    text = "Date,Hour,SensorID,PedestrianCount\n01-Aug-2021,0,4,10\n01-Aug-2021,23,4,20\n"
    import_file(idb, write(tmp_path, text), opts(interval=3600, mapping=[
        "people=PedestrianCount", "camera=SensorID", "date=Date", "hour=Hour"]))
    assert stored(idb) == [row("4", "2021-08-01 00:00", local_epoch("2021-08-01 01:00", SEOUL), people=10),
                           row("4", "2021-08-01 23:00", local_epoch("2021-08-02 00:00", SEOUL), people=20)]


def test_map_date_and_time(idb, tmp_path):
    text = "Tag,Uhrzeit,cam,people\n2021-08-01,13:25,x,1\n08/02/2021,07:05:00,x,2\n"
    import_file(idb, write(tmp_path, text), opts(mapping=["date=Tag", "time=Uhrzeit"], monthfirst=True))
    assert stored(idb) == [row("x", "2021-08-01 13:25", people=1), row("x", "2021-08-02 07:05", people=2)]


def test_a_date_without_time_or_hour_is_refused(idb, tmp_path):
    with pytest.raises(CountFileError) as err:
        import_file(idb, write(tmp_path, "date,cam,people\n2021-08-01,x,1\n"), opts())
    assert str(err.value).endswith(":1: a date column needs a time or hour column "
                                   "(or --map time=COLUMN / --map hour=COLUMN)")


def test_map_errors_are_usage_errors():
    for pairs, message in ((["people"], "expected FIELD=COLUMN"), (["colour=x"], "unknown field 'colour'"),
                           (["people="], "the column name is empty"),
                           (["people=a", "people=b"], "gives field 'people' twice")):
        with pytest.raises(UsageError, match=message):
            opts(mapping=pairs)


@pytest.mark.parametrize("minutes", [1, 5, 15, 60])
def test_interval_sets_the_end_where_there_is_none(idb, tmp_path, minutes):
    import_file(idb, write(tmp_path, "camera,start,people\nc,2021-08-01 09:00,1\n"), opts(interval=minutes * 60))
    assert stored(idb, ("end_utc",)) == [(local_epoch("2021-08-01 09:00", SEOUL) + minutes * 60,)]


# -- time -------------------------------------------------------------------------------------
def test_naive_is_local_in_tz_and_offsets_are_honoured(idb, tmp_path):
    text = ("camera,start,people\n"
            "naive,2021-08-01 09:00,1\n"
            "utc,2021-08-01T00:00:00Z,2\n"
            "plus9,2021-08-01T09:00:00+09:00,3\n"
            "minus5,2021-07-31T19:00:00-05:00,4\n"
            "compact,2021-08-01T02:00:00+0200,5\n")
    import_file(idb, write(tmp_path, text), opts(tz="America/New_York"))
    instant = int(datetime(2021, 8, 1, tzinfo=timezone.utc).timestamp())
    starts = {cam: s for cam, s in stored(idb, ("camera", "start_utc"))}
    assert starts == {"naive": local_epoch("2021-08-01 09:00", "America/New_York"), "utc": instant,
                      "plus9": instant, "minus5": instant, "compact": instant}


def test_the_same_file_in_another_zone_moves_by_the_offset(tmp_path, fresh_url):
    from cctvctl import api

    path = write(tmp_path, ORIGINAL)
    api.import_file(str(path), db=fresh_url, tz="UTC", policy=api.ImportPolicy(detect=False))
    utc_rows = stored(fresh_url)
    path2 = write(tmp_path, ORIGINAL.replace("gate-", "cam-"), "b.csv")
    with api.open_database(fresh_url) as database:  # one zone per database: change it on purpose
        set_zone(database, "Asia/Seoul", force=True)
    api.import_file(str(path2), db=fresh_url, tz="Asia/Seoul", policy=api.ImportPolicy(detect=False))
    seoul = [r for r in stored(fresh_url) if r[0].startswith("cam-")]
    assert [(r[1] + 9 * 3600, r[2] + 9 * 3600) for r in seoul] == [(r[1], r[2]) for r in utc_rows]


BERLIN = "Europe/Berlin"
GAP = ("camera,start,people\n"
       "g,2021-03-28 01:30,1\n"
       "g,2021-03-28 02:30,2\n"
       "g,2021-03-28 03:30,3\n"
       "h,2021-03-28 02:00,4\n")


def test_dst_gap_rejected_by_default(idb, tmp_path):
    path = write(tmp_path, GAP)
    with pytest.raises(CountFileError) as err:
        import_file(idb, path, opts(BERLIN, interval=1800))
    assert err.value.problems == [
        f"{path}:3: local time 2021-03-28 02:30:00 does not exist in Europe/Berlin (DST gap; see --nonexistent)",
        f"{path}:5: local time 2021-03-28 02:00:00 does not exist in Europe/Berlin (DST gap; see --nonexistent)"]
    assert err.value.result.dst["nonexistent_rejected"] == 2
    assert count_rows(idb) == 0


@pytest.mark.parametrize("policy,offset_hours", [("shift-forward", 1), ("shift-backward", 2)])
def test_dst_gap_shifted(idb, tmp_path, policy, offset_hours):
    text = GAP.replace("01:30", "00:00").replace("03:30", "05:00")  # nothing to collide with
    result = import_file(idb, write(tmp_path, text), opts(BERLIN, interval=1800, nonexistent=policy))
    assert result.dst["nonexistent_shifted"] == 2 and result.inserted == 4
    base = int(datetime(2021, 3, 28, tzinfo=timezone.utc).timestamp())
    starts = {(c, s) for c, s in stored(idb, ("camera", "start_utc"))}
    # wall time minus the offset before (CET, +1) or after (CEST, +2) the change
    assert ("g", base + int((2.5 - offset_hours) * 3600)) in starts
    assert ("h", base + (2 - offset_hours) * 3600) in starts


FALL = ("camera,start,people\n"
        "a,2021-10-31 01:30,1\n"
        "a,2021-10-31 02:30,2\n"
        "b,2021-10-31 02:30,20\n"
        "a,2021-10-31 02:30,3\n"
        "a,2021-10-31 03:30,4\n")


def test_dst_repeated_hour_infer_per_camera(idb, tmp_path):
    result = import_file(idb, write(tmp_path, FALL), opts(BERLIN, interval=3600))  # hourly rows
    assert result.dst == {"nonexistent_rejected": 0, "nonexistent_shifted": 0, "ambiguous_earliest": 2,
                          "ambiguous_latest": 1, "ambiguous_rejected": 0}
    first = local_epoch("2021-10-31 02:30", BERLIN, fold=0)
    second = local_epoch("2021-10-31 02:30", BERLIN, fold=1)
    assert second - first == 3600
    assert stored(idb, ("camera", "start_utc", "people")) == [
        ("a", local_epoch("2021-10-31 01:30", BERLIN), 1), ("a", first, 2), ("a", second, 3),
        ("a", local_epoch("2021-10-31 03:30", BERLIN), 4), ("b", first, 20)]


@pytest.mark.parametrize("policy,fold", [("earliest", 0), ("latest", 1)])
def test_dst_repeated_hour_explicit(idb, tmp_path, policy, fold):
    text = "camera,start,people\na,2021-10-31 02:30,2\n"
    result = import_file(idb, write(tmp_path, text), opts(BERLIN, ambiguous=policy))
    assert result.dst[f"ambiguous_{policy}"] == 1
    assert stored(idb, ("start_utc",)) == [(local_epoch("2021-10-31 02:30", BERLIN, fold=fold),)]


def test_dst_repeated_hour_reject(idb, tmp_path):
    with pytest.raises(CountFileError) as err:
        import_file(idb, write(tmp_path, FALL), opts(BERLIN, ambiguous="reject"))
    assert err.value.total_problems == 3 and err.value.result.dst["ambiguous_rejected"] == 3
    assert count_rows(idb) == 0


def test_dst_end_column_follows_its_start(idb, tmp_path):
    """Five-minute rows across the fall-back night: every interval is five real minutes."""
    rows = []
    # first pass 01:50–02:55 CEST, second pass 02:00–03:05 CET, as a wall-clock detector writes them
    starts = [datetime(2021, 10, 31, 1, 50) + timedelta(minutes=5 * i) for i in range(14)]
    starts += [datetime(2021, 10, 31, 2, 0) + timedelta(minutes=5 * i) for i in range(14)]
    for i, s in enumerate(starts):
        e = starts[i + 1] if i + 1 < len(starts) else s + timedelta(minutes=5)
        rows.append(f"k,{s:%Y-%m-%d %H:%M},{e:%Y-%m-%d %H:%M},{i}")
    text = "camera,start,end,people\n" + "\n".join(rows) + "\n"
    result = import_file(idb, write(tmp_path, text), opts(BERLIN))
    assert result.inserted == 28
    assert result.dst["ambiguous_earliest"] == 12 and result.dst["ambiguous_latest"] == 12
    got = stored(idb, ("start_utc", "end_utc", "people"))
    first = local_epoch("2021-10-31 01:50", BERLIN)
    assert got == [(first + 300 * i, first + 300 * (i + 1), i) for i in range(28)]


# -- validation, reject and skip --------------------------------------------------------------------
def test_more_than_twenty_problems_show_twenty_and_count_all(idb, tmp_path):
    lines = [f"c,2021-08-01 {h:02d}:{m:02d},-{m + 1}" for h in range(3) for m in range(0, 60, 5)]
    path = write(tmp_path, "camera,start,people\nc,2021-07-31 00:00,1\n" + "\n".join(lines) + "\n")
    before = snapshot(idb)
    with pytest.raises(CountFileError) as err:
        import_file(idb, path, opts())
    assert len(err.value.problems) == 20 and err.value.total_problems == 36
    assert err.value.problems[0] == f"{path}:3: negative people count '-1'"
    assert str(err.value) == (f"{path}: rejected, 36 bad rows (showing the first 20); nothing was "
                              "written (use --on-error skip to import the good rows)")
    assert snapshot(idb) == before
    ledger = idb.query("SELECT status, rows_read, rejected FROM imports")
    assert ledger == [("rejected", 37, 36)]


def test_skip_imports_good_rows_and_lists_every_bad_one(idb, tmp_path):
    text = ("camera,start,people,vehicle\n"
            "c,2021-08-01 00:00,1,1\n"
            "c,not a time,1,1\n"
            "c,2021-08-01 00:05,1.5,1\n"
            "c,2021-08-01 00:10,2,2\n"
            "c,2021-08-01 00:10,2,2\n")
    path = write(tmp_path, text)
    result = import_file(idb, path, opts(on_error="skip"))
    assert (result.read, result.inserted, result.rejected) == (5, 2, 3)
    assert result.rejected_file == f"{path}.rejected.csv"
    with open(result.rejected_file, newline="", encoding="utf-8") as fh:
        bad = list(csv.reader(fh))
    assert bad == [["line", "reason", "camera", "start", "people", "vehicle"],
                   ["3", "unparseable timestamp 'not a time'", "c", "not a time", "1", "1"],
                   ["4", "people count '1.5' is not a whole number", "c", "2021-08-01 00:05", "1.5", "1"],
                   ["6", "duplicate of line 5 (same camera and start)", "c", "2021-08-01 00:10", "2", "2"]]
    assert stored(idb, ("people",)) == [(1,), (2,)]


@pytest.mark.parametrize("text,value", [("3.0", 3), ("+4", 4), (" 5 ", 5), ("0", 0), ("100000", 100000)])
def test_accepted_spellings_of_whole_numbers(idb, tmp_path, text, value):
    import_file(idb, write(tmp_path, f'camera,start,people\nc,2021-08-01 00:00,"{text}"\n'), opts())
    assert stored(idb, ("people",)) == [(value,)]


@pytest.mark.parametrize("text,reason", [
    ("1e3", "people count '1e3' is not a whole number"), ("-0.5", "negative people count '-0.5'"),
    ("٣", "people count '٣' is not a number"), ("1,000", "people count '1,000' is not a number"),
    ("99999999999999999999999", "people count 99999999999999999999999 is above the sanity bound 100000 (see --max-count)"),
    ("inf", "people count 'inf' is not a number"), ("0x10", "people count '0x10' is not a number")])
def test_refused_spellings(idb, tmp_path, text, reason):
    path = write(tmp_path, f'camera,start,people\nc,2021-08-01 00:00,"{text}"\n')
    with pytest.raises(CountFileError) as err:
        import_file(idb, path, opts())
    assert err.value.problems == [f"{path}:2: {reason}"]


def test_max_count_range():
    with pytest.raises(UsageError):
        opts(max_count=0)
    with pytest.raises(UsageError):
        opts(max_count=2**31)
    assert opts(max_count=2**31 - 1).max_count == 2**31 - 1


def test_the_largest_count_fits_both_backends(idb, tmp_path):
    import_file(idb, write(tmp_path, "camera,start,people\nc,2021-08-01 00:00,2147483647\n"),
                opts(max_count=2**31 - 1))
    assert stored(idb, ("people",)) == [(2147483647,)]


# -- chunks: duplicates and conflicts across them -------------------------------------------------
def _series(n: int, camera: str = "c", people=lambda i: i) -> str:
    t0 = datetime(2021, 8, 1)
    return "camera,start,people\n" + "".join(
        f"{camera},{t0 + timedelta(minutes=5 * i):%Y-%m-%d %H:%M},{people(i)}\n" for i in range(n))


def test_chunk_size_does_not_change_the_result(fresh_url, tmp_path):
    from cctvctl.db import connect

    path = write(tmp_path, _series(50))
    with connect(fresh_url) as db:
        result = import_file(db, path, opts(chunk_rows=7))
    assert (result.read, result.inserted) == (50, 50)
    t0 = local_epoch("2021-08-01 00:00", SEOUL)
    assert stored(fresh_url, ("start_utc", "people")) == [(t0 + 300 * i, i) for i in range(50)]


def test_duplicate_key_across_chunks_is_refused(idb, tmp_path):
    text = _series(10) + "c,2021-08-01 00:00,99\n"
    path = write(tmp_path, text)
    before = snapshot(idb)
    with pytest.raises(CountFileError) as err:
        import_file(idb, path, opts(chunk_rows=4))
    assert err.value.problems == [
        f"{path}:12: duplicate of an earlier row of this file (same camera and start)"]
    assert snapshot(idb) == before
    result = import_file(idb, path, opts(chunk_rows=4, on_error="skip"))
    assert (result.inserted, result.rejected) == (10, 1)
    assert stored(idb, ("people",))[0] == (0,)  # the first occurrence won


def test_conflict_with_stored_rows_duplicates_and_replace(idb, tmp_path):
    import_file(idb, write(tmp_path, _series(6), "a.csv"), opts())
    first = stored(idb)
    # rows 0–2 identical, 3–5 changed, 6–8 new; small chunks mix all three kinds
    changed = write(tmp_path, _series(9, people=lambda i: i if i < 3 else i * 10), "b.csv")
    before = snapshot(idb)
    with pytest.raises(CountFileError) as err:
        import_file(idb, changed, opts(chunk_rows=4))
    assert err.value.problems[0] == (f"{changed}:5: conflicts with the stored row (people 3 stored, "
                                     "30 in file); use --replace to overwrite")
    assert err.value.total_problems == 3
    assert snapshot(idb) == before
    result = import_file(idb, changed, opts(chunk_rows=4, replace=True))
    assert (result.read, result.inserted, result.duplicates, result.replaced, result.rejected) == (9, 3, 3, 3, 0)
    assert [r[3] for r in stored(idb)] == [0, 1, 2, 30, 40, 50, 60, 70, 80]
    ids = dict(idb.query("SELECT people, import_id FROM counts"))
    assert ids[0] == ids[1] == ids[2] != ids[30] == ids[60] == result.import_id
    assert [r[:3] for r in stored(idb)][:6] == [r[:3] for r in first]


def test_replace_keeps_metrics_the_new_file_does_not_have(idb, tmp_path):
    import_file(idb, write(tmp_path, "camera,start,people,vehicle\nc,2021-08-01 00:00,1,2\n", "a.csv"), opts())
    import_file(idb, write(tmp_path, "camera,start,people\nc,2021-08-01 00:00,5\n", "b.csv"), opts(replace=True))
    assert stored(idb, ("people", "vehicle")) == [(5, 2)]


# -- idempotence and the ledger ---------------------------------------------------------------
def test_reimport_is_a_noop(idb, tmp_path):
    path = write(tmp_path, ORIGINAL)
    first = import_file(idb, path, opts())
    before = snapshot(idb)
    again = import_file(idb, path, opts())
    assert (again.status, again.previous_import, again.inserted, again.read) == ("unchanged", first.import_id, 0, 0)
    assert snapshot(idb) == before
    assert idb.scalar("SELECT COUNT(*) FROM imports") == 1


def test_same_bytes_with_another_meaning_is_a_new_import(idb, tmp_path):
    path = write(tmp_path, ORIGINAL)
    import_file(idb, path, opts())
    set_zone(idb, "UTC", force=True)  # one zone per database: another zone only on purpose
    other = import_file(idb, path, opts(tz="UTC"))
    assert other.status == "ok" and other.inserted == 4
    assert count_rows(idb) == 8


def test_ledger_and_import_days(idb, tmp_path):
    path = write(tmp_path, ORIGINAL)
    result = import_file(idb, path, opts())
    rec = idb.query_one("SELECT source, sha256, tz, rows_read, inserted, duplicates, rejected, status, "
                        "finished_at FROM imports WHERE id = ?", (result.import_id,))
    import hashlib

    assert rec[:8] == (str(path), hashlib.sha256(path.read_bytes()).hexdigest(), SEOUL, 4, 4, 0, 0, "ok")
    assert rec[8] is not None
    days = sorted(idb.query("SELECT camera, utc_day FROM import_days WHERE import_id = ?", (result.import_id,)))
    expected = sorted({(c, s // 86400) for c, s in stored(idb, ("camera", "start_utc"))})
    assert days == expected and len(days) == 3  # Seoul 00:00 is the previous UTC day


def test_result_as_dict_is_json(idb, tmp_path):
    result = import_file(idb, write(tmp_path, ORIGINAL), opts())
    data = json.loads(json.dumps(result.as_dict()))
    assert {"source", "status", "import_id", "read", "inserted", "duplicates", "replaced", "rejected",
            "outliers", "dst", "rejected_file", "sha256", "seconds"} <= set(data)
    assert "problems" not in data


# -- the Python API -----------------------------------------------------------------------------
def test_api_import_rows_with_datetimes(fresh_url, tmp_path, monkeypatch):
    from cctvctl import api

    monkeypatch.chdir(tmp_path)
    seoul = ZoneInfo(SEOUL)
    rows = [{"camera": "py", "start": datetime(2021, 8, 1, 9, 0), "people": 1, "vehicle": None},
            {"camera": "py", "start": datetime(2021, 8, 1, 0, 5, tzinfo=timezone.utc), "people": 2, "vehicle": 3},
            {"camera": "py", "start": "2021-08-01 09:10", "people": -1, "vehicle": 0}]
    with pytest.raises(CountFileError) as err:
        api.import_rows(rows, db=fresh_url, tz=SEOUL, policy=api.ImportPolicy(detect=False))
    # row n is line n + 1 (as if under a header); None in a key the rows have is a missing count
    assert err.value.problems == ["<rows>:2: missing vehicle count", "<rows>:4: negative people count '-1'"]
    assert count_rows(fresh_url) == 0
    with pytest.raises(CountFileError) as err:
        api.import_rows(rows[:2], db=fresh_url, tz=SEOUL, policy=api.ImportPolicy(detect=False))
    assert err.value.problems == ["<rows>:2: missing vehicle count"]  # None in a present key is not NULL
    result = api.import_rows(rows, db=fresh_url, tz=SEOUL, policy=api.ImportPolicy(detect=False),
                             checks=api.RowChecks(on_error="skip"))
    assert (result.read, result.inserted, result.rejected) == (3, 1, 2)
    assert (tmp_path / "rows.rejected.csv").exists()
    t = int(datetime(2021, 8, 1, 9, 5, tzinfo=seoul).timestamp())
    assert stored(fresh_url, ("camera", "start_utc", "people", "vehicle")) == [("py", t, 2, 3)]


def test_api_import_rows_needs_the_same_keys_in_every_row(fresh_url):
    from cctvctl import api

    rows = [{"camera": "a", "start": "2021-08-01 00:00", "people": 1},
            {"camera": "a", "start": "2021-08-01 00:05", "people": 1, "vehicle": 2}]
    with pytest.raises(CountFileError, match=r"<rows>:3: field\(s\) vehicle not in the first row"):
        api.import_rows(rows, db=fresh_url, policy=api.ImportPolicy(detect=False))
    with pytest.raises(CountFileError, match="no rows to import"):
        api.import_rows([], db=fresh_url, policy=api.ImportPolicy(detect=False))
    assert count_rows(fresh_url) == 0


def test_api_import_file(fresh_url, tmp_path):
    from cctvctl import api

    path = write(tmp_path, ORIGINAL)
    result = api.import_file(str(path), db=fresh_url, tz=SEOUL, policy=api.ImportPolicy(detect=False))
    assert result.inserted == 4
    assert stored(fresh_url) == expected_from_csv(path, SEOUL)


def test_detection_runs_inside_the_import_when_available(idb, tmp_path):
    """With detection on, the import still stores exactly the file (whatever it flags)."""
    path = write(tmp_path, _series(30))
    result = import_file(idb, path, opts(detect=True))
    assert result.inserted == 30 and result.outliers >= 0
    assert count_rows(idb) == 30


def test_a_file_unreadable_half_way_leaves_no_rejected_list(idb, tmp_path):
    """Skip mode had started a rejected file; the import then failed whole, so it is removed."""
    good = _series(3000).split("\n", 1)[1]  # ~70 kB: decoding fails long after the first chunk
    path = tmp_path / "late.csv"
    path.write_bytes(b"camera,start,people\nc,2021-07-31 00:00,-1\n" + good.encode() + b"caf\xe9,2021-08-02 00:00,1\n")
    with pytest.raises(CountFileError, match=r"late.csv:3003: not valid UTF-8 \(byte 0xe9\)"):
        import_file(idb, path, opts(on_error="skip", chunk_rows=500))
    assert not Path(f"{path}.rejected.csv").exists()
    assert count_rows(idb) == 0
