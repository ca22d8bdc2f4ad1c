"""Count cells → non-negative whole numbers, ``--na`` markers as unknown, and a reason for every
other value.

A count is stored as an integer or not at all: ``3.0`` is 3, ``3.5``, ``-1``, ``1e3`` and text
are refused with their own reason, and a value above ``--max-count`` is refused as implausible.
The usual column (plain ASCII digits) is converted in one C call; anything else goes the long
way, which words the reasons.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# ASCII digits only: Python's \d also matches other scripts' digits, which pandas cannot convert.
_WHOLE = r"\+?[0-9]+(?:\.0*)?"
_NUMBER = r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
#: the largest count a MySQL INTEGER column holds (and so the largest --max-count)
INT_MAX = 2**31 - 1


def parse_counts(s: pd.Series, name: str, max_count: int,
                 na: tuple[str, ...] = ()) -> tuple[pd.Series, pd.Series]:
    """Strings → non-negative integer counts (float dtype, NaN where bad or unknown) and
    reasons (None where good or unknown). A cell equal to one of ``na`` (after trimming) is
    unknown; an empty cell is an error unless ``""`` is one of them."""
    if _all_plain_digits(s) and s.str.len().max() <= 15:
        values = s.astype("int64")
        if int(values.max()) <= max_count:
            return values.astype("float64"), pd.Series(None, index=s.index, dtype=object)
    s = s.fillna("").astype(str).str.strip()
    reasons = pd.Series(None, index=s.index, dtype=object)
    marked = s.isin(na) if na else pd.Series(False, index=s.index)
    whole = s.str.fullmatch(_WHOLE) & ~marked
    values = pd.to_numeric(s.where(whole, None), errors="coerce")
    empty = (s == "") & ~marked
    reasons[empty] = f"missing {name} count"
    other = ~whole & ~empty & ~marked
    if other.any():
        numeric = s.str.fullmatch(_NUMBER)
        for i in s.index[other]:
            v = s[i]
            if numeric[i] and v.startswith("-"):
                reasons[i] = f"negative {name} count {v!r}"
            elif numeric[i]:
                reasons[i] = f"{name} count {v!r} is not a whole number"
            else:
                reasons[i] = f"{name} count {v!r} is not a number"
    above = values > max_count
    if above.any():
        reasons[above] = [f"{name} count {v} is above the sanity bound {max_count} (see --max-count)"
                          for v in s[above]]
        values[above] = np.nan
    unexplained = values.isna() & reasons.isna() & ~marked  # never let a NaN through as a good row
    if unexplained.any():
        reasons[unexplained] = [f"{name} count {v!r} is not a number" for v in s[unexplained]]
    return values, reasons


def _all_plain_digits(s: pd.Series) -> bool:
    """True when every value is 1+ ASCII digits: then a C conversion is exact (the usual case)."""
    if len(s) == 0 or bool((s == "").any()):
        return False
    joined = "".join(s.tolist())
    return joined.isascii() and joined.isdigit()
