"""Every detection fast path against its plain path, on inputs built to hit the fast path's edges.

The pre-screen (``cctvctl/detect/scan.py``) judges each whole local hour on its extremes and reads
back only the hours that may hold a flag; ``prescreen=False`` reads and judges every interval.
The generated cameras put what a pre-screen can get wrong where it would hurt: a one-interval
drop inside a busy hour (only the hour's minimum shows it), a spike inside a quiet night hour
(only its maximum), both DST changes of Europe/Berlin with an event in the hour after the gap
and in the repeated hour, a camera silent for three hours and one that goes dark (no rows), a
camera in its first weeks of history, and weekends that differ from workdays. Flags (every
field, parameters included) and tallies must be exactly equal, for every method, on SQLite and
MariaDB; the events must be flagged at all, so equality is not the equality of two empty lists.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from cctvctl.detect import METHODS, detect_range, load_flags
from cctvctl.ingest import ImportOptions, import_rows
from cctvctl.periods import local_midnight_utc

BERLIN = ZoneInfo("Europe/Berlin")
STEP = 300  # 5-minute intervals


def _camera(name: str, first: str, last: str, seed: int, scale: float = 1.0,
            weekend: float = 0.4) -> pd.DataFrame:
    """Poisson counts of one camera from UTC instants (so DST days have 23 and 25 hours):
    night ~1, midday ~60 a 5-minute interval on workdays, ``weekend`` of that on weekends."""
    instants = pd.date_range(first, last, freq=f"{STEP}s", tz="UTC", inclusive="left")
    local = instants.tz_convert(BERLIN)
    hour = local.hour.to_numpy() + local.minute.to_numpy() / 60
    level = (1 + 59 * np.exp(-((hour - 13) ** 2) / 10)) * scale
    level = np.where(local.day_of_week.to_numpy() >= 5, level * weekend, level)
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"camera": name, "instant": instants, "people": rng.poisson(level),
                         "vehicle": rng.poisson(level / 3)})


def _set(frame: pd.DataFrame, camera: str, local_start: str, minutes: int, **values) -> None:
    """Overwrite ``minutes`` of a camera's intervals from a local wall time (the later one of a
    repeated hour when ``local_start`` carries ``+01:00``)."""
    start = pd.Timestamp(local_start)
    start = start.tz_localize(BERLIN) if start.tzinfo is None else start
    at = (frame["camera"] == camera) & (frame["instant"] >= start) & \
         (frame["instant"] < start + pd.Timedelta(minutes=minutes))
    assert at.sum() == minutes * 60 // STEP, (camera, local_start)
    for metric, value in values.items():
        frame.loc[at, metric] = value


def generated() -> pd.DataFrame:
    spring = dict(first="2021-02-08", last="2021-04-06")
    parts = [
        _camera("busy-drop", seed=1, weekend=1.0, **spring),
        _camera("quiet-max", seed=2, scale=0.5, **spring),
        _camera("silent", seed=3, scale=0.8, **spring),
        _camera("dark", seed=4, **spring),
        _camera("new", "2021-03-22", "2021-04-06", seed=5),
        _camera("weekend", seed=6, weekend=1.0, **spring),
        _camera("fall", "2021-10-04", "2021-11-09", seed=7),
    ]
    frame = pd.concat(parts, ignore_index=True)
    _set(frame, "busy-drop", "2021-03-31 13:25", 5, people=1)  # a minimum inside a busy hour
    _set(frame, "busy-drop", "2021-03-28 03:10", 5, people=40)  # after the spring-forward gap
    _set(frame, "quiet-max", "2021-03-30 03:40", 5, people=40)  # a maximum inside a quiet hour
    _set(frame, "silent", "2021-04-01 14:00", 180, people=0, vehicle=0)  # a dead counter
    _set(frame, "weekend", "2021-04-03 12:00", 60, people=150)  # a surge on a Saturday
    _set(frame, "new", "2021-03-24 13:00", 10, people=400)  # extreme, while learning
    _set(frame, "fall", "2021-10-31 02:10+01:00", 5, people=45)  # in the repeated hour
    _set(frame, "fall", "2021-10-28 13:30", 5, people=2)  # a drop on a busy workday
    frame = frame[~((frame["camera"] == "dark") &  # goes dark: no rows for a day and a half
                    (frame["instant"] >= pd.Timestamp("2021-03-29 10:00", tz=BERLIN)) &
                    (frame["instant"] < pd.Timestamp("2021-03-30 22:00", tz=BERLIN)))]
    return frame.reset_index(drop=True)


def _load(db, frame: pd.DataFrame, detect: bool) -> None:
    starts = frame["instant"].dt.tz_convert(BERLIN).dt.strftime("%Y-%m-%dT%H:%M:%S%z")  # offset: DST-proof
    rows = [{"camera": c, "start": t, "people": int(p), "vehicle": int(v)}
            for c, t, p, v in zip(frame["camera"], starts, frame["people"], frame["vehicle"])]
    import_rows(db, rows, ImportOptions(tz=BERLIN, interval=STEP, detect=detect))


def _key(flags) -> list[tuple]:
    """Every field of every flag, in one order (stored flags come back by start and camera)."""
    return sorted([(f.camera, f.start_utc, f.end_utc, f.metric, f.direction, f.observed, f.expected,
             f.band_low, f.band_high, f.score, f.method, sorted(f.params.items())) for f in flags],
                  key=repr)


RANGES = [(date(2021, 3, 20), date(2021, 4, 6)), (date(2021, 10, 25), date(2021, 11, 8))]


def _both(db, method: str, first: date, end: date, **kwargs):
    lo, hi = local_midnight_utc(first, BERLIN), local_midnight_utc(end, BERLIN)
    fast = detect_range(db, BERLIN, lo, hi, method=method, store=False, **kwargs)
    plain = detect_range(db, BERLIN, lo, hi, method=method, store=False, prescreen=False, **kwargs)
    return fast, plain


def _at(local: str) -> int:
    start = pd.Timestamp(local)
    return int((start.tz_localize(BERLIN) if start.tzinfo is None else start).timestamp())


#: (method, camera, local start, metric, direction) that must be flagged by both paths
EXPECTED = [
    ("seasonal", "busy-drop", "2021-03-31 13:25", "people", "low"),
    ("robust", "busy-drop", "2021-03-31 13:25", "people", "low"),
    ("seasonal", "busy-drop", "2021-03-28 03:10", "people", "high"),
    ("robust", "busy-drop", "2021-03-28 03:10", "people", "high"),
    ("robust", "quiet-max", "2021-03-30 03:40", "people", "high"),
    ("seasonal", "quiet-max", "2021-03-30 03:40", "people", "high"),
    ("robust", "silent", "2021-04-01 16:55", "people", "low"),
    ("robust", "weekend", "2021-04-03 12:30", "people", "high"),
    ("robust", "new", "2021-03-24 13:00", "people", "high"),
    ("threshold", "new", "2021-03-24 13:00", "people", "high"),
    ("seasonal", "fall", "2021-10-31 02:10+01:00", "people", "high"),
    ("robust", "fall", "2021-10-28 13:30", "people", "low"),
]


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return generated()


@pytest.mark.parametrize("method", METHODS)
def test_prescreen_flags_equal_the_plain_path(db, frame, method):
    _load(db, frame, detect=False)
    for first, end in RANGES:
        fast, plain = _both(db, method, first, end)
        assert _key(fast.flags) == _key(plain.flags)
        assert (fast.evaluated, fast.fallback, fast.unjudged) == \
               (plain.evaluated, plain.fallback, plain.unjudged)
        assert fast.evaluated > 0
    wanted = [(cam, _at(start), metric, direction) for m, cam, start, metric, direction in EXPECTED
              if m == method]
    found = set()
    for first, end in RANGES:
        found |= {(f.camera, f.start_utc, f.metric, f.direction) for f in _both(db, method, first, end)[0].flags}
    assert [w for w in wanted if w not in found] == []


def test_prescreen_equals_plain_path_one_day_and_per_camera(db, frame):
    """Single days (the nightly case: the look-back reaches into the day before, and robust
    reads only the like-day hours the day's references use) and one camera."""
    _load(db, frame, detect=False)
    for method in METHODS:
        for day in (date(2021, 3, 28), date(2021, 3, 31), date(2021, 4, 1), date(2021, 10, 31)):
            fast, plain = _both(db, method, day, date.fromordinal(day.toordinal() + 1))
            assert _key(fast.flags) == _key(plain.flags), (method, day)
            assert (fast.evaluated, fast.fallback, fast.unjudged) == \
                   (plain.evaluated, plain.fallback, plain.unjudged), (method, day)
        fast, plain = _both(db, method, *RANGES[0], cameras=["busy-drop"])
        assert _key(fast.flags) == _key(plain.flags) != []


def test_import_time_flags_equal_the_plain_path(db, frame):
    """The nightly import: history first, then the last days with detection on (pre-screened);
    what it stores equals the plain path over the same days."""
    cut = pd.Timestamp("2021-03-31", tz=BERLIN)
    spring = frame[frame["instant"] < pd.Timestamp("2021-06-01", tz="UTC")]
    _load(db, spring[spring["instant"] < cut], detect=False)
    _load(db, spring[spring["instant"] >= cut], detect=True)
    lo, hi = local_midnight_utc(date(2021, 3, 31), BERLIN), local_midnight_utc(date(2021, 4, 7), BERLIN)
    stored = load_flags(db, lo, hi, method="robust")
    plain = detect_range(db, BERLIN, lo, hi, method="robust", store=False, prescreen=False)
    assert _key(stored) == _key(plain.flags) != []
    fast = detect_range(db, BERLIN, lo, hi, method="seasonal", store=False)
    plain = detect_range(db, BERLIN, lo, hi, method="seasonal", store=False, prescreen=False)
    assert _key(fast.flags) == _key(plain.flags) != []


def test_hours_of_a_short_range_across_the_fall_back_change():
    """The pre-screen reads back just the suspect hours, so the zone's offsets are looked up on
    a range of two real hours that holds the change: the later 02:xx is still hour 2 (it used to
    take the earlier offset when the change fell in the range's last probe window)."""
    from cctvctl.detect.engine import local_day_hour

    starts = np.arange(_at("2021-10-31 02:00+02:00"), _at("2021-10-31 02:55+01:00") + 1, STEP)
    day, hour = local_day_hour(starts, BERLIN)
    assert len(starts) == 24 and set(hour.tolist()) == {2}
    assert set(day.tolist()) == {date(2021, 10, 31).toordinal()}


# -- the packed day_hours read (schema 8) against the stats hour rows ---------------------------

def _hourly_both(db, first: date, end: date, cameras, only_days=None):
    from cctvctl.detect.source import DbMoments

    lo, hi = local_midnight_utc(first, BERLIN), local_midnight_utc(end, BERLIN)
    frames = [DbMoments(db, BERLIN, day_hours=packed).hourly(lo, hi, cameras, only_days=only_days)
              for packed in (True, False)]
    return [f.sort_values(["camera", "day", "hour"]).reset_index(drop=True)[sorted(f.columns)] for f in frames]


def _day_hours_rows(db) -> int:
    return int(db.scalar("SELECT COUNT(*) FROM day_hours"))


def test_day_hours_read_equals_the_stats_rows_after_late_data_undo_and_older_days(db, frame):
    """Detection reads aggregated days from one packed row per camera and day; the plain path
    reads the ``stats`` hour rows. Equal integers (so equal flags) through everything that
    changes stored days: aggregation, late data after it, an undo that recomputes (and deletes)
    days, and days aggregated before schema 8 (no packed row: read from ``stats``)."""
    from cctvctl.ledger import undo_import
    from cctvctl.stats import run_aggregate

    spring = frame[frame["instant"] < pd.Timestamp("2021-04-06", tz="UTC")]
    dark_gap = (spring["camera"] == "dark") & (spring["instant"] >= pd.Timestamp("2021-03-29 10:00", tz=BERLIN))
    _load(db, spring[~dark_gap & (spring["instant"] < pd.Timestamp("2021-04-02", tz=BERLIN))], detect=False)
    run_aggregate(db, "day", BERLIN, now=datetime(2021, 4, 2, 12, tzinfo=BERLIN), keep_rows=False)
    assert _day_hours_rows(db) > 0
    cameras = sorted(set(spring["camera"]))
    window = (date(2021, 2, 8), date(2021, 4, 2))
    packed, plain = _hourly_both(db, *window, cameras)
    assert len(packed) > 1000
    pd.testing.assert_frame_equal(packed, plain)

    # late data for days already aggregated (the dark camera's last four days), aggregated again
    late_rows = spring[dark_gap & (spring["instant"] < pd.Timestamp("2021-04-02", tz=BERLIN))]
    starts = late_rows["instant"].dt.tz_convert(BERLIN).dt.strftime("%Y-%m-%dT%H:%M:%S%z")
    import_rows_result = import_rows(db, [{"camera": "dark", "start": t, "people": int(p), "vehicle": int(v)}
                                          for t, p, v in zip(starts, late_rows["people"], late_rows["vehicle"])],
                                     ImportOptions(tz=BERLIN, interval=STEP, detect=False))
    late = import_rows_result.import_id
    packed, plain = _hourly_both(db, *window, cameras)  # its days are stale: read from raw counts
    pd.testing.assert_frame_equal(packed, plain)
    run_aggregate(db, "day", BERLIN, now=datetime(2021, 4, 2, 12, tzinfo=BERLIN), keep_rows=False)
    packed, plain = _hourly_both(db, *window, cameras)
    pd.testing.assert_frame_equal(packed, plain)
    assert (packed["camera"] == "dark").sum() > (packed["camera"] == "new").sum() > 0

    # an undo recomputes the days it gave back: their packed rows go with their stats rows
    before = _day_hours_rows(db)
    undo_import(db, late, detect=False)
    assert _day_hours_rows(db) < before
    packed, plain = _hourly_both(db, *window, cameras)
    pd.testing.assert_frame_equal(packed, plain)

    # days aggregated before schema 8 have no packed row: read from stats, with the rest
    db.execute("DELETE FROM day_hours WHERE period_start < ? OR camera = ?", ("2021-03-15", "weekend"))
    only = [(5, 23, [date(2021, 3, d).toordinal() for d in (5, 12, 19, 26)]),
            (0, 4, [date(2021, 3, d).toordinal() for d in (4, 11, 18, 25)])]
    for chosen in (None, only):
        packed, plain = _hourly_both(db, *window, cameras, only_days=chosen)
        pd.testing.assert_frame_equal(packed, plain)
    assert set(packed["camera"]) == set(cameras)

    # and the flags of the nights after it, fast path (packed) against the plain path
    fast, plain_flags = _both(db, "robust", date(2021, 3, 22), date(2021, 4, 2))
    assert _key(fast.flags) == _key(plain_flags.flags)
    assert any(f.camera == "silent" and f.direction == "low" for f in fast.flags)


def test_pack_and_unpack_keep_every_hour_and_null_sums():
    from cctvctl.stats.dayhours import pack, unpack
    from cctvctl.stats.moments import MOMENTS

    rows = pd.DataFrame({"camera": ["a", "a", "b"], "period_start": ["2021-10-31"] * 3,
                         "hour": [0, 23, 2], "n": [12, 24, 1], "people_n": [12, 24, 0],
                         "people_sum": [5, 2**40, None], "people_sumsq": [25, 2**62, None],
                         "vehicle_n": [0, 1, 0], "vehicle_sum": [None, 7, None], "vehicle_sumsq": [None, 49, None]})
    packed = pack(rows)
    assert sorted((d, c, len(b)) for d, c, b in packed) == [("2021-10-31", "a", 1344), ("2021-10-31", "b", 672)]
    back = unpack(packed).sort_values(["camera", "hour"]).reset_index(drop=True)
    want = rows.fillna(0).astype({m: "int64" for m in MOMENTS})
    pd.testing.assert_frame_equal(back[list(want.columns)], want)
    mask = np.zeros((2, 24), dtype=bool)
    mask[:, 23] = True
    assert unpack(packed, hours=mask)["hour"].tolist() == [23]


def test_import_time_flags_from_the_import_s_own_rows_equal_the_plain_path(db, frame, monkeypatch):
    """An import judges the rows it inserted from memory where the database holds exactly them
    in their range, and reads the rest: the look-back into earlier days, rows of other imports
    (a night sent in two files, one repeating rows of the other), rows it replaced. Cameras are
    judged in batches (here a few cameras each). After every import, what is stored equals the
    plain path over every night imported so far, and a first import of weeks of history too."""
    import cctvctl.detect.scan as scan

    monkeypatch.setattr(scan, "BATCH_ROWS", 3000)
    spring = frame[frame["instant"] < pd.Timestamp("2021-06-01", tz="UTC")]

    def at(lo: str, hi: str) -> pd.DataFrame:
        return spring[(spring["instant"] >= pd.Timestamp(lo, tz=BERLIN)) & (spring["instant"] < pd.Timestamp(hi, tz=BERLIN))]

    def check(first: date, end: date) -> None:
        lo, hi = local_midnight_utc(first, BERLIN), local_midnight_utc(end, BERLIN)
        stored = load_flags(db, lo, hi, method="robust")
        plain = detect_range(db, BERLIN, lo, hi, method="robust", store=False, prescreen=False)
        assert _key(stored) == _key(plain.flags)
        return stored

    _load(db, at("2021-02-08", "2021-03-29"), detect=True)  # weeks of history in one file
    assert check(date(2021, 2, 8), date(2021, 3, 29)) != []
    # days sent in two files: the second repeats the first's rows around the hour it fills in,
    # so the database holds more than its own rows in their range (the busy-drop event among them)
    _load(db, pd.concat([at("2021-03-29", "2021-03-31 12:00"), at("2021-03-31 13:00", "2021-04-01")]), detect=True)
    _load(db, at("2021-03-29", "2021-04-01"), detect=True)
    drop = check(date(2021, 3, 29), date(2021, 4, 1))
    assert ("busy-drop", _at("2021-03-31 13:25"), "people", "low") in {(f.camera, f.start_utc, f.metric, f.direction) for f in drop}
    changed = at("2021-04-01", "2021-04-02").copy()
    _load(db, changed, detect=True)
    changed.loc[changed["camera"] == "silent", "people"] = 1  # the dead counter sent again, fixed
    starts = changed["instant"].dt.tz_convert(BERLIN).dt.strftime("%Y-%m-%dT%H:%M:%S%z")
    import_rows(db, [{"camera": c, "start": t, "people": int(p), "vehicle": int(v)}
                     for c, t, p, v in zip(changed["camera"], starts, changed["people"], changed["vehicle"])],
                ImportOptions(tz=BERLIN, interval=STEP, detect=True, replace=True))
    stored = check(date(2021, 3, 29), date(2021, 4, 2))
    assert any(f.camera == "silent" and f.params["kind"] == "silent" and f.observed == 1 for f in stored)


def test_rows_read_packed_are_never_silently_cut(mysql_url):
    """MariaDB reads a night's rows as one GROUP_CONCAT text per camera; the server cuts a text
    longer than its limit with only a warning. A cut text is noticed (its end marker or its row
    count) and that camera is read row by row: the rows equal SQLite's reading of the same file."""
    from cctvctl.db import connect
    from cctvctl.detect.store import Span, read_rows

    frame = generated()
    frame = frame[frame["camera"].isin(["busy-drop", "dark"])]
    lo, hi = int(frame["instant"].min().timestamp()), int(frame["instant"].max().timestamp()) + STEP
    spans = [Span("busy-drop", lo, hi), Span("dark", lo, hi)]
    readings = []
    for url, cap in ((mysql_url, None), (mysql_url, 4000), (mysql_url, 10 ** 9), ("sqlite://:memory:", None)):
        db = connect(url)
        if not readings or url.startswith("sqlite"):
            _load(db, frame, detect=False)
        if cap is not None:
            db.allow_long_concat()
            db.execute(f"SET SESSION group_concat_max_len = {cap}")  # cut after ~200 rows
        rows = read_rows(db, spans).sort_values(["camera", "start_utc"], ignore_index=True)
        readings.append(rows)
        db.close()
    assert len(readings[0]) == len(frame)
    for rows in readings[1:]:
        pd.testing.assert_frame_equal(rows, readings[0])


def test_undo_after_aggregation_re_judges_on_the_statistics_it_restored(db, frame, monkeypatch):
    """``imports undo`` of a late ``--replace`` (aggregated since) re-judges the days after it.
    Their references come from the aggregated days; the undo used to re-judge before it
    recomputed them, on statistics still holding the undone values (and, its ledger rows gone,
    nothing marked them stale). Small chunks, so the references come from the database."""
    import cctvctl.detect as detect
    from cctvctl.ledger import undo_import
    from cctvctl.stats import run_aggregate

    monkeypatch.setattr(detect, "CHUNK_INTERVALS", 1)
    spring = frame[frame["instant"] < pd.Timestamp("2021-04-06", tz="UTC")]
    spring = spring[spring["camera"].isin(["busy-drop", "weekend", "silent"])]
    _load(db, spring[spring["instant"] < pd.Timestamp("2021-03-20", tz=BERLIN)], detect=True)
    run_aggregate(db, "day", BERLIN, now=datetime(2021, 3, 20, 12, tzinfo=BERLIN), keep_rows=False)
    _load(db, spring[spring["instant"] >= pd.Timestamp("2021-03-20", tz=BERLIN)], detect=True)
    late = spring[(spring["instant"] >= pd.Timestamp("2021-03-08", tz=BERLIN))
                  & (spring["instant"] < pd.Timestamp("2021-03-10", tz=BERLIN))].copy()
    late["people"] = late["people"] * 3 + 7
    starts = late["instant"].dt.tz_convert(BERLIN).dt.strftime("%Y-%m-%dT%H:%M:%S%z")
    result = import_rows(db, [{"camera": c, "start": t, "people": int(p), "vehicle": int(v)}
                              for c, t, p, v in zip(late["camera"], starts, late["people"], late["vehicle"])],
                         ImportOptions(tz=BERLIN, interval=STEP, detect=True, replace=True))
    run_aggregate(db, "day", BERLIN, now=datetime(2021, 4, 6, 12, tzinfo=BERLIN), keep_rows=False)
    undo_import(db, result.import_id, detect=True)
    lo, hi = local_midnight_utc(date(2021, 3, 8), BERLIN), local_midnight_utc(date(2021, 4, 6), BERLIN)
    stored = load_flags(db, lo, hi, method="robust")
    plain = detect_range(db, BERLIN, lo, hi, method="robust", store=False, prescreen=False)
    assert _key(stored) == _key(plain.flags) != []
