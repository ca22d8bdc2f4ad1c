"""``--replace`` always replaces, and every import can be listed and undone (issues 11 and 12).

Both backends. The CLI runs in-process (CliRunner) on real databases; what is stored is read back
with plain SQL, and statistics are checked against the independent pandas reference of
``aggref``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from import_helpers import fresh_url, shared_mysql_url, stored  # noqa: E402,F401

from cctvctl.cli import app  # noqa: E402

HEADER = "camera,start,people,vehicle\n"


def write(path: Path, rows: list[tuple]) -> Path:
    path.write_text(HEADER + "".join(",".join(str(v) for v in r) + "\n" for r in rows),
                    encoding="utf-8")
    return path


def cli(runner, url: str, *args: str):
    return runner.invoke(app, ["--db", url, *args])


def values(url: str) -> dict[tuple, tuple]:
    """(camera, start_utc) → (people, vehicle) of every stored row."""
    return {(r[0], r[1]): (r[2], r[3]) for r in stored(url, ("camera", "start_utc", "people", "vehicle"))}


STARTS = ["2021-08-02 08:00", "2021-08-02 08:05", "2021-08-02 08:10"]
BASE = [("gate", s, 10 + i, 1) for i, s in enumerate(STARTS)]
CHANGED = [("gate", s, 50 + i, 2) for i, s in enumerate(STARTS)]


# -- piece 1: --replace whatever earlier imports of the same file did --------------------------
def test_replace_after_a_skip_import_of_the_same_file(fresh_url, runner, tmp_path):
    """Issue 11 finding 3: a conflicting file imported with --on-error skip, then --replace."""
    cli(runner, fresh_url, "import", str(write(tmp_path / "base.csv", BASE)), "--no-detect")
    fix = write(tmp_path / "fix.csv", CHANGED + [("gate", "2021-08-02 08:15", 7, 0)])
    first = cli(runner, fresh_url, "import", str(fix), "--on-error", "skip", "--no-detect")
    assert first.exit_code == 0, first.output
    assert "inserted 1, duplicates 0, rejected 3" in first.stdout
    again = cli(runner, fresh_url, "import", str(fix), "--on-error", "skip", "--replace", "--no-detect")
    assert again.exit_code == 0, again.output
    assert "already imported" not in again.stdout
    assert "inserted 0, duplicates 1, replaced 3, rejected 0" in again.stdout
    assert sorted(v for v in values(fresh_url).values()) == [(7, 0), (50, 2), (51, 2), (52, 2)]


def test_replace_after_an_identical_earlier_import(fresh_url, runner, tmp_path):
    """Issue 12 M9: bytes imported before (plain or with --replace) are compared again."""
    base = write(tmp_path / "base.csv", BASE)
    other = write(tmp_path / "other.csv", CHANGED)
    assert cli(runner, fresh_url, "import", str(base), "--no-detect").exit_code == 0
    for _ in range(2):  # the second round: base was already imported *with* --replace
        r = cli(runner, fresh_url, "import", str(other), "--replace", "--no-detect")
        assert r.exit_code == 0 and "replaced 3" in r.stdout, r.output
        assert sorted(values(fresh_url).values()) == [(50, 2), (51, 2), (52, 2)]
        r = cli(runner, fresh_url, "import", str(base), "--replace", "--no-detect")
        assert r.exit_code == 0 and "replaced 3" in r.stdout, r.output
        assert sorted(values(fresh_url).values()) == [(10, 1), (11, 1), (12, 1)]
    # without --replace identical content stays a no-op
    r = cli(runner, fresh_url, "import", str(base), "--no-detect")
    assert "already imported" in r.stdout, r.output


def test_replace_of_unchanged_rows_counts_duplicates(fresh_url, runner, tmp_path):
    """A --replace import whose rows are all stored already writes nothing and says so."""
    base = write(tmp_path / "base.csv", BASE)
    assert cli(runner, fresh_url, "import", str(base), "--no-detect").exit_code == 0
    r = cli(runner, fresh_url, "import", str(base), "--replace", "--no-detect")
    assert r.exit_code == 0 and "inserted 0, duplicates 3, rejected 0" in r.stdout, r.output
