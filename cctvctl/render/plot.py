"""The report as a PNG chart (matplotlib, the optional ``plot`` extra).

One panel per camera, up to :data:`MAX_PANELS` in report order (the chart says how many were
left out; ``--camera`` picks others). In each panel the bars are the camera's mean count per
interval of each breakdown bucket (people, or vehicle where people are unknown), a line is the
other metric, the shaded band is the camera's ``mean ± k·std`` per interval (its top edge is
the reference), and **every** flag of the camera in the period is marked at its time with its
observed count (▲ high, ▼ low; filled = people, open = vehicle). Bars of buckets with values in
fewer than :data:`LOW_COVERAGE` of their expected intervals are hatched and labelled with their
coverage, so a day with a third of its data does not read as a collapse. The y axis starts
below zero so a low flag at 0 sits above the axis, not on it.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from datetime import datetime

from cctvctl.errors import CctvError, UsageError
from cctvctl.report.model import CHART_CAMERAS, COMPARE_MIN_COVERAGE, Report
from cctvctl.safetext import shown

WIDTH_PX, DPI = 1000, 100
#: cameras drawn as panels; more are counted in the title and left out
MAX_PANELS = CHART_CAMERAS
#: a bucket with values in fewer of its expected intervals than this is drawn hatched
LOW_COVERAGE = COMPARE_MIN_COVERAGE
INSTALL_HINT = "pip install 'cctvctl[plot]'"
COLOURS = {"people": "#4c72b0", "vehicle": "#55a868"}
FLAG_COLOURS = {"high": "#c44e52", "low": "#8172b2"}


def height_px(panels: int) -> int:
    """600 px for up to three panels, 150 px more for each further one (1,050 px for six)."""
    return 600 + 150 * max(0, panels - 3)


@dataclass
class ChartSummary:
    """What the chart shows, in numbers (the CLI prints it; tests check it against the data)."""

    cameras: list[str]
    left_out: int  # cameras with data not drawn
    flags_total: int  # every flag of the period
    flags_drawn: int
    low_buckets: int  # bars drawn hatched for low coverage

    def line(self) -> str:
        n = len(self.cameras)
        text = f"{n} camera{'' if n == 1 else 's'}"
        if self.left_out:
            text += f" ({self.left_out} more left out: at most {MAX_PANELS} panels, pick with --camera)"
        text += f", {self.flags_drawn:,} of {self.flags_total:,} flags drawn"
        if self.low_buckets:
            text += f", {self.low_buckets} bar{'' if self.low_buckets == 1 else 's'} under " \
                    f"{LOW_COVERAGE:.0%} coverage hatched"
        return text


def require_matplotlib():
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise UsageError(f"--plot needs matplotlib, which is not installed: {INSTALL_HINT}") from None
    return Figure, FigureCanvasAgg


def _label(text: str) -> str:
    """A name as matplotlib text: escaped controls, and ``$`` never starts mathtext."""
    return shown(text).replace("$", r"\$")


def chart(report: Report):
    """The figure of ``report`` and its :class:`ChartSummary` (nothing written)."""
    Figure, Canvas = require_matplotlib()
    import matplotlib.dates as mdates

    cameras = [c for c in report.cameras if c.camera in report.camera_breakdown and c.intervals]
    cameras = cameras[:MAX_PANELS]
    if not cameras and any(c.intervals for c in report.cameras):
        raise CctvError("the report holds no per-camera breakdown for the chart "
                        "(build it with per_camera=CHART_CAMERAS)")
    panels = max(1, len(cameras))
    fig = Figure(figsize=(WIDTH_PX / DPI, height_px(panels) / DPI), dpi=DPI)
    Canvas(fig)
    axes = fig.subplots(panels, 1, sharex=True, squeeze=False)[:, 0]
    tz = report.tz

    def when(epoch: int) -> float:
        return mdates.date2num(datetime.fromtimestamp(epoch, tz))

    low_buckets = 0
    names = {c.camera for c in cameras}
    for ax, cam in zip(axes, cameras):
        rows = report.camera_breakdown[cam.camera]
        bar_metric = "people" if cam.metrics.get("people") else "vehicle"
        line_metric = "vehicle" if bar_metric == "people" and cam.metrics.get("vehicle") else None
        top = 0.0
        for metric in filter(None, (bar_metric, line_metric)):
            stat = cam.metrics[metric].stat if cam.metrics.get(metric) else None
            means = [(r, r.mean(metric)) for r in rows]
            means = [(r, m) for r, m in means if m is not None]
            top = max([top] + [m for _, m in means])
            if metric == bar_metric:
                low_buckets += _bars(ax, means, when, metric, report.breakdown_grain)
                if stat is not None:
                    ax.axhspan(max(0.0, stat.mean - report.k * stat.std), stat.ref, color="#999999",
                               alpha=0.18, zorder=0, label=f"{metric} mean ± {report.k:g}·std")
                    top = max(top, stat.ref)
            else:
                ax.plot([when(r.start_utc) + (when(r.end_utc) - when(r.start_utc)) / 2 for r, _ in means],
                        [m for _, m in means], color=COLOURS[metric], linewidth=1.2, marker=".",
                        zorder=3, label=f"{metric}, by {report.breakdown_grain}")
        flags = [f for f in report.all_flags if f.camera == cam.camera]
        for (metric, direction), group in _grouped(flags).items():
            ax.scatter([when(f.start_utc) for f in group], [f.observed for f in group],
                       marker="^" if direction == "high" else "v", s=30, zorder=4, clip_on=False,
                       facecolors=FLAG_COLOURS[direction] if metric == "people" else "none",
                       edgecolors=FLAG_COLOURS[direction], linewidths=1.2,
                       label=f"{metric} {direction} ({len(group)})")
            top = max([top] + [float(f.observed) for f in group])
        top = top or 1.0
        ax.set_ylim(-0.06 * top, top * 1.12)  # low flags at 0 sit above the axis line
        cov = f"{cam.coverage * 100:.0f}% covered" if cam.coverage is not None else "no intervals expected"
        ax.set_title(f"{_label(cam.camera)} · {cov} · {cam.outliers} flagged interval(s)",
                     fontsize=9, loc="left")
        ax.set_ylabel("mean per interval", fontsize=8)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)
    if not cameras:
        axes[0].text(0.5, 0.5, "no counts in this period", ha="center", va="center",
                     transform=axes[0].transAxes)
    start, end = report.period.utc_range(tz)
    axes[-1].set_xlim(when(start), when(end))
    fmt = {"hour": "%H:%M", "day": "%d %b", "month": "%b"}[report.breakdown_grain]
    locator = {"hour": lambda: mdates.HourLocator(byhour=range(0, 24, 3), tz=tz),
               "day": lambda: mdates.AutoDateLocator(tz=tz, maxticks=10),
               "month": lambda: mdates.MonthLocator(tz=tz)}[report.breakdown_grain]()
    axes[-1].xaxis.set_major_locator(locator)
    axes[-1].xaxis.set_major_formatter(mdates.DateFormatter(fmt, tz=tz))
    fig.autofmt_xdate()
    with_data = sum(1 for c in report.cameras if c.intervals)
    summary = ChartSummary(cameras=[c.camera for c in cameras],
                           left_out=with_data - len(cameras),
                           flags_total=len(report.all_flags),
                           flags_drawn=sum(1 for f in report.all_flags if f.camera in names),
                           low_buckets=low_buckets)
    fig.subplots_adjust(left=0.07, right=0.8, top=1 - 70 / height_px(panels), hspace=0.45,
                        bottom=60 / height_px(panels) + 0.03)
    fig.suptitle(f"{report.period.grain} {report.period.label} · {report.tz.key} · "
                 f"{_label(summary.line())}\n"
                 f"hatched bars: values in < {LOW_COVERAGE:.0%} of the intervals (label: coverage)",
                 fontsize=9)
    return fig, summary


def _bars(ax, means, when, metric: str, grain: str) -> int:
    """Bars of ``metric``; low-coverage buckets hatched and labelled. Returns how many are low."""
    low = 0
    for row, mean in means:
        x, width = when(row.start_utc), (when(row.end_utc) - when(row.start_utc)) * 0.85
        cov = row.coverage
        thin = cov is not None and cov < LOW_COVERAGE
        ax.bar(x, mean, width=width, align="edge", zorder=2, color=COLOURS[metric],
               alpha=0.35 if thin else 1.0, hatch="///" if thin else None, edgecolor=COLOURS[metric])
        if thin:
            low += 1
            ax.annotate(f"{math.floor(cov * 100)}%", (x + width / 2, mean), textcoords="offset points",
                        xytext=(0, 2), ha="center", fontsize=6, color="#444444")
    if means:  # one legend entry for all bars
        ax.bar([], [], color=COLOURS[metric], label=f"{metric}, by {grain}")
    return low


def _grouped(flags: list) -> dict[tuple[str, str], list]:
    out: dict[tuple[str, str], list] = {}
    for f in flags:
        out.setdefault((f.metric, f.direction), []).append(f)
    return dict(sorted(out.items()))


def write_plot(report: Report, path: str, *, ours=None) -> ChartSummary:
    """Write the chart of ``report`` to ``path`` (PNG, 1000 px wide); what it shows.

    Through :mod:`cctvctl.safefile`: a new temporary file beside ``path`` renamed over it, so a
    reader never sees half a PNG and a symlink planted at ``path`` is replaced, never followed
    (``ours``: the name is cctvctl's own choice, the demo's, and replaces only its own charts).
    """
    from cctvctl import safefile

    with warnings.catch_warnings():  # missing glyphs (Korean names) must not leak onto stderr
        warnings.simplefilter("ignore")
        fig, summary = chart(report)
        with safefile.replace_file(path, "wb", what="the chart", fix="choose another file with --plot",
                                   ours=ours) as fh:
            fig.savefig(fh, format="png", dpi=DPI, metadata={"Software": "cctvctl"})
    return summary
