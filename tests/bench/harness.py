"""Timing and memory measurement for the benchmarks: medians, ratios, peak RSS of a child."""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from dataclasses import asdict, dataclass, field
from typing import Callable


@dataclass
class Sample:
    seconds: float
    peak_rss_mb: float | None = None


@dataclass
class Result:
    case: str
    ours: str
    baseline: str
    seconds: float
    baseline_seconds: float | None
    ratio: float | None
    target: str
    peak_rss_mb: float | None
    runs: int
    note: str = ""
    samples: list = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def run_child(cmd: list[str], env: dict | None = None, stdin_path: str | None = None,
              check: bool = True) -> Sample:
    """Run a command; wall time and the child's own peak RSS (os.wait4, not cumulative)."""
    stdin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env={**os.environ, **(env or {})}, stdin=stdin,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if stdin_path:
        stdin.close()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: {err.strip()[-500:]}")
    return Sample(elapsed, usage.ru_maxrss / 1024)


def timed(fn: Callable[[], object]) -> Sample:
    start = time.perf_counter()
    fn()
    return Sample(time.perf_counter() - start)


def median_of(samples: list[Sample]) -> tuple[float, float | None]:
    secs = statistics.median(s.seconds for s in samples)
    rss = [s.peak_rss_mb for s in samples if s.peak_rss_mb is not None]
    return secs, (max(rss) if rss else None)


def compare(case: str, ours: str, baseline: str, target: str, runs: int,
            run_ours: Callable[[], Sample], run_base: Callable[[], Sample] | None,
            setup: Callable[[], None] | None = None, note: str = "") -> Result:
    """Alternate ours and the baseline ``runs`` times (same conditions), report medians."""
    mine, base = [], []
    for _ in range(runs):
        if setup:
            setup()
        mine.append(run_ours())
        if run_base:
            if setup:
                setup()
            base.append(run_base())
    secs, rss = median_of(mine)
    bsecs = median_of(base)[0] if base else None
    return Result(case, ours, baseline, round(secs, 3), round(bsecs, 3) if bsecs else None,
                  round(secs / bsecs, 2) if bsecs else None, target,
                  round(rss, 1) if rss is not None else None, runs, note,
                  [round(s.seconds, 3) for s in mine])
