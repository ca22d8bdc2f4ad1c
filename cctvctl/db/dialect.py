"""Every difference between SQLite and MySQL/MariaDB, in one place.

The rest of the code writes SQL with ``?`` placeholders and portable syntax; a dialect turns
placeholders into the driver's style and builds the few statements that differ (upserts, DDL
options, keys chosen per engine).
"""

from __future__ import annotations

import re
from functools import lru_cache

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def ident(name: str) -> str:
    """Identifiers are never user strings; this guards that promise."""
    if not _IDENT.match(name):
        raise ValueError(f"not a safe SQL identifier: {name!r}")
    return name


class Dialect:
    name = "base"
    #: extra words after CREATE TABLE (...), e.g. WITHOUT ROWID or ENGINE=InnoDB
    table_options = ""
    #: column definition of an auto-increment integer primary key
    autoinc_pk = ""
    #: key columns and secondary indexes of the counts table, chosen per engine (DESIGN §3)
    counts_primary_key = "camera, start_utc"
    counts_secondary_index: str | None = None
    #: the counts key starts with time: many cameras' rows of one time range are one range of
    #: the table, read by one query (camera first: one query per camera reads its own range)
    time_first_counts = False
    #: every camera in counts, answered from an index (not a scan of all rows)
    cameras_sql = "SELECT DISTINCT camera FROM counts"
    #: at most this many groups per GROUP BY query (None: no limit); statistics queries are
    #: cut into time pieces below it (see cctvctl.stats.moments._bucket_rows)
    max_groups: int | None = None
    #: statistics queries over a time range name every camera (camera-first key: a seek per
    #: camera, where a bare time range would scan the whole table)
    name_cameras = False
    #: statistics scans may drive the GROUP BY from small ordered temporary tables (cameras,
    #: local buckets as UTC ranges) so the groups arrive sorted (see cctvctl.stats.moments)
    sort_free_scan = False
    #: statistics scans return a group's figures as one CONCAT_WS text (a driver that decodes
    #: every field in Python pays per field; see cctvctl.stats.moments.PACKED_MOMENTS_SQL)
    packed_scan = False
    #: CREATE TABLE options of a table that keeps SQLite's row id (no WITHOUT ROWID; on MySQL
    #: the same engine and character set as every table)
    plain_table_options = ""
    #: the id the last INSERT gave an auto-increment key, on this connection
    last_id_sql = ""
    #: statements that refresh the query planner's statistics after a large write
    analyze_statements: tuple[str, ...] = ()
    #: a session setting run once before :meth:`packed_concat` texts are read (None: none needed)
    long_concat_session: str | None = None
    #: the server has accounts and grants (``cctvctl db grants --apply``)
    accounts = False
    #: the engine may have JSON table functions for :meth:`json_insert_ignore` (whether this
    #: build does is asked of the connection: ``Database.json_rows``)
    json_functions = False

    def sql(self, statement: str) -> str:
        return statement

    def packed_concat(self, fields: list[str]) -> str:
        """An aggregate joining ``fields`` of every row of a group into one comma-separated
        text (numpy parses it in C; see cctvctl.detect.source)."""
        raise NotImplementedError

    def json_insert_ignore(self, table: str, head: list[str], from_json: list[str],
                           tail: list[str]) -> str | None:
        """One INSERT of many rows given as one JSON array of arrays (the last ``?``), the
        ``head`` and ``tail`` columns bound once around it, existing keys skipped; None where
        the engine has no JSON table function."""
        return None

    def bulk_insert_ignore(self, table: str, targets: list[str], sets: str = "") -> str | None:
        """A statement loading a tab-separated file without escapes (its path the one ``?``,
        run with ``Database.load_file``) into ``table``, rows with an existing key skipped;
        ``targets`` are columns or ``@variables`` and ``sets`` an optional ``SET …`` clause
        over them. None where the engine has no bulk path."""
        return None

    def upsert(self, table: str, columns: list[str], keys: list[str]) -> str:
        raise NotImplementedError

    def insert_ignore(self, table: str, columns: list[str]) -> str:
        raise NotImplementedError

    def bulk_replace(self, table: str, columns: list[str]) -> str | None:
        """A statement loading a file (its path the one ``?`` parameter, run with
        ``Database.load_file``) into ``table`` through the server's bulk path, rows with an
        existing key replaced; None where there is none. The file is tab-separated, one row a
        line, ``\\N`` for NULL, backslashes in text doubled; only a file cctvctl wrote for the
        statement may be named (see local_infile.py)."""
        return None


class SqliteDialect(Dialect):
    name = "sqlite"
    table_options = " WITHOUT ROWID"
    autoinc_pk = "INTEGER PRIMARY KEY AUTOINCREMENT"  # ids never reused: watermarks rely on it
    counts_primary_key = "camera, start_utc"
    counts_secondary_index = None
    name_cameras = True
    sort_free_scan = True
    # DISTINCT scans the whole table here; a recursive CTE seeks camera by camera instead.
    cameras_sql = ("WITH RECURSIVE cams(camera) AS (SELECT MIN(camera) FROM counts UNION ALL "
                   "SELECT (SELECT MIN(c.camera) FROM counts c WHERE c.camera > cams.camera) "
                   "FROM cams WHERE cams.camera IS NOT NULL) "
                   "SELECT camera FROM cams WHERE camera IS NOT NULL")
    last_id_sql = "SELECT last_insert_rowid()"
    json_functions = True
    # fresh planner statistics (DESIGN §3: a one-day scan 66 ms → 15 ms); sampled, so
    # milliseconds even on a large table
    analyze_statements = ("PRAGMA analysis_limit = 1000", "ANALYZE")

    def packed_concat(self, fields):
        return "group_concat(" + " || ',' || ".join(fields) + ", ',')"

    def json_insert_ignore(self, table, head, from_json, tail):
        picks = ", ".join(f"json_extract(value, '$[{i}]')" for i in range(len(from_json)))
        cols = ", ".join(ident(c) for c in head + from_json + tail)
        bound = ["?" for _ in head] + [picks] + ["?" for _ in tail]
        return (f"INSERT OR IGNORE INTO {ident(table)} ({cols}) "
                f"SELECT {', '.join(b for b in bound if b)} FROM json_each(?)")

    def upsert(self, table, columns, keys):
        cols = ", ".join(ident(c) for c in columns)
        marks = ", ".join("?" for _ in columns)
        updates = ", ".join(f"{ident(c)} = excluded.{ident(c)}" for c in columns if c not in keys)
        conflict = ", ".join(ident(k) for k in keys)
        return (f"INSERT INTO {ident(table)} ({cols}) VALUES ({marks}) "
                f"ON CONFLICT ({conflict}) DO UPDATE SET {updates}")

    def insert_ignore(self, table, columns):
        cols = ", ".join(ident(c) for c in columns)
        marks = ", ".join("?" for _ in columns)
        return f"INSERT OR IGNORE INTO {ident(table)} ({cols}) VALUES ({marks})"


class MysqlDialect(Dialect):
    name = "mysql"
    table_options = " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
    autoinc_pk = "BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY"
    # The nightly one-day scan stays flat with time first; one camera's range uses the index.
    counts_primary_key = "start_utc, camera"
    counts_secondary_index = "camera, start_utc"
    time_first_counts = True
    # A GROUP BY keeps its groups in an in-memory temporary table of at most tmp_table_size
    # (16 MB by default, ~400 bytes a group here) and spills to disk beyond it, 3× slower.
    max_groups = 20_000
    packed_scan = True
    plain_table_options = table_options
    last_id_sql = "SELECT LAST_INSERT_ID()"
    #: MySQL's default GROUP_CONCAT limit, 1 KiB, would cut the text
    long_concat_session = "SET SESSION group_concat_max_len = 1073741824"
    accounts = True

    def packed_concat(self, fields):
        return "GROUP_CONCAT(CONCAT_WS(',', " + ", ".join(fields) + ") SEPARATOR ',')"

    def bulk_insert_ignore(self, table, targets, sets=""):
        names = ", ".join(t if t.startswith("@") and ident(t[1:]) else ident(t) for t in targets)
        return (f"LOAD DATA LOCAL INFILE ? IGNORE INTO TABLE {ident(table)} CHARACTER SET utf8mb4 "
                f"{LOAD_DATA_RAW_FORMAT} ({names}){sets}")

    def sql(self, statement: str) -> str:
        return _to_format_style(statement)

    def upsert(self, table, columns, keys):
        cols = ", ".join(ident(c) for c in columns)
        marks = ", ".join("?" for _ in columns)
        updates = ", ".join(f"{ident(c)} = VALUES({ident(c)})" for c in columns if c not in keys)
        return (f"INSERT INTO {ident(table)} ({cols}) VALUES ({marks}) "
                f"ON DUPLICATE KEY UPDATE {updates}")

    def bulk_replace(self, table, columns):
        # REPLACE = delete and insert: the same as an upsert when every column is written.
        return (f"LOAD DATA LOCAL INFILE ? REPLACE INTO TABLE {ident(table)} "
                f"CHARACTER SET utf8mb4 {LOAD_DATA_FORMAT} ({', '.join(ident(c) for c in columns)})")

    def insert_ignore(self, table, columns):
        # Not INSERT IGNORE: that would also swallow truncation and range errors.
        cols = ", ".join(ident(c) for c in columns)
        marks = ", ".join("?" for _ in columns)
        # a no-op update of the last column (counts: import_id), never of a key column: the
        # ingest account may update the value columns of counts only
        last = ident(columns[-1])
        return (f"INSERT INTO {ident(table)} ({cols}) VALUES ({marks}) "
                f"ON DUPLICATE KEY UPDATE {last} = {last}")


#: LOAD DATA's separators as hex literals: '\\t' is a two-character string when the session
#: has NO_BACKSLASH_ESCAPES, X'09' is a tab in every sql_mode (escape character: backslash)
LOAD_DATA_FORMAT = "FIELDS TERMINATED BY X'09' ESCAPED BY X'5C' LINES TERMINATED BY X'0A'"
#: the same without an escape character (the counts file has no backslash escapes)
LOAD_DATA_RAW_FORMAT = "FIELDS TERMINATED BY X'09' ESCAPED BY '' LINES TERMINATED BY X'0A'"


@lru_cache(maxsize=512)
def _to_format_style(statement: str) -> str:
    return statement.replace("%", "%%").replace("?", "%s")


def dialect_for(backend: str) -> Dialect:
    return {"sqlite": SqliteDialect, "mysql": MysqlDialect}[backend]()


def mysql_reason(exc: Exception, password: str | None = None) -> str:
    """The server's own words for an error, with any secret blanked out."""
    args = getattr(exc, "args", ())
    text = str(args[1]) if len(args) >= 2 else str(exc)
    if password:
        text = text.replace(password, "***")
    return text
