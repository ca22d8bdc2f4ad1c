"""`cctvctl report --format json` against an independent pandas computation on the raw rows.

The rows are generated (three cameras in America/New_York over February and March 2021, so the
month holds a 23-hour spring-forward day): one camera in the per-class layout, one with a
missing day and random gaps, one with people only (vehicle unknown) and only in March. They are
written to CSV, imported with the real import (detection on), and the expected report is built
from the same rows with pandas — never from our tables. The same JSON must come out before
`aggregate` (computed now) and after it (read from the stats table), on SQLite and MariaDB.
"""

from __future__ import annotations

import json
import math
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from conftest import MYSQL_URL, mysql_admin, require_mysql

TZ = ZoneInfo("America/New_York")
MONTH = "2021-03"
K = 1.5
CLASSES = ("car", "truck", "bus", "bicycle", "motorcycle", "scooter")
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


# -- the raw rows -------------------------------------------------------------------------------
def raw_rows() -> pd.DataFrame:
    """camera, start_utc, end_utc, people, vehicle, classes (NaN = unknown): the truth."""
    from cctvctl.sample import SampleSpec, generate

    two = generate(SampleSpec(date(2021, 2, 1), date(2021, 3, 31), TZ, cameras=2, seed=11)).rows
    a = two[two["camera"] == "gate-north"].assign(camera="cam-a")
    b = two[two["camera"] == "market-st"].assign(camera="cam-b")
    rng = np.random.default_rng(5)
    b = b[rng.random(len(b)) > 0.02]  # scattered gaps
    local = pd.to_datetime(b["start_utc"], unit="s", utc=True).dt.tz_convert(TZ.key)
    b = b[local.dt.date != date(2021, 3, 10)]  # a whole day missing
    b = b.assign(**{c: np.nan for c in CLASSES})
    c = generate(SampleSpec(date(2021, 3, 1), date(2021, 3, 31), TZ, cameras=1, seed=3)).rows
    c = c.assign(camera="cam-c", vehicle=np.nan, **{k: np.nan for k in CLASSES})
    rows = pd.concat([a, b, c], ignore_index=True)
    for col in ("people", "vehicle") + CLASSES:
        rows[col] = rows[col].astype("float64")
    return rows.reset_index(drop=True)


def _local_text(epochs: pd.Series) -> pd.Series:
    return pd.to_datetime(epochs, unit="s", utc=True).dt.tz_convert(TZ.key).dt.strftime("%Y-%m-%d %H:%M:%S")


def write_files(rows: pd.DataFrame, folder: Path) -> list[Path]:
    """The rows as count files a detector would write (per-class, original, people-only)."""
    a = rows[rows["camera"] == "cam-a"]
    per_class = pd.DataFrame({"camera": a["camera"], "start_time": _local_text(a["start_utc"]),
                              "n_person": a["people"].astype(int)})
    for name, col in zip(CLASSES, ("n_car", "n_truck", "n_bus", "n_bicycle", "n_motorcycle",
                                   "n_electric_scooter")):
        per_class[col] = a[name].astype(int)
    b = rows[rows["camera"] == "cam-b"]
    original = pd.DataFrame({"camera": b["camera"], "start_date": _local_text(b["start_utc"]),
                             "end_date": _local_text(b["end_utc"]), "people": b["people"].astype(int),
                             "vehicle": b["vehicle"].astype(int)})
    c = rows[rows["camera"] == "cam-c"]
    people_only = pd.DataFrame({"camera": c["camera"], "start_date": _local_text(c["start_utc"]),
                                "end_date": _local_text(c["end_utc"]), "people": c["people"].astype(int)})
    paths = []
    for name, frame in (("a.csv", per_class), ("b.csv", original), ("c.csv", people_only)):
        path = folder / name
        frame.to_csv(path, index=False)
        paths.append(path)
    return paths


def load(url: str, folder: Path, rows: pd.DataFrame) -> None:
    from cctvctl.db import connect
    from cctvctl.ingest import ImportOptions, import_file

    with connect(url) as db:
        for path in write_files(rows, folder):
            result = import_file(db, path, ImportOptions(tz=TZ))
            assert result.rejected == 0 and result.inserted > 0


# -- the expected report, from raw rows only ----------------------------------------------------
def _iso(epoch: int, tz: ZoneInfo = TZ) -> str:
    return pd.Timestamp(int(epoch), unit="s", tz="UTC").tz_convert(tz.key).isoformat()


def _midnight(d: date, tz: ZoneInfo) -> int:
    return int(pd.Timestamp(d).tz_localize(tz.key).timestamp())


def _figures(values: pd.Series) -> dict | None:
    v = values.dropna()
    if v.empty:
        return None
    mean, std = float(v.mean()), float(v.std(ddof=0))
    return {"mean": mean, "std": std, "ref": mean + K * std}


def expected_report(rows: pd.DataFrame, first: date, after: date, tz: ZoneInfo,
                    cameras: list[str] | None = None, prev: tuple[date, date] | None = None) -> dict:
    """What the report of local days [first, after) must say, computed with pandas."""
    rows = rows if cameras is None else rows[rows["camera"].isin(cameras)]
    start, end = _midnight(first, tz), _midnight(after, tz)
    local = pd.to_datetime(rows["start_utc"], unit="s", utc=True).dt.tz_convert(tz.key)
    rows = rows.assign(day=local.dt.date, hour=local.dt.hour, weekday=local.dt.day_of_week)
    now = rows[(rows["start_utc"] >= start) & (rows["start_utc"] < end)]
    before = rows.iloc[0:0]
    if prev:
        before = rows[(rows["start_utc"] >= _midnight(prev[0], tz)) & (rows["start_utc"] < _midnight(prev[1], tz))]
    names = cameras or sorted(set(now["camera"]) | set(before["camera"]))
    days = list(pd.date_range(first, after, freq="D", inclusive="left").date)
    day_len = {d: _midnight(d + pd.Timedelta(days=1), tz) - _midnight(d, tz) for d in days}
    out_cameras = []
    for name in names:
        mine = now[now["camera"] == name]
        expected = sum(day_len[d] // 300 for d in days)
        obj = {"camera": name, "intervals": len(mine), "expected": expected,
               "coverage": min(1.0, len(mine) / expected)}
        for metric in ("people", "vehicle"):
            f = _figures(mine[metric])
            if f is None:
                obj[metric] = None
                continue
            v = mine[["start_utc", metric]].dropna()
            top = v[metric].max()
            peak_start = int(v.loc[v[metric] == top, "start_utc"].min())
            old = before.loc[before["camera"] == name, metric].dropna()
            cmp_mean = float(old.mean()) if len(old) else None
            obj[metric] = {"n": len(v), "total": int(v[metric].sum()), **f,
                           "peak": {"start": _iso(peak_start, tz), "value": int(top)},
                           "compare_mean": cmp_mean,
                           "change": f["mean"] / cmp_mean - 1 if cmp_mean else None}
        known = {c: (int(mine[c].sum()) if mine[c].notna().any() else None) for c in CLASSES}
        has = any(v is not None for v in known.values())
        obj["classes"] = known if has else None
        obj["class_intervals"] = int(mine[list(CLASSES)].notna().any(axis=1).sum()) if has else None
        out_cameras.append(obj)
    breakdown = []
    for d in days:
        part = now[now["day"] == d]
        exp = len(names) * (day_len[d] // 300)
        breakdown.append({"label": d.isoformat(), "start": _iso(_midnight(d, tz), tz),
                          "end": _iso(_midnight(d + pd.Timedelta(days=1), tz), tz),
                          "intervals": len(part), "expected": exp,
                          "coverage": min(1.0, len(part) / exp) if exp else None,
                          "people": int(part["people"].sum()) if part["people"].notna().any() else None,
                          "vehicle": int(part["vehicle"].sum()) if part["vehicle"].notna().any() else None})
    weekday = []
    for wd in range(7):
        count = sum(1 for d in days if d.weekday() == wd)
        if count:
            part = now[now["weekday"] == wd]
            weekday.append({"weekday": wd, "name": WEEKDAYS[wd], "days": count, "intervals": len(part),
                            "people": _figures(part["people"]), "vehicle": _figures(part["vehicle"])})
    hours = [{"hour": h, "intervals": int((now["hour"] == h).sum()),
              "people": _figures(now.loc[now["hour"] == h, "people"]),
              "vehicle": _figures(now.loc[now["hour"] == h, "vehicle"])} for h in range(24)]
    total = sum(c["intervals"] for c in out_cameras)
    exp_total = sum(c["expected"] for c in out_cameras)
    return {
        "period": {"start": _iso(start, tz), "end": _iso(end, tz), "tz": tz.key, "days": len(days)},
        "intervals": total, "expected": exp_total,
        "coverage": min(1.0, total / exp_total) if exp_total else None,
        "overall": {m: _figures(now[m]) for m in ("people", "vehicle")},
        "cameras": out_cameras, "breakdown": breakdown, "weekday_profile": weekday,
        "hour_profile": hours,
    }


def assert_close(actual, expected, where: str = "report") -> None:
    """Recursive comparison: floats to the 4 decimals the JSON keeps, everything else exactly."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), where
        for key, value in expected.items():
            assert key in actual, f"{where}: missing key {key!r}"
            assert_close(actual[key], value, f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), f"{where}: length"
        for i, (a, e) in enumerate(zip(actual, expected)):
            assert_close(a, e, f"{where}[{i}]")
    elif isinstance(expected, float):
        assert actual is not None and math.isclose(actual, expected, abs_tol=1e-4, rel_tol=1e-9), \
            f"{where}: {actual} != {expected}"
    else:
        assert actual == expected, f"{where}: {actual!r} != {expected!r}"


def stored_flags(url: str, start: int, end: int) -> set[tuple]:
    """The outliers table read with plain SQL (what the report must list)."""
    from cctvctl.db import connect

    with connect(url) as db:
        rows = db.query("SELECT camera, start_utc, metric, direction, observed, method FROM outliers "
                        "WHERE start_utc >= ? AND start_utc < ?", (start, end))
    return {(r[0], _iso(int(r[1])), r[2], r[3], float(r[4]), r[5]) for r in rows}


def report_json(runner, url: str, *args: str, tz: str = TZ.key) -> dict:
    from cctvctl.cli import app

    result = runner.invoke(app, ["report", *args, "--format", "json", "--db", url, "--tz", tz])
    assert result.exit_code == 0, result.output + (result.stderr or "")
    return json.loads(result.stdout)


# -- fixtures -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    return raw_rows()


@pytest.fixture(scope="module", params=["sqlite", "mysql"])
def loaded(request, rows, tmp_path_factory):
    """A database per backend holding the rows (shared by this module's read-only tests)."""
    folder = tmp_path_factory.mktemp(f"report-{request.param}")
    if request.param == "sqlite":
        url = f"sqlite:///{folder / 'cctv.db'}"
        load(url, folder, rows)
        yield url
        return
    require_mysql()
    from cctvctl.db.connect import parse_url

    name = "cctv_rep_" + folder.name[-8:].replace("-", "_").replace(".", "_")
    admin = mysql_admin()
    with admin.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {name}")
        cur.execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    u = parse_url(MYSQL_URL)
    url = f"mysql://{u.user or 'root'}@{u.host}:{u.port}/{name}"
    try:
        load(url, folder, rows)
        yield url
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {name}")
        admin.close()


def _month_expected(rows):
    return expected_report(rows, date(2021, 3, 1), date(2021, 4, 1), TZ,
                           prev=(date(2021, 2, 1), date(2021, 3, 1)))


# -- tests --------------------------------------------------------------------------------------
def test_month_json_equals_pandas_before_and_after_aggregate(loaded, rows, runner):
    from cctvctl.db import connect
    from cctvctl.stats import run_aggregate

    expected = _month_expected(rows)
    before = report_json(runner, loaded, "--month", MONTH, "--top", "0")
    assert before["source"] == "computed" and before["source_note"] == "not aggregated yet"
    assert_close(before, expected)
    assert before["breakdown"][13]["expected"] == 3 * 276  # 14 March: 23 hours of 5 minutes
    assert before["hour_profile"][2]["intervals"] < before["hour_profile"][3]["intervals"]
    assert before["cameras"][2]["vehicle"] is None  # unknown, never 0
    assert before["cameras"][2]["people"]["compare_mean"] is None  # no February data

    with connect(loaded) as db:
        run_aggregate(db, "all", TZ, keep_rows=False)
    after = report_json(runner, loaded, "--month", MONTH, "--top", "0")
    assert after["source"] == "stats" and after["source_note"] is None
    assert after["computed_at"] is not None
    for key in ("source", "source_note", "computed_at"):
        before.pop(key), after.pop(key)
    assert after == before


def test_outliers_are_the_stored_flags_with_labels_and_episodes(loaded, rows, runner):
    start, end = _midnight(date(2021, 3, 1), TZ), _midnight(date(2021, 4, 1), TZ)
    report = report_json(runner, loaded, "--month", MONTH, "--top", "0")
    flags = stored_flags(loaded, start, end)
    assert flags, "import-time detection flagged nothing: the test would prove nothing"
    listed = {(f["camera"], f["start"], f["metric"], f["direction"], float(f["observed"]), f["method"])
              for f in report["outliers"]}
    assert listed == flags
    assert report["outliers_total"] == len(flags)
    keys = {"camera", "start", "end", "metric", "direction", "label", "observed", "expected",
            "band_low", "band_high", "score", "method"}
    assert all(keys <= set(f) for f in report["outliers"])
    by_interval: dict[tuple, set] = {}
    for camera, start_iso, metric, direction, _, method in flags:
        by_interval.setdefault((camera, start_iso, method), set()).add((metric, direction))
    for f in report["outliers"]:
        kinds = by_interval[(f["camera"], f["start"], f["method"])]
        metrics = sorted(m for m, _ in kinds)
        if len({d for _, d in kinds}) == 1:
            assert f["label"] == " & ".join(metrics) + " " + f["direction"]
    per_camera = {}
    for camera, start_iso, *_ in flags:
        per_camera.setdefault(camera, set()).add(start_iso)
    assert {c["camera"]: c["outliers"] for c in report["cameras"]} == \
        {c: len(per_camera.get(c, ())) for c in ("cam-a", "cam-b", "cam-c")}
    # episodes: runs of consecutive 5-minute intervals of one camera
    runs = 0
    for camera, starts in per_camera.items():
        times = sorted(pd.Timestamp(s).timestamp() for s in starts)
        runs += 1 + sum(1 for x, y in zip(times, times[1:]) if y - x != 300)
    assert report["episodes_total"] == runs == len(report["episodes"])
    assert sum(e["intervals"] for e in report["episodes"]) == report["outliers_intervals"]


def test_top_keeps_the_most_extreme_episodes(loaded, runner):
    full = report_json(runner, loaded, "--month", MONTH, "--top", "0")
    top = report_json(runner, loaded, "--month", MONTH, "--top", "3")
    assert top["episodes_total"] == full["episodes_total"] > 3
    assert len(top["episodes"]) == 3
    worst = sorted((abs(e["score"]) for e in full["episodes"]), reverse=True)[:3]
    assert sorted((abs(e["score"]) for e in top["episodes"]), reverse=True) == worst
    assert top["outliers_total"] == full["outliers_total"]  # counts are of the whole period


def test_injected_events_reach_the_report(loaded, rows, runner):
    from cctvctl.sample import SampleSpec, generate

    events = generate(SampleSpec(date(2021, 2, 1), date(2021, 3, 31), TZ, cameras=2, seed=11)).events
    names = {"gate-north": "cam-a", "market-st": "cam-b"}
    report = report_json(runner, loaded, "--month", MONTH, "--top", "0")
    for e in events:
        hits = [x for x in report["episodes"] if x["camera"] == names[e.camera]
                and _iso(e.start_utc) <= x["start"] < _iso(e.end_utc)]
        assert hits, f"injected {e.kind} of {e.camera} at {_iso(e.start_utc)} is not in the report"
        assert hits[0]["direction"] == ("high" if e.kind == "surge" else "low")


@pytest.mark.parametrize("args,cameras,first,after,prev", [
    (["--week", "2021-W10"], None, date(2021, 3, 8), date(2021, 3, 15), (date(2021, 3, 1), date(2021, 3, 8))),
    (["--day", "2021-03-14", "--camera", "cam-b"], ["cam-b"], date(2021, 3, 14), date(2021, 3, 15),
     (date(2021, 3, 13), date(2021, 3, 14))),
    (["--year", "2021", "--compare", "none"], None, date(2021, 1, 1), date(2022, 1, 1), None),
])
def test_other_grains_equal_pandas(loaded, rows, runner, args, cameras, first, after, prev):
    got = report_json(runner, loaded, *args)
    want = expected_report(rows, first, after, TZ, cameras=cameras, prev=prev)
    breakdown = want.pop("breakdown")
    assert_close(got, want)
    if args[0] == "--year":  # months of the year, summed from the days
        by_month = {}
        for row in breakdown:
            m = by_month.setdefault(row["label"][:7], {"intervals": 0, "expected": 0, "people": None})
            m["intervals"] += row["intervals"]
            m["expected"] += row["expected"]
            if row["people"] is not None:
                m["people"] = (m["people"] or 0) + row["people"]
        assert [{k: b[k] for k in ("label", "intervals", "expected", "people")} for b in got["breakdown"]] == \
            [{"label": k, **v} for k, v in by_month.items()]
        assert got["compare"] is None
        assert all(c["people"]["change"] is None for c in got["cameras"])
    elif args[0] == "--day":  # 14 March 2021: 02:00 does not exist
        assert [b["label"] for b in got["breakdown"]][:3] == ["00:00", "01:00", "03:00"]
        local = pd.to_datetime(rows["start_utc"], unit="s", utc=True).dt.tz_convert(TZ.key)
        mine = rows[(rows["camera"] == "cam-b") & (local.dt.date == date(2021, 3, 14))]
        hours = local[mine.index].dt.hour
        assert [b["people"] for b in got["breakdown"]] == \
            [int(mine.loc[hours == h, "people"].sum()) for h in sorted(set(range(24)) - {2})]
    else:
        assert_close(got["breakdown"], breakdown)


def test_report_in_another_zone_than_the_aggregation_is_computed(loaded, rows, runner):
    from cctvctl.db import connect
    from cctvctl.stats import run_aggregate

    import json as _json

    from cctvctl.cli import app
    from cctvctl.periods import parse_period
    from cctvctl.render import to_json
    from cctvctl.report import build_report

    with connect(loaded) as db:
        run_aggregate(db, "all", TZ, keep_rows=False)
        # the library computes another zone's report from the raw rows ...
        got = _json.loads(to_json(build_report(db, parse_period("month", MONTH), ZoneInfo("UTC"))))
    # ... while the command refuses a zone that differs from the database's (one zone per database)
    refused = runner.invoke(app, ["report", "--month", MONTH, "--db", loaded, "--tz", "UTC"])
    assert refused.exit_code == 2 and "this database's zone is" in refused.stderr
    assert got["source"] == "computed" and got["source_note"] == "aggregated in another zone"
    utc = ZoneInfo("UTC")
    assert_close(got, expected_report(rows, date(2021, 3, 1), date(2021, 4, 1), utc,
                                      prev=(date(2021, 2, 1), date(2021, 3, 1))))


def test_a_month_without_data_shows_missing_never_zero(loaded, runner):
    got = report_json(runner, loaded, "--month", "2021-04")
    assert [c["camera"] for c in got["cameras"]] == ["cam-a", "cam-b", "cam-c"]  # from March
    for c in got["cameras"]:
        assert c["intervals"] == 0 and c["coverage"] == 0.0 and c["expected"] == 30 * 288
        assert c["people"] is None and c["vehicle"] is None and c["classes"] is None
    assert all(b["people"] is None and b["vehicle"] is None for b in got["breakdown"])
    assert all(p["people"] is None for p in got["hour_profile"])
    assert got["outliers"] == [] and got["overall"] == {"people": None, "vehicle": None}
    nothing = report_json(runner, loaded, "--month", "2019-06")
    assert nothing["cameras"] == [] and nothing["coverage"] is None


def test_late_data_makes_the_report_compute_and_include_it(db_url, tmp_path, runner):
    """Rows imported after aggregate are in the report at once (and it says why)."""
    from cctvctl.db import connect
    from cctvctl.ingest import ImportOptions, import_file
    from cctvctl.sample import SampleSpec, generate
    from cctvctl.stats import run_aggregate

    data = generate(SampleSpec(date(2021, 3, 1), date(2021, 3, 7), TZ, cameras=1, seed=2, events=0)).rows
    early = data[data["start_utc"] < _midnight(date(2021, 3, 5), TZ)]
    late = data[data["start_utc"] >= _midnight(date(2021, 3, 5), TZ)]
    with connect(db_url) as db:
        for name, part in (("early.csv", early), ("late.csv", late)):
            part = part.assign(**{c: np.nan for c in CLASSES})
            path = tmp_path / name
            pd.DataFrame({"camera": part["camera"], "start_date": _local_text(part["start_utc"]),
                          "end_date": _local_text(part["end_utc"]), "people": part["people"],
                          "vehicle": part["vehicle"]}).to_csv(path, index=False)
            import_file(db, path, ImportOptions(tz=TZ, detect=False))
            if name == "early.csv":
                run_aggregate(db, "all", TZ, keep_rows=False)
                assert report_json(runner, db_url, "--week", "2021-W09")["source"] == "stats"
    got = report_json(runner, db_url, "--week", "2021-W09")
    assert got["source"] == "computed" and got["source_note"] == "new data since aggregate"
    truth = data.assign(**{c: np.nan for c in CLASSES}).astype({"people": float, "vehicle": float})
    assert_close(got, expected_report(truth, date(2021, 3, 1), date(2021, 3, 8), TZ,
                                      prev=(date(2021, 2, 22), date(2021, 3, 1))))
    with connect(db_url) as db:
        run_aggregate(db, "all", TZ, keep_rows=False)
    again = report_json(runner, db_url, "--week", "2021-W09")
    assert again["source"] == "stats"
    assert again["cameras"] == got["cameras"]
