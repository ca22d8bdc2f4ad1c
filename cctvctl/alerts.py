"""Alerts: each episode told once to each named consumer, never lost.

A consumer (``cron-mail``, ``pager``…) sees an episode once: :func:`pending` lists what it has
not been told, the caller delivers, then :func:`mark` records it in ``alert_marks``. Marking
after delivery means a crash in between re-sends an episode on the next run, never loses one.
Runs of the same database take the ``alerts`` lock, so two cron runs cannot both send.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass, field
from typing import Callable
from zoneinfo import ZoneInfo

from cctvctl.db.database import Database
from cctvctl.detect.episodes import Episode, dark_cameras, episodes
from cctvctl.errors import UsageError

LOCK_NAME = "alerts"
LOCK_TIMEOUT = 600
CONSUMER_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$")
#: a camera with no counts for this long is dark (cameras send a row every 5 minutes)
DEFAULT_DARK_AFTER_S = 3 * 3600
DEFAULT_LOOKBACK_DAYS = 7

MARKED = ("SELECT camera, metric, kind, start_utc FROM alert_marks "
          "WHERE consumer = ? AND start_utc >= ?")
MARK = ("INSERT INTO alert_marks (consumer, camera, metric, kind, start_utc, marked_at) "
        "VALUES (?, ?, ?, ?, ?, ?)")


def check_consumer(name: str) -> str:
    if not CONSUMER_PATTERN.match(name or ""):
        raise UsageError(f"--consumer {name!r} must be 1-80 letters, digits, '.', '_' or '-' "
                         "(starting with a letter or digit)")
    return name


def pending(db: Database, consumer: str, since_utc: int, now_utc: int,
            dark_after_s: int | None = DEFAULT_DARK_AFTER_S, method: str | None = None) -> list[Episode]:
    """Episodes starting in ``[since_utc, now_utc)`` (flagged runs, silent runs and, unless
    ``dark_after_s`` is None, dark cameras) that ``consumer`` has not been told."""
    check_consumer(consumer)
    found = episodes(db, since_utc, now_utc, method=method)
    if dark_after_s is not None:
        found += dark_cameras(db, now_utc, dark_after_s, since_utc)
    told = {(str(c), str(m), str(k), int(s)) for c, m, k, s in db.query(MARKED, (consumer, since_utc))}
    fresh = [e for e in found if e.key not in told]
    fresh.sort(key=lambda e: (e.start_utc, e.camera, e.metric, e.kind))
    return fresh


def mark(db: Database, consumer: str, told: list[Episode]) -> None:
    """Record that ``consumer`` has been told ``told`` (one transaction; already-marked skipped)."""
    if not told:
        return
    check_consumer(consumer)
    now = int(time.time())
    with db.atomic():
        since = min(e.start_utc for e in told)
        known = {(str(c), str(m), str(k), int(s)) for c, m, k, s in db.query(MARKED, (consumer, since))}
        rows = {e.key: (consumer, *e.key, now) for e in told if e.key not in known}
        db.executemany(MARK, list(rows.values()))


@dataclass
class AlertRun:
    """What one run found, delivered and failed to deliver (failures are retried next run)."""

    pending: list[Episode] = field(default_factory=list)
    delivered: list[Episode] = field(default_factory=list)
    failed: list[tuple[Episode, str]] = field(default_factory=list)


def run_alerts(db: Database, consumer: str, since_utc: int, now_utc: int,
               deliver: Callable[[list[Episode]], list[tuple[Episode, str | None]]],
               dark_after_s: int | None = DEFAULT_DARK_AFTER_S) -> AlertRun:
    """Under the ``alerts`` lock: find what ``consumer`` was not told, ``deliver`` it, mark what
    was delivered. ``deliver`` returns ``(episode, error or None)`` per episode, marking as it
    goes is the caller's choice; here marks follow each delivered batch."""
    run = AlertRun()
    with db.lock(LOCK_NAME, LOCK_TIMEOUT):
        run.pending = pending(db, consumer, since_utc, now_utc, dark_after_s)
        if not run.pending:
            return run
        for episode, error in deliver(run.pending):
            if error is None:
                mark(db, consumer, [episode])
                run.delivered.append(episode)
            else:
                run.failed.append((episode, error))
    return run


def exec_delivery(command: str, tz: ZoneInfo, timeout_s: float, consumer: str):
    """A ``deliver`` that runs ``command`` (through /bin/sh) once per episode with the episode's
    JSON on stdin; exit 0 within ``timeout_s`` is delivered, anything else is retried next run."""
    def deliver(found: list[Episode]):
        for episode in found:
            record = episode.as_record(tz)
            payload = json.dumps({**record, "consumer": consumer}, ensure_ascii=True) + "\n"
            yield episode, _run_hook(command, payload, timeout_s)
    return deliver


def _run_hook(command: str, payload: str, timeout_s: float) -> str | None:
    env = {k: v for k, v in os.environ.items() if not k.endswith("PASSWORD")}  # no secrets to hooks
    try:
        proc = subprocess.Popen(["/bin/sh", "-c", command], stdin=subprocess.PIPE, env=env,
                                start_new_session=True)
    except OSError as exc:
        return f"could not start the --exec command: {exc.strerror}"
    try:
        proc.communicate(payload.encode(), timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return f"the --exec command did not finish within {timeout_s:g} s (killed)"
    except BrokenPipeError:
        proc.wait()
    if proc.returncode != 0:
        return f"the --exec command exited with {proc.returncode}"
    return None
