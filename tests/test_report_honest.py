"""Reports that do not mislead (issue 11 findings 7 and 8).

A change against another period is shown only where both periods hold values in at least 80%
of their expected intervals; otherwise table, csv and json say why not. Checked against pandas
on the raw rows, on SQLite and MariaDB, before and after ``aggregate`` (both sources). The chart
draws one panel per camera (at most 6, the rest counted), hatches low-coverage bars, draws every
flag of its cameras and keeps low flags above the axis; it is written by rename, never through
a planted symlink.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from cctvctl.report.model import COMPARE_MIN_COVERAGE, MetricSummary, Stat

PREV, NOW = datetime(2021, 8, 2), datetime(2021, 8, 9)  # ISO weeks 2021-W31 and 2021-W32 (UTC)
HOURS = 168


def run(url: str, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CCTV_")}
    env["COLUMNS"] = "120"
    proc = subprocess.run(["cctvctl", "--db", url, "--tz", "UTC", *args], capture_output=True,
                          text=True, env=env, timeout=120)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    return proc.stdout


def raw_rows() -> pd.DataFrame:
    """Hourly rows of two weeks; which hours exist is the point of each camera.

    full: both weeks complete, but vehicle counted in only half of the previous week's hours;
    lowprev: previous week 24 of 168 hours (14%); lownow: this week 61 of 168 hours (36%);
    newcam: nothing in the previous week.
    """
    rng = np.random.default_rng(7)
    rows = []
    for week, start in (("prev", PREV), ("now", NOW)):
        for h in range(HOURS):
            t = start + timedelta(hours=h)
            for cam in ("full", "lowprev", "lownow", "newcam"):
                if (cam == "lowprev" and week == "prev" and h >= 24) or \
                   (cam == "lownow" and week == "now" and h >= 61) or (cam == "newcam" and week == "prev"):
                    continue
                vehicle = rng.integers(0, 30) if not (cam == "full" and week == "prev" and h % 2) else None
                rows.append({"camera": cam, "start": t, "week": week,
                             "people": int(rng.integers(20, 200) * (1.4 if week == "now" else 1)),
                             "vehicle": vehicle})
    return pd.DataFrame(rows)


def expected_summary(rows: pd.DataFrame) -> dict[tuple[str, str], dict]:
    """(camera, metric) → coverage, compare_coverage, change, change_note: pandas on raw rows."""
    out = {}
    for cam, part in rows.groupby("camera"):
        for metric in ("people", "vehicle"):
            now = part.loc[part["week"] == "now", metric].dropna().astype(float)
            old = part.loc[part["week"] == "prev", metric].dropna().astype(float)
            cov, old_cov = len(now) / HOURS, len(old) / HOURS
            if not len(old):
                note = "prev: no data"
            else:
                low = [f"{who} {int(c * 100)}%" for who, c in (("now", cov), ("prev", old_cov)) if c < 0.8]
                note = ", ".join(low) + " covered" if low else None
            change = None if note else now.mean() / old.mean() - 1
            out[(cam, metric)] = {"coverage": round(cov, 4),
                                  "compare_coverage": round(old_cov, 4) if len(old) else None,
                                  "change": None if change is None else round(change, 4),
                                  "change_note": note}
    return out


@pytest.fixture
def honest_db(db_url, tmp_path):
    rows = raw_rows()
    with_v, without = rows[rows["vehicle"].notna()], rows[rows["vehicle"].isna()]
    paths = []
    # an end column: the split files have gaps (every other hour), so no spacing to infer from
    for name, part, cols in (("v.csv", with_v, ["camera", "start", "end", "people", "vehicle"]),
                             ("p.csv", without, ["camera", "start", "end", "people"])):
        frame = part.assign(start=part["start"].map(datetime.isoformat),
                            end=(part["start"] + timedelta(hours=1)).map(datetime.isoformat))[cols]
        frame.to_csv(tmp_path / name, index=False)
        paths.append(str(tmp_path / name))
    run(db_url, "import", *paths, "--no-detect")
    return db_url, rows


def _check(url: str, rows: pd.DataFrame) -> None:
    want = expected_summary(rows)
    data = json.loads(run(url, "report", "--week", "2021-W32", "--format", "json"))
    assert data["compare"]["min_coverage"] == COMPARE_MIN_COVERAGE == 0.8
    got = {(c["camera"], m): {k: c[m][k] for k in ("coverage", "compare_coverage", "change", "change_note")}
           for c in data["cameras"] for m in ("people", "vehicle")}
    assert got == want
    # the cases the issue names: a change against a 14%-covered week is not shown
    assert want[("lowprev", "people")]["change_note"] == "prev 14% covered"
    assert want[("lownow", "people")]["change_note"] == "now 36% covered"
    assert want[("full", "vehicle")]["change_note"] == "prev 50% covered"
    assert want[("full", "people")]["change"] is not None
    table = list(csv.DictReader(io.StringIO(run(url, "report", "--week", "2021-W32", "--format", "csv",
                                                "--section", "summary"))))
    for r in table:
        w = want[(r["camera"], r["metric"])]
        assert r["change_note"] == (w["change_note"] or "")
        assert (r["change"] == "") == (w["change"] is None)
        if w["change"] is not None:
            assert float(r["change"]) == pytest.approx(w["change"], abs=1e-4)
    screen = run(url, "report", "--week", "2021-W32", "--section", "period", "--section", "summary")
    for (cam, metric), w in want.items():
        line = next(x for x in screen.splitlines() if x.startswith(f"{cam} ") and f" {metric} " in x)
        shown = w["change_note"] or f"{w['change'] * 100:+.1f}%"
        assert line.rstrip().endswith(shown), (line, shown)
    assert "change withheld in 7 of 8 rows: a period has values in < 80% of its intervals" in screen


def test_change_only_where_both_periods_are_covered(honest_db):
    url, rows = honest_db
    _check(url, rows)  # computed now
    run(url, "aggregate", "all", "--quiet")
    assert json.loads(run(url, "report", "--week", "2021-W32", "--format", "json"))["source"] == "stats"
    _check(url, rows)  # the same from the stats table


@pytest.mark.parametrize("coverage,compare_coverage,mode,note", [
    (1.0, 0.796, "previous", "prev 79% covered"),  # rounded down: a withheld 79.6% never reads 80%
    (0.8, 0.8, "previous", None),
    (0.004, 1.0, "last-year", "now <1% covered"),
    (0.5, 0.1, "last-year", "now 50%, last year 10% covered"),
    (1.0, None, "previous", "prev 0% covered"),
])
def test_change_note_wording(coverage, compare_coverage, mode, note):
    m = MetricSummary(n=1, total=1, stat=Stat(2.0, 0.0, 2.0), compare_mean=1.0, coverage=coverage,
                      compare_coverage=compare_coverage, compare_mode=mode)
    assert m.change_note == note
    assert m.change == (1.0 if note is None else None)


def test_no_comparison_asked_says_nothing():
    m = MetricSummary(n=1, total=1, stat=Stat(2.0, 0.0, 2.0), compare_mean=None, compare_mode=None)
    assert m.change is None and m.change_note is None
    zero = MetricSummary(n=1, total=1, stat=Stat(2.0, 0.0, 2.0), compare_mean=0.0, coverage=1,
                         compare_coverage=1, compare_mode="previous")
    assert zero.change is None and zero.change_note == "prev mean 0"


# -- the chart (finding 8) ------------------------------------------------------------------------
SAMPLE = __import__("conftest").SAMPLE_DATA / "counts_2021-08.csv"
EXTRA = [f"cam-{i}" for i in range(1, 6)]  # sort before the sample's three cameras


@pytest.fixture
def chart_db(db_url, tmp_path):
    """The sample month (3 cameras, flags from import-time detection) and 5 sparse cameras.

    cam-N holds 08:00–14:00 of 10 August (72 of 288 intervals: 25%) and, for cam-1, all of
    11 August: eight cameras, so two are left out of the chart.
    """
    extra = tmp_path / "extra.csv"
    with open(extra, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["camera", "start", "people"])
        for cam in EXTRA:
            t = datetime(2021, 8, 10, 8)
            while t < datetime(2021, 8, 10, 14):
                w.writerow([cam, t.isoformat(), 12])
                t += timedelta(minutes=5)
        t = datetime(2021, 8, 11)
        while t < datetime(2021, 8, 12):
            w.writerow(["cam-1", t.isoformat(), 9])
            t += timedelta(minutes=5)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CCTV_")}
    for path in (SAMPLE, extra):
        proc = subprocess.run(["cctvctl", "--db", db_url, "--tz", "Asia/Seoul", "import", str(path)],
                              capture_output=True, text=True, env=env, timeout=300)
        assert proc.returncode == 0, proc.stderr
    return db_url


def _scatter_points(ax) -> list[tuple[float, float]]:
    from matplotlib.collections import PathCollection

    return [tuple(p) for c in ax.collections if isinstance(c, PathCollection) for p in c.get_offsets()]


def test_chart_shows_cameras_coverage_and_every_flag(chart_db, tmp_path):
    from zoneinfo import ZoneInfo

    from cctvctl.periods import parse_period
    from cctvctl.render.plot import MAX_PANELS, chart
    from cctvctl.report import build_report, open_for_reading

    with open_for_reading(chart_db) as db:
        report = build_report(db, parse_period("month", "2021-08"), ZoneInfo("Asia/Seoul"),
                              per_camera=MAX_PANELS, top=1)
        flags = {c: n for c, n in db.query("SELECT camera, COUNT(*) FROM outliers GROUP BY camera")}
    fig, summary = chart(report)
    drawn = EXTRA + ["gate-north"]
    assert MAX_PANELS == 6 and summary.cameras == drawn and summary.left_out == 2
    assert summary.flags_total == sum(flags.values()) == report.outliers_total > 0
    # every flag of the drawn cameras, not only those of the top (here 1) episode
    assert summary.flags_drawn == flags["gate-north"] > len(report.outliers)
    assert summary.line() == (f"6 cameras (2 more left out: at most 6 panels, pick with --camera), "
                              f"{flags['gate-north']:,} of {sum(flags.values()):,} flags drawn, "
                              "5 bars under 80% coverage hatched")
    axes = [ax for ax in fig.axes if ax.get_title(loc="left")]
    assert [ax.get_title(loc="left").split(" · ")[0] for ax in axes] == drawn
    points = [_scatter_points(ax) for ax in axes]
    assert [len(p) for p in points] == [0, 0, 0, 0, 0, flags["gate-north"]]
    for ax, pts in zip(axes, points):  # low flags (observed 0 included) stay above the x axis
        bottom = ax.get_ylim()[0]
        assert bottom < 0 and all(y >= 0 > bottom for _, y in pts)
    hatched = [sum(1 for p in ax.patches if p.get_hatch()) for ax in axes]
    assert hatched == [1, 1, 1, 1, 1, 0]  # 10 August of each cam-N (25%); cam-1's full day is not
    low = [t for t in axes[0].texts if t.get_text().endswith("%")]
    assert [t.get_text() for t in low] == ["25%"]


def test_plot_command_reports_what_it_drew_and_never_writes_through_a_symlink(chart_db, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CCTV_")}

    def plot(target):
        return subprocess.run(["cctvctl", "--db", chart_db, "--tz", "Asia/Seoul", "report", "--month",
                               "2021-08", "--camera", "gate-north", "--camera", "market-st", "--plot",
                               str(target), "--format", "json"], capture_output=True, text=True, env=env,
                              timeout=120)

    target = tmp_path / "chart.png"
    proc = plot(target)
    assert proc.returncode == 0, proc.stderr
    total = json.loads(proc.stdout)["outliers_total"]
    assert proc.stderr == f"chart written to {target}: 2 cameras, {total:,} of {total:,} flags drawn\n"
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n")
    planted = tmp_path / "planted.png"
    planted.symlink_to(victim)
    proc = plot(planted)
    # replaced by rename or refused with one line: either way never written through
    assert victim.read_text() == "keep me\n"
    assert proc.returncode in (0, 2) and "Traceback" not in proc.stderr
    if proc.returncode == 2:
        assert proc.stderr.count("\n") == 1 and "link" in proc.stderr
    else:
        assert not planted.is_symlink() and planted.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".cctvctl")] == []
