"""The one order (day-first or month-first) of a file's year-last dates, decided from its rows.

Numeric dates with the year last (``01/02/2021``, ``01.02.2021``) are read in ONE order per
file, never per row: a date with a first number above 12 proves the file day-first, one with a
second number above 12 proves it month-first. The file's order is the one its rows prove (the
majority, where rows disagree); rows proving the other order are refused, and a file whose
dates never say (every day ≤ 12) is refused whole — ``--dayfirst``/``--monthfirst`` settle
both. Files are read in chunks, so the order is decided as rows arrive; when a later chunk
proves an order other than the one an earlier chunk assumed, :func:`check_file_order` raises
:class:`DateOrderChanged` and the importer reads the file again with the order fixed.
ISO dates and an explicit ``--time-format`` never take part.

Kept apart from the text parsing because it is a decision about the whole file, with its own
state (the evidence) and its own messages, while parsing reads one value at a time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

from cctvctl.errors import CountFileError

DAYFIRST, MONTHFIRST = "day-first", "month-first"
FLAG = {DAYFIRST: "--dayfirst", MONTHFIRST: "--monthfirst"}


class DateOrderChanged(Exception):
    """A later chunk proved a date order other than the one earlier chunks were read with:
    read the file again with ``order`` fixed (the evidence travels along for the messages)."""

    def __init__(self, order: str, evidence: "OrderEvidence"):
        super().__init__(order)
        self.order = order
        self.evidence = evidence


@dataclass
class OrderEvidence:
    """What a file's year-last dates said about their order, with the first row of each kind."""

    proofs: dict = field(default_factory=lambda: {DAYFIRST: 0, MONTHFIRST: 0})
    ambiguous: int = 0
    examples: dict = field(default_factory=dict)  # kind → (line or None, text)

    def order(self) -> str | None:
        d, m = self.proofs[DAYFIRST], self.proofs[MONTHFIRST]
        return DAYFIRST if d > m else MONTHFIRST if m > d else None

    def where(self, kind: str) -> str:
        line, text = self.examples[kind]
        return f"line {line}: {text!r}" if line is not None else repr(text)


def fixed_order(dayfirst: bool, monthfirst: bool, file_order: str | None) -> str | None:
    """The order a flag gives, else the one a previous reading proved, else None (deciding)."""
    if dayfirst:
        return DAYFIRST
    if monthfirst:
        return MONTHFIRST
    return file_order


def split_year_last(a: pd.Series, b: pd.Series, text: pd.Series, lines, refused: pd.Series, *,
                    fixed: str | None, by_flag: bool, evidence: OrderEvidence,
                    applied: set) -> tuple[pd.Series, pd.Series]:
    """(month, day) of year-last dates in the file's order; contradicting rows refused.

    ``fixed``: the order already known (None: still deciding, and ``evidence`` is counted);
    ``by_flag``: it was given by ``--dayfirst``/``--monthfirst`` (the refusal names the flag);
    ``applied`` collects the orders rows whose order mattered were read with.
    """
    in_a, in_b = (a >= 1) & (a <= 12), (b >= 1) & (b <= 12)
    proves = {DAYFIRST: (a > 12) & (a <= 31) & in_b, MONTHFIRST: (b > 12) & (b <= 31) & in_a}
    ambiguous = in_a & in_b & (a != b)
    order = fixed
    ev = evidence
    if order is None:  # still deciding: count, remember an example of each kind
        for kind, mask in (*proves.items(), ("ambiguous", ambiguous)):
            n = int(mask.sum())
            if not n:
                continue
            if kind == "ambiguous":
                ev.ambiguous += n
            else:
                ev.proofs[kind] += n
            if kind not in ev.examples:
                first = mask.index[mask.to_numpy()][0]
                line = int(lines[first]) if lines is not None else None
                ev.examples[kind] = (line, text[first])
        order = ev.order() or MONTHFIRST  # provisional until check_file_order
        if (proves[DAYFIRST] | proves[MONTHFIRST] | ambiguous).any():
            applied.add(order)
    month, day = (b.copy(), a.copy()) if order == DAYFIRST else (a.copy(), b.copy())
    other = MONTHFIRST if order == DAYFIRST else DAYFIRST
    contra = proves[other]
    if contra.any():
        if by_flag:
            def message(v):
                return (f"date {v!r} is not {order} ({FLAG[order]}): only {other} reads it "
                        f"({reading(v, other)})")
        else:
            seen = ev.where(order) if order in ev.examples else "its other rows"

            def message(v):
                return (f"date {v!r} reads only {other} ({reading(v, other)}), but this "
                        f"file's dates are {order} ({seen}); fix the row, or give the "
                        "file's order with --dayfirst or --monthfirst")
        target = contra & refused.isna()
        refused[target] = [message(v) for v in text[target]]
        month[contra] = np.nan
    return month, day


def check_file_order(evidence: OrderEvidence, applied: set, source: str) -> None:
    """After the last chunk of a file whose order no flag fixed: refuse a file whose date order
    cannot be decided, or ask for a second reading (DateOrderChanged) when earlier chunks
    assumed the other order."""
    ev = evidence
    final = ev.order()
    if final is None:
        if ev.proofs[DAYFIRST]:  # as many rows prove each order
            raise CountFileError(
                f"{source}: the file mixes date orders: {ev.proofs[DAYFIRST]} row(s) read "
                f"only day-first ({ev.where(DAYFIRST)}) and as many only month-first "
                f"({ev.where(MONTHFIRST)}); use --dayfirst or --monthfirst (rows of the "
                "other order are then refused)")
        if ev.ambiguous:
            line, text = ev.examples["ambiguous"]
            where = f"{source}:{line}" if line is not None else source
            raise CountFileError(
                f"{where}: cannot tell the date order: {text!r} reads as "
                f"{reading(text, MONTHFIRST)} (month first) or {reading(text, DAYFIRST)} "
                "(day first), and no date in the file has a day above 12; use --dayfirst "
                "or --monthfirst")
        return
    if applied - {final}:
        raise DateOrderChanged(final, ev)


def reading(text: str, order: str) -> str:
    """A year-last date read in ``order``: ISO date, or why it is no date."""
    m = re.match(r"\s*(\d{1,2})\s*[-/.]\s*(\d{1,2})\s*[-/.]\s*(\d{4}|\d{2})", text)
    if not m:
        return "?"
    a, b, y = int(m[1]), int(m[2]), int(m[3])
    if len(m[3]) == 2:
        y += 2000 if y < 69 else 1900
    month, day = (b, a) if order == DAYFIRST else (a, b)
    try:
        return date(y, month, day).isoformat()
    except ValueError:
        return f"no such date: month {month}, day {day}"
