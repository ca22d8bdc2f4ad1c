"""Regenerate the CLI reference section of README.md from the commands' own --help.

Run ``python tests/update_readme.py`` after changing a command; ``tests/test_docs.py`` fails
while the README is stale (STYLE habit 13: the reference is generated, never pasted).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"
START = "<!-- cli-reference:start -->"
END = "<!-- cli-reference:end -->"


def generated_reference() -> str:
    out = subprocess.run(
        [sys.executable, "-m", "typer", "cctvctl.cli", "utils", "docs", "--name", "cctvctl",
         "--title", "CLI reference"],
        check=True, capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", "COLUMNS": "100",
                                                          "HOME": str(Path.home())},
    ).stdout
    # one level deeper than the README's own headings
    return "\n".join(("#" + line) if line.startswith("#") else line for line in out.strip().splitlines())


def readme_reference(text: str) -> str:
    return text.split(START, 1)[1].split(END, 1)[0].strip()


def update() -> bool:
    text = README.read_text()
    before, rest = text.split(START, 1)
    _, after = rest.split(END, 1)
    new = f"{before}{START}\n{generated_reference()}\n{END}{after}"
    changed = new != text
    README.write_text(new)
    return changed


if __name__ == "__main__":
    print("README.md updated" if update() else "README.md already current")
