"""Run a whole write operation again when it lost a write conflict.

On a Galera cluster two nodes may commit conflicting transactions at once; certification lets
one win and fails the other at commit with error 1213, rolled back whole. Import, aggregation,
detection and undo are idempotent units, so running the unit again (a bounded number of times)
is safe: it is never half-applied, and the second run sees the winner's rows.
"""

from __future__ import annotations

import logging
import time
from typing import Callable, TypeVar

from cctvctl.errors import ConflictError

log = logging.getLogger(__name__)
T = TypeVar("T")
ATTEMPTS = 4


def retry_conflicts(db, fn: Callable[..., T], *args, **kwargs) -> T:
    """``fn(*args, **kwargs)``, run again after a ConflictError (not inside an outer
    transaction, whose other work would be lost), at most ATTEMPTS times in all."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return fn(*args, **kwargs)
        except ConflictError as exc:
            if db.in_transaction or attempt == ATTEMPTS:
                raise
            log.debug("write conflict (%s); running it again (%d/%d)", exc, attempt + 1, ATTEMPTS)
            time.sleep(0.05 * 2 ** attempt)
    raise AssertionError("unreachable")


def retrying_conflicts(fn: Callable[..., T]) -> Callable[..., T]:
    """Decorator: ``fn(db, …)`` is run again whole after a lost write conflict."""
    import functools

    @functools.wraps(fn)
    def run(db, *args, **kwargs):
        return retry_conflicts(db, fn, db, *args, **kwargs)
    return run
