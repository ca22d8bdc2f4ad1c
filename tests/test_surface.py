"""Small surface defects a newcomer hit (issue 14): ``python -m cctvctl`` beside a checkout,
shell completion of option values, help examples that survive 80 columns."""

from __future__ import annotations

import inspect
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from cctvctl.cli.help import reflow

ROOT = Path(__file__).resolve().parents[1]
EXE = str(Path(sys.executable).with_name("cctvctl"))


# -- python -m cctvctl -------------------------------------------------------------------------
@pytest.mark.parametrize("beside", ["cctvctl", "checkout"])
def test_python_m_runs_from_the_folder_holding_the_checkout(tmp_path, beside):
    """A checkout folder named ``cctvctl`` in the working directory is found first on sys.path:
    with an import-hook editable install it shadowed the package as an empty namespace package
    (``cannot import name '__version__' from 'cctvctl' (unknown location)``)."""
    (tmp_path / beside).symlink_to(ROOT, target_is_directory=True)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-m", "cctvctl", "--version"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-500:]
    assert done.stdout.startswith("cctvctl ") and not done.stderr


# -- shell completion ----------------------------------------------------------------------------
def _complete(words: str, env_extra: dict | None = None) -> list[str]:
    """What bash gets for TAB at the end of ``words`` (the completion protocol Click speaks)."""
    parts = words.split(" ")
    env = dict(os.environ, _CCTVCTL_COMPLETE="complete_bash", COMP_WORDS=words,
               COMP_CWORD=str(len(parts) - 1), **(env_extra or {}))
    done = subprocess.run([EXE], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def _library_lists():
    from cctvctl.cli import aggregate_cmd, detect_cmd
    from cctvctl.detect import METHODS
    from cctvctl.detect.methods import FLOORS, SLOTS
    from cctvctl.ingest.dst import AMBIGUOUS, NONEXISTENT
    from cctvctl.ledger import STATUSES
    from cctvctl.render import FORMATS
    from cctvctl.render.sections import SECTIONS
    from cctvctl.report.model import COMPARE_MODES
    from cctvctl.sample import LAYOUTS

    table_json = ["table", "json"]
    return [
        ("cctvctl report --format ", FORMATS), ("cctvctl report --section ", SECTIONS),
        ("cctvctl report --compare ", COMPARE_MODES),
        ("cctvctl detect --method ", METHODS), ("cctvctl detect --slot ", SLOTS),
        ("cctvctl detect --floor ", FLOORS), ("cctvctl detect --format ", detect_cmd.FORMATS),
        ("cctvctl aggregate ", aggregate_cmd.GRAIN_CHOICES),
        ("cctvctl aggregate day --format ", table_json),
        ("cctvctl import --on-error ", ("reject", "skip")),
        ("cctvctl import --nonexistent ", NONEXISTENT), ("cctvctl import --ambiguous ", AMBIGUOUS),
        ("cctvctl import --wide-metric ", ("people", "vehicle")),
        ("cctvctl import --format ", table_json),
        ("cctvctl imports list --status ", STATUSES), ("cctvctl imports list --format ", table_json),
        ("cctvctl imports undo --format ", table_json), ("cctvctl db status --format ", table_json),
        ("cctvctl alerts --format ", table_json), ("cctvctl sample --layout ", LAYOUTS),
        ("cctvctl token list --format ", table_json), ("cctvctl token create --format ", table_json),
    ]


@pytest.mark.parametrize("words,values", _library_lists(), ids=lambda v: v if isinstance(v, str) else "")
def test_completion_offers_exactly_the_values_the_option_takes(words, values):
    assert _complete(words) == list(values)


def test_completion_narrows_to_what_was_typed():
    assert _complete("cctvctl detect --method s") == ["seasonal"]
    assert _complete("cctvctl report --format c") == ["csv"]
    assert _complete("cctvctl report --format x") == []


@pytest.mark.parametrize("words", ["cctvctl --tz Asia/Se", "cctvctl report --tz Asia/Se",
                                   "cctvctl db set-zone Asia/Se", "cctvctl demo --tz Asia/Se"])
def test_completion_offers_zones(words):
    got = _complete(words)
    assert "Asia/Seoul" in got and all(z.startswith("Asia/Se") for z in got)


def test_completion_of_every_zone_lists_real_zones():
    from zoneinfo import ZoneInfo

    got = _complete("cctvctl --tz Europe/")
    assert "Europe/Berlin" in got and len(got) > 30
    for name in got:
        ZoneInfo(name)  # each one loads


def test_completion_stays_on_the_fast_start_path():
    """A TAB imports nothing heavy: the value lists are literal in cctvctl.cli.complete."""
    code = ("import sys\nsys.argv = ['cctvctl']\nfrom cctvctl.cli import main\ntry:\n    main()\nexcept SystemExit:\n    pass\n"
            "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})), file=sys.stderr)\n")
    env = dict(os.environ, _CCTVCTL_COMPLETE="complete_bash", COMP_WORDS="cctvctl detect --method ",
               COMP_CWORD="3")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.stdout.split() == ["robust", "seasonal", "threshold"]
    loaded = set(done.stderr.strip().splitlines()[-1].split())
    assert not loaded & {"pandas", "numpy", "pymysql", "pydantic"}


# -- help examples at 80 columns -----------------------------------------------------------------
def _commands():
    from cctvctl.cli import app

    root = typer.main.get_command(app)

    def walk(cmd, path):
        yield path, cmd
        for name, sub in getattr(cmd, "commands", {}).items():
            yield from walk(sub, path + [name])

    return list(walk(root, []))


def _shell_lines(lines: list[str]) -> list[list[str]]:
    """The commands of example lines: continuations joined, each split as the shell would."""
    out, pending = [], ""
    for line in lines:
        line = line.strip()
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        out.append(shlex.split(pending + line))
        pending = ""
    assert not pending, "an example ends with a continuation"
    return out


@pytest.mark.parametrize("path,cmd", _commands(), ids=lambda v: " ".join(["cctvctl", *v]) if isinstance(v, list) else "")
def test_help_examples_paste_as_written_at_80_columns(path, cmd, runner):
    """At 80 columns every example line fits, and the lines shown are the same commands as
    written (a long one broken with a shell continuation, never wrapped mid-command)."""
    result = runner.invoke(__import__("cctvctl.cli", fromlist=["app"]).app, [*path, "--help"],
                           env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    shown = [line.rstrip() for line in result.stdout.splitlines()]
    assert all(len(line) <= 80 for line in shown), [line for line in shown if len(line) > 80]
    paragraphs = inspect.cleandoc(cmd.help or "").partition("\f")[0].split("\n\n")[1:]
    at = 0
    for paragraph in paragraphs:
        lines = paragraph.splitlines()
        if reflow(paragraph) != paragraph or lines[0].startswith(" "):
            continue  # prose (the terminal wraps it)
        header, body = lines[0].strip(), [line for line in lines[1:] if line.strip()]
        at = next(i for i in range(at, len(shown)) if shown[i].strip() == header) + 1
        end = next((i for i in range(at, len(shown)) if not shown[i].strip()), len(shown))
        assert _shell_lines(shown[at:end]) == _shell_lines(body), (path, shown[at:end])
