"""Standing adversarial suite: hostile camera names through import → detect → report → db status.

Hypothesis draws names with spreadsheet-formula prefixes, C0/C1 controls, bidi overrides,
zero-width and markup characters, trailing spaces, very long and arbitrary Unicode text. Each
example is one file (named after a drawn name) imported with ``--on-error skip`` into a database
of each backend, one pair of local days per example. Every command in every format must:
exit cleanly with no traceback; write no raw control, bidi or format character to stdout or
stderr; put every stored name in csv as a neutral cell that decodes to it exactly; keep JSON
exact. Names the importer refuses land in ``*.rejected.csv``, decodable to the raw text.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import tempfile
import unicodedata
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from cctvctl.cli import app
from cctvctl.safetext import csv_value, unsafe

CAMERA_MAX = 64
#: refused in names: controls (C0, DEL, C1), format characters (bidi, zero-width, BOM), separators
_HIDDEN = ("Cc", "Cf", "Zl", "Zp", "Cs")
PREFIXES = ["=", "+", "-", "@", "\t", "\r", "\n", "'", "\uff1d", "[", "[/]", "[bold red]", "\u202e",
            "\u2066", "\u009b", "\x1b[31m", "\x1b]0;title\x07", " ", "-2+3", '=HYPERLINK("http://x","y")',
            "+cmd|' /C calc'!A0", "@SUM(1)", "\u200b", "\ufeff", "\u0085", "\u2028", "\\x1b", "$x$"]
TEXT = st.characters(blacklist_categories=("Cs",))
NAME = st.one_of(
    st.builds(lambda p, body, tail: p + body + tail, st.sampled_from(PREFIXES + [""]),
              st.text(TEXT, max_size=16), st.sampled_from(["", " ", "  ", "\t", "\u00a0", "\u3000"])),
    st.text(TEXT, min_size=60, max_size=90),  # around the 64-character limit
    st.text(TEXT, min_size=1, max_size=24),
)
NAMES = st.lists(NAME, min_size=1, max_size=6, unique_by=lambda s: s.strip())
EVERY_CLASS = ['=HYPERLINK("http://evil.example","x")', "+cmd|' /C calc'!A0", "@SUM(1)", "-2+3",
               "\tlead-tab", "gate\u009b31m", "exit\u202eTXT", "trailing  ", "x" * 65, "서울 정문 🎥",
               "[/]", "bad\x1bname"]
_days = itertools.count()


def stored_name(raw: str) -> str | None:
    """What the importer keeps of ``raw`` (its documented rule), or None where it refuses it."""
    name = raw.strip()
    if not name or len(name) > CAMERA_MAX or any(unicodedata.category(c) in _HIDDEN for c in name):
        return None
    return name


def raw_unsafe(text: str) -> list[str]:
    return sorted({c for c in text if c != "\n" and unsafe(c)})


def invoke(url: str, *args: str, codes=(0,)):
    from typer.testing import CliRunner

    result = CliRunner().invoke(app, ["--db", url, "--tz", "UTC", *args])
    out, err = result.stdout, result.stderr
    assert result.exit_code in codes, (args, result.exit_code, err[-400:])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in out + err and "unexpected" not in err, err[-400:]
    assert not raw_unsafe(out) and not raw_unsafe(err), (args, raw_unsafe(out + err))
    return result


def _file_name(names: list[str]) -> str:
    """A file named after the first name (``/`` and NUL cannot be in a file name)."""
    stem = names[0].replace("/", "_").replace("\x00", "_").encode("utf-8")[:120].decode("utf-8", "ignore")
    return f"f-{stem}.csv"


def _write(folder: Path, names: list[str], day: date) -> Path:
    path = folder / _file_name(names)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["camera", "start", "people"])
        for name in names:
            for h in range(48):
                t = datetime.combine(day - timedelta(days=1), datetime.min.time()) + timedelta(hours=h)
                w.writerow([name, t.isoformat(), 100 if h == 36 else 10])  # spike: noon of ``day``
    return path


def _decoded(rows: list[list[str]], column: int) -> set[str]:
    return {csv_value(r[column]) for r in rows}


def check_names(url: str, names: list[str]) -> None:
    day = date(2001, 1, 2) + timedelta(days=2 * next(_days))
    with tempfile.TemporaryDirectory() as folder:
        path = _write(Path(folder), names, day)
        imported = invoke(url, "import", str(path), "--on-error", "skip", "--interval", "60",
                          "--no-detect", codes=(0, 2))
        want = {stored_name(n) for n in names} - {None}
        refused = [n for n in names if stored_name(n) is None]
        if refused and imported.exit_code == 0:
            with open(f"{path}.rejected.csv", newline="", encoding="utf-8") as fh:
                rejected = list(csv.reader(fh))[1:]
            assert _decoded(rejected, 2) == set(refused)  # the raw text, exactly
            assert all(not raw_unsafe(c) and c[:1] not in "=+-@\t\r" for r in rejected for c in r)
        if imported.exit_code != 0:  # every row refused: nothing stored, one clear line
            assert not want and imported.stderr.count("error:") == 1
        since = ["--since", str(day), "--until", str(day)]
        invoke(url, "detect", *since, "--method", "threshold", "--format", "json")  # stores the flags
        flagged = {r["camera"] for r in json.loads(invoke(url, "detect", *since, "--method", "threshold",
                                                         "--dry-run", "--format", "json").stdout)}
        assert flagged == want
        rows = list(csv.reader(io.StringIO(invoke(url, "detect", *since, "--method", "threshold",
                                                  "--dry-run", "--format", "csv").stdout)))
        assert _decoded(rows[1:], 0) == want
        invoke(url, "detect", *since, "--method", "threshold", "--dry-run")
        report = ["report", "--day", str(day), "--compare", "none"]
        data = json.loads(invoke(url, *report, "--format", "json").stdout)
        assert {c["camera"] for c in data["cameras"]} == want
        assert {o["camera"] for o in data["outliers"]} == want
        for section in ("cameras", "summary", "outliers"):
            rows = list(csv.reader(io.StringIO(invoke(url, *report, "--format", "csv", "--section",
                                                      section).stdout)))
            col = rows[0].index("camera")
            assert _decoded(rows[1:], col) == want, section
            assert all(r[col][:1] not in tuple("=+-@\t\r\n\uff1d") for r in rows[1:])
        invoke(url, *report, "--format", "csv")
        invoke(url, *report)
        invoke(url, *report, "--format", "markdown")
        invoke(url, "db", "status")
        status = json.loads(invoke(url, "db", "status", "--format", "json").stdout)
        assert status["last_import"]["source"] == str(path)


HYPOTHESIS = settings(max_examples=5, deadline=None, database=None, derandomize=True,
                      suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@HYPOTHESIS
@given(names=NAMES)
@example(names=EVERY_CLASS)
def test_hostile_names_on_sqlite(sqlite_url, names):
    check_names(sqlite_url, names)


@HYPOTHESIS
@given(names=NAMES)
@example(names=EVERY_CLASS)
def test_hostile_names_on_mariadb(mysql_url, names):
    check_names(mysql_url, names)
