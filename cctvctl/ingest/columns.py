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


#: names in ``--columns`` for a column to leave unread
SKIP_COLUMN = ("-", "_", "")


def parse_columns(text: str | None, mapping: dict[str, str], wide: dict[str, str]) -> list[str] | None:
    """``"camera,start,people"`` → the names of a headerless file's columns, in order.

    Each name is a field (or one of its aliases), a column named by ``--map``/``--wide``, or
    ``-`` for a column to ignore: a typo is refused rather than silently read as nothing.
    """
    if text is None:
        return None
    names = [n.strip() for n in text.split(",")]
    known = {norm(a) for names_ in ALIASES.values() for a in names_}
    known |= {norm(c) for c in mapping.values()} | {norm(c) for c in wide}
    seen: set[str] = set()
    for name in names:
        if name in SKIP_COLUMN:
            continue
        if norm(name) not in known:
            raise UsageError(f"--columns: {name!r} is not a field ({', '.join(FIELDS)}) nor a "
                             "column named by --map or --wide; write - for a column to ignore")
        if norm(name) in seen:
            raise UsageError(f"--columns names {name!r} twice")
        seen.add(norm(name))
    if len(names) < 2:
        raise UsageError("--columns needs every column of the file, comma-separated, "
                         "e.g. --columns camera,start,people")
    return names


def parse_wide(pairs: list[str] | None) -> dict[str, str]:
    """``["West Sidewalk=west", …]`` → ``{"West Sidewalk": "west"}`` (column → camera)."""
    wide: dict[str, str] = {}
    cameras: set[str] = set()
    for pair in pairs or []:
        if "=" not in pair:
            raise UsageError(f"--wide {pair!r}: expected COLUMN=CAMERA, e.g. --wide West=fremont-west")
        col, cam = pair.rsplit("=", 1)
        col, cam = col.strip(), cam.strip()
        if not col or not cam:
            raise UsageError(f"--wide {pair!r}: expected COLUMN=CAMERA, both non-empty")
        if col in wide:
            raise UsageError(f"--wide names column {col!r} twice")
        if cam in cameras:
            raise UsageError(f"--wide gives camera {cam!r} to two columns")
        wide[col] = cam
        cameras.add(cam)
    return wide


def find_column(header: list[str], col: str) -> int | None:
    """A column by its exact name, else its normalised name, else the one header name that
    contains it (normalised): ``West Sidewalk`` finds ``… Cyclist West Sidewalk``."""
    for i, h in enumerate(header):
        if h.strip() == col.strip():
            return i
    key = norm(col)
    for i, h in enumerate(header):
        if norm(h) == key:
            return i
    hits = [i for i, h in enumerate(header) if key and key in norm(h)]
    return hits[0] if len(hits) == 1 else None


#: a header naming UTC: the word ``utc`` (any case) between non-letters, or a camel-case part
#: ``UTC``/``Utc`` (``StartUTC``, ``StartUtc``)
_UTC_HEADER = re.compile(r"(?i:(?<![a-z])utc(?![a-z]))|UTC|Utc(?![a-z])")


@dataclass
class Layout:
    """Column index of each field present in the file (header order); for a wide file, the
    (column index, camera) of each count column and the metric they hold."""

    header: list[str]
    index: dict[str, int] = field(default_factory=dict)
    wide: list[tuple[int, str]] = field(default_factory=list)
    wide_metric: str = "people"

    def used(self) -> dict[object, int]:
        """Every column read: field name → index, and ``("wide", camera)`` → index."""
        out: dict[object, int] = dict(self.index)
        out.update({("wide", cam): i for i, cam in self.wide})
        return out

    def has(self, fld: str) -> bool:
        return fld in self.index

    def says_utc(self, *fields: str) -> bool:
        """Whether the header of one of ``fields`` says UTC (``start_utc``, ``Time (UTC)``,
        ``StartUTC``): its naive values are then UTC, whatever ``--tz`` says."""
        return any(fld in self.index and _UTC_HEADER.search(self.header[self.index[fld]])
                   for fld in fields)

    @property
    def metrics(self) -> list[str]:
        return [f for f in COUNT_FIELDS if f in self.index]

    @property
    def classes(self) -> list[str]:
        return [f for f in VEHICLE_CLASSES if f in self.index]


def resolve_layout(header: list[str], mapping: dict[str, str], *, camera_given: bool,
                   source: str, wide: dict[str, str] | None = None,
                   wide_metric: str = "people") -> Layout:
    """Match header names to fields; raise a CountFileError naming what is missing.

    With ``wide`` (column → camera) the cameras and counts come from those columns only: a
    camera column and other count columns of the file are not read.
    """
    from cctvctl.errors import CountFileError

    layout = Layout(header=header, wide_metric=wide_metric)
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
    for col, cam in (wide or {}).items():
        i = find_column(header, col)
        if i is None:
            raise CountFileError(f"{source}:1: --wide {col}={cam}: no such column, or more than "
                                 f"one contains it (columns: {', '.join(h.strip() for h in header)})")
        if i in layout.index.values() or i in (j for j, _ in layout.wide):
            raise CountFileError(f"{source}:1: --wide {col}={cam}: column {header[i].strip()!r} "
                                 "is already read as another field")
        layout.wide.append((i, cam))
    taken = set(layout.index.values()) | {i for i, _ in layout.wide}
    for fld, names in ALIASES.items():
        if fld in layout.index:
            continue
        if layout.wide and (fld == "camera" or fld in COUNT_FIELDS):
            continue
        _refuse_two_columns(header, fld, names, taken, source)
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
    if layout.wide:
        extra = [f for f in layout.index if f == "camera" or f in COUNT_FIELDS]
        if extra:
            raise CountFileError(f"{source}:1: --wide reads cameras and counts from its columns; "
                                 f"drop --map {', '.join(extra)}")
        return layout
    if not layout.metrics:
        raise CountFileError(f"{source}:1: no count column (expected people, vehicle or vehicle "
                             f"classes such as n_car; or --map people=COLUMN); columns: {found}")
    if "camera" not in layout.index and not camera_given:
        raise CountFileError(f"{source}:1: no camera column; pass --camera NAME "
                             "(or --map camera=COLUMN)")
    return layout


_DATA_LIKE = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?|.*[0-9]{1,4}[-/.][0-9]{1,2}[-/.][0-9]{1,4}.*|.*[0-9]:[0-9]{2}.*")


def looks_like_data(fields: list[str]) -> bool:
    """A first line with a number, a date or a clock time in it is data, not a header."""
    return any(_DATA_LIKE.fullmatch(f.strip()) for f in fields)


def _refuse_two_columns(header: list[str], fld: str, names: tuple[str, ...], taken: set[int],
                        source: str) -> None:
    """Two columns that both read as one field would lose one silently: ``People`` beside
    ``people`` (any field), or two names of one count (``people`` beside ``n_person``)."""
    from cctvctl.errors import CountFileError

    wanted = {norm(n) for n in names}
    found = [i for i, h in enumerate(header) if i not in taken and norm(h) in wanted]
    same_name = len({norm(header[i]) for i in found}) < len(found)
    if len(found) > 1 and (same_name or fld in COUNT_FIELDS):
        a, b = (header[i].strip() for i in found[:2])
        raise CountFileError(f"{source}:1: columns {a!r} and {b!r} both read as {fld}: name the "
                             f"one to read with --map {fld}=COLUMN")
