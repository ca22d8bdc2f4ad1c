"""Turn a :class:`cctvctl.report.Report` into table, markdown, csv, json or a PNG chart.

``csv``: every section is one CSV table, introduced by a ``# <section>`` line and followed by a
blank line; with one ``--section`` the output is that table alone (plain CSV for scripts).
Missing values are empty cells, times are local ISO timestamps with their offset. Text cells
pass through :func:`cctvctl.safetext.csv_cell` (formula-like or control characters: a leading
``'``; :func:`cctvctl.safetext.csv_value` gives the original back).
``json``: :func:`cctvctl.render.sections.report_dict`, keys documented in the README.
"""

from __future__ import annotations

import csv
import io

from cctvctl import safefile
from cctvctl.errors import UsageError
from cctvctl.periods import local_iso
from cctvctl.render.sections import SECTIONS, Section, report_dict, sections
from cctvctl.render.text import print_table, to_markdown
from cctvctl.report.model import Report
from cctvctl.safetext import csv_cell, escape_json, json_text

FORMATS = ("table", "markdown", "csv", "json")
CSV_DIGITS = 4


def check_sections(names: list[str] | None, fmt: str) -> list[str] | None:
    """Validate ``--section`` names (in report order, without repeats)."""
    if not names:
        return None
    unknown = [n for n in names if n not in SECTIONS]
    if unknown:
        raise UsageError(f"unknown --section {unknown[0]!r} (one of {', '.join(SECTIONS)})")
    if fmt == "json":
        raise UsageError("--section does not apply to --format json (it always has every key)")
    return [n for n in SECTIONS if n in names]


def _csv_value(value, kind: str, report: Report):
    if value is None:
        return ""
    if kind == "time":
        return local_iso(int(value), report.tz)
    if isinstance(value, float):
        return repr(round(value, CSV_DIGITS))
    return csv_cell(value)


def _write_section(writer, section: Section, report: Report) -> None:
    cols = [c for c in section.columns if c.csv]
    writer.writerow([c.key for c in cols])
    keep = [i for i, c in enumerate(section.columns) if c.csv]
    for raw in section.rows:
        writer.writerow([_csv_value(raw[i], section.columns[i].kind, report) for i in keep])


def to_csv(report: Report, names: list[str] | None = None) -> str:
    buf = io.StringIO()
    write_csv(report, buf, names)
    return buf.getvalue()


def write_csv(report: Report, out, names: list[str] | None = None) -> None:
    """:func:`to_csv`'s text, written row by row (every camera, none held)."""
    writer = csv.writer(out, lineterminator="\n")
    chosen = sections(report, names)
    if len(chosen) == 1:
        _write_section(writer, chosen[0], report)
        return
    for i, section in enumerate(chosen):
        if i:
            out.write("\n")
        out.write(f"# {section.name}\n")
        _write_section(writer, section, report)


def to_json(report: Report) -> str:
    return json_text(report_dict(report), indent=2) + "\n"


def write_json(report: Report, out) -> None:
    """:func:`to_json`'s text, written while it is encoded: ``json.dumps`` with an indent keeps
    every fragment until the end (200 MB for a report of 20,000 cameras)."""
    import json

    for chunk in json.JSONEncoder(ensure_ascii=False, indent=2).iterencode(report_dict(report)):
        out.write(escape_json(chunk))
    out.write("\n")


def write_plot(report: Report, path: str, *, ours=None):
    """Write the PNG chart; returns its :class:`cctvctl.render.plot.ChartSummary`."""
    from cctvctl.render.plot import write_plot as _write

    return _write(report, path, ours=ours)


def check_plot(path: str) -> None:
    """Refuse ``--plot`` up front when it cannot work (not .png, or matplotlib missing)."""
    from cctvctl.render.plot import require_matplotlib

    if not path.lower().endswith(".png"):
        raise UsageError(f"--plot writes a PNG image: give a file name ending in .png, not {path!r}")
    safefile.check_target(path, what="the chart", fix="choose another file with --plot")
    require_matplotlib()


__all__ = ["FORMATS", "SECTIONS", "check_plot", "check_sections", "print_table",
           "report_dict", "to_csv", "to_json", "to_markdown", "write_csv", "write_json", "write_plot"]
