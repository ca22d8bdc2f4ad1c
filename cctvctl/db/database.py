"""One object owns the connection, its transactions, its locks and closing it.

SQL is written with ``?`` placeholders; the dialect adapts it. Statements are logged at debug
level (never their values, which may be bulk rows).
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Sequence

from cctvctl.errors import ConflictError, DatabaseError, LockTimeout

log = logging.getLogger(__name__)


@dataclass
class LoadResult:
    """What the server reports for one LOAD DATA statement."""

    affected: int
    records: int | None  # lines it read (None where the server did not say)
    warnings: int
    first_warnings: list[str] = field(default_factory=list)

    def check(self, path: str, sent: int, skipped_ok: bool = False) -> None:
        """Raise unless the server read exactly ``sent`` lines and warned about nothing but
        (with ``skipped_ok``, LOAD DATA … IGNORE) the keys it skipped as already stored."""
        skipped = max(0, sent - self.affected) if skipped_ok else 0
        if (self.records is not None and self.records != sent) or self.warnings > skipped:
            detail = "; ".join(self.first_warnings) or "no warning text"
            raise DatabaseError(
                f"LOAD DATA read {self.records} line(s) of the {sent} cctvctl wrote to {path} with "
                f"{self.warnings} warning(s) ({detail}): nothing of it is kept; check the server's "
                "sql_mode and character set")


class Savepoint:
    """The handle :meth:`Database.savepoint` yields."""

    def __init__(self, db: "Database", name: str):
        self.db = db
        self.name = name

    def rollback(self) -> None:
        """Undo every write since the savepoint; the savepoint stays (released at the end)."""
        self.db.execute(f"ROLLBACK TO SAVEPOINT {self.name}")


class Database:
    def __init__(self, conn, dialect, url, opener=None):
        self.conn = conn
        #: opens another connection with the same credentials (MySQL run locks hold their own)
        self.opener = opener
        self.cluster = False  # a Galera node (set by connect): run locks are leases, reads causal
        self.dialect = dialect
        self.url = url
        self._depth = 0
        self._locks: dict[str, Any] = {}
        self._json_rows: bool | None = None
        self._long_concat = False
        self._may: dict[str, bool] = {}

    # -- basics ---------------------------------------------------------------------------
    @property
    def backend(self) -> str:
        return self.dialect.name

    def __enter__(self) -> "Database":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        for name in list(self._locks):
            self.release_lock(name)
        try:
            self.conn.close()
        except Exception:  # closing a dead connection is not an error worth reporting
            pass

    def execute(self, sql: str, params: Sequence = ()) -> int:
        """Run one statement; returns the affected row count."""
        with self._errors():
            cur = self.conn.cursor()
            try:
                log.debug("SQL %s", sql)
                cur.execute(self.dialect.sql(sql), tuple(params))
                return cur.rowcount
            finally:
                cur.close()

    def executemany(self, sql: str, rows: Iterable[Sequence]) -> int:
        rows = rows if isinstance(rows, list) else list(rows)
        if not rows:
            return 0
        with self._errors():
            cur = self.conn.cursor()
            try:
                log.debug("SQL×%d %s", len(rows), sql)
                cur.executemany(self.dialect.sql(sql), rows)
                return cur.rowcount
            finally:
                cur.close()

    def load_file(self, sql: str, path: str, params: Sequence = ()) -> LoadResult:
        """Run a ``LOAD DATA LOCAL INFILE ?`` statement that sends ``path`` (MySQL only).

        The path is a bound parameter, never pasted into the SQL (a TMPDIR holding ``'`` or
        ``\\`` must not break, or inject into, the statement). Returns what the server says it
        did — lines read, rows affected, warnings — for the caller to check against what it sent.
        """
        from cctvctl.db import local_infile

        with self._errors(), local_infile.allow(self.conn, path):
            cur = self.conn.cursor()
            try:
                log.debug("SQL %s", sql)
                cur.execute(self.dialect.sql(sql), tuple(params))
                message = getattr(getattr(cur, "_result", None), "message", b"") or b""
                if isinstance(message, bytes):
                    message = message.decode("utf-8", "replace")
                records = re.search(r"Records:\s*(\d+)", message)
                result = LoadResult(cur.rowcount, int(records[1]) if records else None,
                                    int(cur.warning_count or 0))
            finally:
                cur.close()
            if result.warnings:
                result.first_warnings = [f"{code}: {text}" for _, code, text in
                                         self.query("SHOW WARNINGS LIMIT 3")]
            return result

    def query(self, sql: str, params: Sequence = ()) -> list[tuple]:
        with self._errors():
            cur = self.conn.cursor()
            try:
                log.debug("SQL %s", sql)
                cur.execute(self.dialect.sql(sql), tuple(params))
                return [tuple(r) for r in cur.fetchall()]
            finally:
                cur.close()

    def query_one(self, sql: str, params: Sequence = ()) -> tuple | None:
        rows = self.query(sql, params)
        return rows[0] if rows else None

    def scalar(self, sql: str, params: Sequence = ()) -> Any:
        row = self.query_one(sql, params)
        return row[0] if row else None

    def table_exists(self, table: str) -> bool:
        if self.backend == "sqlite":
            sql = "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?"
        else:
            sql = ("SELECT COUNT(*) FROM information_schema.tables "
                   "WHERE table_schema = DATABASE() AND table_name = ?")
        return bool(self.scalar(sql, (table,)))

    def index_exists(self, table: str | None, index: str) -> bool:
        if self.backend == "sqlite":
            sql, params = "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = ?", (index,)
        else:
            sql = ("SELECT COUNT(*) FROM information_schema.statistics WHERE table_schema = DATABASE() "
                   "AND index_name = ?" + (" AND table_name = ?" if table else ""))
            params = (index, table) if table else (index,)
        return bool(self.scalar(sql, params))

    def column_exists(self, table: str, column: str) -> bool:
        if self.backend == "sqlite":
            from cctvctl.db.dialect import ident

            return any(row[1] == column for row in self.query(f"PRAGMA table_info({ident(table)})"))
        return bool(self.scalar("SELECT COUNT(*) FROM information_schema.columns WHERE "
                                "table_schema = DATABASE() AND table_name = ? AND column_name = ?",
                                (table, column)))

    # -- transactions ---------------------------------------------------------------------
    @contextmanager
    def atomic(self) -> Iterator["Database"]:
        """All or nothing. Nested blocks join the outer transaction.

        On SQLite the transaction takes the write lock up front (BEGIN IMMEDIATE), which
        serialises writers instead of failing one of them half-way.
        """
        if self._depth:
            self._depth += 1
            try:
                yield self
            finally:
                self._depth -= 1
            return
        with self._errors():
            if self.backend == "sqlite":
                self.conn.execute("BEGIN IMMEDIATE")
            else:
                self.conn.begin()
        self._depth = 1
        try:
            yield self
        except BaseException:
            self._depth = 0
            self._rollback_quietly()
            raise
        else:
            self._depth = 0
            try:
                for held in list(self._locks.values()):
                    if hasattr(held, "fence"):  # a cluster lease: still ours, in this transaction
                        held.fence(self)
                with self._errors():
                    self.conn.commit()
            except BaseException:  # also a failed COMMIT: SQLite keeps the transaction open
                self._rollback_quietly()  # after one (a deferred constraint); end it
                raise

    def _rollback_quietly(self) -> None:
        try:
            self.conn.rollback()
        except Exception:
            pass

    @property
    def in_transaction(self) -> bool:
        return self._depth > 0

    @contextmanager
    def waiting_at_most(self, seconds: int) -> Iterator[None]:
        """Statements in the block wait at most ``seconds`` for another writer's lock (SQLite's
        busy timeout, InnoDB's lock wait), then fail: for writes that may be skipped when busy."""
        if self.backend == "sqlite":
            self.conn.execute(f"PRAGMA busy_timeout = {int(seconds) * 1000}")
            restore = "PRAGMA busy_timeout = 60000"
        else:
            old = self.scalar("SELECT @@SESSION.innodb_lock_wait_timeout")
            self.execute(f"SET SESSION innodb_lock_wait_timeout = {max(1, int(seconds))}")
            restore = f"SET SESSION innodb_lock_wait_timeout = {int(old)}"
        try:
            yield
        finally:
            try:
                self.execute(restore)
            except Exception:
                pass

    @contextmanager
    def savepoint(self, name: str) -> Iterator["Savepoint"]:
        """A step inside the current transaction that can be undone alone: SAVEPOINT, then
        RELEASE when the block ends, ROLLBACK TO (and RELEASE) when it raises — the work
        before the savepoint stays. ``rollback()`` on the handle undoes the step's writes
        early and keeps the block going (the savepoint is still released at its end).

        The only place savepoint SQL is written (one spelling serves SQLite and MySQL)."""
        from cctvctl.db.dialect import ident

        point = Savepoint(self, "cctv_" + ident(name))  # never a reserved word (OUTER, …)
        self.execute(f"SAVEPOINT {point.name}")
        try:
            yield point
        except BaseException:
            try:
                point.rollback()
                self.execute(f"RELEASE SAVEPOINT {point.name}")
            except DatabaseError:
                pass  # the error took the transaction with it; the caller's atomic() ends it
            raise
        self.execute(f"RELEASE SAVEPOINT {point.name}")

    # -- what this connection can do --------------------------------------------------------
    @property
    def local_infile(self) -> bool:
        """Whether the connection may send ``LOAD DATA LOCAL INFILE`` (a MySQL connection
        opened with it; the server may still refuse, see cctvctl.db.local_infile)."""
        return bool(getattr(self.conn, "_local_infile", False))  # PyMySQL keeps it private

    @property
    def json_rows(self) -> bool:
        """Whether :meth:`Dialect.json_insert_ignore` runs here: SQLite's JSON functions are
        built in since 3.38 and in most builds before (asked once per connection)."""
        if self._json_rows is None:
            ok = self.dialect.json_functions
            if ok:
                try:
                    ok = self.scalar("SELECT json_valid('[1]')") == 1
                except DatabaseError:
                    ok = False
            self._json_rows = ok
        return self._json_rows

    def last_insert_id(self) -> int:
        """The id the last INSERT on this connection gave an auto-increment key."""
        return int(self.scalar(self.dialect.last_id_sql))

    def refresh_planner_statistics(self) -> None:
        """Fresh statistics for the query planner after a large write (where it keeps them)."""
        for statement in self.dialect.analyze_statements:
            self.execute(statement)

    def may(self, probe: str) -> bool:
        """Whether this account may run ``probe`` (a statement that changes nothing, e.g.
        ``DELETE FROM t WHERE 1 = 0``): a privilege refusal answers False, any other error is
        raised; always True where the engine has no accounts. Asked once per connection."""
        if not self.dialect.accounts:
            return True
        if probe not in self._may:
            try:
                self.execute(probe)  # refused before it runs: the transaction is untouched
                self._may[probe] = True
            except DatabaseError as exc:
                if getattr(exc, "code", None) not in (1142, 1143):  # table/column access denied
                    raise
                self._may[probe] = False
        return self._may[probe]

    def allow_long_concat(self) -> None:
        """Before reading :meth:`Dialect.packed_concat` texts: lift the session's length cap
        (once per connection)."""
        if self.dialect.long_concat_session and not self._long_concat:
            self.execute(self.dialect.long_concat_session)
            self._long_concat = True

    # -- locks ----------------------------------------------------------------------------
    @contextmanager
    def lock(self, name: str, timeout: float = 600) -> Iterator[None]:
        """A cross-process lock named ``name``: MySQL GET_LOCK, or a lock file beside SQLite."""
        self.acquire_lock(name, timeout)
        try:
            yield
        finally:
            self.release_lock(name)

    def acquire_lock(self, name: str, timeout: float) -> None:
        if self.backend == "mysql" and self.cluster and name != "migrate":
            from cctvctl.db.lease import Lease

            self._locks[name] = Lease.take(self, name, timeout)
            return
        if self.backend == "mysql":
            self._locks[name] = self._row_lock(name, timeout)
            return
        path = self.url.path
        if not path or path == ":memory:":
            self._locks[name] = None
            return
        fh = _open_lock_file(f"{path}.{name}.lock")
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    fh.close()
                    raise LockTimeout(f"another cctvctl run holds the {name!r} lock on {path} "
                                      f"(waited {int(timeout)} s)") from None
                time.sleep(0.05)
        self._locks[name] = fh

    def _row_lock(self, name: str, timeout: float):
        """MySQL: the lock is a row held locked by an open transaction on a connection of its own.

        Not GET_LOCK: any account, even a SELECT-only one, can take a GET_LOCK name and stall
        every import. Locking this row needs UPDATE on ``run_locks`` (``schema_steps`` for
        migrations), which only the writing accounts have. The row is released by rolling
        back, or by the server when the connection dies with the process.
        """
        import pymysql

        table, key_cols, key = _LOCK_ROWS.get(name, _LOCK_ROWS[None])
        key = key if key is not None else (name,)
        ensure_cols, ensure_vals, sets, sets_params = _lock_row_sql(table, key_cols, key)
        ensure = self.dialect.sql(self.dialect.insert_ignore(table, ensure_cols))
        where = " AND ".join(f"{c} = ?" for c in key_cols)
        exists = self.dialect.sql(f"SELECT COUNT(*) FROM {table} WHERE {where}")
        lock = self.dialect.sql(f"UPDATE {table} SET {sets} WHERE {where}")
        deadline = time.monotonic() + timeout
        conn = self.opener()
        try:
            with self._errors():
                cur = conn.cursor()
                cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
                while True:
                    try:
                        conn.autocommit(True)
                        wait = max(1, int(deadline - time.monotonic() + 0.999))
                        cur.execute(f"SET SESSION innodb_lock_wait_timeout = {wait}")
                        # The row must exist (committed): locking it is then an UPDATE of it.
                        # Looked up first with a plain read: inserting over a held row would wait.
                        cur.execute(exists, tuple(key))
                        if not cur.fetchone()[0]:
                            cur.execute(ensure, ensure_vals)
                        conn.autocommit(False)
                        conn.begin()
                        cur.execute(lock, sets_params() + tuple(key))  # rowcount: rows matched
                    except pymysql.err.MySQLError as exc:
                        code = exc.args[0] if exc.args else None
                        conn.rollback()
                        if code == 1205 or (code == 1213 and time.monotonic() >= deadline):
                            raise LockTimeout(f"another cctvctl run holds the {name!r} lock on "
                                              f"{self.url.where} (waited {int(timeout)} s)") from None
                        if code == 1213:  # a deadlock victim among waiters: try again
                            continue
                        if code in (1142, 1143):
                            from cctvctl.db.dialect import mysql_reason

                            raise DatabaseError(
                                f"MySQL error on {self.url.where}: this account may not take "
                                f"cctvctl's {name!r} lock (INSERT, UPDATE on `{table}`, see "
                                f"`cctvctl db grants`): {mysql_reason(exc)}") from None
                        if code == 1146:
                            raise DatabaseError(
                                f"MySQL error on {self.url.where}: no `{table}` table for cctvctl's "
                                f"locks: run `cctvctl db init` with the administrator's account") from None
                        raise
                    if cur.rowcount:
                        return conn
                    conn.rollback()  # the row vanished between the insert and the update
        except BaseException:
            try:
                conn.close()
            except Exception:
                pass
            raise

    def release_lock(self, name: str) -> None:
        handle = self._locks.pop(name, None)
        if handle is None:
            return
        if hasattr(handle, "release"):  # a cluster lease
            handle.release()
            return
        if self.backend == "mysql":
            conn = handle
            try:
                conn.rollback()
            except Exception:
                pass  # the connection is gone, and with it the lock
            try:
                conn.close()
            except Exception:
                pass
        else:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
            finally:
                handle.close()

    # -- errors ---------------------------------------------------------------------------
    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Driver exceptions become one-line DatabaseErrors that name where, never secrets."""
        try:
            yield
        except sqlite3.Error as exc:
            raise DatabaseError(f"SQLite error on {self.url.path}: {exc}") from exc
        except Exception as exc:
            if type(exc).__module__.startswith("pymysql"):
                from cctvctl.db.dialect import mysql_reason

                password = os.environ.get("CCTV_DB_PASSWORD")
                code = exc.args[0] if exc.args else None
                kind = ConflictError if code == 1213 else DatabaseError
                err = kind(f"MySQL error on {self.url.where}: {mysql_reason(exc, password)}")
                err.code = code
                raise err from exc
            raise


#: lock name → (table, key columns, key values); None: any other name, a row of run_locks
_LOCK_ROWS = {
    "migrate": ("schema_steps", ("version", "step"), (0, 0)),
    None: ("run_locks", ("name",), None),
}


def _lock_row_sql(table: str, key_cols: tuple, key: tuple):
    """(columns, values) that create the lock row, the SET clause and its parameters."""
    if table == "schema_steps":
        return (list(key_cols) + ["applied_at"], tuple(key) + (0,), "applied_at = ?",
                lambda: (int(time.time()),))
    return (list(key_cols) + ["holder", "acquired_at"], tuple(key) + ("", 0),
            "holder = ?, acquired_at = ?",
            lambda: (f"pid {os.getpid()} on {os.uname().nodename}"[:255], int(time.time())))


def _open_lock_file(name: str):
    """The SQLite lock file beside the database: created or opened, never through a planted
    symbolic link (it is only locked, never written)."""
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(name, flags, 0o644)
    except OSError as exc:
        raise DatabaseError(f"cannot open the lock file {name}: {exc.strerror or exc} "
                            "(a symbolic link or another non-file is in its place?)") from None
    return os.fdopen(fd, "a+")
