"""Deterministic synthetic counts: daily and weekly rhythm, weekends, injected surges and drops.

The same seed, range, zone and cameras always give the same rows (NumPy's PCG64 stream), so
the files in ``sample_data/`` can be regenerated with the command their README shows, and tests
can check that the injected events — returned as data — are flagged by detection.

Counts per interval are Poisson draws around a smooth expected level: a weekday profile with
morning and evening commute peaks, a weekend profile with a broad afternoon hump, a per-camera
scale and a small day-to-day level change. Vehicles are split into classes (car, truck, bus,
bicycle, motorcycle, scooter) with a multinomial draw, so ``vehicle`` is exactly their sum.
"""

from __future__ import annotations

import csv
import io
import sys
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import IO
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from cctvctl.db.schema import VEHICLE_CLASSES
from cctvctl import validate
from cctvctl.errors import UsageError
from cctvctl.periods import local_iso, local_midnight_utc

LAYOUTS = ("original", "classes")
#: header of each layout; ``classes`` is the per-class layout of the later detector version
HEADERS = {
    "original": ["camera", "start_date", "end_date", "people", "vehicle"],
    "classes": ["camera", "start_time", "n_person", "n_car", "n_truck", "n_bus", "n_bicycle",
                "n_motorcycle", "n_electric_scooter"],
}
CAMERA_NAMES = ("gate-north", "market-st", "parking-east", "station-west", "park-south",
                "bridge-east")
MAX_CAMERAS = 50
MAX_INTERVALS = 20_000_000  # rows; a guard against a typo generating a terabyte


@dataclass(frozen=True)
class CameraProfile:
    """Scale of a camera: expected people and vehicles per 5 minutes at the daily peak."""

    name: str
    people_peak: float
    vehicle_peak: float
    #: share of each vehicle class (car, truck, bus, bicycle, motorcycle, scooter)
    classes: tuple[float, ...] = (0.70, 0.08, 0.04, 0.08, 0.06, 0.04)


_PROFILES = (
    (90.0, 30.0, (0.72, 0.05, 0.05, 0.08, 0.06, 0.04)),
    (55.0, 50.0, (0.68, 0.10, 0.06, 0.06, 0.06, 0.04)),
    (20.0, 70.0, (0.80, 0.08, 0.01, 0.03, 0.05, 0.03)),
)


def camera_profiles(count: int) -> list[CameraProfile]:
    """``count`` cameras: named ones first, then ``cam-07``…; scales cycle over three kinds."""
    if not 1 <= count <= MAX_CAMERAS:
        raise UsageError(f"--cameras must be between 1 and {MAX_CAMERAS}")
    out = []
    for i in range(count):
        name = CAMERA_NAMES[i] if i < len(CAMERA_NAMES) else f"cam-{i + 1:02d}"
        people, vehicle, classes = _PROFILES[i % len(_PROFILES)]
        scale = 1.0 - 0.1 * (i // len(_PROFILES) % 4)
        out.append(CameraProfile(name, people * scale, vehicle * scale, classes))
    return out


@dataclass(frozen=True)
class SampleEvent:
    """One injected anomaly: ``metric`` counts of ``camera`` times ``factor`` over [start, end)."""

    camera: str
    start_utc: int
    end_utc: int
    kind: str  # surge | drop
    metric: str  # people | vehicle | both
    factor: float
    description: str

    @property
    def metrics(self) -> tuple[str, ...]:
        return ("people", "vehicle") if self.metric == "both" else (self.metric,)

    def as_dict(self, tz: ZoneInfo) -> dict:
        d = asdict(self)
        d["start"] = local_iso(self.start_utc, tz)
        d["end"] = local_iso(self.end_utc, tz)
        return d


#: (kind, metric, factor, hours, local start hour, which camera kind, description)
_EVENT_TEMPLATES = (
    ("surge", "people", 4.0, 2, 19, 0, "street festival: four times the usual crowd"),
    ("drop", "both", 0.0, 3, 13, 1, "camera blocked: nothing counted"),
    ("surge", "vehicle", 3.0, 1, 15, 2, "traffic diverted past the camera"),
    ("drop", "people", 0.1, 2, 12, 0, "storm: the street empties"),
)


@dataclass
class SampleSpec:
    """What to generate: local days ``first``..``last`` (inclusive) in zone ``tz``."""

    first: date
    last: date
    tz: ZoneInfo
    cameras: int = 3
    interval: int = 300  # seconds
    seed: int = 42
    events: int = 4

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise UsageError("--until is before --since")
        if self.interval <= 0 or 86400 % self.interval:
            raise UsageError("--interval must divide a day evenly (e.g. 5, 10, 15, 60 minutes)")
        if self.events < 0:
            raise UsageError("--events must be 0 or more")
        validate.seed(self.seed)
        validate.day_in_range(self.first, "--since")
        validate.day_in_range(self.last, "--until")
        camera_profiles(self.cameras)  # validates the count
        days = (self.last - self.first).days + 1
        if days * self.cameras * 86400 // self.interval > MAX_INTERVALS:
            raise UsageError(f"that would be more than {MAX_INTERVALS:,} rows; "
                             "choose a shorter range or fewer cameras")


@dataclass
class SampleSet:
    """Generated rows (UTC epoch seconds, integer counts) and the events injected into them."""

    rows: pd.DataFrame  # camera, start_utc, end_utc, people, vehicle, car … scooter
    events: list[SampleEvent]
    tz: ZoneInfo
    cameras: list[str] = field(default_factory=list)

    def to_csv(self, out: IO[str], layout: str = "original") -> int:
        """Write one layout as CSV with naive local timestamps; returns the rows written."""
        if layout not in LAYOUTS:
            raise UsageError(f"--layout must be one of {', '.join(LAYOUTS)}")
        frame = self.rows
        start = _local_text(frame["start_utc"], self.tz)
        if layout == "original":
            columns = [frame["camera"], start, _local_text(frame["end_utc"], self.tz),
                       frame["people"], frame["vehicle"]]
        else:
            columns = [frame["camera"], start, frame["people"]] + [frame[c] for c in VEHICLE_CLASSES]
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(HEADERS[layout])
        writer.writerows(zip(*(c.tolist() for c in columns)))
        return len(frame)

    def csv_text(self, layout: str = "original") -> str:
        buf = io.StringIO()
        self.to_csv(buf, layout)
        return buf.getvalue()

    def write(self, path: str, layout: str = "original", *, chosen_by_us: bool = False) -> int:
        """Write to ``path`` (``-`` for standard output), safely (see :mod:`cctvctl.safefile`);
        a name cctvctl chose (``chosen_by_us``: the demo's) replaces only a sample it wrote."""
        from cctvctl import safefile

        if path == "-":
            return self.to_csv(sys.stdout, layout)
        ours = safefile.starts_with(",".join(HEADERS[layout]).encode() + b"\n") if chosen_by_us else None
        with safefile.replace_file(path, what="the sample counts", fix="choose another file with -o",
                                   ours=ours) as fh:
            return self.to_csv(fh, layout)


def _local_text(epochs: pd.Series, tz: ZoneInfo) -> pd.Series:
    stamps = pd.to_datetime(epochs, unit="s", utc=True).dt.tz_convert(tz.key)
    return stamps.dt.strftime("%Y-%m-%d %H:%M:%S")


# -- the rhythm ---------------------------------------------------------------------------------
def _bump(hour: np.ndarray, centre: float, width: float) -> np.ndarray:
    """A daily bump around ``centre`` o'clock, wrapping around midnight."""
    d = np.abs(hour - centre)
    d = np.minimum(d, 24 - d)
    return np.exp(-0.5 * (d / width) ** 2)


def people_shape(hour: np.ndarray, weekend: np.ndarray) -> np.ndarray:
    """Share of the daily peak expected at local ``hour`` (0–24, fractional)."""
    weekday = (0.04 + 1.0 * _bump(hour, 8.5, 0.9) + 0.55 * _bump(hour, 12.5, 1.3)
               + 0.95 * _bump(hour, 18.5, 1.4) + 0.35 * _bump(hour, 14.5, 3.5))
    rest = 0.05 + 0.75 * _bump(hour, 14.5, 3.2) + 0.35 * _bump(hour, 20.0, 1.8)
    return np.where(weekend, rest, weekday)


def vehicle_shape(hour: np.ndarray, weekend: np.ndarray) -> np.ndarray:
    weekday = (0.06 + 1.0 * _bump(hour, 8.0, 1.1) + 0.45 * _bump(hour, 13.5, 3.0)
               + 1.0 * _bump(hour, 18.0, 1.4))
    rest = 0.06 + 0.6 * _bump(hour, 14.0, 3.8)
    return np.where(weekend, rest, weekday)


# -- generation ---------------------------------------------------------------------------------
def generate(spec: SampleSpec) -> SampleSet:
    """Rows for every camera and interval of the local days in ``spec``, plus its events."""
    rng = np.random.Generator(np.random.PCG64(spec.seed))
    profiles = camera_profiles(spec.cameras)
    begin = local_midnight_utc(spec.first, spec.tz)
    finish = local_midnight_utc(spec.last + timedelta(days=1), spec.tz)
    starts = np.arange(begin, finish, spec.interval, dtype=np.int64)
    local = pd.to_datetime(starts, unit="s", utc=True).tz_convert(spec.tz.key)
    hour = np.asarray(local.hour + local.minute / 60, dtype=float) + spec.interval / 7200
    weekend = np.asarray(local.day_of_week) >= 5
    # wall dates, not local.normalize(): local midnight may not exist (America/Santiago)
    day_index = np.asarray((local.tz_localize(None).normalize() - pd.Timestamp(spec.first)).days)
    ndays = (spec.last - spec.first).days + 1
    scale = spec.interval / 300
    events = _place_events(spec, profiles, rng)
    frames = []
    for profile in profiles:
        level = rng.normal(1.0, 0.04, size=(ndays, 2)).clip(0.8, 1.2)
        people_mu = profile.people_peak * scale * people_shape(hour, weekend) * level[day_index, 0]
        vehicle_mu = profile.vehicle_peak * scale * vehicle_shape(hour, weekend) * level[day_index, 1]
        for event in events:
            if event.camera != profile.name:
                continue
            inside = (starts >= event.start_utc) & (starts < event.end_utc)
            if "people" in event.metrics:
                people_mu = np.where(inside, people_mu * event.factor, people_mu)
            if "vehicle" in event.metrics:
                vehicle_mu = np.where(inside, vehicle_mu * event.factor, vehicle_mu)
        people = rng.poisson(people_mu)
        vehicle = rng.poisson(vehicle_mu)
        classes = rng.multinomial(vehicle, profile.classes)
        frame = pd.DataFrame({"camera": profile.name, "start_utc": starts,
                              "end_utc": starts + spec.interval, "people": people,
                              "vehicle": vehicle})
        for i, name in enumerate(VEHICLE_CLASSES):
            frame[name] = classes[:, i]
        frames.append(frame)
    rows = pd.concat(frames, ignore_index=True)
    rows = rows.sort_values(["start_utc", "camera"], kind="stable").reset_index(drop=True)
    return SampleSet(rows=rows, events=events, tz=spec.tz, cameras=[p.name for p in profiles])


def _place_events(spec: SampleSpec, profiles: list[CameraProfile],
                  rng: np.random.Generator) -> list[SampleEvent]:
    """Events on distinct days in the last third of the range (history comes before them).

    When the last third has fewer days than events, they spread over the whole range.
    """
    ndays = (spec.last - spec.first).days + 1
    if not spec.events:
        return []
    first_day = ndays - max(ndays // 3, 1)
    candidates = list(range(first_day, ndays))
    if len(candidates) < spec.events:
        candidates = list(range(ndays))
    chosen = sorted(rng.choice(len(candidates), size=min(spec.events, len(candidates)),
                               replace=False).tolist())
    out = []
    for i, pick in enumerate(chosen):
        kind, metric, factor, hours, at, camera_kind, text = _EVENT_TEMPLATES[i % len(_EVENT_TEMPLATES)]
        day = spec.first + timedelta(days=candidates[pick])
        # the camera of that kind (cycling when there are fewer cameras than kinds)
        same_kind = [p for j, p in enumerate(profiles) if j % len(_PROFILES) == camera_kind]
        camera = (same_kind or profiles)[(i // len(_EVENT_TEMPLATES)) % len(same_kind or profiles)]
        start = datetime(day.year, day.month, day.day, at, tzinfo=spec.tz)
        start_utc = int(start.timestamp())
        out.append(SampleEvent(camera=camera.name, start_utc=start_utc,
                               end_utc=start_utc + hours * 3600, kind=kind, metric=metric,
                               factor=factor, description=text))
    return out


__all__ = ["CameraProfile", "HEADERS", "LAYOUTS", "SampleEvent", "SampleSet", "SampleSpec",
           "camera_profiles", "generate"]
