"""How far apart a file's rows are, per camera: the interval of a file without an end column.

Without an end column every row's end is start + interval. A wrong ``--interval`` (an hourly
file read as 5-minute counts) used to be stored silently, with 8% coverage as the only hint.
So the gaps between consecutive starts of each camera are tallied over the whole file (vectorised
per chunk, chained across chunks): with no ``--interval`` the most common gap of the first chunk
is the interval, and at the end every camera's most common gap must equal the interval in use,
or the file is refused with the observed spacing and the flag that fixes it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from cctvctl.periods import local_iso

DEFAULT_INTERVAL = 300
#: a camera's usual gap refutes the interval only where it is evidence, not a few stray rows:
#: most of the camera's gaps, and at least this many of them. Rows closer than the interval
#: overlap (3 gaps suffice); rows farther apart may just be missing intervals (a sensor that
#: reports some hours), so it takes 10 gaps of one longer spacing.
MIN_EVIDENCE = 3
MIN_EVIDENCE_LONGER = 10
_SHIFT = np.int64(1) << np.int64(40)  # camera code × 2^40 + gap: one sortable key


@dataclass(frozen=True)
class Example:
    line_a: int
    line_b: int
    start_a: int
    start_b: int


def minutes(seconds: int) -> str:
    if seconds % 60:
        return f"{seconds} seconds"
    m = seconds // 60
    return f"{m} minute{'s' if m != 1 else ''}"


def flag(seconds: int) -> str:
    return f"--interval {seconds / 60:.12g}"


class Spacing:
    """Per camera: a Counter of gaps (seconds) between consecutive starts, and one example each."""

    def __init__(self) -> None:
        self.gaps: dict[str, Counter] = {}
        self.examples: dict[tuple[str, int], Example] = {}
        self._last: dict[str, tuple[int, int]] = {}  # camera → (latest start, its line)

    def add(self, cameras: pd.Series, starts: pd.Series, lines: np.ndarray) -> None:
        """Tally one chunk (rows with an unparsed start are left out)."""
        ok = starts.notna().to_numpy()
        if ok.sum() < 1:
            return
        cams = cameras.to_numpy(dtype=object)[ok]
        codes, names = pd.factorize(cams)
        s = starts.to_numpy()[ok].astype(np.int64)
        ln = np.asarray(lines)[ok].astype(np.int64)
        carried = [(i, self._last[n]) for i, n in enumerate(names) if n in self._last]
        if carried:  # chain to the camera's latest start of earlier chunks
            codes = np.concatenate([codes, np.array([i for i, _ in carried], dtype=codes.dtype)])
            s = np.concatenate([s, np.array([v[0] for _, v in carried], dtype=np.int64)])
            ln = np.concatenate([ln, np.array([v[1] for _, v in carried], dtype=np.int64)])
        order = np.lexsort((s, codes))
        codes, s, ln = codes[order], s[order], ln[order]
        same = codes[1:] == codes[:-1]
        gaps = s[1:] - s[:-1]
        keep = same & (gaps > 0)  # equal starts are duplicates: reported elsewhere
        if keep.any():
            where = np.flatnonzero(keep)
            keys = codes[1:][keep].astype(np.int64) * _SHIFT + np.minimum(gaps[keep], _SHIFT - 1)
            uniq, first, counts = np.unique(keys, return_index=True, return_counts=True)
            for key, at, n in zip(uniq.tolist(), first.tolist(), counts.tolist()):
                name, gap = names[key // int(_SHIFT)], key % int(_SHIFT)
                self.gaps.setdefault(name, Counter())[gap] += n
                i = int(where[at])
                self.examples.setdefault((name, gap), Example(int(ln[i]), int(ln[i + 1]),
                                                              int(s[i]), int(s[i + 1])))
        ends = np.flatnonzero(np.append(codes[1:] != codes[:-1], True))  # each camera's latest
        for i in ends.tolist():
            self._last[names[codes[i]]] = (int(s[i]), int(ln[i]))

    def usual(self) -> int | None:
        """The most common gap over all cameras (ties: the shortest), or None where too few
        rows tell (two rows 17 hours apart are no evidence of a 17-hour interval)."""
        total: Counter = Counter()
        for c in self.gaps.values():
            total.update(c)
        gap = _most_common(total)
        return gap if gap is not None and _evidence(total, gap) else None

    def disagreement(self, interval: int, origin: str, source: str, tz: ZoneInfo,
                     own: dict[str, int | None] | None = None) -> str | None:
        """One line naming a camera whose usual gap is not ``interval`` (or its ``own``, the
        interval of its stored rows), or None."""
        own = own or {}
        odd = {cam: g for cam, c in sorted(self.gaps.items())
               if (g := _most_common(c)) != (i := own.get(cam) or interval)
               and (g < i or g >= 3 * i)  # every other interval missing: gaps
               and _evidence(c, g, MIN_EVIDENCE if g < i else MIN_EVIDENCE_LONGER)}
        if not odd:
            return None
        camera, gap = next(iter(odd.items()))
        interval = own.get(camera) or interval
        ex = self.examples[(camera, gap)]
        seen = (f"rows of camera {camera!r} are {minutes(gap)} apart (most often; e.g. lines "
                f"{ex.line_a} and {ex.line_b}: {local_iso(ex.start_a, tz)}, {local_iso(ex.start_b, tz)})")
        more = f" (and {len(odd) - 1} other camera(s))" if len(odd) > 1 else ""
        if origin == "option":
            return (f"{source}: the file has no end column and {seen}{more}, but --interval is "
                    f"{minutes(interval)}: use {flag(gap)}, or give the file an end column")
        if origin == "stored":  # the first chunk had no camera with two rows
            return (f"{source}: the file has no end column and {seen}{more}, but its first rows had "
                    f"no spacing to tell and the interval of the camera's stored rows, "
                    f"{minutes(interval)}, was used: use {flag(gap)}")
        if origin == "default":  # the first chunk had no camera with two rows
            return (f"{source}: the file has no end column and {seen}{more}, but its first rows had "
                    f"no spacing to tell and the default {minutes(interval)} was used: use "
                    f"{flag(gap)}")
        return (f"{source}: the file has no end column; the interval {minutes(interval)} inferred "
                f"from its rows does not fit all cameras: {seen}{more}; import cameras with "
                "different intervals separately, each with its --interval")


def _evidence(counter: Counter, gap: int, least: int = MIN_EVIDENCE) -> bool:
    return counter[gap] >= least and 2 * counter[gap] > sum(counter.values())


def _most_common(counter: Counter) -> int | None:
    if not counter:
        return None
    best = max(counter.values())
    return min(g for g, n in counter.items() if n == best)
