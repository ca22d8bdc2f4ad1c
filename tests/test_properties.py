"""Property tests: whatever bytes arrive, an import is a clean success or a clean rejection.

Never a traceback (an exception other than CountFileError/UsageError), never a partial write:
a rejection leaves the counts table exactly as it was, a success adds exactly `inserted` rows.
Files of generated rows (some bad, some repeated) are stored exactly as an independent pandas
reading of the raw text says: the rows, their UTC times and counts, what was rejected.
"""

from __future__ import annotations

import io
import secrets
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cctvctl.db import connect
from cctvctl.errors import CountFileError, UsageError
from cctvctl.ingest import ImportOptions, import_file

COLUMNS = ["camera", "start", "end", "start_date", "end_date", "people", "vehicle", "n_person",
           "n_car", "n_bus", "date", "hour", "time", "foo"]
CELLS = st.one_of(
    st.sampled_from(["", "0", "5", "-3", "1.5", "2147483648", "abc", "cam-1", "cam 2", "x" * 70,
                     "2021-08-01 00:00", "2021-08-01 00:05:00", "2021-08-01T00:00:00+09:00",
                     "2021-03-14 02:30", "2021-11-07 01:30", "13/45/2021 25:61", "3000-01-01 00:00",
                     "12", "23", "24", "\x00", "\ufeff", "'; DROP TABLE counts; --", '"quoted"']),
    st.text(max_size=12),
)


@st.composite
def csv_like(draw) -> bytes:
    header = draw(st.lists(st.sampled_from(COLUMNS), min_size=1, max_size=6))
    delim = draw(st.sampled_from([",", "\t", ";", "|"]))
    rows = draw(st.lists(st.lists(CELLS, min_size=0, max_size=len(header) + 1), max_size=8))
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    text = newline.join([delim.join(header)] + [delim.join(r) for r in rows]) + newline
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "cp949", "latin-1"]))
    return text.encode(encoding, errors="replace")


@pytest.fixture(scope="module")
def prop_db(tmp_path_factory):
    db = connect(f"sqlite://{tmp_path_factory.mktemp('prop') / 'p.db'}")
    yield db
    db.close()


def _check(db, path, data: bytes, **opts) -> None:
    path.write_bytes(data)
    before = db.scalar("SELECT COUNT(*) FROM counts")
    options = ImportOptions(tz=ZoneInfo("America/New_York"), detect=False, **opts)
    try:
        result = import_file(db, path, options)
    except (CountFileError, UsageError) as exc:
        assert str(exc) and "\n" not in str(exc)
        assert db.scalar("SELECT COUNT(*) FROM counts") == before
        return
    after = db.scalar("SELECT COUNT(*) FROM counts")
    assert after - before == result.inserted
    assert result.read >= result.inserted + result.duplicates
    if opts.get("on_error") != "skip":
        assert result.rejected == 0


settings_ = settings(max_examples=150, deadline=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@settings_
@given(data=st.binary(max_size=600))
def test_arbitrary_bytes_never_crash_or_half_write(prop_db, tmp_path, data):
    _check(prop_db, tmp_path / "in.csv", data, camera="cam-p")


@settings_
@given(data=csv_like(), skip=st.booleans())
def test_csv_like_input_is_clean_success_or_clean_rejection(prop_db, tmp_path, data, skip):
    opts = {"on_error": "skip", "rejected_path": str(tmp_path / "rej.csv")} if skip else {}
    _check(prop_db, tmp_path / "in.csv", data, **opts)


# -- generated rows against an independent reading --------------------------------------------
ZONE = ZoneInfo("America/New_York")
BAD_COUNTS = ["-3", "abc", "1.5", "100001"]  # negative, text, fraction, above --max-count


@st.composite
def count_rows(draw) -> tuple[list[list[str]], bool]:
    """Rows of camera,start,end,people,vehicle (local times, 5-minute grid, summer: no DST
    change), some with a bad count or time, some repeated word for word."""
    keys = draw(st.lists(st.tuples(st.sampled_from(["a", "gate 2", "Kamera-ü", "x" * 40]),
                                   st.integers(0, 4 * 288)), min_size=1, max_size=25, unique=True))
    rows = []
    for camera, step in keys:
        start = pd.Timestamp("2021-07-01") + pd.Timedelta(minutes=5 * step)
        people = draw(st.one_of(st.integers(0, 100_000).map(str), st.sampled_from(BAD_COUNTS)))
        vehicle = draw(st.one_of(st.integers(0, 500).map(str), st.just("")))
        stamp = start.strftime("%Y-%m-%d %H:%M")
        if draw(st.integers(0, 9)) == 0:
            stamp = start.strftime("%Y-%m-%d") + " 25:61"  # no such time
        rows.append([camera, stamp, (start + pd.Timedelta(minutes=5)).strftime("%Y-%m-%d %H:%M"),
                     people, vehicle])
        if draw(st.integers(0, 7)) == 0:
            rows.append(list(rows[-1]))  # the same line twice: the second is refused
    return rows, draw(st.booleans())


def pandas_reading(text: str) -> tuple[pd.DataFrame, int]:
    """Independent of cctvctl's reader: the stored rows the documented rules give (a bad count
    or time rejects the row, so does a key repeated later in the file; an empty vehicle is
    unknown with ``--na ''``) and how many lines are rejected."""
    raw = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    start = pd.to_datetime(raw["start"], format="%Y-%m-%d %H:%M", errors="coerce")
    end = pd.to_datetime(raw["end"], format="%Y-%m-%d %H:%M", errors="coerce")
    people = pd.to_numeric(raw["people"].where(raw["people"].str.fullmatch(r"[0-9]+")), errors="coerce")
    good = start.notna() & end.notna() & people.notna() & (people <= 100_000)
    utc_start = start.dt.tz_localize(ZONE).dt.tz_convert("UTC")
    utc_end = end.dt.tz_localize(ZONE).dt.tz_convert("UTC")
    out = pd.DataFrame({
        "camera": raw["camera"],
        "start_utc": (utc_start - pd.Timestamp("1970-01-01", tz="UTC")) // pd.Timedelta(seconds=1),
        "end_utc": (utc_end - pd.Timestamp("1970-01-01", tz="UTC")) // pd.Timedelta(seconds=1),
        "people": people,
        "vehicle": pd.to_numeric(raw["vehicle"].replace("", None)),
    })
    repeated = good & out[["camera", "start_utc"]].where(good).duplicated()
    keep = good & ~repeated
    return out[keep].reset_index(drop=True), int((~keep).sum())


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(generated=count_rows())
def test_generated_rows_are_stored_as_an_independent_reading_says(prop_db, tmp_path, generated):
    rows, skip = generated
    prefix = f"p{secrets.token_hex(3)}-"  # this example's own cameras in the shared database
    lines = ["camera,start,end,people,vehicle"] + [",".join([prefix + r[0]] + r[1:]) for r in rows]
    path = tmp_path / "gen.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    want, bad = pandas_reading(path.read_text(encoding="utf-8"))
    options = ImportOptions(tz=ZONE, detect=False, on_error="skip" if skip else "reject", na=("",),
                            rejected_path=str(tmp_path / "gen.rejected.csv"))
    stored = "SELECT camera, start_utc, end_utc, people, vehicle FROM counts WHERE camera LIKE ?"
    if bad and not skip:
        with pytest.raises(CountFileError):
            import_file(prop_db, path, options)
        assert prop_db.query(stored, (prefix + "%",)) == []
        return
    result = import_file(prop_db, path, options)
    got = sorted(prop_db.query(stored, (prefix + "%",)), key=lambda r: (r[0], r[1]))
    expected = sorted(((r.camera, int(r.start_utc), int(r.end_utc), int(r.people),
                        None if pd.isna(r.vehicle) else int(r.vehicle))
                       for r in want.itertuples(index=False)), key=lambda r: (r[0], r[1]))
    assert got == expected
    assert (result.inserted, result.rejected) == (len(expected), bad)
    assert result.duplicates == 0  # nothing of these cameras was stored before
