"""Numbered schema migrations, recorded in ``schema_version``, applied on first use.

Timestamps are integer epoch seconds in UTC (portable, index-friendly, no driver time-zone
conversion); local periods are ``YYYY-MM-DD`` text of their first local day. Counts are
integers; sums and sums of squares are exact integers so roll-ups are exact.
"""

from __future__ import annotations

import os
import re
import sys
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


def _flag_columns() -> str:
    """The columns of one flag (``outliers``, and ``outlier_log`` of schema 7)."""
    return f"""  camera {CAMERA_TYPE} NOT NULL,
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
  detected_at BIGINT NOT NULL,"""


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
){d.plain_table_options}""",
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
{_flag_columns()}
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


def _v4(db: Database) -> list[str]:
    """Run locks as rows only the writing accounts may lock (see Database.lock).

    MySQL's GET_LOCK names can be taken by any account, even a SELECT-only one, which could
    then stall imports and aggregation; a row lock here needs INSERT and UPDATE on this table.
    """
    return [f"""CREATE TABLE run_locks (
  name VARCHAR(64) NOT NULL PRIMARY KEY,
  holder VARCHAR(255) NOT NULL,
  acquired_at BIGINT NOT NULL
){db.dialect.plain_table_options}"""]
def _v5(db: Database) -> list[str]:
    """Which episodes each alert consumer has been told (``cctvctl alerts``)."""
    return [f"""CREATE TABLE alert_marks (
  consumer VARCHAR(80) NOT NULL,
  camera {CAMERA_TYPE} NOT NULL,
  metric VARCHAR(16) NOT NULL,
  kind VARCHAR(16) NOT NULL,
  start_utc BIGINT NOT NULL,
  marked_at BIGINT NOT NULL,
  PRIMARY KEY (consumer, camera, metric, kind, start_utc)
){db.dialect.table_options}"""]


def _v6(db: Database) -> list[str]:
    """Device tokens of ``cctvctl serve``: only a SHA-256 of each secret is kept."""
    d = db.dialect
    return [f"""CREATE TABLE api_tokens (
  id {d.autoinc_pk},
  name VARCHAR(64) NOT NULL UNIQUE,
  token_sha256 CHAR(64) NOT NULL UNIQUE,
  cameras VARCHAR(4096) NOT NULL,
  can_write SMALLINT NOT NULL,
  can_read SMALLINT NOT NULL,
  created_at BIGINT NOT NULL,
  revoked_at BIGINT,
  last_used_at BIGINT
){d.plain_table_options}"""]


def _v7(db: Database) -> list[str]:
    """Flags the ingest account writes without DELETE or UPDATE (issue 12 L2).

    Import-time detection re-judges days that late data changed, so it must be able to retract
    and rewrite flags. An account that may not delete (``cctvctl db grants``' ingest) appends a
    *run* instead: ``outlier_runs`` says "for this camera and method, the flags in [start, end)
    are run N's", and ``outlier_log`` holds run N's flags. Readers take, per interval, the
    latest run covering it, else ``outliers``; an account that may delete (cron, the
    administrator) folds the runs into ``outliers`` (see ``cctvctl.detect.store``).
    """
    d = db.dialect
    return [
        f"""CREATE TABLE outlier_log (
{_flag_columns()}
  run_id BIGINT NOT NULL,
  PRIMARY KEY (camera, method, start_utc, metric, run_id)
){d.table_options}""",
        f"""CREATE TABLE outlier_runs (
  camera {CAMERA_TYPE} NOT NULL,
  method VARCHAR(16) NOT NULL,
  start_utc BIGINT NOT NULL,
  end_utc BIGINT NOT NULL,
  run_id BIGINT NOT NULL,
  import_id BIGINT,
  written_at BIGINT NOT NULL,
  PRIMARY KEY (camera, method, start_utc, run_id)
){d.table_options}""",
        "CREATE INDEX outlier_log_time ON outlier_log (start_utc)",
    ]


def _v8(db: Database) -> list[str]:
    """Each aggregated (camera, local day)'s hour rows again, packed into one row.

    Detection's reference for one night reads ~20 like days of every camera's hours: ~300,000
    ``stats`` rows on 1,000 cameras, whose decoding cost more than the whole import. The same
    integers packed per camera and day (``cctvctl.stats.dayhours``) are ~20,000 rows. Written
    and deleted with the day's ``stats`` rows in one transaction; a day aggregated before this
    step has none and is read from ``stats`` as before.
    """
    d = db.dialect
    return [f"""CREATE TABLE day_hours (
  period_start CHAR(10) NOT NULL,
  camera {CAMERA_TYPE} NOT NULL,
  moments BLOB NOT NULL,
  PRIMARY KEY (period_start, camera)
){d.table_options}"""]


#: (version, description, statements builder). Append only; never edit a released one.
#: Each statement must be safe to run again after a crash: CREATE TABLE / CREATE INDEX /
#: ALTER TABLE ... ADD COLUMN / DROP TABLE / DROP INDEX are skipped when already done (see
#: ``_done``); anything else must be idempotent by itself.
MIGRATIONS: list[tuple[int, str, Callable[[Database], list[str]]]] = [
    (1, "counts, imports, stats, weekday_stats, outliers", _v1),
    (2, "interval length of statistics rows", _v2),
    (3, "count_revisions: values replaced by imports (undo)", _v3),
    (4, "run locks only writing accounts can take", _v4),
    (5, "alert consumers' marks", _v5),
    (6, "device tokens of cctvctl serve", _v6),
    (7, "flag runs the ingest account appends (no DELETE on outliers)", _v7),
    (8, "day_hours: a day's hour moments packed in one row (detection reads)", _v8),
]

LATEST = max(m[0] for m in MIGRATIONS)

#: test hook: pause (print to stderr and sleep) at the Nth step point of a migration run, so a
#: test can kill the real process there (tests/test_migrate_kill.py)
PAUSE_ENV = "CCTV_TEST_MIGRATION_PAUSE"

_CREATE_TABLE = re.compile(r"^\s*CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?`?(\w+)", re.I)
_CREATE_INDEX = re.compile(r"^\s*CREATE\s+(?:UNIQUE\s+)?INDEX\s+(?:IF\s+NOT\s+EXISTS\s+)?`?(\w+)`?"
                           r"\s+ON\s+`?(\w+)", re.I)
_ADD_COLUMN = re.compile(r"^\s*ALTER\s+TABLE\s+`?(\w+)`?\s+ADD\s+(?:COLUMN\s+)?"
                         r"(?:IF\s+NOT\s+EXISTS\s+)?`?(\w+)", re.I)
_DROP_TABLE = re.compile(r"^\s*DROP\s+TABLE\s+(?:IF\s+EXISTS\s+)?`?(\w+)", re.I)
_DROP_INDEX = re.compile(r"^\s*DROP\s+INDEX\s+(?:IF\s+EXISTS\s+)?`?(\w+)`?(?:\s+ON\s+`?(\w+))?",
                         re.I)


def _done(db: Database, stmt: str) -> bool:
    """Whether a schema statement's effect is already in the database (a crashed earlier run)."""
    if m := _CREATE_TABLE.match(stmt):
        return db.table_exists(m[1])
    if m := _CREATE_INDEX.match(stmt):
        return db.index_exists(m[2], m[1])
    if m := _ADD_COLUMN.match(stmt):
        return db.column_exists(m[1], m[2])
    if m := _DROP_TABLE.match(stmt):
        return not db.table_exists(m[1])
    if m := _DROP_INDEX.match(stmt):
        return not db.index_exists(m[2], m[1])
    return False


def _bootstrap(db: Database) -> None:
    """The two bookkeeping tables, created if missing (safe to repeat, also concurrently)."""
    opts = db.dialect.plain_table_options
    db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL PRIMARY KEY, "
               f"description VARCHAR(255) NOT NULL, applied_at BIGINT NOT NULL){opts}")
    # One row per finished statement of a migration in progress; row (0, 0) is never committed:
    # it is the migration lock's row (see Database.lock).
    db.execute("CREATE TABLE IF NOT EXISTS schema_steps (version INTEGER NOT NULL, "
               "step INTEGER NOT NULL, applied_at BIGINT NOT NULL, PRIMARY KEY (version, step))"
               f"{opts}")


def current_version(db: Database) -> int:
    if not db.table_exists("schema_version"):
        return 0
    return int(db.scalar("SELECT COALESCE(MAX(version), 0) FROM schema_version") or 0)


def _applied(db: Database) -> set[int]:
    if not db.table_exists("schema_version"):
        return set()
    return {int(v) for (v,) in db.query("SELECT version FROM schema_version")}


class _Pauser:
    """Counts step points; at the one named by the test hook, says so and waits to be killed."""

    def __init__(self) -> None:
        value = os.environ.get(PAUSE_ENV, "")
        self.at = int(value) if value.isdigit() else 0
        self.count = 0

    def point(self, where: str) -> None:
        self.count += 1
        if self.count == self.at:
            sys.stderr.write(f"paused at step point {self.count}: {where}\n")
            sys.stderr.flush()
            time.sleep(3600)


def migrate(db: Database) -> list[int]:
    """Apply pending migrations under a lock; returns the versions applied (idempotent).

    Resumable: MySQL commits each DDL statement on its own, so a run killed half-way leaves
    some of a migration's tables. Each finished statement is recorded in ``schema_steps`` and
    each statement is skipped when its effect is already there, so the next run completes the
    migration instead of failing on ``table already exists``. SQLite runs each migration in one
    transaction (its DDL is transactional), with the same records.
    """
    version = current_version(db)
    if version > LATEST:
        raise SchemaError(f"database schema is version {version}, newer than this cctvctl "
                          f"understands ({LATEST}); upgrade cctvctl")
    wanted = {number for number, _, _ in MIGRATIONS}
    if wanted <= _applied(db):
        return []
    applied = []
    pauser = _Pauser()
    _bootstrap(db)
    with db.lock("migrate", timeout=120):
        done = _applied(db)
        for number, description, build in MIGRATIONS:
            if number in done:
                continue
            with db.atomic():
                finished = {int(s) for (s,) in db.query(
                    "SELECT step FROM schema_steps WHERE version = ?", (number,))}
                for step, stmt in enumerate(build(db), start=1):
                    if step in finished:
                        continue
                    if not _done(db, stmt):
                        db.execute(stmt)
                    pauser.point(f"migration {number} statement {step} run, not recorded")
                    db.execute("INSERT INTO schema_steps (version, step, applied_at) "
                               "VALUES (?, ?, ?)", (number, step, int(time.time())))
                pauser.point(f"migration {number} statements recorded, version not")
                db.execute("INSERT INTO schema_version (version, description, applied_at) "
                           "VALUES (?, ?, ?)", (number, description, int(time.time())))
                db.execute("DELETE FROM schema_steps WHERE version = ?", (number,))
            applied.append(number)
    return applied
