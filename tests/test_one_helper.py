"""One helper per job: consecutive days into runs (cctvctl.periods.day_runs) and flags into
episodes (cctvctl.detect.episodes.chain) each have one home, checked against a plain reading."""

from __future__ import annotations

import ast
import random
from datetime import date, timedelta
from pathlib import Path

import pytest

from cctvctl.detect.episodes import chain
from cctvctl.periods import day_runs

PACKAGE = Path(__file__).resolve().parents[1] / "cctvctl"


def _plain_runs(days, limit=None):
    """Independent reading: walk every day from the first to the last one by one."""
    wanted = sorted(set(days))
    out, current = [], []
    for d in wanted:
        prev = current[-1] if current else None
        adjacent = prev is not None and (d - prev == timedelta(days=1) or d - prev == 1)
        if current and adjacent and (limit is None or len(current) < limit):
            current.append(d)
        else:
            if current:
                out.append((current[0], current[-1]))
            current = [d]
    if current:
        out.append((current[0], current[-1]))
    return out


@pytest.mark.parametrize("seed", range(20))
def test_day_runs_match_a_plain_walk(seed):
    rng = random.Random(seed)
    base = date(2021, 3, 1)
    ordinals = [rng.randrange(60) for _ in range(rng.randrange(0, 40))] * rng.choice([1, 2])
    rng.shuffle(ordinals)
    limit = rng.choice([None, 1, 3, 31])
    assert day_runs(ordinals, limit) == _plain_runs(ordinals, limit)
    dates = [base + timedelta(days=o) for o in ordinals]
    assert day_runs(dates, limit) == _plain_runs(dates, limit)


def test_day_runs_edges():
    assert day_runs([]) == []
    assert day_runs([date(2021, 2, 28), date(2021, 3, 1), date(2020, 12, 31), date(2021, 1, 1)]) == [
        (date(2020, 12, 31), date(2021, 1, 1)), (date(2021, 2, 28), date(2021, 3, 1))]
    assert day_runs(range(10), limit=4) == [(0, 3), (4, 7), (8, 9)]


def test_chain_joins_touching_intervals_of_one_key_only():
    items = [("a", 0, 300), ("a", 300, 600), ("a", 900, 1200), ("b", 600, 900), ("a", 1200, None),
             ("a", 1500, 1800)]
    runs = chain(items, lambda i: i[0], lambda i: i[1], lambda i: i[2])
    assert [[i[1] for i in r] for r in runs] == [[0, 300], [900, 1200], [1500], [600]]


def test_no_second_copy_of_the_runs_helper():
    """A function that walks sorted days appending to runs[-1] belongs in periods.day_runs."""
    copies = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef) and node.name.lstrip("_") in (
                    "runs", "date_runs", "day_runs", "group_episodes_runs") and not (
                    path.name == "periods.py" and node.name == "day_runs"):
                copies.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name}")
    assert not copies, copies
