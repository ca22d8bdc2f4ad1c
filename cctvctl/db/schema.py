"""Numbered schema migrations, recorded in ``schema_version``, applied on first use.

Timestamps are integer epoch seconds in UTC (portable, index-friendly, no driver time-zone
conversion); local periods are ``YYYY-MM-DD`` text of their first local day. Counts are
integers; sums and sums of squares are exact integers so roll-ups are exact.
"""

from __future__ import annotations

import time
from typing import Callable

from cctvctl.db.database import Database
from cctvctl.errors import SchemaError

METRICS = ("people", "vehicle")
VEHICLE_CLASSES = ("car", "truck", "bus", "bicycle", "motorcycle", "scooter")
COUNT_COLUMNS = ("camera", "start_utc", "end_utc", "people", "vehicle") + VEHICLE_CLASSES + ("import_id",)

CAMERA_TYPE = "VARCHAR(64)"


def _figures() -> str:
    """Columns shared by stats and weekday_stats: n, coverage and per-metric moments."""
    cols = ["n BIGINT NOT NULL", "expected BIGINT", "coverage DOUBLE"]
    for m in METRICS:
        cols += [f"{m}_n BIGINT NOT NULL DEFAULT 0", f"{m}_sum BIGINT", f"{m}_sumsq BIGINT",
                 f"{m}_mean DOUBLE", f"{m}_std DOUBLE", f"{m}_ref DOUBLE"]
    cols += ["k DOUBLE NOT NULL", "start_utc BIGINT NOT NULL", "end_utc BIGINT NOT NULL",
             "computed_at BIGINT NOT NULL"]
    return ",\n  ".join(cols)


def _count_columns() -> str:
    """Key and values of a counts row (shared by ``counts`` and its revision log)."""
    classes = ",\n  ".join(f"{c} INTEGER" for c in VEHICLE_CLASSES)
    return f"""camera {CAMERA_TYPE} NOT NULL,
  start_utc BIGINT NOT NULL,
  end_utc BIGINT NOT NULL,
  people INTEGER,
  vehicle INTEGER,
  {classes}"""


def _v1(db: Database) -> list[str]:
    d = db.dialect
    stmts = [
        f"""CREATE TABLE imports (
  id {d.autoinc_pk},
  source VARCHAR(1024) NOT NULL,
  sha256 CHAR(64) NOT NULL,
  options_sha256 CHAR(64) NOT NULL,
  tz VARCHAR(64) NOT NULL,
  rows_read BIGINT NOT NULL DEFAULT 0,
  inserted BIGINT NOT NULL DEFAULT 0,
  duplicates BIGINT NOT NULL DEFAULT 0,
  replaced BIGINT NOT NULL DEFAULT 0,
  rejected BIGINT NOT NULL DEFAULT 0,
  status VARCHAR(16) NOT NULL,
  started_at BIGINT NOT NULL,
  finished_at BIGINT
){'' if d.name == 'sqlite' else d.table_options}""",
        "CREATE INDEX imports_sha ON imports (sha256, options_sha256)",
        f"""CREATE TABLE counts (
  {_count_columns()},
  import_id BIGINT NOT NULL,
  PRIMARY KEY ({d.counts_primary_key})
){d.table_options}""",
        # Which cameras and UTC days each import touched: the basis of late-data recomputes.
        f"""CREATE TABLE import_days (
  import_id BIGINT NOT NULL,
  camera {CAMERA_TYPE} NOT NULL,
  utc_day INTEGER NOT NULL,
  PRIMARY KEY (import_id, camera, utc_day)
){d.table_options}""",
        f"""CREATE TABLE stats (
  camera {CAMERA_TYPE} NOT NULL,
  grain VARCHAR(8) NOT NULL,
  period_start CHAR(10) NOT NULL,
  hour SMALLINT NOT NULL,
  {_figures()},
  PRIMARY KEY (camera, grain, period_start, hour)
){d.table_options}""",
        "CREATE INDEX stats_grain ON stats (grain, period_start)",
        f"""CREATE TABLE weekday_stats (
  camera {CAMERA_TYPE} NOT NULL,
  scope VARCHAR(8) NOT NULL,
  period_start CHAR(10) NOT NULL,
  weekday SMALLINT NOT NULL,
  {_figures()},
  PRIMARY KEY (camera, scope, period_start, weekday)
){d.table_options}""",
        f"""CREATE TABLE outliers (
  camera {CAMERA_TYPE} NOT NULL,
  start_utc BIGINT NOT NULL,
  metric VARCHAR(16) NOT NULL,
  method VARCHAR(16) NOT NULL,
  direction VARCHAR(8) NOT NULL,
  observed DOUBLE NOT NULL,
  expected DOUBLE NOT NULL,
  band_low DOUBLE,
  band_high DOUBLE,
  score DOUBLE NOT NULL,
  params VARCHAR(512) NOT NULL,
  detected_at BIGINT NOT NULL,
  PRIMARY KEY (camera, start_utc, metric, method)
){d.table_options}""",
        "CREATE INDEX outliers_time ON outliers (start_utc)",
        f"""CREATE TABLE agg_state (
  name VARCHAR(64) NOT NULL PRIMARY KEY,
  value VARCHAR(255) NOT NULL
){d.table_options}""",
    ]
    if d.counts_secondary_index:
        stmts.append(f"CREATE INDEX counts_camera_time ON counts ({d.counts_secondary_index})")
    return stmts


def _v2(db: Database) -> list[str]:
    """The usual interval length behind each statistics row's expected count.

    Week/month/year coverage counts the days a camera sent nothing at that interval, so a gap
    lowers coverage instead of vanishing.
    """
    return ["ALTER TABLE stats ADD COLUMN interval_s BIGINT",
            "ALTER TABLE weekday_stats ADD COLUMN interval_s BIGINT"]


def _v3(db: Database) -> list[str]:
    """The revision log: what ``--replace`` overwrote, so ``imports undo`` can put it back.

    One row per stored row an import replaced: its values and owning import before the
    overwrite. A row replaced by several imports has one revision per import, a chain that
    undo walks back newest first.
    """
    d = db.dialect
    return [
        f"""CREATE TABLE count_revisions (
  import_id BIGINT NOT NULL,
  {_count_columns()},
  old_import_id BIGINT NOT NULL,
  PRIMARY KEY (import_id, camera, start_utc)
){d.table_options}""",
        "CREATE INDEX count_revisions_old ON count_revisions (old_import_id)",
    ]


#: (version, description, statements builder). Append only; never edit a released one.
MIGRATIONS: list[tuple[int, str, Callable[[Database], list[str]]]] = [
    (1, "counts, imports, stats, weekday_stats, outliers", _v1),
    (2, "interval length of statistics rows", _v2),
    (3, "count_revisions: values replaced by imports (undo)", _v3),
]

LATEST = MIGRATIONS[-1][0]


def current_version(db: Database) -> int:
    if not db.table_exists("schema_version"):
        return 0
    return int(db.scalar("SELECT COALESCE(MAX(version), 0) FROM schema_version") or 0)


def migrate(db: Database) -> list[int]:
    """Apply pending migrations under a lock; returns the versions applied (idempotent)."""
    version = current_version(db)
    if version > LATEST:
        raise SchemaError(f"database schema is version {version}, newer than this cctvctl "
                          f"understands ({LATEST}); upgrade cctvctl")
    if version == LATEST:
        return []
    applied = []
    with db.lock("migrate", timeout=120):
        if not db.table_exists("schema_version"):
            db.execute(f"CREATE TABLE schema_version (version INTEGER NOT NULL PRIMARY KEY, "
                       f"description VARCHAR(255) NOT NULL, applied_at BIGINT NOT NULL)"
                       f"{db.dialect.table_options if db.backend == 'mysql' else ''}")
        version = current_version(db)
        for number, description, build in MIGRATIONS:
            if number <= version:
                continue
            # MySQL DDL commits implicitly; SQLite runs the whole step in one transaction.
            with db.atomic():
                for stmt in build(db):
                    db.execute(stmt)
                db.execute("INSERT INTO schema_version (version, description, applied_at) "
                           "VALUES (?, ?, ?)", (number, description, int(time.time())))
            applied.append(number)
    return applied
