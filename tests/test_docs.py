"""Every command explains itself with an example, and the README's CLI reference is current."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import typer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from update_readme import README, generated_reference, readme_reference  # noqa: E402


def _commands():
    from cctvctl.cli import app

    root = typer.main.get_command(app)

    def walk(cmd, path):
        yield path, cmd
        if hasattr(cmd, "commands"):
            for name, sub in cmd.commands.items():
                yield from walk(sub, path + [name])

    return list(walk(root, []))


@pytest.mark.parametrize("path,cmd", _commands(), ids=lambda v: " ".join(["cctvctl", *v]) if isinstance(v, list) else "")
def test_every_command_has_help_with_an_example(path, cmd):
    if hasattr(cmd, "commands") and path:
        assert cmd.help, f"group {' '.join(path)} has no help"
        return
    assert cmd.help and "Example:" in cmd.help, f"`cctvctl {' '.join(path)}` needs an Example: block"
    assert "cctvctl" in cmd.help.split("Example:", 1)[1]


def test_readme_cli_reference_is_current():
    assert readme_reference(README.read_text()) == generated_reference().strip(), (
        "README.md CLI reference is stale: run `python tests/update_readme.py`")


def test_readme_quick_start_is_two_commands():
    text = README.read_text()
    assert "cctvctl demo" in text
    assert "python -m pytest" in text
