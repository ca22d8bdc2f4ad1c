"""Standing adversarial suite, option values: 0 tracebacks (issue 12, "done when").

Hypothesis drives ``report``, ``aggregate``, ``detect``, ``sample`` and ``import`` through the
Typer app in-process with dates and numbers at and beyond their limits (years 0–99999, weeks 0–99,
months 0–19, ±inf, nan, 1e308, subnormals, 2**64, negative seeds, codecs that are not text).
Every run must end in exit 0, or exit 1/2 with exactly one ``error:`` line that is not an
``unexpected …`` (the catch-all for bugs); the real database stays usable throughout. The
database has data around a skipped day (Pacific/Apia 2011-12-30) so dates near it are hit too.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cctvctl.cli import app

TZ = "Pacific/Apia"
settings_ = settings(max_examples=60, deadline=None, derandomize=True,
                     suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

# -- values at their limits --------------------------------------------------------------------
years = st.one_of(st.sampled_from([0, 1, 1969, 1970, 2011, 2099, 2100, 9999, 10000]),
                  st.integers(0, 99999))
_year_text = years.map(lambda y: f"{y:04d}")
day_text = st.one_of(
    st.builds(lambda y, m, d: f"{y}-{m:02d}-{d:02d}", _year_text, st.integers(0, 13), st.integers(0, 32)),
    st.sampled_from(["2011-12-30", "2011-12-29", "2011-12-31", "1970-01-01", "2099-12-31", "2100-01-01",
                     "9999-12-31", "0001-01-01", "2021-02-29", " 2021-08-01 ", "", "2021-8-1", "today"]),
    st.text(max_size=12))
week_text = st.one_of(st.builds(lambda y, w: f"{y}-W{w:02d}", _year_text, st.integers(0, 99)),
                      st.sampled_from(["2011-W52", "2099-W53", "1970-W01", "9999-W52", "2020-W53"]))
month_text = st.one_of(st.builds(lambda y, m: f"{y}-{m:02d}", _year_text, st.integers(0, 19)),
                       st.sampled_from(["2011-12", "0001-01", "9999-12", "2100-01"]))
float_text = st.one_of(
    st.sampled_from(["inf", "-inf", "nan", "1e308", "1e400", "-0", "0", "1e-320", "100", "100.0000001",
                     "1.5", "4", "0x10", "1_000", " 5", "", "e", "--1"]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(2**70), 2**70).map(str))
int_text = st.one_of(st.sampled_from(["-5", "0", "1", "-1", str(2**63), str(2**64), str(2**64 - 1),
                                      "1e3", "nan", "3.5", ""]),
                     st.integers(-(2**70), 2**70).map(str))


def _check(result, args) -> None:
    """Exit 0, or one ``error:`` line (exit 1 or 2); never a traceback or ``unexpected``."""
    assert result.exception is None or isinstance(result.exception, SystemExit), (args, result.exception)
    assert result.exit_code in (0, 1, 2), (args, result.exit_code, result.stderr)
    assert "Traceback" not in result.stderr and "unexpected" not in result.stderr, (args, result.stderr)
    if result.exit_code:
        lines = result.stderr.splitlines()
        # one line; import lists a rejected file's bad rows (file:line: reason) before it;
        # Click's own usage errors are three lines (usage, hint, "Error: …")
        single = lines and lines[-1].startswith("error: ") and (len(lines) == 1 or args[0] == "import")
        assert single or lines and lines[-1].startswith("Error: "), (args, result.stderr)


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    """A SQLite file with five days of hourly counts around Apia's skipped day, aggregated."""
    from datetime import datetime, timezone

    from typer.testing import CliRunner

    runner = CliRunner()
    folder = tmp_path_factory.mktemp("adversarial")
    url = f"sqlite:///{folder / 'cctv.db'}"
    t = 1325066400  # 2011-12-28 00:00 in Pacific/Apia (UTC−10)
    lines = ["camera,start,end,people,vehicle"]
    for i in range(5 * 24):
        a = datetime.fromtimestamp(t + 3600 * i, timezone.utc).isoformat()
        b = datetime.fromtimestamp(t + 3600 * (i + 1), timezone.utc).isoformat()
        lines.append(f"gate,{a},{b},{i % 9},{i % 4}")
    src = folder / "apia.csv"
    src.write_text("\n".join(lines) + "\n")
    for args in (["import", str(src)], ["aggregate", "all"]):
        result = runner.invoke(app, ["--db", url, "--tz", TZ, *args])
        assert result.exit_code == 0, result.stderr
    return url, folder


def _run(runner, url, args):
    result = runner.invoke(app, ["--db", url, "--tz", TZ, *args], input="")
    _check(result, args)
    return result


@settings_
@given(grain=st.sampled_from(["--day", "--week", "--month", "--year"]), data=st.data(),
       compare=st.sampled_from(["previous", "last-year", "none"]), top=int_text)
def test_report_dates_and_numbers(runner, loaded, grain, data, compare, top):
    url, _ = loaded
    value = data.draw({"--day": day_text, "--week": week_text, "--month": month_text,
                       "--year": _year_text}[grain])
    _run(runner, url, ["report", grain, value, "--compare", compare, "--top", top, "--format", "json"])


@settings_
@given(grain=st.sampled_from(["day", "week", "month", "year", "weekday", "all"]),
       mode=st.sampled_from(["date", "range", "none"]), a=day_text, b=day_text, k=float_text)
def test_aggregate_dates_and_k(runner, loaded, grain, mode, a, b, k):
    url, _ = loaded
    dates = {"date": ["--date", a], "range": ["--since", a, "--until", b], "none": []}[mode]
    _run(runner, url, ["aggregate", grain, *dates, "--k", k, "--format", "json"])


@settings_
@given(a=day_text, b=day_text, k=st.one_of(st.none(), float_text), weeks=st.one_of(st.none(), int_text),
       method=st.sampled_from(["robust", "seasonal", "threshold"]))
def test_detect_dates_and_numbers(runner, loaded, a, b, k, weeks, method):
    url, _ = loaded
    args = ["detect", "--since", a, "--until", b, "--method", method, "--dry-run", "--format", "json"]
    if k is not None:
        args += ["--k", k]
    if weeks is not None and method != "threshold":
        args += ["--weeks", weeks]
    _run(runner, url, args)


@settings_
@given(a=day_text, span=st.integers(0, 3), seed=int_text, cameras=int_text,
       interval=st.one_of(st.sampled_from(["60", "1440", "7", "0", "-5"]), int_text),
       events=int_text, tz=st.sampled_from(["America/Santiago", "Pacific/Apia", "Pacific/Kwajalein",
                                            "Asia/Seoul", "Australia/Lord_Howe"]))
def test_sample_dates_and_numbers(runner, loaded, a, span, seed, cameras, interval, events, tz):
    from datetime import date, timedelta

    _, folder = loaded
    try:  # mostly a short range after the drawn day; otherwise the drawn text as it is
        until = (date.fromisoformat(a.strip()) + timedelta(days=span)).isoformat()
    except (ValueError, OverflowError):
        until = a
    result = runner.invoke(app, ["sample", "--since", a, "--until", until, "--tz", tz, "--seed", seed,
                                 "--cameras", cameras, "--interval", interval, "--events", events,
                                 "-o", str(folder / "sample.csv"), "--quiet"])
    _check(result, ["sample", a, until, tz, seed, cameras, interval, events])


@settings_
@given(interval=float_text, encoding=st.sampled_from(["utf-8", "utf-16", "utf-16-le", "utf-32", "rot13",
                                                      "base64", "hex", "zlib", "cp949", "latin-1",
                                                      "idna", "punycode", "undefined", "nope", ""]),
       max_count=int_text)
def test_import_numbers_and_encodings(runner, loaded, interval, encoding, max_count):
    url, folder = loaded
    src = folder / "one.csv"
    if not src.exists():
        src.write_text("camera,start,people\ncam,2011-12-31 10:00,4\n")
    _run(runner, url, ["import", str(src), "--interval", interval, "--encoding", encoding,
                       "--max-count", max_count, "--no-detect"])


def test_the_database_is_still_whole(runner, loaded):
    url, _ = loaded
    result = _run(runner, url, ["report", "--week", "2011-W52", "--format", "json"])
    assert result.exit_code == 0
    assert '"days": 6' in result.stdout
