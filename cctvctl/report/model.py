"""The report as data: dataclasses for every section, no database and no formatting."""

from __future__ import annotations

from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from cctvctl.db.schema import VEHICLE_CLASSES
from cctvctl.periods import Period

COMPARE_MODES = ("previous", "last-year", "none")
#: the level one below each grain, shown as the breakdown table
BREAKDOWN = {"day": "hour", "week": "day", "month": "day", "year": "month"}
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
#: a change against another period is shown only where both periods hold a value of the metric
#: in at least this share of their expected intervals (else the cell says why not)
COMPARE_MIN_COVERAGE = 0.8
#: cameras the chart draws as panels (build a report with ``per_camera=CHART_CAMERAS`` to plot it)
CHART_CAMERAS = 6

@dataclass(frozen=True)
class Stat:
    """Mean, population standard deviation and reference ``mean + k·std`` per interval."""

    mean: float
    std: float
    ref: float


@dataclass(frozen=True)
class Peak:
    start_utc: int
    value: int


@dataclass
class MetricSummary:
    """One metric of one camera over the period (``None`` in place of it when unknown)."""

    n: int
    total: int
    stat: Stat
    peak: Peak | None = None
    compare_mean: float | None = None
    #: intervals with a value of this metric / expected intervals, in this and the compared period
    coverage: float | None = None
    compare_coverage: float | None = None
    compare_mode: str | None = None  # previous | last-year; None: no comparison asked

    @property
    def change_note(self) -> str | None:
        """Why no change is shown (``prev 14% covered``), or None where it is (or none was asked)."""
        if self.compare_mode is None:
            return None
        other = "prev" if self.compare_mode == "previous" else "last year"
        if self.compare_mean is None:
            return f"{other}: no data"
        low = [f"{who} {_percent(c)}" for who, c in (("now", self.coverage), (other, self.compare_coverage))
               if c is None or c < COMPARE_MIN_COVERAGE]
        if low:
            return ", ".join(low) + " covered"
        if self.compare_mean == 0:
            return f"{other} mean 0"
        return None

    @property
    def change(self) -> float | None:
        """Relative change of the mean per interval, only where both periods are covered enough."""
        if self.compare_mean is None or self.change_note is not None:
            return None
        return self.stat.mean / self.compare_mean - 1


def _percent(fraction: float | None) -> str:
    """Rounded down, so a withheld 79.6% never reads as 80%."""
    if not fraction:
        return "0%"
    return "<1%" if fraction < 0.01 else f"{int(fraction * 100)}%"


@dataclass
class CameraSummary:
    camera: str
    intervals: int
    expected: int
    outliers: int = 0
    metrics: dict[str, MetricSummary | None] = field(default_factory=dict)
    #: class → total over the period (None where the class is unknown); None without class data
    classes: dict[str, int | None] | None = None
    #: intervals that carry class counts (classes may start later than people/vehicle)
    class_intervals: int = 0

    @property
    def coverage(self) -> float | None:
        return coverage(self.intervals, self.expected)


@dataclass
class BreakdownRow:
    """One sub-period (hour of a day, day of a week or month, month of a year)."""

    label: str
    start_utc: int
    end_utc: int
    intervals: int
    expected: int
    totals: dict[str, int | None]
    #: per metric the number of intervals with a value (the divisor of a mean)
    n: dict[str, int] = field(default_factory=dict)
    weekday: int | None = None

    def mean(self, metric: str) -> float | None:
        total, n = self.totals.get(metric), self.n.get(metric, 0)
        return total / n if total is not None and n else None

    @property
    def coverage(self) -> float | None:
        return coverage(self.intervals, self.expected)


@dataclass
class ProfileRow:
    """Mean per interval in one weekday (0 = Monday) or one local hour, over the period."""

    key: int
    name: str
    intervals: int
    stats: dict[str, Stat | None]
    days: int | None = None


@dataclass
class Episode:
    """A run of consecutive flagged intervals of one camera: one event for an analyst.

    ``worst`` is the flag furthest from its expected value (largest |score|).
    """

    camera: str
    start_utc: int
    end_utc: int
    intervals: int
    label: str
    worst: object  # cctvctl.detect.model.Flag
    flags: list = field(default_factory=list)


@dataclass(frozen=True)
class Compare:
    mode: str  # previous | last-year
    period: Period


@dataclass
class Report:
    """Everything a report shows, before any formatting."""

    period: Period
    tz: ZoneInfo
    source: str  # stats | computed
    k: float
    cameras: list[CameraSummary]  # a cctvctl.report.cameras.CameraTable: summaries built when read
    breakdown_grain: str
    breakdown: list[BreakdownRow]
    weekday_profile: list[ProfileRow]
    hour_profile: list[ProfileRow]
    episodes: list[Episode]  # the ``top`` most extreme, in time order
    outliers_total: int  # flags in the period (all, not only those of the top episodes)
    outliers_intervals: int  # intervals with at least one flag
    episodes_total: int
    top: int
    #: per metric the figures over every interval of every camera in the report
    overall: dict[str, Stat | None] = field(default_factory=dict)
    compare: Compare | None = None
    computed_at: int | None = None
    #: why the figures were computed now instead of read from the stats table
    source_note: str | None = None
    #: every flag of the period (the chart draws them all; ``outliers`` holds the top episodes')
    all_flags: list = field(default_factory=list)
    #: the breakdown of single cameras (the first ``per_camera`` of ``build_report``; the chart)
    camera_breakdown: dict[str, list[BreakdownRow]] = field(default_factory=dict)

    @property
    def outliers(self) -> list:
        """The flags of the episodes shown, in time order."""
        return sorted((f for e in self.episodes for f in e.flags),
                      key=lambda f: (f.start_utc, f.camera, f.metric, f.method))

    @property
    def start_utc(self) -> int:
        return self.period.utc_range(self.tz)[0]

    @property
    def end_utc(self) -> int:
        return self.period.utc_range(self.tz)[1]

    @property
    def intervals(self) -> int:
        total = getattr(self.cameras, "total_intervals", None)  # a CameraTable: from its columns
        return total() if total else sum(c.intervals for c in self.cameras)

    @property
    def expected(self) -> int:
        total = getattr(self.cameras, "total_expected", None)
        return total() if total else sum(c.expected for c in self.cameras)

    @property
    def coverage(self) -> float | None:
        return coverage(self.intervals, self.expected)

    def known(self, metric: str) -> bool:
        """Whether any camera has a value of ``metric`` in the period."""
        if hasattr(self.cameras, "known"):
            return self.cameras.known(metric)
        return any(c.metrics.get(metric) is not None for c in self.cameras)

    @property
    def classes(self) -> list[str]:
        """Vehicle classes with data for some camera, in schema order."""
        if hasattr(self.cameras, "has_class"):
            return [k for k in VEHICLE_CLASSES if self.cameras.has_class(k)]
        return [k for k in VEHICLE_CLASSES
                if any(c.classes and c.classes.get(k) is not None for c in self.cameras)]




def coverage(intervals: int, expected: int) -> float | None:
    """Intervals present / expected, capped at 1 (as the stats table stores it); None if none expected."""
    return min(1.0, intervals / expected) if expected else None
