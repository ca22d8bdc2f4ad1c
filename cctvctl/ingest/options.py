"""What an import is asked to do (:class:`ImportOptions`) and what it reports (:class:`ImportResult`).

Callers name the options in four small groups — :class:`FileLayout` (which column is what),
:class:`TimeReading` (how times are read), :class:`RowChecks` (what a good row is, what happens
to a bad one), :class:`ImportPolicy` (stored rows, detection) — that
:meth:`ImportOptions.of` flattens into the one object the pipeline reads.

The two contracts between the import and its callers — the CLI, :mod:`cctvctl.api`, ``cctvctl
serve`` — kept apart from the pipeline that honours them. The options are checked when they are
made (a bad value is a :class:`~cctvctl.errors.UsageError` before any byte is read), and their
:meth:`~ImportOptions.fingerprint` says which of them change the meaning of the same bytes (the
ledger's "already imported" test).
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Callable
from zoneinfo import ZoneInfo

from cctvctl import validate
from cctvctl.errors import UsageError
from cctvctl.ingest.cameras import validate_camera_name
from cctvctl.ingest.columns import parse_columns, parse_mapping, parse_wide
from cctvctl.ingest.counts import INT_MAX
from cctvctl.ingest.dst import AMBIGUOUS, NONEXISTENT
from cctvctl.ingest.reader import Problem
from cctvctl.ingest.scan import sniff_delimiter
from cctvctl.ingest.timeformat import EPOCH_FORMATS

DEFAULT_MAX_COUNT = 100_000


@dataclass(frozen=True)
class FileLayout:
    """Which column is what: a camera for every row, renamed columns (``{"people":
    "PedestrianCount"}`` or ``["people=PedestrianCount"]``), a headerless file's columns, a
    wide file's count columns (column → camera), the text encoding and the delimiter
    (None: detected)."""

    camera: str | None = None
    mapping: dict[str, str] | list[str] = field(default_factory=dict)
    columns: list[str] | str | None = None
    wide: dict[str, str] | list[str] = field(default_factory=dict)
    wide_metric: str = "people"
    encoding: str = "utf-8-sig"
    delimiter: str | None = None


@dataclass(frozen=True)
class TimeReading:
    """How times are read: the interval in seconds where the file has no end column (None:
    inferred), local times in a DST gap (``nonexistent``) or repeated (``ambiguous``), the
    day/month order, an explicit strptime format (or ``epoch``, ``epoch_ms``)."""

    interval: int | None = None
    nonexistent: str = "reject"
    ambiguous: str = "infer"
    dayfirst: bool = False
    monthfirst: bool = False
    time_format: str | None = None


@dataclass(frozen=True)
class RowChecks:
    """What a good row is and what becomes of a bad one: the sanity bound of a count, the cell
    texts meaning "unknown", ``on_error`` (reject the file, or skip the row and list it in
    ``rejected_path``, default FILE.rejected.csv)."""

    max_count: int = DEFAULT_MAX_COUNT
    na: tuple[str, ...] = ()
    on_error: str = "reject"
    rejected_path: str | None = None


@dataclass(frozen=True)
class ImportPolicy:
    """Stored rows whose counts differ are overwritten (``replace``, undoable) or refused;
    outliers among the imported rows are flagged (``detect``)."""

    replace: bool = False
    detect: bool = True


#: the groups, by the keyword that passes each
GROUPS = {"layout": FileLayout, "time": TimeReading, "checks": RowChecks, "policy": ImportPolicy}


@dataclass
class ImportOptions:
    """How to read and what to do with bad or conflicting rows (defaults match the CLI)."""

    tz: ZoneInfo | None = None  # None: the database's zone (cctvctl.zone)
    camera: str | None = None
    interval: int | None = None  # seconds, where the file has no end column; None: inferred
    mapping: dict[str, str] = field(default_factory=dict)
    encoding: str = "utf-8-sig"
    delimiter: str | None = None
    on_error: str = "reject"  # or "skip"
    replace: bool = False
    nonexistent: str = "reject"
    ambiguous: str = "infer"
    dayfirst: bool = False
    time_format: str | None = None
    monthfirst: bool = False
    max_count: int = DEFAULT_MAX_COUNT
    rejected_path: str | None = None
    detect: bool = True
    chunk_rows: int = 50_000
    #: a headerless file's columns (``"camera,start,people"`` or a list)
    columns: list[str] | str | None = None
    #: cell texts meaning "unknown" in count columns (stored as NULL)
    na: tuple[str, ...] = ()
    #: wide file: count column → camera (``["West=west", …]`` or a dict)
    wide: dict[str, str] = field(default_factory=dict)
    wide_metric: str = "people"
    #: called with each chunk's distinct cameras before they are written; raising aborts the
    #: whole import (``cctvctl serve`` refuses cameras outside a device token's scope)
    camera_check: Callable[[list[str]], None] | None = field(default=None, compare=False)
    #: False: skipped rows are reported in the result only, no ``*.rejected.csv`` (a server)
    write_rejected: bool = True
    #: False: never the fast reader (pandas' C parser, :mod:`cctvctl.ingest.fastpath`), always
    #: the exact csv-module one — the plain path the fast one is checked against
    #: (tests/test_reader_differential.py). Same rows either way, so not in the fingerprint.
    fast_reader: bool = True
    #: who may take the "already imported" short-cut: the same bytes imported under another
    #: scope are read in full (so ``camera_check`` sees them) instead of answered from the
    #: ledger — a device token must not learn whether other cameras' counts were imported
    ledger_scope: str | None = None
    #: refused rows listed in the result (a server lists every one: its client has no side file)
    shown_problems: int = field(default=20, compare=False)
    #: seconds to wait for another import to finish (a server answers "busy" sooner than cron)
    lock_timeout: float = field(default=600, compare=False)

    def __post_init__(self) -> None:
        if self.on_error not in ("reject", "skip"):
            raise UsageError(f"--on-error must be reject or skip, not {self.on_error!r}")
        if self.nonexistent not in NONEXISTENT:
            raise UsageError(f"--nonexistent must be one of {', '.join(NONEXISTENT)}")
        if self.ambiguous not in AMBIGUOUS:
            raise UsageError(f"--ambiguous must be one of {', '.join(AMBIGUOUS)}")
        if self.interval is not None:  # None: inferred from the file's rows
            self.interval = validate.interval_seconds(self.interval)
        if not 0 < self.max_count <= INT_MAX:
            raise UsageError(f"--max-count must be between 1 and {INT_MAX} (the largest count "
                             "a MySQL INTEGER column holds)")
        if isinstance(self.mapping, list):
            self.mapping = parse_mapping(self.mapping)
        if isinstance(self.wide, list):
            self.wide = parse_wide(self.wide)
        for cam in self.wide.values():
            validate_camera_name(cam)
        if self.wide and self.camera:
            raise UsageError("--camera and --wide exclude each other (--wide names the cameras)")
        if self.wide_metric not in ("people", "vehicle"):
            raise UsageError(f"--wide-metric must be people or vehicle, not {self.wide_metric!r}")
        if isinstance(self.columns, str):
            self.columns = parse_columns(self.columns, self.mapping, self.wide)
        self.na = tuple(dict.fromkeys(v.strip() for v in self.na))
        validate.encoding(self.encoding)
        if self.delimiter is not None and len(sniff_delimiter("", self.delimiter)) != 1:
            raise UsageError(f"--delimiter must be one character (or tab), not {self.delimiter!r}")
        if self.dayfirst and self.monthfirst:
            raise UsageError("--dayfirst and --monthfirst contradict each other: give one")
        if self.time_format is not None:
            _check_time_format(self.time_format)

    @classmethod
    def of(cls, tz: ZoneInfo | None = None, *, layout: FileLayout | None = None,
           time: TimeReading | None = None, checks: RowChecks | None = None,
           policy: ImportPolicy | None = None, **fields) -> "ImportOptions":
        """The options from their groups (a group left out keeps its defaults); ``fields``
        are further ImportOptions fields by name — a server's ``camera_check``, or, for older
        callers, any grouped option given loose (the same one in a group too is refused)."""
        flat: dict = {}
        for name, group in (("layout", layout), ("time", time), ("checks", checks),
                            ("policy", policy)):
            if group is None:
                continue
            if not isinstance(group, GROUPS[name]):
                raise TypeError(f"{name}= takes a {GROUPS[name].__name__}, not {type(group).__name__}")
            flat.update((f, copy.copy(getattr(group, f))) for f in group.__dataclass_fields__)
            twice = sorted(set(fields) & set(group.__dataclass_fields__))
            if twice:
                raise TypeError(f"{', '.join(twice)} given in {name}= and on its own")
        return cls(tz=tz, **flat, **fields)

    def fingerprint(self) -> str:
        """What changes the meaning of the same bytes (zone, mapping, DST rules…)."""
        meaning = {"tz": self.tz.key, "camera": self.camera, "interval": self.interval,
                   "mapping": sorted(self.mapping.items()), "encoding": self.encoding,
                   "delimiter": self.delimiter, "nonexistent": self.nonexistent,
                   "ambiguous": self.ambiguous, "dayfirst": self.dayfirst,
                   "time_format": self.time_format, "max_count": self.max_count,
                   "on_error": self.on_error}
        if self.columns or self.na or self.wide:  # absent: the same fingerprint as before
            meaning.update(columns=self.columns, na=sorted(self.na), wide=sorted(self.wide.items()),
                           wide_metric=self.wide_metric)
        if self.monthfirst:  # only when set: fingerprints of earlier imports stay valid
            meaning["monthfirst"] = True
        if self.replace:  # only when set: earlier ledgers' fingerprints stay valid
            meaning["replace"] = True
        if self.ledger_scope is not None:
            meaning["ledger_scope"] = self.ledger_scope
        return hashlib.sha256(json.dumps(meaning, sort_keys=True).encode()).hexdigest()


def _check_time_format(fmt: str) -> None:
    import pandas as pd

    if fmt in EPOCH_FORMATS:
        return
    try:
        pd.to_datetime(pd.Series(["2000-01-01"]), format=fmt, errors="coerce")
    except (ValueError, TypeError) as exc:
        raise UsageError(f"--time-format {fmt!r}: {exc}") from None


@dataclass
class ImportResult:
    """What an import did; ``as_dict`` is the documented ``--format json`` object."""

    source: str
    status: str  # ok | unchanged | rejected
    import_id: int | None = None
    read: int = 0
    inserted: int = 0
    duplicates: int = 0
    replaced: int = 0
    rejected: int = 0
    unknown: int = 0  # rows whose every count was a --na marker (not stored)
    outliers: int = 0
    dst: dict = field(default_factory=dict)
    rejected_file: str | None = None
    sha256: str = ""
    seconds: float = 0.0
    interval: int | None = None  # seconds, where the file has no end column
    interval_source: str | None = None  # option, file (inferred), stored, default, end column
    previous_import: int | None = None
    #: one line each: a new camera named like another but for case, spaces or Unicode form
    warnings: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list, repr=False)

    def as_dict(self) -> dict:
        d = asdict(self)
        d.pop("problems")
        d["seconds"] = round(self.seconds, 3)
        return d
