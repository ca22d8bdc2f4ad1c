"""Patched internals are fenced: the private attributes cctvctl wraps in Typer and PyMySQL exist
and are still used the way we rely on, the versions are bounded, and full command lines parse
the same with the start-up shortcut (cli/fastparams.py) as without it.

A new Typer or PyMySQL that renames these fails HERE, loudly, instead of silently misparsing
options or turning the LOCAL INFILE guard into a no-op.
"""

from __future__ import annotations

import inspect
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _dependency(name: str) -> str:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    return next(d for d in deps if re.match(rf"{name}\b", d, re.I))


@pytest.mark.parametrize("name", ["typer", "pymysql"])
def test_patched_packages_have_an_upper_bound_that_admits_the_installed_version(name):
    from importlib.metadata import version

    from packaging.specifiers import SpecifierSet

    spec = _dependency(name)
    assert "<" in spec, f"{spec}: cctvctl patches {name} internals, so its version must be bounded"
    assert version(name) in SpecifierSet(spec[len(name):]), f"installed {name} {version(name)} not in {spec}"


def test_pymysql_local_file_sender_is_where_the_guard_wraps_it():
    import pymysql.connections as connections

    from cctvctl.db import local_infile

    assert local_infile.supported()
    sender = connections._send_local_file
    assert list(inspect.signature(sender).parameters)[:2] == ["filename", "conn"]
    # the LOCAL INFILE reply path calls the module-level name we replace (not a bound copy)
    assert "_send_local_file(" in inspect.getsource(connections.MySQLResult._read_load_local_packet)
    assert local_infile.install_guard()
    assert connections._send_local_file.__name__ == "guarded_send_local_file"


def test_typer_coercion_internals_that_fastparams_wraps():
    import typer.core
    from typer._coercion import build_runtime_param  # noqa: F401  (fastparams imports it lazily)

    source = inspect.getsource(typer.core._TyperParameter.get_runtime_param)
    assert "self._runtime_param" in source and "build_runtime_param(self.type_descriptor)" in source
    process = inspect.getsource(typer.core._TyperParameter.process_value)
    assert "get_runtime_param()" in process


def _commands():
    import typer.main

    from cctvctl.cli import app

    return typer.main.get_command(app)


def test_fastparams_wraps_parameters_on_this_typer():
    """On a Typer whose internals moved, install() silently wraps nothing: fail instead."""
    from cctvctl.cli import fastparams

    group = _commands()
    fastparams.install(group)
    wrapped = [p.name for c in group.commands.values() for p in c.params
               if isinstance(getattr(p, "_runtime_param", None), fastparams._Passthrough)]
    assert len(wrapped) > 30 and "camera" in wrapped, wrapped


LINES = [
    ["detect", "--since", "2021-08-01", "--until", "2021-08-31", "--camera", "a", "--camera", "b",
     "--k", "4", "--weeks", "3", "--method", "seasonal", "--format", "csv", "--dry-run", "--episodes"],
    ["report", "--month", "2021-08", "--camera", "gate-1", "--camera", "gate 2", "--top", "0",
     "--section", "summary", "--section", "hour", "--compare", "last-year", "--format", "json"],
    ["aggregate", "day", "--date", "2021-08-01", "--camera", "x", "--k", "2.5", "--quiet"],
    ["alerts", "--consumer", "mail", "--dark-after", "0", "--timeout", "5", "--format", "json"],
    ["import", "a.csv", "b.csv", "--camera", "c", "--tz", "Asia/Seoul"],
]


@pytest.mark.parametrize("args", LINES, ids=lambda a: a[0])
def test_full_command_lines_parse_the_same_with_and_without_the_start_up_path(args):
    """Repeated options, numbers, flags, choices: every value equal, and of the same type."""
    from cctvctl.cli import fastparams

    fast, plain = _commands(), _commands()
    fastparams.install(fast)
    name, rest = args[0], args[1:]
    if name not in fast.commands:
        pytest.skip(f"no {name} command")
    got = fast.commands[name].make_context(name, list(rest)).params
    want = plain.commands[name].make_context(name, list(rest)).params
    assert got == want
    assert {k: type(v) for k, v in got.items()} == {k: type(v) for k, v in want.items()}
    if "--camera" in rest:
        cams = [rest[i + 1] for i, a in enumerate(rest) if a == "--camera"]
        key = "camera" if "camera" in got else "cameras"
        assert list(got[key]) == cams


@pytest.mark.parametrize("args", [["report", "--month", "2021-08"], ["detect", "--since", "2021-08-01"],
                                  ["aggregate", "all"], ["import", "-"]], ids=lambda a: a[0])
def test_defaults_parse_the_same_with_and_without_the_start_up_path(args):
    test_full_command_lines_parse_the_same_with_and_without_the_start_up_path(args)
