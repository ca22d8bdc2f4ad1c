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


def _modules_after(args: list[str], top_level: bool = True) -> set[str]:
    names = "{m.split('.')[0] for m in sys.modules}" if top_level else "set(sys.modules)"
    code = ("import sys\nsys.argv = ['cctvctl', *sys.argv[1:]]\nfrom cctvctl.cli import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            f"print(' '.join(sorted({names})), file=sys.stderr)\n")
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          timeout=60)
    return set(done.stderr.strip().splitlines()[-1].split())


@pytest.mark.parametrize("args", [["--help"], ["import", "--help"], ["report", "--help"],
                                  ["aggregate", "--help"], ["--version"]])
def test_help_imports_nothing_heavy(args):
    loaded = _modules_after(args)
    assert not loaded & set(HEAVY), f"{' '.join(args)} imported {sorted(loaded & set(HEAVY))}"


@pytest.mark.parametrize("args", [["--help"], ["import", "--help"], ["db", "--help"], ["import"]])
def test_help_is_drawn_without_typers_rich_formatter(args):
    """Typer's Rich help module loads Markdown, syntax highlighting and tracebacks: ~60 ms."""
    loaded = _modules_after(args, top_level=False)
    assert ("rich.console" in loaded) == ("--help" in args)  # help panels are Rich; usage errors plain
    assert not loaded & {"typer.rich_utils", "rich.markdown", "rich.syntax", "rich.traceback", "pygments"}


def test_a_usage_error_is_clicks_three_lines_with_plain_names(runner):
    result = runner.invoke(app, ["import"])
    assert result.exit_code == 2
    assert result.stderr == ("Usage: cctvctl import [OPTIONS] FILES...\nTry 'cctvctl import -h' for help.\n\n"
                             "Error: Missing argument 'files'.\n")


def _params(command) -> list:
    return [p for p in command.params if not getattr(p, "hidden", False)]


def test_every_command_documents_every_option_its_default_and_env_var(runner):
    import typer.main

    root = typer.main.get_command(app)
    paths = [[]] + [[name] for name in root.commands] + [["db", name] for name in root.commands["db"].commands] + [["token", name] for name in root.commands["token"].commands]
    for path in paths:
        command = root
        for name in path:
            command = command.commands[name]
        result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0, (path, result.output)
        text = result.stdout
        assert text.startswith(f"\n Usage: cctvctl {' '.join(path)}".rstrip() + " [OPTIONS]"), (path, text[:80])
        for param in _params(command):
            names = param.opts if param.param_type_name == "option" else [param.name.upper()]
            assert all(n in text for n in names), (path, names)
            if param.param_type_name == "option" and param.help:
                assert param.help.split()[0] in text, (path, param.name)
        if path == ["import"]:
            assert "--interval FLOAT" in text and "FILES..." in text  # default: inferred, said
            assert "[default: utf-8-sig]" in text
            assert "[required]" in text and "--detect / --no-detect" in text
        if path == []:
            assert "[env var: CCTV_DB]" in text and "Commands" in text
            assert all(f" {name} " in text for name in root.commands)


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


def test_an_import_with_default_options_needs_no_pydantic(tmp_path):
    """Options left at their defaults (``--interval`` None: inferred from the file) pass through
    as they are, not through Typer's Pydantic adapter (~90 ms of every nightly import)."""
    data = tmp_path / "one.csv"
    data.write_text("camera,start,people\ncam-1,2021-01-01 00:00,3\n")
    url = f"sqlite:///{tmp_path / 'one.db'}"
    loaded = _modules_after(["--db", url, "import", str(data), "--no-detect", "-q"])
    assert "pandas" in loaded and "pydantic" not in loaded
    from cctvctl.db import connect

    with connect(url) as db:  # one row tells no spacing: the default 5 minutes
        assert db.query("SELECT end_utc - start_utc FROM counts") == [(300,)]


def test_help_prose_reflows_to_the_terminal_and_examples_keep_their_lines(runner):
    from cctvctl.cli.help import reflow

    assert reflow("A file is\nrejected whole.") == "A file is rejected whole."
    example = "Example:\n    cctvctl import a.csv\n    cctvctl import - --camera x"
    assert reflow(example) == example
    result = runner.invoke(app, ["sample", "--help"], env={"COLUMNS": "60"})
    assert result.exit_code == 0
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert all(line.startswith((" ", "╭", "│", "╰")) for line in lines), lines  # wraps stay indented
    assert "(import them with the same --tz)." in " ".join(line.strip() for line in lines)
