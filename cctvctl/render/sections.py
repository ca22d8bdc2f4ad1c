"""A report as named sections of raw values, and as the documented JSON object.

Each section is a list of columns and rows of raw values (``None`` where data is missing); the
table, markdown and csv writers format the same rows, so the three never disagree. Columns
marked ``text=False`` appear only in csv (full detail), ``csv=False`` only on screen (bars).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cctvctl.db.schema import METRICS
from cctvctl.periods import local_iso
from cctvctl.report.model import COMPARE_MIN_COVERAGE, Report, Stat

#: every section, in the order a report prints them (``--section`` takes these names)
SECTIONS = ("period", "cameras", "summary", "classes", "breakdown", "weekday", "hour", "outliers")
JSON_DIGITS = 4


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    kind: str = "text"  # text | pair | int | num | pct | change | time | duration | score | bar
    text: bool = True  # shown in table and markdown
    csv: bool = True  # written to csv
    metric: str | None = None  # hidden on screen when the report has no value of this metric


@dataclass
class Section:
    name: str
    title: str
    columns: list[Column]
    #: a list, or for the per-camera sections an iterable read once (csv streams it)
    rows: list[list] = field(default_factory=list)
    #: cameras left out on screen (the table and markdown list the first SCREEN_CAMERAS)
    more: int = 0


class LazyList(list):
    """A list that ``json`` encodes from an iterable without holding it (``len`` known)."""

    def __init__(self, items, length: int) -> None:
        super().__init__()
        self._items, self._length = items, length

    def __len__(self) -> int:
        return self._length

    def __bool__(self) -> bool:
        return self._length > 0

    def __iter__(self):
        return iter(self._items())


def _r(value, digits: int = JSON_DIGITS):
    return None if value is None else round(float(value), digits)


def _stat_cells(stat: Stat | None) -> list:
    return [None, None, None] if stat is None else [stat.mean, stat.std, stat.ref]


def _fraction(value, top) -> float | None:
    return None if value is None or not top else value / top


# -- sections -----------------------------------------------------------------------------------
def period_section(r: Report) -> Section:
    start, end = r.period.utc_range(r.tz)
    cmp = r.compare
    rows = [
        ["period", r.period.label], ["grain", r.period.grain], ["start", local_iso(start, r.tz)],
        ["end", local_iso(end, r.tz)], ["tz", r.tz.key], ["days", len(r.period.local_days(r.tz))],
        ["cameras", len(r.cameras)], ["intervals", r.intervals], ["expected", r.expected],
        ["coverage", _r(r.coverage)], ["source", r.source], ["source_note", r.source_note],
        ["computed_at", local_iso(r.computed_at, r.tz) if r.computed_at else None], ["k", r.k],
        ["compare", f"{cmp.period.label} ({cmp.mode})" if cmp else None],
        ["outliers", r.outliers_intervals],
    ]
    return Section("period", "Period", [Column("field", "field"), Column("value", "value")], rows)


def cameras_section(r: Report, cams=None) -> Section:
    cams = r.cameras if cams is None else cams
    cols = [Column("camera", "camera"), Column("intervals", "intervals", "int"),
            Column("expected", "expected", "int"), Column("coverage", "coverage", "pct"),
            Column("outliers", "outliers", "int")]
    rows = ([c.camera, c.intervals, c.expected, c.coverage, c.outliers] for c in cams)
    return Section("cameras", "Cameras", cols, rows)


def summary_section(r: Report, cams=None) -> Section:
    cams = r.cameras if cams is None else cams
    versus = f"vs {r.compare.period.label}" if r.compare else "change"
    cols = [Column("camera", "camera"), Column("metric", "metric"),
            Column("n", "n", "int", text=False), Column("total", "total", "int"),
            Column("mean", "mean", "num"), Column("std", "std", "num"), Column("ref", "ref", "num"),
            Column("peak", "peak", "int"), Column("peak_start", "at", "time"),
            Column("compare_mean", "compare mean", "num", text=False),
            Column("change", versus, "change", text=False),
            Column("coverage", "coverage", "pct", text=False),
            Column("compare_coverage", "compare coverage", "pct", text=False),
            Column("change_note", "why no change", text=False),
            # on screen: the change, or why it is not shown (a low-coverage period)
            Column("change_shown", versus, "change", csv=False, text=r.compare is not None)]
    known = {m: r.known(m) for m in METRICS}

    def rows():
        for c in cams:
            for metric, m in c.metrics.items():
                if m is None:
                    if known[metric]:
                        yield [c.camera, metric] + [None] * (len(cols) - 2)
                    continue
                yield [c.camera, metric, m.n, m.total, m.stat.mean, m.stat.std, m.stat.ref,
                       m.peak.value if m.peak else None, m.peak.start_utc if m.peak else None,
                       m.compare_mean, m.change, _r(m.coverage), _r(m.compare_coverage),
                       m.change_note, m.change_note or m.change]
    return Section("summary", "Per camera (mean, std and ref per interval)", cols, rows())


def classes_section(r: Report, cams=None) -> Section:
    cams = r.cameras if cams is None else cams
    classes = r.classes
    cols = ([Column("camera", "camera"), Column("intervals", "intervals", "int")]
            + [Column(k, k, "int") for k in classes])
    rows = ([c.camera, c.class_intervals if c.classes else None] + [(c.classes or {}).get(k) for k in classes]
            for c in cams)
    return Section("classes", "Vehicle classes (totals over the intervals that have them)", cols,
                   rows if classes else [])


def _bar_metric(r: Report) -> str:
    return "people" if r.known("people") or not r.known("vehicle") else "vehicle"


def breakdown_section(r: Report) -> Section:
    bar = _bar_metric(r)
    top = max((b.totals.get(bar) or 0 for b in r.breakdown), default=0)
    cols = [Column("label", r.breakdown_grain), Column("weekday", "", text=r.breakdown_grain == "day"),
            Column("start", "start", "time", text=False), Column("end", "end", "time", text=False),
            Column("intervals", "intervals", "int", text=False),
            Column("expected", "expected", "int", text=False),
            Column("coverage", "coverage", "pct"), Column("people", "people", "int", metric="people"),
            Column("vehicle", "vehicle", "int", metric="vehicle"),
            Column("bar", "", "bar", csv=False)]
    from cctvctl.report.model import WEEKDAYS

    rows = [[b.label, WEEKDAYS[b.weekday] if b.weekday is not None else None, b.start_utc, b.end_utc,
             b.intervals, b.expected, b.coverage, b.totals.get("people"), b.totals.get("vehicle"),
             _fraction(b.totals.get(bar), top)] for b in r.breakdown]
    return Section("breakdown", f"By {r.breakdown_grain} (totals; bars: {bar})", cols, rows)


def _profile_columns(first: list[Column]) -> list[Column]:
    cols = list(first) + [Column("intervals", "intervals", "int", text=False)]
    for m in ("people", "vehicle"):
        cols += [Column(f"{m}_mean", m, "num", metric=m),
                 Column(f"{m}_std", f"{m} std", "num", text=False, metric=m),
                 Column(f"{m}_ref", "ref", "num", metric=m)]
    return cols + [Column("bar", "", "bar", csv=False)]


def _profile_rows(r: Report, rows, lead) -> list[list]:
    bar = _bar_metric(r)
    top = max((p.stats[bar].mean for p in rows if p.stats.get(bar)), default=0)
    out = []
    for p in rows:
        cells = lead(p) + [p.intervals]
        for m in ("people", "vehicle"):
            cells += _stat_cells(p.stats.get(m))
        s = p.stats.get(bar)
        out.append(cells + [_fraction(s.mean if s else None, top)])
    return out


def weekday_section(r: Report) -> Section:
    cols = _profile_columns([Column("weekday", "weekday", "int", text=False),
                             Column("name", "weekday"), Column("days", "days", "int")])
    return Section("weekday", f"Weekday profile (mean and ref per interval; bars: {_bar_metric(r)})", cols,
                   _profile_rows(r, r.weekday_profile, lambda p: [p.key, p.name, p.days]))


def hour_section(r: Report) -> Section:
    cols = _profile_columns([Column("hour", "hour")])
    return Section("hour", f"Hour-of-day profile (mean and ref per interval; bars: {_bar_metric(r)})", cols,
                   _profile_rows(r, r.hour_profile, lambda p: [p.name]))


def outliers_section(r: Report) -> Section:
    """Every flag of the episodes shown (csv: the records of ``detect --format csv``)."""
    cols = [Column("start", "when", "time"), Column("camera", "camera"), Column("label", "label"),
            Column("metric", "metric"), Column("direction", "direction"),
            Column("observed", "observed", "int"), Column("expected", "expected", "num"),
            Column("band_low", "band low", "num"), Column("band_high", "band high", "num"),
            Column("score", "score", "score"), Column("method", "method")]
    rows = [[f.start_utc, f.camera, f.label, f.metric, f.direction, f.observed, f.expected,
             f.band_low, f.band_high, f.score, f.method] for f in r.outliers]
    return Section("outliers", "Outliers", cols, rows)


def episodes_section(r: Report) -> Section:
    """One row per run of consecutive flagged intervals, with its most extreme flag."""
    cols = [Column("start", "from", "time"), Column("end", "to", "time", text=False),
            Column("duration", "for", "duration", csv=False), Column("camera", "camera"),
            Column("label", "label"), Column("intervals", "n", "int", text=False),
            Column("metric", "worst", text=False), Column("observed", "observed", "int", text=False),
            Column("expected", "expected", "num", text=False),
            Column("worst", "observed vs expected", "pair", csv=False), Column("score", "score", "score")]
    rows = []
    for e in r.episodes:
        w = e.worst
        which = f" ({w.metric})" if w.metric not in e.label or " & " in e.label or "," in e.label else ""
        expected = f"{w.expected:,.1f}" if abs(w.expected) < 100 else f"{w.expected:,.0f}"
        rows.append([e.start_utc, e.end_utc, e.end_utc - e.start_utc, e.camera, e.label, e.intervals,
                     w.metric, w.observed, w.expected, f"{w.observed:,.0f} vs {expected}{which}", w.score])
    title = "Outliers (runs of consecutive flagged intervals)"
    if len(r.episodes) < r.episodes_total:
        title = (f"Outliers: the {len(r.episodes)} most extreme of {r.episodes_total} runs of "
                 "flagged intervals (--top 0: all)")
    return Section("outliers", title, cols, rows)


BUILDERS = {"period": period_section, "cameras": cameras_section, "summary": summary_section,
            "classes": classes_section, "breakdown": breakdown_section, "weekday": weekday_section,
            "hour": hour_section, "outliers": outliers_section}


#: the sections with one row (or two) per camera: csv streams them, the screen shows the first
#: SCREEN_CAMERAS cameras
PER_CAMERA = ("cameras", "summary", "classes")


def sections(report: Report, names: list[str] | None = None, *, screen: bool = False) -> list[Section]:
    """The sections ``names`` (default all); on ``screen`` outliers are grouped into episodes
    and the per-camera sections hold the first SCREEN_CAMERAS cameras (as lists; csv gets
    every camera as an iterable read once)."""
    from cctvctl.report.cameras import SCREEN_CAMERAS

    builders = dict(BUILDERS, outliers=episodes_section) if screen else BUILDERS
    out = []
    for n in names or SECTIONS:
        if screen and n in PER_CAMERA:
            section = builders[n](report, report.cameras[:SCREEN_CAMERAS])
            section.rows = list(section.rows)
            section.more = max(0, len(report.cameras) - SCREEN_CAMERAS)
        else:
            section = builders[n](report)
        out.append(section)
    return out


# -- json -------------------------------------------------------------------------------------
def _stat_json(stat: Stat | None) -> dict | None:
    return None if stat is None else {"mean": _r(stat.mean), "std": _r(stat.std), "ref": _r(stat.ref)}


def report_dict(r: Report) -> dict:
    """The documented ``--format json`` object (stable keys, numbers as numbers, null = missing)."""
    start, end = r.period.utc_range(r.tz)
    return {**_head(r, start, end), "cameras": LazyList(lambda: (_camera_json(r, c) for c in r.cameras),
                                                        len(r.cameras)),
            **_tail(r)}


def _camera_json(r: Report, c) -> dict:
    obj = {"camera": c.camera, "intervals": c.intervals, "expected": c.expected,
           "coverage": _r(c.coverage), "outliers": c.outliers}
    for metric, m in c.metrics.items():
        obj[metric] = None if m is None else {
            "n": m.n, "total": m.total, "mean": _r(m.stat.mean), "std": _r(m.stat.std),
            "ref": _r(m.stat.ref),
            "peak": {"start": local_iso(m.peak.start_utc, r.tz), "value": m.peak.value} if m.peak else None,
            "compare_mean": _r(m.compare_mean), "change": _r(m.change),
            "coverage": _r(m.coverage), "compare_coverage": _r(m.compare_coverage),
            "change_note": m.change_note}
    obj["classes"] = c.classes
    obj["class_intervals"] = c.class_intervals if c.classes else None
    return obj


def _head(r: Report, start: int, end: int) -> dict:
    return {
        "period": {"grain": r.period.grain, "label": r.period.label, "start": local_iso(start, r.tz),
                   "end": local_iso(end, r.tz), "tz": r.tz.key, "days": len(r.period.local_days(r.tz))},
        "source": r.source,
        "source_note": r.source_note,
        "computed_at": local_iso(r.computed_at, r.tz) if r.computed_at else None,
        "k": r.k,
        "compare": None if r.compare is None else {
            "mode": r.compare.mode, "label": r.compare.period.label,
            "min_coverage": COMPARE_MIN_COVERAGE,
            "start": local_iso(r.compare.period.utc_range(r.tz)[0], r.tz),
            "end": local_iso(r.compare.period.utc_range(r.tz)[1], r.tz)},
        "intervals": r.intervals, "expected": r.expected, "coverage": _r(r.coverage),
        "overall": {m: _stat_json(s) for m, s in r.overall.items()},
    }


def _tail(r: Report) -> dict:
    return {
        "breakdown_grain": r.breakdown_grain,
        "breakdown": [{"label": b.label, "start": local_iso(b.start_utc, r.tz),
                       "end": local_iso(b.end_utc, r.tz), "intervals": b.intervals,
                       "expected": b.expected, "coverage": _r(b.coverage),
                       "people": b.totals.get("people"), "vehicle": b.totals.get("vehicle")}
                      for b in r.breakdown],
        "weekday_profile": [{"weekday": p.key, "name": p.name, "days": p.days, "intervals": p.intervals,
                             "people": _stat_json(p.stats.get("people")),
                             "vehicle": _stat_json(p.stats.get("vehicle"))} for p in r.weekday_profile],
        "hour_profile": [{"hour": p.key, "intervals": p.intervals,
                          "people": _stat_json(p.stats.get("people")),
                          "vehicle": _stat_json(p.stats.get("vehicle"))} for p in r.hour_profile],
        "outliers_total": r.outliers_total,
        "outliers_intervals": r.outliers_intervals,
        "episodes_total": r.episodes_total,
        "top": r.top,
        "episodes": [{"camera": e.camera, "start": local_iso(e.start_utc, r.tz),
                      "end": local_iso(e.end_utc, r.tz), "intervals": e.intervals, "label": e.label,
                      "metric": e.worst.metric, "direction": e.worst.direction,
                      "observed": e.worst.as_record(r.tz)["observed"],
                      "expected": _r(e.worst.expected), "score": _r(e.worst.score)}
                     for e in r.episodes],
        "outliers": [f.as_record(r.tz) for f in r.outliers],
    }
