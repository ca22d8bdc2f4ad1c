"""Rendering a Report: Rich table on a fixed-width console, byte-stable csv and json, valid markdown,
and the PNG chart (valid image of the expected size, with the data drawn)."""

from __future__ import annotations

import csv
import io
import json
import struct
import sys
from datetime import date
from zoneinfo import ZoneInfo

import pytest

from conftest import SAMPLE_DATA

TZ = ZoneInfo("Asia/Seoul")
LONG = "camera-with-a-very-long-name-" + "x" * 35  # 64 characters, the longest allowed


def small_report():
    """A two-day report built by hand: one camera without vehicle counts, a day without data."""
    from cctvctl.detect.model import Flag
    from cctvctl.periods import Period
    from cctvctl.report.model import (BreakdownRow, CameraSummary, Compare, Episode, MetricSummary,
                                      Peak, ProfileRow, Report, Stat)

    period = Period("week", date(2021, 8, 16), date(2021, 8, 23))
    start = 1629039600  # 2021-08-16 00:00 +09:00
    flag_p = Flag("gate-north", start + 19 * 3600, start + 19 * 3600 + 300, "people", "high", 388.0,
                  73.5, 20.1, 126.9, 18.2, "seasonal", {"k": 4.0}, "people & vehicle high")
    flag_v = Flag("gate-north", start + 19 * 3600, start + 19 * 3600 + 300, "vehicle", "high", 52.0,
                  12.0, 1.0, 25.9, 11.5, "seasonal", {"k": 4.0}, "people & vehicle high")
    flag_low = Flag(LONG, start + 86400 + 13 * 3600, start + 86400 + 13 * 3600 + 300, "people", "low",
                    0.0, 42.1, 16.1, 68.1, -6.0, "seasonal", {"k": 4.0}, "people low")
    cameras = [
        CameraSummary("gate-north", 576, 2016, 1, {
            "people": MetricSummary(576, 23040, Stat(40.0, 30.0, 85.0), Peak(start + 19 * 3600, 388), 38.0),
            "vehicle": MetricSummary(576, 6912, Stat(12.0, 10.0, 27.0), Peak(start + 8 * 3600, 52), None)},
            classes={"car": 5000, "truck": 912, "bus": 500, "bicycle": 300, "motorcycle": 150,
                     "scooter": None}, class_intervals=576),
        CameraSummary(LONG, 288, 2016, 1, {
            "people": MetricSummary(288, 2880, Stat(10.0, 5.0, 17.5), Peak(start + 12 * 3600, 41), 10.0),
            "vehicle": None}),
    ]
    days = [BreakdownRow(d.isoformat(), start + i * 86400, start + (i + 1) * 86400, n, 576,
                         {"people": p, "vehicle": v}, {"people": n, "vehicle": vn}, d.weekday())
            for i, (d, n, p, v, vn) in enumerate([
                (date(2021, 8, 16), 576, 16000, 4000, 288), (date(2021, 8, 17), 288, 9920, 2912, 288),
                (date(2021, 8, 18), 0, None, None, 0), (date(2021, 8, 19), 0, None, None, 0),
                (date(2021, 8, 20), 0, None, None, 0), (date(2021, 8, 21), 0, None, None, 0),
                (date(2021, 8, 22), 0, None, None, 0)])]
    weekday = [ProfileRow(i, n, c, {"people": s, "vehicle": None if s is None else Stat(12.0, 10.0, 27.0)}, 1)
               for i, (n, c, s) in enumerate([("Mon", 576, Stat(27.8, 20.0, 57.8)), ("Tue", 288, Stat(34.4, 25.0, 71.9)),
                                              ("Wed", 0, None), ("Thu", 0, None), ("Fri", 0, None),
                                              ("Sat", 0, None), ("Sun", 0, None)])]
    hours = [ProfileRow(h, f"{h:02d}:00", 36, {"people": Stat(10.0 + h, 3.0, 14.5 + h),
                                                 "vehicle": Stat(5.0, 1.0, 6.5)}) for h in range(24)]
    episodes = [Episode("gate-north", flag_p.start_utc, flag_p.end_utc, 1, "people & vehicle high",
                        flag_p, [flag_p, flag_v]),
                Episode(LONG, flag_low.start_utc, flag_low.end_utc, 1, "people low", flag_low, [flag_low])]
    return Report(period=period, tz=TZ, source="computed", k=1.5, cameras=cameras,
                  breakdown_grain="day", breakdown=days, weekday_profile=weekday, hour_profile=hours,
                  episodes=episodes, outliers_total=3, outliers_intervals=2, episodes_total=2, top=20,
                  overall={"people": Stat(30.0, 28.0, 72.0), "vehicle": Stat(12.0, 10.0, 27.0)},
                  compare=Compare("previous", Period("week", date(2021, 8, 9), date(2021, 8, 16))),
                  source_note="not aggregated yet")


def table_text(report, width: int = 80, sections=None) -> str:
    from rich.console import Console

    from cctvctl.render import print_table

    buf = io.StringIO()
    print_table(report, Console(file=buf, width=width, highlight=False), sections)
    return buf.getvalue()


# -- table ----------------------------------------------------------------------------------------
def test_table_fits_80_columns_and_has_no_colour_off_a_terminal():
    text = table_text(small_report())
    assert "\x1b[" not in text
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert lines[:7] == [
        "cctvctl report · week 2021-W33 · Asia/Seoul",
        "2021-08-16 00:00 → 2021-08-23 00:00 (+09:00) · 7 days",
        "2 cameras (listed below)",
        "coverage 21.4% (864 of 4,032 intervals)",
        "statistics: computed now, read-only (not aggregated yet), k = 1.5",
        "change: mean per interval against 2021-W32 (previous period)",
        "",
    ]
    assert any(line.startswith("gate-north") and "people" in line and "23,040" in line
               and "+5.3%" in line for line in lines)
    # a missing vehicle of a camera with people, days without data: a dash, never 0
    day = next(line for line in lines if line.startswith("2021-08-18"))
    assert day.split()[1:] == ["Wed", "0.0%", "–", "–"]
    assert any(line.startswith("gate-north") and "vehicle" in line and line.rstrip().endswith("–")
               for line in lines)  # no compare mean: no change


def test_table_on_a_terminal_has_colour_and_sections_can_be_chosen():
    from rich.console import Console

    from cctvctl.render import print_table

    buf = io.StringIO()
    print_table(small_report(), Console(file=buf, width=80, force_terminal=True), ["outliers"])
    text = buf.getvalue()
    assert "\x1b[" in text
    assert "Outliers" in text and "cctvctl report" not in text and "Per camera" not in text


def test_table_outliers_are_episodes_with_observed_vs_expected():
    text = table_text(small_report(), sections=["outliers"])
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines[0] == "Outliers (runs of consecutive flagged intervals)"
    assert "08-16 19:00   5m  gate-north" in text
    assert "388 vs 73.5 (people)" in text and "+18.2σ" in text
    assert "0 vs 42.1" in text and "-6.0σ" in text


def test_table_hides_a_metric_nobody_has():
    from cctvctl.render import print_table  # noqa: F401  (same code path as the CLI)

    report = small_report()
    for c in report.cameras:
        c.metrics["vehicle"] = None
    text = table_text(report)
    assert "vehicle: no values in this period (shown as –)" in text
    assert "vehicle" not in text.split("Per camera", 1)[1].split("Weekday", 1)[0].split("\n", 2)[2]


# -- csv and json ---------------------------------------------------------------------------------
def test_csv_single_section_is_plain_and_byte_exact():
    from cctvctl.render import to_csv

    report = small_report()
    assert to_csv(report, ["cameras"]) == (
        "camera,intervals,expected,coverage,outliers\n"
        "gate-north,576,2016,0.2857,1\n"
        f"{LONG},288,2016,0.1429,1\n")
    assert to_csv(report, ["summary"]).splitlines()[1:3] == [
        "gate-north,people,576,23040,40.0,30.0,85.0,388,2021-08-16T19:00:00+09:00,38.0,0.0526,,,",
        "gate-north,vehicle,576,6912,12.0,10.0,27.0,52,2021-08-16T08:00:00+09:00,,,,,",
    ]
    breakdown = to_csv(report, ["breakdown"]).splitlines()
    assert breakdown[0] == "label,weekday,start,end,intervals,expected,coverage,people,vehicle"
    assert breakdown[3] == ("2021-08-18,Wed,2021-08-18T00:00:00+09:00,2021-08-19T00:00:00+09:00,"
                            "0,576,0.0,,")


def test_csv_all_sections_are_blocks_and_stable():
    from cctvctl.render import SECTIONS, to_csv

    report = small_report()
    text = to_csv(report)
    assert text == to_csv(small_report())
    blocks = text.split("\n\n")
    assert [b.splitlines()[0] for b in blocks] == [f"# {s}" for s in SECTIONS]
    for block in blocks:
        rows = list(csv.reader(io.StringIO(block.split("\n", 1)[1])))
        assert len({len(r) for r in rows}) == 1, block[:40]
    outliers = list(csv.DictReader(io.StringIO(blocks[-1].split("\n", 1)[1])))
    assert [(o["camera"], o["metric"], o["direction"], o["observed"]) for o in outliers] == [
        ("gate-north", "people", "high", "388.0"), ("gate-north", "vehicle", "high", "52.0"),
        (LONG, "people", "low", "0.0")]
    assert "–" not in text and "█" not in text  # no screen glyphs in data


def test_json_keys_numbers_and_stability():
    from cctvctl.render import to_json

    report = small_report()
    text = to_json(report)
    assert text == to_json(small_report())
    data = json.loads(text)
    assert list(data) == ["period", "source", "source_note", "computed_at", "k", "compare", "intervals",
                          "expected", "coverage", "overall", "cameras", "breakdown_grain", "breakdown",
                          "weekday_profile", "hour_profile", "outliers_total", "outliers_intervals",
                          "episodes_total", "top", "episodes", "outliers"]
    assert data["period"] == {"grain": "week", "label": "2021-W33", "start": "2021-08-16T00:00:00+09:00",
                              "end": "2021-08-23T00:00:00+09:00", "tz": "Asia/Seoul", "days": 7}
    cam = data["cameras"][0]
    assert cam["people"] == {"n": 576, "total": 23040, "mean": 40.0, "std": 30.0, "ref": 85.0,
                             "peak": {"start": "2021-08-16T19:00:00+09:00", "value": 388},
                             "compare_mean": 38.0, "change": 0.0526, "coverage": None,
                             "compare_coverage": None, "change_note": None}
    assert cam["classes"]["scooter"] is None and cam["class_intervals"] == 576
    assert data["cameras"][1]["vehicle"] is None and data["cameras"][1]["classes"] is None
    assert data["breakdown"][2]["people"] is None and data["breakdown"][2]["coverage"] == 0.0
    assert data["outliers"][0]["observed"] == 388 and isinstance(data["outliers"][0]["score"], float)
    assert data["episodes"][0] == {"camera": "gate-north", "start": "2021-08-16T19:00:00+09:00",
                                   "end": "2021-08-16T19:05:00+09:00", "intervals": 1,
                                   "label": "people & vehicle high", "metric": "people",
                                   "direction": "high", "observed": 388, "expected": 73.5, "score": 18.2}
    assert "\x1b" not in text and "[bold" not in text


# -- markdown -------------------------------------------------------------------------------------
def test_markdown_is_valid_gfm_with_escaped_cells():
    from markdown_it import MarkdownIt

    from cctvctl.render import to_markdown

    report = small_report()
    report.cameras[0].camera = "gate|north"
    text = to_markdown(report)
    assert text == to_markdown(report)
    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    tables = [t for t in tokens if t.type == "table_open"]
    assert len(tables) == 7  # cameras, summary, classes, breakdown, weekday, hour, outliers
    # every row of every table has as many cells as its header
    widths, current = [], None
    for t in tokens:
        if t.type == "tr_open":
            current = 0
        elif t.type in ("th_open", "td_open"):
            current += 1
        elif t.type == "tr_close":
            widths.append(current)
        elif t.type == "table_close":
            assert len(set(widths)) == 1, widths
            widths = []
    inline = [t.content for t in tokens if t.type == "inline"]
    assert "gate|north" in inline  # the escaped pipe is a literal pipe inside one cell
    assert [t.content for t in tokens if t.type == "inline"][0].startswith("cctvctl report · week 2021-W33")


# -- plot -----------------------------------------------------------------------------------------
def png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_plot_of_the_sample_month_is_a_png_with_the_data_drawn(tmp_path, runner):
    pytest.importorskip("matplotlib")
    import matplotlib.image
    import numpy as np

    from cctvctl.cli import app
    from cctvctl.render.plot import WIDTH_PX, height_px

    url = f"sqlite:///{tmp_path / 'cctv.db'}"
    imported = runner.invoke(app, ["import", str(SAMPLE_DATA / "counts_2021-08.csv"), "--db", url,
                                   "--tz", "Asia/Seoul"])
    assert imported.exit_code == 0, imported.output
    chart = tmp_path / "charts" / "aug.png"
    chart.parent.mkdir()
    result = runner.invoke(app, ["report", "--month", "2021-08", "--db", url, "--tz", "Asia/Seoul",
                                 "--plot", str(chart), "--format", "json"])
    assert result.exit_code == 0, result.output
    # 136 flags since the robust default (issue 13): the month is this database's first import,
    # which the old default's threshold fallback flooded with 1,280 flags
    assert result.stderr == f"chart written to {chart}: 3 cameras, 136 of 136 flags drawn\n"
    json.loads(result.stdout)  # the report itself is still clean JSON on stdout
    assert png_size(chart) == (WIDTH_PX, height_px(3)) == (1000, 600)
    pixels = (matplotlib.image.imread(str(chart))[:, :, :3] * 255).round().astype(int)
    assert (pixels.reshape(-1, 3) < 250).any(axis=1).mean() > 0.03  # not blank
    red = (abs(pixels - [196, 78, 82]).sum(axis=2) < 30).sum()  # outlier markers (high)
    blue = (abs(pixels - [76, 114, 176]).sum(axis=2) < 60).sum()  # people bars
    assert red > 50 and blue > 500
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 20


def test_plot_without_matplotlib_says_how_to_install(tmp_path, runner, monkeypatch):
    from cctvctl.cli import app

    for name in ("matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, name, None)
    url = f"sqlite:///{tmp_path / 'cctv.db'}"
    result = runner.invoke(app, ["report", "--month", "2021-08", "--db", url, "--plot", "x.png"])
    assert result.exit_code == 2
    assert result.stderr == ("error: --plot needs matplotlib, which is not installed: "
                             "pip install 'cctvctl[plot]'\n")
    assert not (tmp_path / "cctv.db").exists()  # refused up front, before touching the database
