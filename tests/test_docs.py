"""Every command explains itself with an example; the CLI reference (docs/cli.md) is current;
the README stays a newcomer's page (≤ 12 KB, true quick start); every link resolves inside the
repository and nothing points at documents outside it."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import typer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from update_readme import (CLI_DOC, PERF_DOC, README, generated_reference, performance_doc_table,  # noqa: E402
                           performance_table, readme_reference)

ROOT = README.parent


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


def test_cli_reference_is_current():
    assert readme_reference(CLI_DOC.read_text()) == generated_reference().strip(), (
        "docs/cli.md is stale: run `python tests/update_readme.py`")


def test_performance_table_is_generated_from_the_benchmark_results():
    """docs/performance.md shows tests/bench/results.json as measured, not a pasted copy."""
    table = performance_table()
    assert performance_doc_table(PERF_DOC.read_text()) == table, (
        "docs/performance.md table differs from tests/bench/results.json: run `python tests/update_readme.py`")
    assert table.count("\n") >= 20


def test_readme_quick_start_is_the_two_commands_ci_runs():
    """The quick start is exactly: install + demo, and the test command .ci/run ends with."""
    text = README.read_text()
    block = text.split("## Quick start", 1)[1].split("```console\n", 1)[1].split("```", 1)[0]
    assert block.splitlines() == ["pip install -e '.[test]' && cctvctl demo", "python -m pytest"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert "pip install --quiet -e '.[test]'" in ci
    assert ci.rstrip().splitlines()[-1] == "python -m pytest"


def test_readme_is_a_newcomers_page():
    size = len(README.read_bytes())
    assert size <= 12 * 1024, f"README.md is {size} bytes: move the manual to docs/ (limit 12 KB)"
    text = README.read_text()
    for section in ("## Quick start", "## Configuration", "## Exit codes", "### Import counts",
                    "### Aggregate (cron)", "### Report", "### Outliers and alerts"):
        assert section in text, section


def _pages():
    return [README, *sorted((ROOT / "docs").glob("*.md"))]


LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")


@pytest.mark.parametrize("page", _pages(), ids=lambda p: p.name)
def test_every_relative_link_resolves_to_a_file_in_the_repository(page):
    broken = []
    for target in LINK.findall(page.read_text()):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue  # a URL, or an anchor on the same page
        path = (page.parent / target.split("#", 1)[0]).resolve()
        if ROOT not in path.parents or not path.is_file():
            broken.append(target)
    assert not broken, f"{page.name}: links to nothing in the repository: {broken}"


OUTSIDE = re.compile(r"\.\./shared|DESIGN\.md|STYLE\.md|\bDESIGN §|/work/|\]\(/")


@pytest.mark.parametrize("page", _pages(), ids=lambda p: p.name)
def test_no_reference_to_documents_outside_the_repository(page):
    found = [m.group(0) for m in OUTSIDE.finditer(page.read_text())]
    assert not found, f"{page.name} names documents outside the repository: {found}"


def test_the_link_check_can_fail(tmp_path):
    page = tmp_path / "x.md"
    page.write_text("[a](docs/absent.md) [b](https://example.org) [c](#here)")
    assert [t for t in LINK.findall(page.read_text())] == ["docs/absent.md", "https://example.org", "#here"]
    assert OUTSIDE.search("see ../shared/DESIGN.md")


def test_the_readme_python_example_runs(tmp_path, monkeypatch):
    """The README's library example, run as printed on sample counts (a real SQLite file)."""
    import subprocess

    code = README.read_text().split("```python\n", 1)[1].split("```", 1)[0]
    exe = str(Path(sys.executable).with_name("cctvctl"))
    subprocess.run([exe, "sample", "--since", "2021-07-20", "--until", "2021-08-31", "--tz", "Asia/Seoul",
                    "--events", "2", "-o", str(tmp_path / "counts.csv")], check=True, capture_output=True)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CCTV_DB", raising=False)
    monkeypatch.delenv("CCTV_TZ", raising=False)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "cctv.db").exists()
