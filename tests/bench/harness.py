"""Timing and memory measurement for the benchmarks: medians, ratios, peak RSS of a child."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from typing import Callable


@dataclass
class Sample:
    seconds: float
    peak_rss_mb: float | None = None
    stdout: str = ""


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
    baseline_samples: list = field(default_factory=list)
    #: True/False when the case has a numeric target (ratio or RSS), None otherwise
    met: bool | None = None

    def as_dict(self) -> dict:
        return asdict(self)


#: GNU time starts the command from its own small process. A child forked straight from this
#: (large, pandas-laden) process reports max(our RSS at fork, its own): Linux carries the
#: forking process's high-water mark into the child's ru_maxrss across exec.
GNU_TIME = "/usr/bin/time" if os.path.exists("/usr/bin/time") else None


def run_child(cmd: list[str], env: dict | None = None, stdin_path: str | None = None,
              check: bool = True, capture: bool = False) -> Sample:
    """Run a command; wall time and the child's own peak RSS (not cumulative).

    With ``capture`` the child's standard output is kept on the sample.
    """
    stdin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL
    # Files, not pipes: a chatty child can never block on a full pipe while we wait for it.
    with tempfile.TemporaryFile() as out_f, tempfile.TemporaryFile() as err_f, \
            tempfile.NamedTemporaryFile("r", suffix=".rss") as rss_f:
        argv = [GNU_TIME, "-f", "%M", "-o", rss_f.name, *cmd] if GNU_TIME else cmd
        start = time.perf_counter()
        proc = subprocess.Popen(argv, env={**os.environ, **(env or {})}, stdin=stdin,
                                stdout=out_f if capture else subprocess.DEVNULL, stderr=err_f)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out_f.seek(0)
        err_f.seek(0)
        out, err = out_f.read(), err_f.read().decode(errors="replace")
        kb = usage.ru_maxrss
        if GNU_TIME:
            lines = [ln for ln in rss_f.read().splitlines() if ln.strip().isdigit()]
            kb = int(lines[-1]) if lines else kb
    if stdin_path:
        stdin.close()
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: {err.strip()[-800:]}")
    return Sample(elapsed, kb / 1024, out.decode(errors="replace"))


def python_timed(code: str, env: dict | None = None) -> Sample:
    """Run ``code`` in a fresh interpreter; it sets ``elapsed`` (seconds of the part to time).

    The sample's time is that in-process figure (start-up excluded); RSS is the child's peak.
    """
    wrapper = code + "\nprint(f'ELAPSED {elapsed!r}')\n"
    s = run_child([sys.executable, "-c", wrapper], env=env, capture=True)
    line = [ln for ln in s.stdout.splitlines() if ln.startswith("ELAPSED ")][-1]
    return Sample(float(line.split()[1]), s.peak_rss_mb)


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
            setup: Callable[[], None] | None = None, note: str = "",
            max_ratio: float | None = None, max_rss: float | None = None) -> Result:
    """Alternate ours and the baseline ``runs`` times (same conditions), report medians.

    ``max_ratio`` / ``max_rss`` (MB) are the numeric target, if any: ``met`` says whether the
    medians (and the highest peak RSS) stay within it.
    """
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
    ratio = round(secs / bsecs, 2) if bsecs else None
    met = None
    if max_ratio is not None and ratio is not None:
        met = ratio <= max_ratio
    if max_rss is not None and rss is not None:
        met = (met if met is not None else True) and rss <= max_rss
    return Result(case, ours, baseline, round(secs, 3), round(bsecs, 3) if bsecs else None,
                  ratio, target, round(rss, 1) if rss is not None else None, runs, note,
                  [round(s.seconds, 3) for s in mine], [round(s.seconds, 3) for s in base], met)


def single(case: str, ours: str, samples: list[Sample], target: str = "—", note: str = "",
           max_rss: float | None = None) -> Result:
    """A figure without a baseline (one step of a pipeline), from samples already taken."""
    secs, rss = median_of(samples)
    met = None if max_rss is None or rss is None else rss <= max_rss
    return Result(case, ours, "—", round(secs, 3), None, None, target,
                  round(rss, 1) if rss is not None else None, len(samples), note,
                  [round(s.seconds, 3) for s in samples], [], met)
