"""One home for backend differences: ``cctvctl/db/dialect.py`` and the ``Database`` object.

The savepoint, the connection's capabilities and the statements that differ per engine are
checked on both backends here; a scan of the package keeps the rest of the code free of
backend checks, hand-written savepoint SQL and private attributes of the drivers.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

import pytest

from cctvctl.errors import DatabaseError

PACKAGE = Path(__file__).resolve().parents[1] / "cctvctl"
#: where backend differences live
HOME = {"db/dialect.py", "db/database.py"}
#: modules that must know a driver or an engine themselves, and why (keep this short)
ALLOWED = {
    "db/connect.py": "opens each driver: URLs per scheme, SQLite PRAGMAs at connect, PyMySQL's "
                     "auth-plugin hooks (_secure, _read_packet) that keep passwords off clear text",
    "db/local_infile.py": "the fenced patch of PyMySQL's _send_local_file (version-bounded in "
                          "pyproject.toml, checked by tests/test_fences.py)",
    "db/lease.py": "Galera run-lock leases: MySQL only, on a raw connection of their own",
}
#: what gives backend knowledge away, in code (comments and docstrings may name engines)
TELLS = {
    "a backend check": r"\.backend\s*(==|!=|\bin\b)|\bdialect\.name\b|\bis_(mysql|sqlite)\b"
                       r"|[\"'](sqlite|mysql)[\"']",
    "savepoint SQL": r"\bSAVEPOINT\b|(?i:\brollback\s+to\b)",
    "a driver's private attribute": r"\b(conn|cur|cursor|connection|connections)\w*\._[a-z]"
                                    r"|getattr\(\s*[\w.]*(conn|cur|cursor)\w*\s*,\s*[\"']_",
    "a driver import": r"^\s*(import|from)\s+(pymysql|sqlite3)\b",
    "engine-only SQL": r"\b(PRAGMA|LAST_INSERT_ID|last_insert_rowid|INSERT OR IGNORE|INSERT IGNORE"
                       r"|ON DUPLICATE KEY|ON CONFLICT|json_each|LOAD DATA|(?i:group_concat)"
                       r"|sqlite_master)\b",
}

TABLE = "CREATE TABLE sp_probe (k INTEGER NOT NULL PRIMARY KEY)"


def _keys(db) -> list[int]:
    return [k for (k,) in db.query("SELECT k FROM sp_probe ORDER BY k")]


@pytest.fixture
def probe(db):
    db.execute(TABLE)
    return db


def test_a_savepoint_that_ends_well_keeps_its_writes_and_is_released(probe):
    db = probe
    with db.atomic():
        db.execute("INSERT INTO sp_probe VALUES (1)")
        with db.savepoint("step") as point:
            db.execute("INSERT INTO sp_probe VALUES (2)")
        with pytest.raises(DatabaseError):  # released: there is nothing to roll back to
            point.rollback()
    assert _keys(db) == [1, 2]


def test_an_error_inside_a_savepoint_undoes_only_the_step(probe):
    db = probe
    with db.atomic():
        db.execute("INSERT INTO sp_probe VALUES (1)")
        with pytest.raises(KeyError):
            with db.savepoint("step") as point:
                db.execute("INSERT INTO sp_probe VALUES (2)")
                raise KeyError("boom")
        assert _keys(db) == [1]
        db.execute("INSERT INTO sp_probe VALUES (3)")  # the transaction goes on
        with pytest.raises(DatabaseError):
            point.rollback()  # released after the rollback too
    assert _keys(db) == [1, 3]


def test_rollback_on_the_handle_undoes_and_the_block_goes_on(probe):
    db = probe
    with db.atomic():
        with db.savepoint("outer"):
            db.execute("INSERT INTO sp_probe VALUES (1)")
            with db.savepoint("inner") as point:
                db.execute("INSERT INTO sp_probe VALUES (2)")
                point.rollback()
                assert _keys(db) == [1]
                db.execute("INSERT INTO sp_probe VALUES (4)")
            db.execute("INSERT INTO sp_probe VALUES (5)")
    assert _keys(db) == [1, 4, 5]


def test_a_savepoint_name_is_an_identifier(probe):
    with probe.atomic():
        with pytest.raises(ValueError):
            with probe.savepoint("x; DROP TABLE sp_probe"):
                pass
    assert probe.table_exists("sp_probe")


def test_the_connection_says_what_it_can_do(db):
    db.execute("CREATE TABLE id_probe (id " + db.dialect.autoinc_pk + ", v INTEGER)")
    with db.atomic():
        db.execute("INSERT INTO id_probe (v) VALUES (7)")
        first = db.last_insert_id()
        db.execute("INSERT INTO id_probe (v) VALUES (8)")
        assert db.last_insert_id() == first + 1
    assert db.query("SELECT id, v FROM id_probe ORDER BY id") == [(first, 7), (first + 1, 8)]
    assert db.json_rows == (db.backend == "sqlite")  # MySQL's bulk path is LOAD DATA instead
    if db.backend == "sqlite":
        assert not db.local_infile
    db.refresh_planner_statistics()
    db.allow_long_concat()


def test_packed_concat_joins_every_row_of_a_group(db):
    """The detection's packed read: one comma-joined text per group, longer than MySQL's
    default 1 KiB cap once the session allows it."""
    db.execute("CREATE TABLE pc_probe (g INTEGER NOT NULL, a INTEGER NOT NULL, b INTEGER NOT NULL, "
               "PRIMARY KEY (g, a))")
    rows = [(1, a, a * 1000) for a in range(400)] + [(2, 5, 6)]
    db.executemany("INSERT INTO pc_probe VALUES (?, ?, ?)", rows)
    db.allow_long_concat()
    got = dict(db.query(f"SELECT g, {db.dialect.packed_concat(['a', 'b'])} FROM pc_probe GROUP BY g"))
    for g in (1, 2):
        want = sorted((a, b) for gg, a, b in rows if gg == g)
        values = [int(v) for v in got[g].split(",")]
        assert sorted(zip(values[::2], values[1::2])) == want


def _code_lines(path: Path) -> list[str]:
    """The file's lines with comments and docstrings (any bare string statement) blanked."""
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) \
                and isinstance(node.value.value, str):
            for i in range(node.lineno - 1, node.end_lineno):
                lines[i] = ""
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            row, col = tok.start
            lines[row - 1] = lines[row - 1][:col]
    return lines


def _tells(path: Path) -> list[str]:
    """``file:line: what: code`` of every tell in ``path``."""
    label = path.relative_to(PACKAGE) if path.is_relative_to(PACKAGE) else path.name
    found = []
    for number, line in enumerate(_code_lines(path), 1):
        for what, pattern in TELLS.items():
            if re.search(pattern, line):
                found.append(f"{label}:{number}: {what}: {line.strip()[:90]}")
    return found


def test_backend_knowledge_lives_in_the_dialect_and_the_database_object():
    """No backend check, savepoint SQL, driver private or engine-only statement outside
    cctvctl/db/dialect.py and the Database object (but for the short allow-list above)."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        name = path.relative_to(PACKAGE).as_posix()
        if name not in HOME and name not in ALLOWED:
            found += _tells(path)
    assert not found, "move these into cctvctl/db/dialect.py or Database:\n" + "\n".join(found)


@pytest.mark.parametrize("name", sorted(ALLOWED))
def test_every_allowance_is_still_needed(name):
    assert _tells(PACKAGE / name), f"{name} no longer needs its place on the allow-list"


def test_the_scan_sees_what_it_looks_for(tmp_path):
    """The tells match the code they were written against, not its comments or docstrings."""
    sample = tmp_path / "sample.py"
    sample.write_text('"""SAVEPOINT in a docstring, db.backend == \'mysql\'."""\n'
                      'x = 1  # ROLLBACK TO SAVEPOINT in a comment\n'
                      'if db.backend == "sqlite":\n'
                      '    db.execute("SAVEPOINT chunk1")\n'
                      'bulk = getattr(db.conn, "_local_infile", False)\n'
                      'sql = "SELECT LAST_INSERT_ID()"\n')
    found = [line.split(": ")[1] for line in _tells(sample)]
    assert found == ["a backend check", "savepoint SQL", "a driver's private attribute",
                     "engine-only SQL"]

