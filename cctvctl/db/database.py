"""One object owns the connection, its transactions, its locks and closing it.

SQL is written with ``?`` placeholders; the dialect adapts it. Statements are logged at debug
level (never their values, which may be bulk rows).
"""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
import time
from contextlib import contextmanager
from typing import Any, Iterable, Iterator, Sequence

from cctvctl.errors import DatabaseError, LockTimeout

log = logging.getLogger(__name__)


class Database:
    def __init__(self, conn, dialect, url):
        self.conn = conn
        self.dialect = dialect
        self.url = url
        self._depth = 0
        self._locks: dict[str, Any] = {}

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
            try:
                self.conn.rollback()
            except Exception:
                pass
            raise
        else:
            self._depth = 0
            with self._errors():
                self.conn.commit()

    @property
    def in_transaction(self) -> bool:
        return self._depth > 0

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
        if self.backend == "mysql":
            key = f"cctvctl.{self.url.database}.{name}"[:64]
            got = self.scalar("SELECT GET_LOCK(?, ?)", (key, int(timeout)))
            if got != 1:
                raise LockTimeout(f"another cctvctl run holds the {name!r} lock on "
                                  f"{self.url.where} (waited {int(timeout)} s)")
            self._locks[name] = key
            return
        path = self.url.path
        if not path or path == ":memory:":
            self._locks[name] = None
            return
        fh = open(f"{path}.{name}.lock", "a+")
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

    def release_lock(self, name: str) -> None:
        handle = self._locks.pop(name, None)
        if handle is None:
            return
        if self.backend == "mysql":
            try:
                self.scalar("SELECT RELEASE_LOCK(?)", (handle,))
            except DatabaseError:
                pass  # the connection is gone, and with it the lock
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
                from cctvctl.db.connect import mysql_reason

                password = os.environ.get("CCTV_DB_PASSWORD")
                raise DatabaseError(f"MySQL error on {self.url.where}: "
                                    f"{mysql_reason(exc, password)}") from exc
            raise
