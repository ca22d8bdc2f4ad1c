"""``cctvctl.api`` is the library: every job the CLI does is a typed, documented function
returning the dataclass the CLI renders, usable from Python on a real database."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
from datetime import date, datetime, timedelta

import pytest

JOBS = ["import_file", "import_rows", "import_files", "list_imports", "undo_import", "aggregate", "detect",
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
                         ("db_cmd", "api.status("), ("import_cmd", "api.import_files(")]:
        text = (cli / f"{module}.py").read_text()
        assert call in text, f"{module} does not call {call}"
        for bypass in ("run_aggregate(", "detect_range(", "build_report(", "run_alerts(", "db_status(",
                       "ImportOptions(", "import_file(", "cctvctl.ingest"):
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


# -- import options in groups ------------------------------------------------------------------
#: ImportOptions fields no caller of the library sets: the zone is its own argument, the rest
#: belong to the server (token scope, no side file, lock wait, problems listed) or the pipeline
#: (chunk size, the plain reader's switch for differential tests)
NOT_GROUPED = {"tz", "chunk_rows", "camera_check", "write_rejected", "ledger_scope", "lock_timeout",
               "shown_problems", "fast_reader"}


def test_the_option_groups_cover_every_option_once():
    from dataclasses import fields

    from cctvctl.ingest import ImportOptions
    from cctvctl.ingest.options import GROUPS

    grouped = [f.name for group in GROUPS.values() for f in fields(group)]
    assert len(grouped) == len(set(grouped))
    assert set(grouped) == {f.name for f in fields(ImportOptions)} - NOT_GROUPED
    for group in GROUPS.values():  # each group's defaults are the CLI's (ImportOptions')
        for f in fields(group):
            assert getattr(group(), f.name) == getattr(ImportOptions(), f.name), f.name


def test_groups_mean_the_same_as_the_loose_names():
    from zoneinfo import ZoneInfo

    from cctvctl import api
    from cctvctl.errors import UsageError
    from cctvctl.ingest import ImportOptions

    tz = ZoneInfo("Asia/Seoul")
    grouped = ImportOptions.of(
        tz, layout=api.FileLayout(camera="gate-1", mapping=["people=P"], encoding="cp949"),
        time=api.TimeReading(interval=300, ambiguous="earliest", dayfirst=True),
        checks=api.RowChecks(max_count=50, na=("-1",), on_error="skip"),
        policy=api.ImportPolicy(replace=True, detect=False))
    loose = ImportOptions(tz=tz, camera="gate-1", mapping=["people=P"], encoding="cp949",
                          interval=300, ambiguous="earliest", dayfirst=True, max_count=50,
                          na=("-1",), on_error="skip", replace=True, detect=False)
    assert grouped == loose and grouped.fingerprint() == loose.fingerprint()
    assert grouped.mapping == {"people": "P"}
    with pytest.raises(TypeError, match="camera given in layout= and on its own"):
        ImportOptions.of(tz, layout=api.FileLayout(camera="a"), camera="b")
    with pytest.raises(TypeError, match="time= takes a TimeReading"):
        ImportOptions.of(tz, time=api.RowChecks())
    with pytest.raises(UsageError, match="--on-error"):  # checked as before
        ImportOptions.of(tz, checks=api.RowChecks(on_error="maybe"))


def test_import_takes_option_groups_not_a_long_list(tmp_path):
    """The library's import functions name a handful of parameters; the options travel in
    four small dataclasses (loose names still work for older callers)."""
    from cctvctl import api

    for fn in (api.import_file, api.import_rows, api.import_files):
        named = [p for p in inspect.signature(fn).parameters.values() if p.kind != p.VAR_KEYWORD]
        assert len(named) <= 9, (fn.__name__, [p.name for p in named])
    path = tmp_path / "gate.csv"
    path.write_text("start,P\n2021-08-01 09:00,5\n2021-08-01 09:05,-1\n2021-08-01 09:10,7\n")
    url_a, url_b = f"sqlite://{tmp_path / 'a.db'}", f"sqlite://{tmp_path / 'b.db'}"
    a = api.import_file(str(path), db=url_a, tz="UTC", layout=api.FileLayout(
        camera="gate-1", mapping={"people": "P"}), time=api.TimeReading(interval=300),
        checks=api.RowChecks(na=("-1",)), policy=api.ImportPolicy(detect=False))
    b = api.import_file(str(path), db=url_b, tz="UTC", camera="gate-1", mapping={"people": "P"},
                        interval=300, na=("-1",), detect=False)
    assert (a.inserted, a.unknown, a.interval_source) == (b.inserted, b.unknown, b.interval_source) \
        == (2, 1, "option")
    stored = []
    for url in (url_a, url_b):
        with api.open_database(url) as db:
            stored.append(db.query("SELECT camera, start_utc, end_utc, people FROM counts ORDER BY start_utc"))
    assert stored[0] == stored[1] == [("gate-1", 1627808400, 1627808700, 5),
                                      ("gate-1", 1627809000, 1627809300, 7)]


def test_import_files_goes_on_after_a_refused_file(tmp_path):
    from cctvctl import api

    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    good.write_text("camera,start,end,people\ng,2021-08-01 09:00,2021-08-01 09:05,5\n")
    bad.write_text("camera,start,end,people\ng,2021-08-02 09:00,2021-08-02 09:05,-3\n")
    url, started = f"sqlite://{tmp_path / 'c.db'}", []

    def progress(path):
        started.append(path)
        from contextlib import nullcontext
        return nullcontext()

    with api.import_files([str(bad), str(good)], db=url, tz="Asia/Seoul",
                          policy=api.ImportPolicy(detect=False), progress=progress) as run:
        assert run.zone.key == "Asia/Seoul" and run.database == url
        outcomes = list(run.files)
    assert started == [str(bad), str(good)]
    assert [o.path for o in outcomes] == [str(bad), str(good)]
    assert outcomes[0].result is None and "negative people count" in outcomes[0].refused.problems[0]
    assert outcomes[1].refused is None and outcomes[1].result.inserted == 1
    with api.open_database(url) as db:
        assert db.query("SELECT camera, people FROM counts") == [("g", 5)]
