"""Regenerate the CLI reference, docs/cli.md, from the commands' own --help, and the
benchmark table of docs/performance.md from tests/bench/results.json.

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
PERF_DOC = ROOT / "docs" / "performance.md"
RESULTS = ROOT / "tests" / "bench" / "results.json"
BENCH_START = "<!-- bench-table:start (generated from tests/bench/results.json) -->"
BENCH_END = "<!-- bench-table:end -->"
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


def performance_table() -> str:
    """The table of the last full ``python tests/bench/run.py``, as measured (never edited)."""
    import json

    def cell(value) -> str:
        return "—" if value in (None, "") else str(value)

    met = {True: "yes", False: "**no**", None: "—"}
    rows = ["| case | ours s | baseline s | ratio | target | met | peak RSS MB |",
            "|---|---|---|---|---|---|---|"]
    for r in json.loads(RESULTS.read_text())["results"]:
        rows.append(f"| {r['case']} | {cell(r['seconds'])} | {cell(r.get('baseline_seconds'))} | "
                    f"{cell(r.get('ratio'))} | {cell(r.get('target'))} | {met[r.get('met')]} | "
                    f"{cell(r.get('peak_rss_mb'))} |")
    return "\n".join(rows)


def performance_doc_table(text: str) -> str:
    return text.split(BENCH_START, 1)[1].split(BENCH_END, 1)[0].strip()


def update() -> bool:
    old = CLI_DOC.read_text() if CLI_DOC.exists() else ""
    new = f"{PREAMBLE}{START}\n{generated_reference()}\n{END}\n"
    CLI_DOC.write_text(new)
    perf = PERF_DOC.read_text()
    before, rest = perf.split(BENCH_START, 1)
    after = rest.split(BENCH_END, 1)[1]
    new_perf = f"{before}{BENCH_START}\n{performance_table()}\n{BENCH_END}{after}"
    PERF_DOC.write_text(new_perf)
    return new != old or new_perf != perf


if __name__ == "__main__":
    print("docs/cli.md, docs/performance.md updated" if update() else "docs already current")
