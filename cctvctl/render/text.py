"""Report sections as a Rich table (fits 80 columns, no colour off a terminal) and as markdown."""

from __future__ import annotations

from datetime import datetime

from cctvctl.periods import local_iso
from cctvctl.render.sections import Column, Section, sections
from cctvctl.report.model import COMPARE_MIN_COVERAGE, Report
from cctvctl.safetext import shown

MISSING = "–"
BAR_WIDTH = 16
_EIGHTHS = " ▏▎▍▌▋▊▉"
NUMERIC = ("int", "num", "pct", "change", "score", "duration")
#: rows per Rich table when a section is long (memory stays flat with the number of cameras)
TABLE_BLOCK = 500


def bar(fraction: float | None, width: int = BAR_WIDTH) -> str:
    """An inline bar of ``fraction`` (0–1) of ``width`` characters, in eighths of a cell."""
    if fraction is None:
        return ""
    eighths = round(max(0.0, min(1.0, fraction)) * width * 8)
    full, rest = divmod(eighths, 8)
    return "█" * full + (_EIGHTHS[rest] if rest else "")


def _number(value: float) -> str:
    """Means and references: one decimal below 100, whole numbers above (columns stay narrow)."""
    return f"{value:,.1f}" if abs(value) < 100 else f"{value:,.0f}"


def duration(seconds: int) -> str:
    """5m, 2h, 1h30m, 13h: how long an episode lasted."""
    hours, rest = divmod(int(seconds) // 60, 60)
    if not hours:
        return f"{rest}m"
    return f"{hours}h{rest:02d}m" if rest else f"{hours}h"


def cell(value, column: Column, report: Report) -> str:
    """One value as shown on screen: missing data is a dash, never 0."""
    kind = column.kind
    if kind == "bar":
        return bar(value)
    if value is None or value == "":
        return MISSING
    if kind == "int":
        return f"{int(value):,}"
    if kind == "num":
        return _number(value)
    if kind == "pct":
        return f"{value * 100:.1f}%"
    if kind == "change":  # a change, or why none is shown ("prev 14% covered")
        return shown(value) if isinstance(value, str) else f"{value * 100:+.1f}%"
    if kind == "score":
        return f"{value:+.1f}σ"
    if kind == "duration":
        return duration(value)
    if kind == "time":
        when = datetime.fromtimestamp(int(value), report.tz)
        return when.strftime("%H:%M" if report.period.grain == "day" else "%m-%d %H:%M")
    return shown(value)  # camera names and labels: control and bidi characters escaped


def visible(section: Section, report: Report) -> list[int]:
    """Indexes of the columns shown on screen (metrics with no data anywhere are left out)."""
    return [i for i, c in enumerate(section.columns)
            if c.text and (c.metric is None or report.known(c.metric))]


def _screen_rows(section: Section, report: Report, keep: list[int]) -> list[list[str]]:
    return [[cell(raw[i], section.columns[i], report) for i in keep] for raw in section.rows]


def header_lines(report: Report) -> list[str]:
    """The report's header: period with its exact span, zone, cameras, coverage, sources."""
    start, end = report.period.utc_range(report.tz)
    first, last = local_iso(start, report.tz), local_iso(end, report.tz)
    span = f"{first[:16].replace('T', ' ')} → {last[:16].replace('T', ' ')}"
    offsets = sorted({first[19:], last[19:]})
    cov = report.coverage
    days = len(report.period.local_days(report.tz))
    skipped = len(report.period.days) - days
    lines = [
        f"cctvctl report · {report.period.grain} {report.period.label} · {report.tz.key}",
        f"{span} ({' / '.join(offsets)}) · {days} days"
        + (f" ({skipped} skipped)" if skipped else ""),
        _cameras_line(report),
        f"coverage {cov * 100:.1f}% ({report.intervals:,} of {report.expected:,} intervals)"
        if cov is not None else "coverage: no intervals expected",
    ]
    if not report.intervals:
        lines.append("statistics: none — no counts in this period")
    elif report.source == "stats":
        when = local_iso(report.computed_at, report.tz)[:16].replace("T", " ")
        lines.append(f"statistics: from the stats table (aggregated {when}), k = {report.k:g}")
    else:
        lines.append(f"statistics: computed now, read-only ({report.source_note or 'by request'}), "
                     f"k = {report.k:g}")
    if report.compare:
        lines.append(f"change: mean per interval against {report.compare.period.label} "
                     f"({report.compare.mode} period)")
        withheld = rows = 0
        for c in report.cameras:
            for m in c.metrics.values():
                if m is not None:
                    rows += 1
                    withheld += bool(m.change_note)
        if withheld:
            lines.append(f"change withheld in {withheld} of {rows} rows: a period has values in "
                         f"< {COMPARE_MIN_COVERAGE:.0%} of its intervals")
    missing = [m for m in ("people", "vehicle") if not report.known(m)]
    if missing:
        lines.append(f"{' and '.join(missing)}: no values in this period (shown as {MISSING})")
    return lines


def _cameras_line(report: Report, width: int = 80) -> str:
    n = len(report.cameras)
    counted = f"{n} camera{'' if n == 1 else 's'}"
    if n > width:  # more names than fit, whatever their length
        return f"{counted} (listed below)"
    names = getattr(report.cameras, "names", None) or [c.camera for c in report.cameras]
    line = f"{counted}: {', '.join(shown(c) for c in names) or 'none'}"
    return line if len(line) <= width else f"{counted} (listed below)"


def more_note(section: Section) -> str | None:
    """The line under a per-camera table that was cut at SCREEN_CAMERAS cameras."""
    if not section.more:
        return None
    return (f"… and {section.more:,} more camera{'s' if section.more != 1 else ''} "
            "(--format csv or json lists them all)")


def _empty_note(section: Section, report: Report) -> str | None:
    if not report.intervals and section.name in ("breakdown", "weekday", "hour"):
        return "no counts in this period"
    if section.rows:
        return None
    if section.name == "outliers":
        return "no outliers flagged in this period"
    if section.name == "classes":
        return None  # no class data: the section is left out
    return "no data"


# -- Rich -------------------------------------------------------------------------------------
def print_table(report: Report, console, names: list[str] | None = None) -> None:
    """Print the report on a Rich console (colour only on a terminal; fits 80 columns)."""
    from rich.text import Text

    for section in sections(report, names, screen=True):
        if section.name == "period":
            for line in header_lines(report):
                console.print(Text(line))
            continue
        note = _empty_note(section, report)
        if note is None and not section.rows:
            continue
        console.print()
        console.print(Text(section.title, style="bold"))
        if note:
            console.print(Text(note))
            continue
        keep = visible(section, report)
        rows = _screen_rows(section, report, keep)
        whole = _table(section, keep, rows)
        layout = _layout(console, whole) if len(rows) > TABLE_BLOCK else None
        # those include each cell's padding (one space right, none at the table's edge)
        widths = [w - (j < len(layout) - 1) for j, w in enumerate(layout)] if layout else None
        first = _table(section, keep, rows[:TABLE_BLOCK], True, widths) if widths else None
        if first is None or _layout(console, first) != layout:  # blocks would not line up
            console.print(whole)
            if more_note(section):
                console.print(Text(more_note(section)))
            continue
        # Thousands of rows (cameras) print in blocks with the widths Rich chose for the whole
        # table, so they line up as one table: one Rich table of 20,000 rows held 300 MB.
        del whole
        console.print(first)
        for start in range(TABLE_BLOCK, len(rows), TABLE_BLOCK):
            console.print(_table(section, keep, rows[start:start + TABLE_BLOCK], False, widths))
        if more_note(section):
            console.print(Text(more_note(section)))


def _layout(console, table) -> list[int] | None:
    """The column widths (with padding) Rich lays ``table`` out with; None if it cannot say."""
    try:  # a private method: without it, a long table prints in one piece as before
        options = console.options  # as Table.__rich_console__ measures: without the separators
        return list(table._calculate_column_widths(
            console, options.update_width(options.max_width - table._extra_width)))
    except Exception:
        return None


def _table(section: Section, keep: list[int], rows: list[list[str]], header: bool = True,
           widths: list[int] | None = None):
    """One Rich table of ``rows`` (cells already text) with the section's shown columns."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(box=box.SIMPLE_HEAD, padding=(0, 1, 0, 0), pad_edge=False, show_edge=False,
                  header_style="bold", show_header=header)
    for j, i in enumerate(keep):
        col = section.columns[i]
        numeric = col.kind in NUMERIC
        table.add_column(col.header, justify="right" if numeric else "left",
                         no_wrap=(numeric and col.kind != "change") or col.kind in ("bar", "time", "pair"),
                         overflow="fold", style="cyan" if col.kind == "bar" else None,
                         width=widths[j] if widths else None)
    for cells in rows:
        table.add_row(*(Text(c) for c in cells))  # literal text: a name is never markup
    return table


# -- markdown ---------------------------------------------------------------------------------
def _md(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def to_markdown(report: Report, names: list[str] | None = None) -> str:
    """GitHub-flavoured markdown: a heading per section and a pipe table."""
    out: list[str] = []
    for section in sections(report, names, screen=True):
        if section.name == "period":
            lines = header_lines(report)
            out += [f"# {_md(lines[0])}", ""] + [f"- {_md(line)}" for line in lines[1:]] + [""]
            continue
        note = _empty_note(section, report)
        if note is None and not section.rows:
            continue
        out += [f"## {_md(section.title)}", ""]
        if note:
            out += [note, ""]
            continue
        keep = visible(section, report)
        cols = [section.columns[i] for i in keep]
        out.append("| " + " | ".join(_md(c.header) or " " for c in cols) + " |")
        out.append("| " + " | ".join("---:" if c.kind in NUMERIC else "---" for c in cols) + " |")
        for cells in _screen_rows(section, report, keep):
            out.append("| " + " | ".join(_md(c) or " " for c in cells) + " |")
        if more_note(section):
            out += ["", more_note(section)]
        out.append("")
    return "\n".join(out)
