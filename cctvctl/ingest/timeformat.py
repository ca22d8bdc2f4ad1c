"""``--time-format``: Unix seconds or milliseconds, or a strptime format; and the whole-second
rule every reading of a timestamp shares.

Numeric fields an explicit format writes together (``%Y%m%d``) must have all their digits
(:func:`format_pattern`), and a second of 60 or 61 is refused, not read as the next minute.
A value clearly in the other unit is refused naming the flag that reads it: under ``epoch_ms``
anything below 10^11 (before 1973 — ``1627776000`` was stored as 1970-01-19), under ``epoch``
a millisecond count of 1973–2099 (after 2099 as seconds).

A fraction of a second is kept when it is zero (``09:30:00.000``) and otherwise refused: rows are
stored at whole seconds, and silently flooring ``09:29:59.999`` would move it to another
interval. Kept apart from the shapes read without a flag: an explicit format replaces them
entirely, and the two never mix in one file.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

#: ``--time-format`` values that are not strptime formats: Unix seconds / milliseconds
EPOCH_FORMATS = {"epoch": 1, "epoch_ms": 1000}


def read_unix(fmt: str, todo: pd.Series, epoch: pd.Series, reasons: pd.Series) -> None:
    """``--time-format epoch`` / ``epoch_ms``: whole Unix seconds (or milliseconds)."""
    scale = EPOCH_FORMATS[fmt]
    parts = todo.str.extract(r"^([0-9]{1,16})(?:\.([0-9]*))?$")
    ok = parts[0].notna()
    unit = "seconds" if scale == 1 else "milliseconds"
    bad = ~ok
    reasons[todo.index[bad]] = [f"timestamp {v!r} is not Unix {unit} (--time-format "
                                f"{fmt})" for v in todo[bad]]
    whole = parts[0][ok].astype("int64")
    other = _other_unit(fmt, whole)  # before the fraction: 1627776123 ms is no fraction issue
    if other.any():
        reasons[other.index[other]] = [_other_unit_reason(fmt, v) for v in todo[other.index[other]]]
    whole = whole[~other]
    frac = parts[1][whole.index].fillna("").str.rstrip("0") != ""
    if scale > 1:
        frac |= (whole % scale) != 0
    if frac.any():
        reasons[frac.index[frac]] = [fraction_reason(v) for v in todo[frac.index[frac]]]
    keep = whole[~frac] // scale
    epoch[keep.index] = keep.astype("float64")


#: below this many milliseconds (1973-03-03) an ``epoch_ms`` value is seconds written by mistake
MS_FLOOR = 100_000_000_000
#: above this many seconds (2100-01-01) an ``epoch`` value may be milliseconds
_S_CEILING = 4_102_444_800


def _other_unit(fmt: str, whole: pd.Series) -> pd.Series:
    """Values that are clearly the other unit: seconds under ``epoch_ms`` (they would fall
    in 1970–1973), milliseconds under ``epoch`` (they would fall after 2099)."""
    if fmt == "epoch_ms":
        return whole < MS_FLOOR
    return (whole >= _S_CEILING) & (whole // 1000 >= MS_FLOOR // 1000) & (whole // 1000 < _S_CEILING)


def _other_unit_reason(fmt: str, value: str) -> str:
    if fmt == "epoch_ms":
        return (f"timestamp {value!r} is before 1973 as Unix milliseconds: it looks like Unix "
                "seconds; read the column with --time-format epoch")
    return (f"timestamp {value!r} is after 2099 as Unix seconds: it looks like Unix "
            "milliseconds; read the column with --time-format epoch_ms")


def read_explicit(fmt: str, todo: pd.Series, epoch: pd.Series, reasons: pd.Series) -> pd.Series:
    """``--time-format``: strptime as given; a format with %z reads each row's offset (those
    rows go straight into ``epoch``; the naive ones are returned for a local reading)."""
    aware = "%z" in fmt or "%Z" in fmt
    if "%p" in fmt:  # strptime knows only AM/PM: Korean spreadsheets write 오전/오후
        todo = todo.str.replace("오전", "AM", regex=False).str.replace("오후", "PM", regex=False)
    try:
        parsed = pd.to_datetime(todo, format=fmt, errors="coerce", utc=aware)
    except (ValueError, TypeError, OverflowError):
        parsed = pd.Series(pd.NaT, index=todo.index, dtype="datetime64[us]")
    parsed = _check_fields(fmt, todo, parsed, reasons)
    if not aware:
        return parsed.astype("datetime64[us]")
    utc = parsed.dt.tz_localize(None) if isinstance(parsed.dtype, pd.DatetimeTZDtype) else parsed
    utc = utc.astype("datetime64[us]")
    bad = utc.isna() & reasons[utc.index].isna()
    reasons[utc.index[bad]] = ["unparseable timestamp " + repr(v) for v in todo[bad]]
    bad = utc.isna()
    good = utc[~bad]
    good = good[whole_seconds(good, todo, reasons)]
    epoch[good.index] = epoch_seconds(good)
    return pd.Series(dtype="datetime64[us]")


#: digits of the strptime fields that may run together without a separator
_WIDTH = {"Y": 4, "m": 2, "d": 2, "H": 2, "I": 2, "M": 2, "S": 2, "y": 2, "j": 3}


def format_pattern(fmt: str) -> tuple[str, bool]:
    """A regular expression of the values ``fmt`` reads, with the seconds as group ``S``, and
    whether numeric fields run together (``%Y%m%d``): those take exactly their width there
    (strptime takes one digit, and guesses where the next field starts). Lenient elsewhere
    (any text for names and zones): it only checks what strptime lets through."""
    tokens = re.findall(r"%.|[^%]+", fmt)
    numeric = [len(tok) == 2 and tok[0] == "%" and tok[1] in _WIDTH for tok in tokens]
    parts, together, named = [], False, False
    for i, tok in enumerate(tokens):
        if numeric[i]:
            joined = (i > 0 and numeric[i - 1]) or (i + 1 < len(tokens) and numeric[i + 1])
            together |= joined
            width = _WIDTH[tok[1]]
            digits = rf"\d{{{width}}}" if joined else rf"\d{{1,{width}}}"
            if tok == "%S" and not named:
                digits, named = f"(?P<S>{digits})", True
            parts.append(digits if joined else r"\s*" + digits)
        elif tok.startswith("%"):
            parts.append("%" if tok == "%%" else ".+?")
        else:
            parts.append(r"\s+".join(re.escape(w) for w in re.split(r"\s+", tok)))
    return "".join(parts), together


def _check_fields(fmt: str, todo: pd.Series, parsed: pd.Series, reasons: pd.Series) -> pd.Series:
    """``parsed`` without the values strptime read wrongly, which get their reason: fields run
    together short of digits (``%Y%m%d`` read ``2021111`` as November 1), and second 60 or 61
    (``%S`` takes them as the next minute)."""
    pattern, together = format_pattern(fmt)
    bad = pd.Series(False, index=todo.index)
    if together:
        short = parsed.notna() & ~todo.str.fullmatch(pattern)
        if short.any():
            reasons[short.index[short]] = [
                f"timestamp {v!r} does not fill --time-format {fmt!r}: fields written together "
                "need all their digits" for v in todo[short]]
            bad |= short
    if "%S" in fmt:
        rolled = parsed.notna() & ~bad & (parsed.dt.second <= 1)  # where 60 and 61 land
        if rolled.any():
            second = pd.to_numeric(todo[rolled].str.extract(pattern)["S"], errors="coerce")
            over = second > 59
            if over.any():
                where = over.index[over]
                reasons[where] = [clock_reason(v, "second", int(x), 59)
                                  for v, x in zip(todo[where], second[where])]
                bad[where] = True
    return parsed.where(~bad) if bad.any() else parsed


def clock_reason(value: str, name: str, number: int, top: int) -> str:
    """Why a clock field is refused: it names the field and its value."""
    hint = " (24:00 is not read: write 00:00 of the next day)" if name == "hour" and number == 24 else ""
    return f"timestamp {value!r}: {name} {number} is not 0–{top}{hint}"


def epoch_seconds(s: pd.Series) -> pd.Series:
    """Naive UTC datetimes → float epoch seconds (NaN for NaT), whatever the resolution."""
    us = s.astype("datetime64[us]")
    out = us.astype("int64").astype("float64") / 1e6
    out[us.isna()] = np.nan
    return np.floor(out)


def fraction_reason(value: str) -> str:
    return (f"timestamp {value!r} has a fraction of a second; rows are stored at whole seconds "
            "(round the column to the second)")


def whole_seconds(naive: pd.Series, text: pd.Series, reasons: pd.Series) -> pd.Series:
    """True where the datetime is a whole second; the others get their reason."""
    frac = pd.Series(naive.to_numpy().view("int64") % 1_000_000 != 0, index=naive.index)
    if frac.any():
        reasons[frac.index[frac]] = [fraction_reason(v) for v in text[frac.index[frac]]]
    return ~frac
