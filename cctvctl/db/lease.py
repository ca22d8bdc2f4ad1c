"""Run locks on a Galera cluster: a committed lease row, kept alive by a heartbeat.

On one server a run lock is a row held locked by an open transaction (``Database._row_lock``).
On Galera that holds on one node only: row locks are not replicated, a writer on another node
updates the same row and wins at commit. A lease is *committed*: taking it is an UPDATE of the
``run_locks`` row that only matches a free or stale lease, and two nodes taking it at once
conflict in certification, so exactly one commit succeeds (the other gets error 1213 and looks
again). The holder refreshes ``acquired_at`` every HEARTBEAT_S seconds from a thread with its own
connection; a lease not refreshed for STALE_S seconds (its process or node died) may be taken
over — ages are measured by the server's clock, never a client's. Every transaction of the
holder re-checks its lease just before commit (``fence``), so a run that lost it writes nothing.
Release clears the holder.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid

from cctvctl.errors import DatabaseError, LockTimeout

log = logging.getLogger(__name__)

HEARTBEAT_S = 5
STALE_S = 30

ENSURE = "INSERT IGNORE INTO run_locks (name, holder, acquired_at) VALUES (%s, '', 0)"
# Staleness is judged on one clock, the server's: a client whose clock is off can neither take a
# live lease nor write an age others misread. A beat always changes the row (GREATEST … + 1), so
# its affected-row count says whether the lease is still ours even twice in one second.
TAKE = ("UPDATE run_locks SET holder = %s, acquired_at = UNIX_TIMESTAMP() WHERE name = %s "
        "AND (holder = '' OR acquired_at < UNIX_TIMESTAMP() - %s)")
BEAT = ("UPDATE run_locks SET acquired_at = GREATEST(acquired_at + 1, UNIX_TIMESTAMP()) "
        "WHERE name = %s AND holder = %s")
FREE = "UPDATE run_locks SET holder = '', acquired_at = 0 WHERE name = %s AND holder = %s"
HOLDER = "SELECT holder FROM run_locks WHERE name = %s"


class Lease:
    def __init__(self, db, name: str, conn, holder: str):
        self.db, self.name, self.conn, self.holder = db, name, conn, holder
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"cctvctl-lease-{name}", daemon=True)
        self._thread.start()

    @classmethod
    def take(cls, db, name: str, timeout: float) -> "Lease":
        import pymysql

        holder = f"{uuid.uuid4().hex[:12]} pid {os.getpid()} on {os.uname().nodename}"[:255]
        deadline = time.monotonic() + timeout
        conn = db.opener()
        try:
            with conn.cursor() as cur:
                conn.autocommit(True)
                while True:
                    try:
                        cur.execute(ENSURE, (name,))
                        cur.execute(TAKE, (holder, name, STALE_S))
                        if cur.rowcount == 1:
                            return cls(db, name, conn, holder)
                    except pymysql.err.MySQLError as exc:
                        code = exc.args[0] if exc.args else None
                        if code == 1213:  # lost the race in certification: look again
                            log.debug("lease %s: certification conflict, retrying", name)
                        elif code in (1142, 1143):
                            raise DatabaseError(f"MySQL error on {db.url.where}: this account may "
                                                f"not take cctvctl's {name!r} lock (INSERT, UPDATE "
                                                "on `run_locks`, see `cctvctl db grants`)") from None
                        else:
                            raise DatabaseError(f"MySQL error on {db.url.where}: {exc.args[-1]}") from None
                    if time.monotonic() >= deadline:
                        cur.execute(HOLDER, (name,))
                        row = cur.fetchone()
                        raise LockTimeout(f"another cctvctl run holds the {name!r} lock on the "
                                          f"cluster ({row[0] if row else '?'}; waited {int(timeout)} s)")
                    time.sleep(0.2)
        except BaseException:
            conn.close()
            raise

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            try:
                with self.conn.cursor() as cur:
                    cur.execute(BEAT, (self.name, self.holder))
                    if cur.rowcount == 0:
                        log.warning("the %r lease was taken over (this run stalled > %s s)",
                                    self.name, STALE_S)
            except Exception as exc:  # a failing node: the lease goes stale, others take over
                log.debug("lease heartbeat failed: %s", exc)

    def fence(self, db) -> None:
        """Inside the holder's own transaction, just before it commits: prove the lease is still
        ours. The beat is a write to the lease row, so a takeover on another node and this
        commit conflict in certification: a run that stalled past STALE_S and lost its lease
        writes nothing, instead of running beside the run that took over."""
        if db.execute(BEAT.replace("%s", "?"), (self.name, self.holder)) == 0:
            raise DatabaseError(f"this run lost its {self.name!r} lease to another run (it stalled "
                                f"more than {STALE_S} s): nothing of it was written; run it again")

    def release(self) -> None:
        self._stop.set()
        self._thread.join(timeout=HEARTBEAT_S + 5)
        try:
            with self.conn.cursor() as cur:
                for _ in range(5):
                    try:
                        cur.execute(FREE, (self.name, self.holder))
                        break
                    except Exception:
                        time.sleep(0.2)
        finally:
            try:
                self.conn.close()
            except Exception:
                pass
