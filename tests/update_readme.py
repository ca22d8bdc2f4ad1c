"""Regenerate the CLI reference, docs/cli.md, from the commands' own --help.

Run ``python tests/update_readme.py`` after changing a command; ``tests/test_docs.py`` fails
while the reference is stale (STYLE habit 13: the reference is generated, never pasted). The
README links to it instead of holding it (it stays a newcomer's page, ≤ 12 KB).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
CLI_DOC = ROOT / "docs" / "cli.md"
START = "<!-- cli-reference:start -->"
END = "<!-- cli-reference:end -->"
PREAMBLE = ("<!-- Generated from --help by `python tests/update_readme.py`; tests/test_docs.py fails "
            "while it is stale. Do not edit by hand. -->\n")


def generated_reference() -> str:
    out = subprocess.run(
        [sys.executable, "-m", "typer", "cctvctl.cli", "utils", "docs", "--name", "cctvctl",
         "--title", "CLI reference"],
        check=True, capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", "COLUMNS": "100",
                                                          "HOME": str(Path.home())},
    ).stdout
    return out.strip()


def readme_reference(text: str) -> str:
    """The generated part of a reference page (between the markers)."""
    return text.split(START, 1)[1].split(END, 1)[0].strip()


def update() -> bool:
    old = CLI_DOC.read_text() if CLI_DOC.exists() else ""
    new = f"{PREAMBLE}{START}\n{generated_reference()}\n{END}\n"
    CLI_DOC.write_text(new)
    return new != old


if __name__ == "__main__":
    print("docs/cli.md updated" if update() else "docs/cli.md already current")
