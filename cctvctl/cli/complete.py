"""Shell completion of option values: TAB after ``--format``, ``--method``, ``--tz``, … offers
what the option takes.

The callbacks run only when the shell asks (``_CCTVCTL_COMPLETE``), never on a normal run. The
lists are literal here so a TAB imports nothing heavy (the library's own lists live beside
pandas); tests/test_surface.py checks each against the library's.
"""

from __future__ import annotations

from typing import Callable


def one_of(*values: str) -> Callable[[str], list[str]]:
    """A completion callback offering ``values`` that start with what was typed."""
    def complete(incomplete: str) -> list[str]:
        return [v for v in values if v.startswith(incomplete)]

    return complete


def zones(incomplete: str) -> list[str]:
    """IANA zone names starting with what was typed (``Asia/Se`` finds ``Asia/Seoul``)."""
    from zoneinfo import available_timezones

    return sorted(z for z in available_timezones() if z.startswith(incomplete))


TABLE_JSON = one_of("table", "json")
#: cctvctl.render.FORMATS
REPORT_FORMATS = one_of("table", "markdown", "csv", "json")
#: cctvctl.cli.detect_cmd.FORMATS
DETECT_FORMATS = one_of("table", "csv", "json")
#: cctvctl.detect.METHODS, SLOTS, FLOORS
METHODS = one_of("robust", "seasonal", "threshold")
SLOTS = one_of("hour", "daytype-hour", "weekday-hour")
FLOORS = one_of("sqrt", "one")
#: cctvctl.render.SECTIONS
SECTIONS = one_of("period", "cameras", "summary", "classes", "breakdown", "weekday", "hour",
                  "outliers")
COMPARE = one_of("previous", "last-year", "none")
#: cctvctl.cli.aggregate_cmd.GRAIN_CHOICES
GRAINS = one_of("day", "week", "month", "year", "weekday", "all")
#: import's --on-error, --nonexistent, --ambiguous, --wide-metric (cctvctl.ingest)
ON_ERROR = one_of("reject", "skip")
NONEXISTENT = one_of("reject", "shift-forward", "shift-backward")
AMBIGUOUS = one_of("infer", "earliest", "latest", "reject")
WIDE_METRIC = one_of("people", "vehicle")
#: cctvctl sample --layout
LAYOUTS = one_of("original", "classes")
#: cctvctl imports list --status
IMPORT_STATUS = one_of("ok", "rejected", "undone")
