"""Exact statistics: moments in the database, roll-ups in integers, aggregation runs for cron.

``hourly_moments`` / ``daily_moments`` group raw counts by local hour or day (GROUP BY over UTC
ranges, time arithmetic in Python); ``combine`` and ``figures`` roll moments up exactly;
``run_aggregate`` writes the ``stats`` and ``weekday_stats`` rows that are due (catch-up, late
data, explicit backfill) under a lock.
"""

from cctvctl.stats.moments import (MOMENTS, Figures, Segment, combine, daily_intervals,
                                   daily_moments, figures, hourly_moments, offset_segments)
from cctvctl.stats.run import GRAINS, AggregateResult, GrainSummary, run_aggregate
from cctvctl.stats.rows import JSON_KEYS

__all__ = ["MOMENTS", "Figures", "Segment", "combine", "daily_intervals", "daily_moments",
           "figures", "hourly_moments", "offset_segments", "GRAINS", "AggregateResult",
           "GrainSummary", "run_aggregate", "JSON_KEYS"]
