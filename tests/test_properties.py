"""Property tests: whatever bytes arrive, an import is a clean success or a clean rejection.

Never a traceback (an exception other than CountFileError/UsageError), never a partial write:
a rejection leaves the counts table exactly as it was, a success adds exactly `inserted` rows.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

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
