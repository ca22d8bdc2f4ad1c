"""What detection returns: flags (one per interval and metric), their labels, and run results."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from cctvctl.periods import local_iso

METRIC_ORDER = {"people": 0, "vehicle": 1}


@dataclass(frozen=True)
class Flag:
    """One metric of one interval outside its band, with everything needed to explain it."""

    camera: str
    start_utc: int
    end_utc: int | None
    metric: str  # people | vehicle
    direction: str  # high | low
    observed: float
    expected: float
    band_low: float | None
    band_high: float | None
    score: float  # σ units (seasonal) or std units (threshold)
    method: str  # the method run: seasonal | threshold
    params: dict = field(default_factory=dict, compare=False)
    label: str = ""  # the interval's combined label, e.g. "people & vehicle high"

    @property
    def basis(self) -> str:
        """What the expected value came from, in words: 'hour, 8 wk' or 'threshold month 2021-07'."""
        p = self.params
        if self.method == "robust":
            return robust_basis(p, self.direction)
        if p.get("fallback") == "threshold" or self.method == "threshold":
            return f"threshold {p.get('grain', '?')} {p.get('period', '')}".strip()
        return f"{p.get('slot', 'hour')}, {p.get('weeks', '?')} wk"

    def as_record(self, tz: ZoneInfo) -> dict:
        """The documented csv/json record (stable keys, numbers as numbers)."""
        return {
            "camera": self.camera,
            "start": local_iso(self.start_utc, tz),
            "end": local_iso(self.end_utc, tz) if self.end_utc is not None else None,
            "start_utc": self.start_utc,
            "metric": self.metric,
            "direction": self.direction,
            "label": self.label,
            "observed": _number(self.observed),
            "expected": round(self.expected, 3),
            "band_low": None if self.band_low is None else round(self.band_low, 3),
            "band_high": None if self.band_high is None else round(self.band_high, 3),
            "score": round(self.score, 3),
            "method": self.method,
            "basis": self.basis,
            "params": self.params,
        }


def robust_basis(p: dict, direction: str) -> str:
    """One sentence: why a robust flag was raised (from the parameters stored with it)."""
    like = f"{p.get('like_days', '?')} {p.get('like', 'like')} days at this hour over {p.get('weeks', '?')} wk"
    if p.get("kind") == "silent":
        return (f"silent: one value repeated for {p.get('run_length', '?')} intervals where the median of "
                f"{like} expects {p.get('run_expected', '?')} in total")
    if p.get("learning"):
        return f"learning ({like}): beyond {p.get('k_learning', '?'):g}σ of their median"
    length, needed = int(p.get("run_length", 1)), int(p.get("run", 2))
    how = (f"{length} intervals in a row beyond {p.get('k', '?'):g}σ" if 1 < needed <= length
           else f"one interval beyond {p.get('k_single', '?'):g}σ")
    rel = int(round(100 * float(p.get("rel", 0))))
    seconds = int(p.get("interval_s", 3600))
    scaled = f"; hour figures scaled to a {seconds // 60}-min interval" if seconds < 3600 else ""
    return (f"{direction} vs the median of {like}: {how} (σ {p.get('sigma', '?')}, "
            f"≥{rel}% and ≥{p.get('abs_min', 0):g} counts off{scaled})")


RECORD_KEYS = ("camera", "start", "end", "start_utc", "metric", "direction", "label", "observed",
               "expected", "band_low", "band_high", "score", "method", "basis", "params")


def _number(value: float):
    return int(value) if float(value).is_integer() else value


def interval_label(flags: list[Flag]) -> str:
    """people / vehicle / people & vehicle, with the direction (as the original trigger named them)."""
    ordered = sorted(flags, key=lambda f: METRIC_ORDER.get(f.metric, 9))
    directions = {f.direction for f in ordered}
    if len(directions) == 1:
        return " & ".join(f.metric for f in ordered) + " " + ordered[0].direction
    return ", ".join(f"{f.metric} {f.direction}" for f in ordered)


def with_labels(flags: list[Flag], ends: dict[tuple[str, int], int] | None = None) -> list[Flag]:
    """The flags sorted by time, camera and metric, each carrying its interval's label (and its
    end, from ``ends`` keyed by camera and start, where given)."""
    groups: dict[tuple[str, int, str], list[Flag]] = {}
    for f in flags:
        groups.setdefault((f.camera, f.start_utc, f.method), []).append(f)
    out = []
    for (camera, start, _), group in groups.items():
        label = interval_label(group)
        extra = {"label": label} if ends is None else {"label": label, "end_utc": ends[(camera, start)]}
        out.extend(Flag(**{**f.__dict__, **extra}) for f in group)
    out.sort(key=lambda f: (f.start_utc, f.camera, METRIC_ORDER.get(f.metric, 9), f.method))
    return out


def params_from_json(text: str) -> dict:
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


@dataclass
class DetectResult:
    """What a detection run judged and flagged (``flags`` sorted by time, camera, metric)."""

    method: str
    params: dict
    start_utc: int
    end_utc: int
    cameras: list[str]
    evaluated: int = 0  # intervals looked at
    fallback: int = 0  # intervals judged by the threshold fallback (short seasonal history)
    unjudged: int = 0  # intervals with no reference at all (a camera's first day)
    flags: list[Flag] = field(default_factory=list)
    stored: bool = True

    @property
    def intervals(self) -> int:
        """How many intervals carry at least one flag."""
        return len({(f.camera, f.start_utc) for f in self.flags})

    def summary(self, tz: ZoneInfo) -> dict:
        return {"method": self.method, "params": self.params,
                "since": local_iso(self.start_utc, tz), "until": local_iso(self.end_utc, tz),
                "cameras": len(self.cameras), "evaluated": self.evaluated,
                "fallback": self.fallback, "unjudged": self.unjudged,
                "flagged_intervals": self.intervals, "flags": len(self.flags),
                "stored": self.stored}
