"""``cctvctl.api`` is the library: every job the CLI does is a typed, documented function
returning the dataclass the CLI renders, usable from Python on a real database."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
from datetime import date, datetime, timedelta

import pytest

JOBS = ["import_file", "import_rows", "list_imports", "undo_import", "aggregate", "detect",
        "episodes", "alerts", "report", "status", "open_database", "zone_of"]


def test_import_cctvctl_api_exposes_the_whole_library_with_docstrings():
    code = ("import json, inspect, cctvctl.api as a\n"
            "print(json.dumps({n: [callable(getattr(a, n, None)), inspect.getdoc(getattr(a, n, None)) or '',"
            " str(inspect.signature(getattr(a, n))) if callable(getattr(a, n, None)) else '']"
            " for n in a.__all__}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    missing = [n for n in JOBS if n not in found or not found[n][0]]
    assert not missing, f"cctvctl.api lacks {missing}"
    for name, (_, doc, signature) in found.items():
        if name[0].islower():
            assert "Example" in doc, f"api.{name} has no example in its docstring"
            assert "->" in signature, f"api.{name} has no return annotation"


def test_the_cli_commands_call_the_library():
    """Thin CLI: the commands reach the database through cctvctl.api, not around it."""
    from pathlib import Path

    cli = Path(__file__).resolve().parents[1] / "cctvctl" / "cli"
    for module, call in [("aggregate_cmd", "api.aggregate("), ("detect_cmd", "api.detect("),
                         ("report_cmd", "api.report("), ("alerts_cmd", "api.alerts("),
                         ("db_cmd", "api.status(")]:
        text = (cli / f"{module}.py").read_text()
        assert call in text, f"{module} does not call {call}"
        for bypass in ("run_aggregate(", "detect_range(", "build_report(", "run_alerts(", "db_status("):
            assert bypass not in text, f"{module} calls {bypass} past the library"


def _rows(first: date, days: int):
    for d in range(days):
        for h in range(24):
            start = datetime.combine(first + timedelta(days=d), datetime.min.time()) + timedelta(hours=h)
            people = 10 + h + (500 if (d, h) == (days - 1, 12) else 0)
            yield {"camera": "gate-1", "start": start.isoformat(), "end": (start + timedelta(hours=1)).isoformat(),
                   "people": people, "vehicle": h % 3}


def test_the_library_round_trip_on_a_real_sqlite_file(tmp_path):
    from cctvctl import api
    from cctvctl.detect.model import DetectResult
    from cctvctl.report.model import Report
    from cctvctl.stats.run import AggregateResult
    from cctvctl.status import DbStatus

    url = f"sqlite://{tmp_path / 'cctv.db'}"
    imported = api.import_rows(list(_rows(date(2021, 8, 1), 21)), db=url, tz="Asia/Seoul")
    assert imported.inserted == 21 * 24
    assert [r.id for r in api.list_imports(db=url)] == [imported.import_id]

    agg = api.aggregate("all", db=url)
    assert isinstance(agg, AggregateResult) and agg.tz == "Asia/Seoul"
    assert api.aggregate("all", db=url).nothing_due  # a no-op the second time

    run = api.detect("2021-08-01", "2021-08-21", db=url, store=False)
    assert isinstance(run.result, DetectResult) and run.first == date(2021, 8, 1)
    assert str(run.tz) == "Asia/Seoul"
    assert run.result.start_utc == 1627743600  # 2021-08-01 00:00 in Seoul, in UTC
    assert isinstance(api.episodes("2021-08-01", "2021-08-21", db=url), list)

    rep = api.report(month="2021-08", db=url)
    assert isinstance(rep, Report) and [c.camera for c in rep.cameras] == ["gate-1"]

    st = api.status(db=url)
    assert isinstance(st, DbStatus) and st.rows == 21 * 24 and st.zone.key == "Asia/Seoul"
    assert "zone" not in st.as_dict()

    told = api.alerts("test", db=url, since="2021-08-01", now=datetime(2021, 8, 22, 0, 0))
    assert told.delivered == told.pending
    assert api.alerts("test", db=url, since="2021-08-01", now=datetime(2021, 8, 22)).pending == []

    undone = api.undo_import(imported.import_id, db=url)
    assert undone.removed == 21 * 24 and api.status(db=url).rows == 0


@pytest.mark.parametrize("call, message", [
    (lambda api, url: api.report(db=url), "exactly one of"),
    (lambda api, url: api.detect("2021-08-02", "2021-08-01", db=url), "before --since"),
    (lambda api, url: api.aggregate("fortnight", db=url), "unknown grain"),
])
def test_bad_input_is_refused_before_the_database_is_opened(tmp_path, call, message):
    from cctvctl import api
    from cctvctl.errors import UsageError

    url = f"sqlite://{tmp_path / 'absent.db'}"
    with pytest.raises(UsageError, match=message):
        call(api, url)
    assert not (tmp_path / "absent.db").exists()


def test_signatures_are_typed():
    from cctvctl import api

    for name in JOBS:
        sig = inspect.signature(getattr(api, name))
        untyped = [p for p in sig.parameters.values() if p.annotation is inspect.Parameter.empty
                   and p.kind not in (p.VAR_KEYWORD,)]
        assert not untyped, f"api.{name}: untyped {untyped}"
