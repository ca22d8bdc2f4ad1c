"""Episodes: consecutive flagged intervals of one camera and metric, the unit people read.

A surge of forty 5-minute intervals is one event, not forty; ``detect --episodes``, the report
and ``cctvctl alerts`` speak in episodes. An episode is keyed by camera, metric, kind and start,
so one that grows after it was first seen keeps its key (and is alerted once).
"""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from cctvctl.db.database import Database
from cctvctl.detect.model import Flag
from cctvctl.detect.store import load_flags
from cctvctl.periods import local_iso

#: kinds of episode: a flagged run of intervals, a run of zeros where counts were expected
#: (detection's ``silent`` flags), and a camera that stopped sending rows (``dark``)
KINDS = ("outlier", "silent", "dark")


@dataclass(frozen=True)
class Episode:
    camera: str
    metric: str  # people | vehicle | all (dark: every metric is missing)
    kind: str  # outlier | silent | dark
    direction: str  # high | low
    start_utc: int
    end_utc: int | None  # None: still going on (a dark camera)
    intervals: int  # flagged intervals in the run (0 for dark)
    observed: float | None  # the most extreme interval's count
    expected: float | None
    score: float | None  # its score; the episode's strength
    method: str

    @property
    def key(self) -> tuple[str, str, str, int]:
        return (self.camera, self.metric, self.kind, self.start_utc)

    def sentence(self, tz: ZoneInfo) -> str:
        """One line a person reads in a mail: what, where, since when."""
        start = local_iso(self.start_utc, tz).replace("T", " ")[:16]
        if self.kind == "dark":
            return f"camera {self.camera} has sent no counts since {start}"
        end = "" if self.end_utc is None else " – " + local_iso(self.end_utc, tz).replace("T", " ")[11:16]
        what = "silent (zeros where counts were expected)" if self.kind == "silent" else \
            f"{self.direction}: {self.observed:g} against {self.expected:.0f} expected"
        return f"camera {self.camera} {self.metric} {what}, {start}{end} ({self.intervals} interval(s))"

    def as_record(self, tz: ZoneInfo) -> dict:
        return {"camera": self.camera, "metric": self.metric, "kind": self.kind,
                "direction": self.direction, "start": local_iso(self.start_utc, tz),
                "end": None if self.end_utc is None else local_iso(self.end_utc, tz),
                "start_utc": self.start_utc, "end_utc": self.end_utc, "intervals": self.intervals,
                "observed": self.observed,
                "expected": None if self.expected is None else round(self.expected, 3),
                "score": None if self.score is None else round(self.score, 3),
                "method": self.method, "summary": self.sentence(tz)}


RECORD_KEYS = ("camera", "metric", "kind", "direction", "start", "end", "start_utc", "end_utc",
               "intervals", "observed", "expected", "score", "method", "summary")


def flag_kind(flag: Flag) -> str:
    """``silent`` where the method said so in its params, else ``outlier``."""
    return "silent" if flag.params.get("kind") == "silent" else "outlier"


def chain(items, key, start, end) -> list[list]:
    """Items → runs of the same ``key``, each item starting where (or before) the previous one
    ended; a gap of one missing interval ends the run. The one grouping rule behind episodes
    here and in the report (which keys a run by camera alone)."""
    runs: list[list] = []
    for item in sorted(items, key=lambda i: (key(i), start(i))):
        if runs:
            last = runs[-1][-1]
            if key(last) == key(item) and end(last) is not None and start(item) <= end(last):
                runs[-1].append(item)
                continue
        runs.append([item])
    return runs


def build_episodes(flags: list[Flag]) -> list[Episode]:
    """Group flags into episodes: same camera, metric, method, kind and direction, each interval
    starting where the previous one ended (a gap of one missing row ends the episode)."""
    episodes: list[Episode] = []
    for run in chain(flags, lambda f: (f.camera, f.metric, f.method, f.direction, flag_kind(f)),
                     lambda f: f.start_utc, lambda f: f.end_utc):
        peak = max(run, key=lambda f: abs(f.score))
        first = run[0]
        episodes.append(Episode(first.camera, first.metric, flag_kind(first), first.direction,
                                first.start_utc, run[-1].end_utc, len(run), peak.observed,
                                peak.expected, peak.score, first.method))
    episodes.sort(key=lambda e: (e.start_utc, e.camera, e.metric))
    return episodes


def episodes(db: Database, start_utc: int, end_utc: int, cameras: list[str] | None = None,
             method: str | None = None) -> list[Episode]:
    """The stored flags of ``[start_utc, end_utc)`` as episodes."""
    return build_episodes(load_flags(db, start_utc, end_utc, cameras, method))


LAST_ENDS = ("SELECT c.camera, c.end_utc FROM counts c JOIN "
             "(SELECT camera, MAX(start_utc) AS last_start FROM counts GROUP BY camera) t "
             "ON c.camera = t.camera AND c.start_utc = t.last_start")


def dark_cameras(db: Database, now_utc: int, dark_after_s: int, since_utc: int) -> list[Episode]:
    """Cameras whose last interval ended at least ``dark_after_s`` before ``now_utc`` (and after
    ``since_utc``: a camera retired long ago is not news every night)."""
    found = []
    for camera, last_end in db.query(LAST_ENDS):
        last_end = int(last_end)
        if since_utc <= last_end <= now_utc - dark_after_s:
            found.append(Episode(str(camera), "all", "dark", "low", last_end, None, 0, None, None,
                                 None, "dark"))
    found.sort(key=lambda e: (e.start_utc, e.camera))
    return found
