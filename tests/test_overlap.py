"""Rows of one camera never overlap, and a batch too short to tell its interval takes the stored one.

Adversarial review F4: an hourly row and a 5-minute row inside it (two imports, or two end-column
rows of one file) were both stored and double-counted, and a box posting one row per camera per
batch always got the 5-minute default. Both backends, real databases; the vectorised overlap
check is compared with a plain all-pairs reading.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from import_helpers import count_rows, fresh_url, local_epoch, shared_mysql_url, stored  # noqa: E402,F401

from cctvctl.cli import app  # noqa: E402

UTC = "UTC"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def cli(runner, url: str, *args: str):
    return runner.invoke(app, ["--db", url, "--tz", UTC, *args])


def imported(runner, url: str, path: Path, *args: str):
    r = cli(runner, url, "import", str(path), "--no-detect", "--format", "json", *args)
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def t(text: str) -> int:
    return local_epoch(text, UTC)


def test_a_row_inside_a_stored_row_of_another_import_is_refused(fresh_url, runner, tmp_path):
    """The review's repro: hourly rows, then one 5-minute row at 09:05 (exit 0 before)."""
    hourly = write(tmp_path, "ov2.csv", "camera,start,people\ng,2021-08-02 09:00,100\n"
                                        "g,2021-08-02 10:00,100\n")
    first = imported(runner, fresh_url, hourly, "--interval", "60")["import_id"]
    inside = write(tmp_path, "ov4.csv", "camera,start,people\ng,2021-08-02 09:05,7\n")
    before = stored(fresh_url)
    for extra in ([], ["--replace"], ["--interval", "5"]):
        r = cli(runner, fresh_url, "import", str(inside), "--no-detect", *extra)
        assert r.exit_code == 2, r.output
        end = "10:05" if not extra or extra == ["--replace"] else "09:10"  # the stored interval
        assert (f"{inside}:2: 2021-08-02T09:05:00+00:00–2021-08-02T{end}:00+00:00 overlaps the "
                "stored row 2021-08-02T09:00:00+00:00–2021-08-02T10:00:00+00:00 of camera 'g' "
                f"(import #{first}): rows of one camera may not overlap, and --replace does not "
                f"apply (it replaces a row of the same start): undo that import (cctvctl imports "
                f"undo {first}) or fix the file") in r.stderr
        assert stored(fresh_url) == before
    # the same start is not an overlap but the same row: a conflict, which --replace replaces
    same = write(tmp_path, "same.csv", "camera,start,people\ng,2021-08-02 10:00,90\n")
    fix = imported(runner, fresh_url, same, "--replace")
    assert fix["replaced"] == 1
    # once the other imports are undone (newest first), the row goes in
    for undo in (fix["import_id"], first):
        assert cli(runner, fresh_url, "imports", "undo", str(undo)).exit_code == 0
    assert imported(runner, fresh_url, inside, "--interval", "5")["inserted"] == 1


def test_overlapping_rows_of_one_file_are_refused_naming_both_lines(fresh_url, runner, tmp_path):
    path = write(tmp_path, "end.csv", "camera,start,end,people\n"
                 "g,2021-08-02 09:00,2021-08-02 10:00,100\n"
                 "g,2021-08-02 09:30,2021-08-02 10:30,100\n"
                 "h,2021-08-02 09:30,2021-08-02 10:30,5\n"      # another camera: no overlap
                 "g,2021-08-02 10:00,2021-08-02 11:00,100\n")   # touches line 2's end: fine
    r = cli(runner, fresh_url, "import", str(path), "--no-detect")
    assert r.exit_code == 2 and count_rows(fresh_url) == 0
    assert (f"{path}:3: 2021-08-02T09:30:00+00:00–2021-08-02T10:30:00+00:00 overlaps line 2 "
            "(2021-08-02T09:00:00+00:00–2021-08-02T10:00:00+00:00) of camera 'g': rows of one "
            "camera may not overlap; fix the file") in r.stderr
    assert "rejected, 1 bad row" in r.stderr  # line 5 overlaps only the refused line 3
    skip = imported(runner, fresh_url, path, "--on-error", "skip")
    assert (skip["inserted"], skip["rejected"]) == (3, 1)
    assert [(c, s) for c, s, *_ in stored(fresh_url)] == [
        ("g", t("2021-08-02 09:00")), ("g", t("2021-08-02 10:00")), ("h", t("2021-08-02 09:30"))]
    rejected = (tmp_path / "end.csv.rejected.csv").read_text().splitlines()
    assert len(rejected) == 2 and rejected[1].startswith("3,")


def test_overlaps_across_chunks_of_one_file_are_found(fresh_url, tmp_path):
    """Rows in different chunks (out of time order): the earlier chunk is stored by then."""
    from cctvctl.db import connect
    from cctvctl.errors import CountFileError
    from cctvctl.ingest import ImportOptions, import_file

    path = write(tmp_path, "chunks.csv", "camera,start,end,people\n"
                 "g,2021-08-02 10:00,2021-08-02 11:00,1\n"
                 "g,2021-08-02 08:00,2021-08-02 09:00,2\n"
                 "g,2021-08-02 10:30,2021-08-02 10:45,3\n")
    with connect(fresh_url) as db, pytest.raises(CountFileError) as refused:
        import_file(db, path, ImportOptions(tz=ZoneInfo(UTC), chunk_rows=1, detect=False))
    assert refused.value.problems == [
        f"{path}:4: 2021-08-02T10:30:00+00:00–2021-08-02T10:45:00+00:00 overlaps an earlier row of "
        "this file (2021-08-02T10:00:00+00:00–2021-08-02T11:00:00+00:00) of camera 'g': rows of "
        "one camera may not overlap; fix the file"]
    assert count_rows(fresh_url) == 0


def test_undo_that_would_restore_an_overlapped_row_waits_for_the_later_import(fresh_url, runner, tmp_path):
    """--replace may shorten a row (same start); a later import may then fill the freed time.
    Undoing the --replace would bring the long row back over it: refused until that one is undone."""
    head = "camera,start,end,people\n"
    base = imported(runner, fresh_url, write(tmp_path, "a.csv", head + "g,2021-08-02 09:00,2021-08-02 10:00,60\n"))
    short = imported(runner, fresh_url, write(tmp_path, "b.csv", head + "g,2021-08-02 09:00,2021-08-02 09:05,5\n"),
                     "--replace")
    later = imported(runner, fresh_url, write(tmp_path, "c.csv", head + "g,2021-08-02 09:30,2021-08-02 09:35,7\n"))
    r = cli(runner, fresh_url, "imports", "undo", str(short["import_id"]))
    assert (r.exit_code, r.stderr) == (2, (
        f"error: import #{short['import_id']} cannot be undone yet: it would restore the row "
        "2021-08-02T09:00:00+00:00–2021-08-02T10:00:00+00:00 of camera 'g', which the row "
        f"2021-08-02T09:30:00+00:00–2021-08-02T09:35:00+00:00 of import #{later['import_id']} now "
        f"overlaps; undo that one first (cctvctl imports undo {later['import_id']}), then this one\n"))
    assert len(stored(fresh_url)) == 2
    assert cli(runner, fresh_url, "imports", "undo", str(later["import_id"])).exit_code == 0
    assert cli(runner, fresh_url, "imports", "undo", str(short["import_id"])).exit_code == 0
    assert [(s, e, p) for _, s, e, p, *_ in stored(fresh_url, ("camera", "start_utc", "end_utc", "people"))] == [
        (t("2021-08-02 09:00"), t("2021-08-02 10:00"), 60)]
    assert base["inserted"] == 1


# -- the interval of a batch that cannot tell ------------------------------------------------------
def test_a_batch_too_short_to_tell_takes_its_cameras_stored_interval(fresh_url, runner, tmp_path):
    hourly = "camera,start,people\n" + "".join(f"{c},2021-08-02 {h:02d}:00,{h}\n"
                                                for c in ("g", "k") for h in range(8, 11))
    imported(runner, fresh_url, write(tmp_path, "hourly.csv", hourly), "--interval", "60")
    batch = write(tmp_path, "batch.csv", "camera,start,people\ng,2021-08-02 11:00,1\n"
                                         "k,2021-08-02 11:00,2\nnew,2021-08-02 11:00,3\n")
    r = cli(runner, fresh_url, "import", str(batch), "--no-detect")
    assert r.exit_code == 0, r.output
    assert ("  interval 60 min (too few rows per camera to tell: the interval of their stored rows; "
            "--interval sets it)") in r.stdout
    ends = {c: e - s for c, s, e in stored(fresh_url, ("camera", "start_utc", "end_utc"))
            if s == t("2021-08-02 11:00")}
    assert ends == {"g": 3600, "k": 3600, "new": 3600}  # a camera with none: the others' interval
    alone = imported(runner, fresh_url, write(tmp_path, "alone.csv", "camera,start,people\nz,2021-08-02 11:00,1\n"))
    assert (alone["interval"], alone["interval_source"]) == (300, "default")


def test_a_camera_whose_rows_refute_its_stored_interval_is_refused(fresh_url, tmp_path):
    """The first chunk cannot tell (one row); later rows 5 minutes apart disagree with the stored hour."""
    from cctvctl.db import connect
    from cctvctl.errors import CountFileError
    from cctvctl.ingest import ImportOptions, import_file

    opts = ImportOptions(tz=ZoneInfo(UTC), detect=False)
    with connect(fresh_url) as db:
        import_file(db, write(tmp_path, "h.csv", "camera,start,people\ng,2021-08-01 08:00,1\n"
                                                 "g,2021-08-01 09:00,1\ng,2021-08-01 10:00,1\n"),
                    ImportOptions(tz=ZoneInfo(UTC), detect=False, interval=3600))
        five = write(tmp_path, "five.csv", "camera,start,people\n" + "".join(
            f"g,2021-08-02 09:{m:02d},1\n" for m in range(0, 30, 5)))
        with pytest.raises(CountFileError) as refused:
            import_file(db, five, ImportOptions(**{**opts.__dict__, "chunk_rows": 1}))
    assert str(refused.value) == (
        f"{five}: the file has no end column and rows of camera 'g' are 5 minutes apart (most "
        "often; e.g. lines 2 and 3: 2021-08-02T09:00:00+00:00, 2021-08-02T09:05:00+00:00), but its "
        "first rows had no spacing to tell and the interval of the camera's stored rows, 60 "
        "minutes, was used: use --interval 5")


def test_a_box_posting_one_row_per_camera_gets_the_stored_interval(fresh_url, tmp_path):
    """Over HTTP (cctvctl serve): before, always the 5-minute default."""
    from test_serve import bearer, run, serving
    import httpx

    path = write(tmp_path, "hourly.csv", "camera,start,people\n" + "".join(
        f"gate-1,2021-08-01 {h:02d}:00,{h}\n" for h in range(6)))
    run(fresh_url, "import", str(path), "--interval", "60")
    token = run(fresh_url, "token", "create", "--name", "box", "--camera", "gate-*").stdout.strip()
    with serving(fresh_url, tmp_path) as server:
        answer = httpx.post(f"{server.base}/v1/counts", json=[{"camera": "gate-1",
                            "start": "2021-08-01 06:00", "people": 4}], headers=bearer(token), timeout=60)
    assert answer.status_code == 200, answer.text
    assert (answer.json()["interval"], answer.json()["interval_source"]) == (3600, "stored")


# -- the vectorised check against a plain reading ---------------------------------------------------
def _plain(rows: list[tuple], stored_rows: list[tuple]) -> set[int]:
    """All pairs: refused = overlaps a stored row of another start, or (in start order) a kept row."""
    keys = {(c, s) for c, s, _ in rows}
    others = [(c, s, e) for c, s, e in stored_rows if (c, s) not in keys]
    refused = {i for i, (c, s, e) in enumerate(rows)
               if any(c == oc and os_ < e and s < oe for oc, os_, oe in others)}
    kept: list[int] = []
    for i in sorted(range(len(rows)), key=lambda i: (rows[i][0], rows[i][1])):
        if i in refused:
            continue
        c, s, e = rows[i]
        if any(rows[k][0] == c and rows[k][2] > s for k in kept):
            refused.add(i)
        else:
            kept.append(i)
    return refused


@pytest.mark.parametrize("seed", range(40))
def test_vectorised_overlaps_equal_the_plain_reading(seed):
    from cctvctl.ingest.overlap import overlaps

    rnd = random.Random(seed)
    cams = ["a", "b", "c"][: rnd.randint(1, 3)]

    def some(n):
        out = {}
        for _ in range(n):
            c, s = rnd.choice(cams), rnd.randrange(0, 48) * 900
            out[(c, s)] = s + rnd.choice([300, 900, 1800, 3600, 7200])
        return [(c, s, e) for (c, s), e in out.items()]
    rows = some(rnd.randint(1, 30))
    rnd.shuffle(rows)
    stored_rows = some(rnd.randint(0, 20))
    frame = pd.DataFrame(rows, columns=["camera", "start_utc", "end_utc"]).assign(
        line=range(2, 2 + len(rows)))
    store = pd.DataFrame(stored_rows, columns=["camera", "start_utc", "end_utc"]).assign(import_id=1)
    store = store.astype({"start_utc": "int64", "end_utc": "int64", "import_id": "int64"})
    got = {pos for pos, _ in overlaps(frame, store, 2, ZoneInfo(UTC))}
    assert got == _plain(rows, stored_rows)
