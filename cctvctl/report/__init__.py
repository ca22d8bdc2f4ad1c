"""Reports: gather one local period as data (:class:`Report`), then ``cctvctl.render`` prints it.

A report needs only SELECT rights: :func:`open_for_reading` never creates, migrates or locks, and
:func:`build_report` reads the stats table where it is current and computes the rest now.

Example::

    from cctvctl.periods import parse_period
    from cctvctl.report import build_report, open_for_reading
    with open_for_reading("sqlite:///cctv.db") as db:
        report = build_report(db, parse_period("month", "2021-08"), ZoneInfo("Asia/Seoul"))
"""

from __future__ import annotations

from cctvctl.db.database import Database
from cctvctl.errors import DatabaseError, SchemaError
from cctvctl.report.build import DEFAULT_TOP, build_report
from cctvctl.report.source import stats_readable
from cctvctl.report.model import (BREAKDOWN, COMPARE_MODES, WEEKDAYS, BreakdownRow, CameraSummary,
                                  Compare, Episode, MetricSummary, Peak, ProfileRow, Report, Stat)


def open_for_reading(url: str) -> Database:
    """Connect without creating or migrating anything (an analyst account has SELECT only)."""
    from cctvctl.db import connect
    from cctvctl.db.schema import LATEST, current_version

    db = connect(url, migrate=False, create=False)
    try:
        version = current_version(db)
        if version == 0:
            raise DatabaseError(f"{db.url.display()} holds no cctvctl tables "
                                "(run `cctvctl db init`, or import counts first)")
        if version > LATEST:
            raise SchemaError(f"database schema is version {version}, newer than this cctvctl "
                              f"understands ({LATEST}); upgrade cctvctl")
    except BaseException:
        db.close()
        raise
    return db


__all__ = ["BREAKDOWN", "COMPARE_MODES", "DEFAULT_TOP", "WEEKDAYS", "BreakdownRow",
           "CameraSummary", "Compare", "Episode", "MetricSummary", "Peak", "ProfileRow", "Report", "Stat",
           "build_report", "open_for_reading", "stats_readable"]
