"""The report as a PNG chart (matplotlib, the optional ``plot`` extra).

One panel per metric with data: bars are the mean count per interval of each breakdown bucket
(all cameras together), the shaded band is the period's ``mean ± k·std`` per interval (its top
edge is the reference ``mean + k·std``), and every flagged interval is marked at its time with
its observed count (▲ high, ▼ low). Means per interval keep bars, band and flags on one scale.
"""

from __future__ import annotations

from datetime import datetime

from cctvctl.errors import CctvError, UsageError
from cctvctl.report.model import Report

WIDTH_PX, HEIGHT_PX, DPI = 1000, 600, 100
INSTALL_HINT = "pip install 'cctvctl[plot]'"
COLOURS = {"people": "#4c72b0", "vehicle": "#55a868"}


def require_matplotlib():
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise UsageError(f"--plot needs matplotlib, which is not installed: {INSTALL_HINT}") from None
    return Figure, FigureCanvasAgg


def write_plot(report: Report, path: str, *, ours=None) -> None:
    """Write the chart of ``report`` to ``path`` (PNG, 1000×600 pixels), safely (see
    :mod:`cctvctl.safefile`; ``ours`` where cctvctl chose the name)."""
    Figure, Canvas = require_matplotlib()
    import matplotlib.dates as mdates

    metrics = [m for m in ("people", "vehicle") if report.known(m)] or ["people"]
    fig = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI)
    Canvas(fig)
    axes = fig.subplots(len(metrics), 1, sharex=True, squeeze=False)[:, 0]
    tz = report.tz

    def when(epoch: int) -> float:
        return mdates.date2num(datetime.fromtimestamp(epoch, tz))

    starts = [when(b.start_utc) for b in report.breakdown]
    widths = [when(b.end_utc) - when(b.start_utc) for b in report.breakdown]
    for ax, metric in zip(axes, metrics):
        means = [b.mean(metric) for b in report.breakdown]
        ax.bar([s for s, m in zip(starts, means) if m is not None],
               [m for m in means if m is not None],
               width=[w * 0.85 for w, m in zip(widths, means) if m is not None], align="edge",
               color=COLOURS[metric], zorder=2, label=f"mean per interval, by {report.breakdown_grain}")
        overall = report.overall.get(metric)
        if overall is not None:
            low = max(0.0, overall.mean - report.k * overall.std)
            ax.axhspan(low, overall.ref, color="#999999", alpha=0.18, zorder=0,
                       label=f"mean ± {report.k:g}·std (top = ref {overall.ref:,.1f})")
            ax.axhline(overall.mean, color="#555555", linestyle="--", linewidth=0.9)
        for direction, marker, colour in (("high", "^", "#c44e52"), ("low", "v", "#8172b2")):
            flags = [f for f in report.outliers if f.metric == metric and f.direction == direction]
            if flags:
                ax.scatter([when(f.start_utc) for f in flags], [f.observed for f in flags],
                           marker=marker, color=colour, s=28, zorder=3,
                           label=f"outlier {direction} ({len(flags)})")
        ax.set_ylabel(f"{metric} per interval")
        ax.grid(axis="y", alpha=0.3)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)
    if report.breakdown:
        axes[-1].set_xlim(starts[0], when(report.breakdown[-1].end_utc))
    fmt = {"hour": "%H:%M", "day": "%d %b", "month": "%b"}[report.breakdown_grain]
    locator = {"hour": lambda: mdates.HourLocator(byhour=range(0, 24, 3), tz=tz),
               "day": lambda: mdates.AutoDateLocator(tz=tz, maxticks=10),
               "month": lambda: mdates.MonthLocator(tz=tz)}[report.breakdown_grain]()
    axes[-1].xaxis.set_major_locator(locator)
    axes[-1].xaxis.set_major_formatter(mdates.DateFormatter(fmt, tz=tz))
    fig.autofmt_xdate()
    fig.subplots_adjust(left=0.08, right=0.74, top=0.9)
    fig.suptitle(f"{report.period.grain} {report.period.label} · {report.tz.key} · "
                 f"{len(report.cameras)} camera(s)")
    from cctvctl import safefile

    try:
        with safefile.replace_file(path, "wb", what="the chart", fix="choose another file with --plot",
                                   ours=ours) as fh:
            fig.savefig(fh, format="png", dpi=DPI, metadata={"Software": "cctvctl"})
    except OSError as exc:
        raise CctvError(f"cannot write the chart to {path}: {exc.strerror or exc}") from None
