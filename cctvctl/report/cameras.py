"""The per-camera rows of a report, held as integer columns and read back one camera at a time.

A report of 100,000 one-row cameras held 100,000 :class:`CameraSummary` objects (with their
metric and class objects, about 5 KB each: 524 MB for a 3 MB file). :class:`CameraTable` keeps
each camera's inputs — its period moments, the compared period's, its peaks and class totals,
its expected intervals and flag count — as one row of int64 (about 300 bytes with the name) and
builds the summary when a writer reads it, with the same function the report always used, so the
values are the same. Writers stream it: csv and json emit every camera, the screen formats the
first :data:`SCREEN_CAMERAS`.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

from cctvctl.db.schema import METRICS, VEHICLE_CLASSES
from cctvctl.report.model import CameraSummary, MetricSummary, Peak, Stat, coverage

#: cameras the table and markdown formats list (csv and json list all of them)
SCREEN_CAMERAS = 1000
#: one column per value; None is stored as NONE (every stored value is a count, sum or
#: encoded peak: never negative)
NONE = -1
_ROW = ["n", "expected"] + [f"{m}_{x}" for m in METRICS for x in ("n", "sum", "sumsq")]
_CMP = ["expected"] + [f"{m}_{x}" for m in METRICS for x in ("n", "sum")]
_RAW = len(METRICS) + 2 * len(VEHICLE_CLASSES)
_HEAD = ["has_row", "has_cmp", "has_raw", "expected", "outliers"]
WIDTH = len(_HEAD) + len(_ROW) + len(_CMP) + _RAW
_R0 = len(_HEAD)
_C0 = _R0 + len(_ROW)
_W0 = _C0 + len(_CMP)
_LOW32 = (1 << 32) - 1


def _int(value) -> int:
    return NONE if value is None else int(value)


class CameraTable:
    """A read-only sequence of :class:`CameraSummary`, stored compactly (see the module)."""

    def __init__(self, k: float, end_utc: int, compare_mode: str | None) -> None:
        self.k, self.end_utc, self.compare_mode = k, end_utc, compare_mode
        self.names: list[str] = []
        self._blocks: list[np.ndarray] = []
        self._pending: list[list[int]] = []
        self._data = np.zeros((0, WIDTH), dtype=np.int64)

    def add(self, name: str, row: dict, cmp_row: dict, raw: tuple | None, expected: int,
            outliers: int) -> None:
        """One camera: its period row, the compared period's, its RAW_SQL row (or None)."""
        values = [int(bool(row)), int(bool(cmp_row)), int(raw is not None), int(expected), int(outliers)]
        values += [_int(row.get(c)) for c in _ROW]
        values += [_int(cmp_row.get(c)) for c in _CMP]
        values += [_int(v) for v in raw] if raw is not None else [NONE] * _RAW
        self.names.append(name)
        self._pending.append(values)
        if len(self._pending) >= 1000:  # a list of Python ints costs 10× the array
            self._blocks.append(np.array(self._pending, dtype=np.int64))
            self._pending = []

    @property
    def data(self) -> np.ndarray:
        """Every camera's row (the blocks joined once, when first read)."""
        if self._pending:
            self._blocks.append(np.array(self._pending, dtype=np.int64))
            self._pending = []
        if self._blocks:
            self._data = np.concatenate([self._data] + self._blocks)
            self._blocks = []
        return self._data

    def __len__(self) -> int:
        return len(self.names)

    def __iter__(self) -> Iterator[CameraSummary]:
        data = self.data
        for i, name in enumerate(self.names):
            yield self._summary(name, data[i])

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        return self._summary(self.names[index], self.data[index])

    def __bool__(self) -> bool:
        return bool(self.names)

    # -- totals without building summaries --------------------------------------------------
    def total_intervals(self) -> int:
        data = self.data
        return int(np.where(data[:, 0] == 1, data[:, _R0], 0).sum())

    def total_expected(self) -> int:
        return int(self.data[:, 3].sum())

    def known(self, metric: str) -> bool:
        """Whether any camera has a value of ``metric`` (its ``_n`` is positive)."""
        return bool((self.data[:, _R0 + _ROW.index(f"{metric}_n")] > 0).any())

    def has_class(self, name: str) -> bool:
        """Whether any camera with intervals has a count of vehicle class ``name``."""
        data = self.data
        col = _W0 + len(METRICS) + 2 * VEHICLE_CLASSES.index(name)
        with_rows = (data[:, 0] == 1) & (data[:, _R0] > 0) & (data[:, 2] == 1)
        return bool((with_rows & (data[:, col] > 0)).any())

    # -- one camera -------------------------------------------------------------------------
    def _summary(self, name: str, values: np.ndarray) -> CameraSummary:
        v = values.tolist()
        row = {c: v[_R0 + j] for j, c in enumerate(_ROW)} if v[0] else {}
        cmp_row = {c: v[_C0 + j] for j, c in enumerate(_CMP)} if v[1] else {}
        raw = tuple(None if x == NONE else x for x in v[_W0:_W0 + _RAW]) if v[2] else None
        summary = camera_summary(name, row, cmp_row, raw, v[3], self.k, self.end_utc,
                                 self.compare_mode)
        summary.outliers = v[4]
        return summary


def stat_of(n: int, s: int, ss: int, k: float) -> Stat | None:
    from cctvctl.stats.moments import figures

    if not n:
        return None
    f = figures(n, s, ss, k)
    return Stat(float(f.mean), float(f.std), float(f.ref))


def _peak(encoded, end: int) -> Peak | None:
    if encoded is None:
        return None
    value = int(encoded)
    return Peak(end - (value & _LOW32), value >> 32)


def camera_summary(name: str, row: dict, cmp_row: dict, raw: tuple | None, expected: int,
                   k: float, end: int, compare_mode: str | None) -> CameraSummary:
    """The figures of one camera from its moments (``row``), the compared period's and its
    RAW_SQL row (peaks and classes)."""
    summary = CameraSummary(camera=name, intervals=int(row.get("n", 0)), expected=int(expected))
    cmp_expected = int(cmp_row.get("expected") or 0)
    for metric in METRICS:
        n = int(row.get(f"{metric}_n", 0))
        stat = stat_of(n, int(row.get(f"{metric}_sum", 0)), int(row.get(f"{metric}_sumsq", 0)), k)
        if stat is None:
            summary.metrics[metric] = None
            continue
        cmp_n = int(cmp_row.get(f"{metric}_n", 0))
        summary.metrics[metric] = MetricSummary(
            n=n, total=int(row[f"{metric}_sum"]), stat=stat,
            peak=_peak(raw[METRICS.index(metric)], end) if raw else None,
            compare_mean=int(cmp_row[f"{metric}_sum"]) / cmp_n if cmp_n else None,
            coverage=coverage(n, summary.expected), compare_coverage=coverage(cmp_n, cmp_expected),
            compare_mode=compare_mode)
    if summary.intervals and raw:
        values = raw[len(METRICS):]
        classes = {c: (int(values[2 * i + 1]) if values[2 * i] else None)
                   for i, c in enumerate(VEHICLE_CLASSES)}
        if any(v is not None for v in classes.values()):
            summary.classes = classes
            summary.class_intervals = max(int(values[2 * i]) for i in range(len(VEHICLE_CLASSES)))
    return summary
