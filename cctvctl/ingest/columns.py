"""Which column of a count file feeds which field: aliases, ``--map``, and the checks on them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from cctvctl.db.schema import VEHICLE_CLASSES
from cctvctl.errors import UsageError

#: field → accepted header names (compared lower-case with non-alphanumerics removed)
ALIASES: dict[str, tuple[str, ...]] = {
    "camera": ("camera", "camera_id", "cam", "cctv", "cctv_id", "sensor", "sensor_id", "device",
               "device_id", "location"),
    "start": ("start", "start_date", "start_time", "start_utc", "date_time", "datetime",
              "timestamp", "time_start", "begin", "hour_beginning", "interval_start"),
    "end": ("end", "end_date", "end_time", "end_utc", "time_end", "interval_end"),
    "date": ("date", "day"),
    "time": ("time",),
    "hour": ("hour",),
    "people": ("people", "person", "persons", "n_person", "n_people", "pedestrians",
               "pedestrian", "pedestrian_count", "people_count"),
    "vehicle": ("vehicle", "vehicles", "n_vehicle", "vehicle_count"),
    "car": ("car", "cars", "n_car"),
    "truck": ("truck", "trucks", "n_truck"),
    "bus": ("bus", "buses", "n_bus"),
    "bicycle": ("bicycle", "bicycles", "bike", "n_bicycle"),
    "motorcycle": ("motorcycle", "motorcycles", "motorbike", "n_motorcycle"),
    "scooter": ("scooter", "scooters", "electric_scooter", "n_electric_scooter", "e_scooter",
                "n_scooter"),
}
FIELDS = tuple(ALIASES)
COUNT_FIELDS = ("people", "vehicle") + VEHICLE_CLASSES


def norm(name: str) -> str:
    return re.sub(r"[^0-9a-z]", "", name.strip().lower())


def parse_mapping(pairs: list[str] | None) -> dict[str, str]:
    """``["people=PedestrianCount", …]`` → ``{"people": "PedestrianCount"}``."""
    mapping: dict[str, str] = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise UsageError(f"--map {pair!r}: expected FIELD=COLUMN, e.g. --map people=PedestrianCount")
        fld, col = (p.strip() for p in pair.split("=", 1))
        fld = fld.lower()
        if fld not in ALIASES:
            raise UsageError(f"--map {pair!r}: unknown field {fld!r} (one of {', '.join(FIELDS)})")
        if not col:
            raise UsageError(f"--map {pair!r}: the column name is empty")
        if fld in mapping:
            raise UsageError(f"--map gives field {fld!r} twice")
        mapping[fld] = col
    return mapping


@dataclass
class Layout:
    """Column index of each field present in the file (header order)."""

    header: list[str]
    index: dict[str, int] = field(default_factory=dict)

    def has(self, fld: str) -> bool:
        return fld in self.index

    @property
    def metrics(self) -> list[str]:
        return [f for f in COUNT_FIELDS if f in self.index]

    @property
    def classes(self) -> list[str]:
        return [f for f in VEHICLE_CLASSES if f in self.index]


def resolve_layout(header: list[str], mapping: dict[str, str], *, camera_given: bool,
                   source: str) -> Layout:
    """Match header names to fields; raise a CountFileError naming what is missing."""
    from cctvctl.errors import CountFileError

    layout = Layout(header=header)
    by_exact = {h.strip(): i for i, h in enumerate(header)}
    by_norm: dict[str, int] = {}
    for i, h in enumerate(header):
        by_norm.setdefault(norm(h), i)
    for fld, col in mapping.items():
        i = by_exact.get(col.strip())
        if i is None:
            i = by_norm.get(norm(col))
        if i is None:
            raise CountFileError(f"{source}:1: --map {fld}={col}: no such column "
                                 f"(columns: {', '.join(h.strip() for h in header)})")
        layout.index[fld] = i
    taken = set(layout.index.values())
    for fld, names in ALIASES.items():
        if fld in layout.index:
            continue
        for name in names:
            i = by_norm.get(norm(name))
            if i is not None and i not in taken:
                layout.index[fld] = i
                taken.add(i)
                break
    # date/time/hour only stand in for a missing start column
    if "start" in layout.index:
        for fld in ("date", "time", "hour"):
            if fld not in mapping:
                layout.index.pop(fld, None)
    elif "date" in layout.index and not ("time" in layout.index or "hour" in layout.index):
        raise CountFileError(f"{source}:1: a date column needs a time or hour column "
                             "(or --map time=COLUMN / --map hour=COLUMN)")
    found = ", ".join(h.strip() for h in header) or "(none)"
    if len(header) == 1:  # one column: most likely a delimiter we did not recognise
        found += " (one column: if the file uses another delimiter, pass --delimiter)"
    if "start" not in layout.index and "date" not in layout.index:
        raise CountFileError(f"{source}:1: no timestamp column (expected start, start_date, "
                             f"date_time, … or date + hour; or --map start=COLUMN); columns: {found}")
    if not layout.metrics:
        raise CountFileError(f"{source}:1: no count column (expected people, vehicle or vehicle "
                             f"classes such as n_car; or --map people=COLUMN); columns: {found}")
    if "camera" not in layout.index and not camera_given:
        raise CountFileError(f"{source}:1: no camera column; pass --camera NAME "
                             "(or --map camera=COLUMN)")
    return layout
