"""Start-up stays light: help and plain commands import no pandas, PyMySQL or Pydantic.

Cold start is benchmarked in ``tests/bench`` (against ``python -c 'import typer'``); these tests
guard the causes, which a stray top-level import would silently undo. Option values that need a
real conversion still go through Typer's own coercion, with its messages.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from cctvctl.cli import app

HEAVY = ("pandas", "numpy", "pymysql", "pydantic", "click")


def _modules_after(args: list[str]) -> set[str]:
    code = ("import sys\nsys.argv = ['cctvctl', *sys.argv[1:]]\nfrom cctvctl.cli import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})), file=sys.stderr)\n")
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          timeout=60)
    return set(done.stderr.strip().splitlines()[-1].split())


@pytest.mark.parametrize("args", [["--help"], ["import", "--help"], ["report", "--help"],
                                  ["aggregate", "--help"], ["--version"]])
def test_help_imports_nothing_heavy(args):
    loaded = _modules_after(args)
    assert not loaded & set(HEAVY), f"{' '.join(args)} imported {sorted(loaded & set(HEAVY))}"


def test_a_bad_number_is_still_refused_by_typer(runner, sqlite_url):
    result = runner.invoke(app, ["--db", sqlite_url, "report", "--month", "2021-01", "--top", "many"])
    assert result.exit_code == 2
    assert "Invalid value for '--top'" in result.stderr


def test_given_values_reach_the_command(runner, sqlite_url):
    """Text, repeated text, numbers from the command line and defaults arrive as typed."""
    assert runner.invoke(app, ["--db", sqlite_url, "db", "init"]).exit_code == 0
    result = runner.invoke(app, ["--db", sqlite_url, "aggregate", "day", "--k", "2",
                                 "--camera", "a", "--camera", "b", "--format", "json"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == "[]"
    bad = runner.invoke(app, ["--db", sqlite_url, "aggregate", "day", "--k", "-1"])
    assert bad.exit_code == 2 and "--k must be a finite number ≥ 0" in bad.stderr
