"""Camera names that look alike: a new camera differing from another only by case, spaces or
Unicode form (``Gate-North`` beside ``gate-north``, a full-width ``Ｇａｔｅ``) is most often the
same camera typed differently. The import warns and still stores it: to the database the names
are distinct, and renaming is the operator's call.
"""

from __future__ import annotations

import unicodedata
from collections import defaultdict
from typing import Iterable


def look(name: str) -> str:
    """What a reader sees of ``name``: NFKC case-folded (NFKC_Casefold), without whitespace."""
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())
    return "".join(folded.split())


def lookalikes(new: Iterable[str], known: Iterable[str]) -> list[tuple[list[str], list[str]]]:
    """(new names, known names) of each group of names that look alike and hold a new one."""
    new = set(new)
    groups: dict[str, set[str]] = defaultdict(set)
    for name in list(known) + sorted(new):
        groups[look(name)].add(name)
    return [(sorted(g & new), sorted(g - new)) for _, g in sorted(groups.items())
            if len(g) > 1 and g & new]


def lookalike_warnings(source: str, new: Iterable[str], known: Iterable[str]) -> list[str]:
    """One line per look-alike group holding a camera this import added."""
    lines = []
    for added, stored in lookalikes(new, known):
        names = ", ".join(repr(n) for n in added)
        one = len(added) == 1
        what = (f"{'differs' if one else 'differ'} from the stored "
                f"{', '.join(repr(n) for n in stored)}" if stored else "look alike")
        lines.append(f"{source}: new camera{'' if one else 's'} {names} {what} only by case, "
                     "spaces or Unicode form: kept as separate cameras (rename one if they are "
                     "the same)")
    return lines
