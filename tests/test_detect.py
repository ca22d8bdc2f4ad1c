"""Outlier detection: the method maths against brute-force pandas, and synthetic series with
injected surges, drops, a dead camera and a level shift, run through a real import.

Every expected value and band is checked against an independent pandas computation on the raw
rows (local hour slot, previous days), never against our own tables.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from cctvctl.detect import (SeasonalParams, ThresholdParams, affected_spans, detect_range,
                            interval_label, load_flags, make_params)
from cctvctl.detect.methods import (judge_seasonal, judge_threshold, seasonal_baseline,
                                    threshold_refs, trailing_sums)
from cctvctl.detect.model import Flag
from cctvctl.errors import UsageError
from cctvctl.ingest import ImportOptions, import_rows
from cctvctl.stats.moments import combine

SEOUL = ZoneInfo("Asia/Seoul")
DAY0 = date(2021, 3, 1)


@pytest.fixture(autouse=True)
def seasonal_imports(monkeypatch):
    """These tests are about the seasonal and threshold methods: imports here judge with
    ``seasonal``, as they did by default before the robust method (tests/test_detect_robust.py)."""
    import cctvctl.detect

    monkeypatch.setattr(cctvctl.detect, "DEFAULT_METHOD", "seasonal")


# -- helpers --------------------------------------------------------------------------------

def series(days: int, *, step_min: int = 60, first: date = DAY0, camera: str = "cam-1",
           seed: int = 1, scale: float = 1.0) -> pd.DataFrame:
    """Poisson counts around a daily rhythm (night ~5, midday ~200), local naive timestamps."""
    start = datetime.combine(first, datetime.min.time())
    stamps = pd.date_range(start, periods=days * 24 * 60 // step_min, freq=f"{step_min}min")
    hour = stamps.hour.to_numpy() + stamps.minute.to_numpy() / 60
    level = (5 + 195 * np.exp(-((hour - 13) ** 2) / 12)) * scale * step_min / 60
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"camera": camera, "start": stamps, "people": rng.poisson(level),
                         "vehicle": rng.poisson(level / 2)})


def load(db, frame: pd.DataFrame, tz: ZoneInfo = SEOUL, step_min: int = 60, detect: bool = True):
    rows = [{"camera": r.camera, "start": r.start.isoformat(), "people": int(r.people),
             "vehicle": int(r.vehicle)} for r in frame.itertuples(index=False)]
    return import_rows(db, rows, ImportOptions(tz=tz, interval=step_min * 60, detect=detect))


def utc(local: datetime, tz: ZoneInfo = SEOUL) -> int:
    return int(local.replace(tzinfo=tz).timestamp())


def pandas_slot_reference(frame: pd.DataFrame, at: datetime, metric: str = "people",
                          days: int = 56) -> tuple[float, float]:
    """Independent: mean and population std of the same local hour over the previous days."""
    day = pd.Timestamp(at).normalize()
    window = frame[(frame["start"] >= day - pd.Timedelta(days=days)) & (frame["start"] < day)
                   & (frame["start"].dt.hour == at.hour)]
    return float(window[metric].mean()), float(window[metric].std(ddof=0))


def seasonal_flags(db, first: date, last: date, **kwargs):
    result = detect_range(db, SEOUL, utc(datetime.combine(first, datetime.min.time())),
                          utc(datetime.combine(last, datetime.min.time())), **kwargs)
    return result


# -- pure maths -----------------------------------------------------------------------------

def _random_history(rng, cameras=3, days=60):
    rows = []
    for cam in range(cameras):
        for d in range(days):
            for h in range(24):
                if rng.random() < 0.15:
                    continue  # gaps are real
                n = int(rng.integers(1, 13))
                values = rng.poisson(20 + 5 * h, n)
                rows.append({"camera": f"c{cam}", "day": 738000 + d, "hour": h, "people_n": n,
                             "people_sum": int(values.sum()), "people_sumsq": int((values ** 2).sum()),
                             "vehicle_n": 0, "vehicle_sum": 0, "vehicle_sumsq": 0})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("slot", ["hour", "daytype-hour", "weekday-hour"])
def test_trailing_window_equals_brute_force(slot):
    rng = np.random.default_rng(5)
    hist = _random_history(rng)
    queries = hist[["camera", "day", "hour"]].sample(400, random_state=3).reset_index(drop=True)
    params = SeasonalParams(weeks=3, slot=slot)
    got = seasonal_baseline(hist, queries, params)
    weekday = (hist["day"] - 1) % 7
    for q, g in zip(queries.itertuples(), got.itertuples()):
        qwd = (q.day - 1) % 7
        same = {"hour": weekday == weekday, "daytype-hour": (weekday >= 5) == (qwd >= 5),
                "weekday-hour": weekday == qwd}[slot]
        win = hist[(hist["camera"] == q.camera) & (hist["hour"] == q.hour) & same
                   & (hist["day"] >= q.day - 21) & (hist["day"] < q.day)]
        assert (g.people_bn, g.people_bsum, g.people_bsumsq, g.people_bdays) == (
            win["people_n"].sum(), win["people_sum"].sum(), win["people_sumsq"].sum(), len(win))


def test_trailing_window_of_unknown_camera_is_empty():
    hist = _random_history(np.random.default_rng(1), cameras=1, days=10)
    queries = pd.DataFrame({"camera": ["nobody", "c0"], "day": [738005, 738005], "hour": [3, 3]})
    sums = trailing_sums(hist, ["camera", "hour"], queries, 7, "people")
    assert sums.n[0] == 0 and sums.days[0] == 0 and sums.n[1] > 0


def test_sigma_floor_keeps_one_passer_by_at_night_from_being_an_event():
    # a night slot: one passer-by in 20 days → mean 0.05, std 0.218
    mean, std = np.array([0.05, 0.05]), np.array([0.2179, 0.2179])
    j = judge_seasonal(np.array([1.0, 6.0]), mean, std, np.array([20, 20]), SeasonalParams(k=4))
    assert list(j.direction) == ["", "high"]  # σ floored at 1: band 0.05 ± 4
    assert j.band_high[0] == pytest.approx(4.05)
    # at volume the floor is sqrt(mean): mean 400 with std 5 → σ = 20
    j = judge_seasonal(np.array([470.0, 490.0]), np.array([400.0] * 2), np.array([5.0] * 2),
                       np.array([50, 50]), SeasonalParams(k=4))
    assert list(j.direction) == ["", "high"] and j.score[1] == pytest.approx(4.5)
    j = judge_seasonal(np.array([470.0]), np.array([400.0]), np.array([5.0]), np.array([50]),
                       SeasonalParams(k=4, floor="one"))
    assert list(j.direction) == ["high"]  # without the Poisson floor 14σ


def test_threshold_is_high_only():
    j = judge_threshold(np.array([0.0, 50.0, 200.0]), np.array([50.0] * 3), np.array([20.0] * 3),
                        np.array([100] * 3), ThresholdParams())
    assert list(j.direction) == ["", "", "high"]
    assert j.band_high[0] == pytest.approx(80.0) and np.isnan(j.band_low[0])


def test_threshold_reference_is_the_highest_grain_the_history_covers():
    # camera history starts 2020-06-03; judged days 2021-03-10, 2020-06-20 and 2020-06-04
    days = pd.date_range("2020-06-03", "2021-03-10", freq="D")
    rng = np.random.default_rng(2)
    daily = pd.DataFrame({"camera": "c", "day": [d.toordinal() for d in days.date],
                          "people_n": 24, "vehicle_n": 0, "vehicle_sum": 0, "vehicle_sumsq": 0})
    daily["people_sum"] = rng.integers(100, 1000, len(days))
    daily["people_sumsq"] = daily["people_sum"] * 50
    first = pd.Series({"c": date(2020, 6, 3).toordinal()}, dtype="float64")
    asked = [date(2021, 3, 10), date(2020, 6, 20), date(2020, 6, 4), date(2020, 6, 3)]
    queries = pd.DataFrame({"camera": "c", "day": [d.toordinal() for d in asked]})
    refs = threshold_refs(daily, first, queries, combine).set_index("day")
    got = {date.fromordinal(d): (r.people_grain, date.fromordinal(r.people_period) if r.people_grain else None)
           for d, r in refs.iterrows()}
    assert got[date(2021, 3, 10)] == ("month", date(2021, 2, 1))  # 2020 is not complete
    assert got[date(2020, 6, 20)] == ("week", date(2020, 6, 8))  # June is not complete
    assert got[date(2020, 6, 4)] == ("day", date(2020, 6, 3))
    assert got[date(2020, 6, 3)] == ("", None)  # the first day has no reference
    feb = daily[(days >= "2021-02-01") & (days < "2021-03-01")]
    assert refs.loc[date(2021, 3, 10).toordinal(), "people_rsum"] == feb["people_sum"].sum()


def test_parameters_are_validated():
    with pytest.raises(UsageError, match="--weeks only applies to the seasonal method"):
        make_params("threshold", weeks=4)
    with pytest.raises(UsageError, match="--slot must be one of"):
        make_params("seasonal", slot="minute")
    with pytest.raises(UsageError, match="--k must be a positive number"):
        make_params("seasonal", k=0)
    with pytest.raises(UsageError, match="--method must be one of robust, seasonal, threshold"):
        make_params("zscore")
    assert make_params("threshold").k == 1.5


def test_interval_label_combines_metrics_like_the_original():
    def f(metric, direction):
        return Flag("c", 0, 300, metric, direction, 1, 1, 0, 2, 3, "seasonal")

    assert interval_label([f("vehicle", "high"), f("people", "high")]) == "people & vehicle high"
    assert interval_label([f("people", "low")]) == "people low"
    assert interval_label([f("people", "high"), f("vehicle", "low")]) == "people high, vehicle low"


def test_an_import_re_judges_the_window_after_the_days_it_touched():
    days = [(date(2021, 3, 1) - date(1970, 1, 1)).days, (date(2021, 3, 3) - date(1970, 1, 1)).days]
    spans = affected_spans([("a", days[0]), ("a", days[1]), ("b", days[0])], ZoneInfo("UTC"), 7)
    start = utc(datetime(2021, 3, 1), ZoneInfo("UTC"))
    assert [(s.camera, s.start_utc, s.end_utc) for s in spans] == [
        ("a", start, start + 10 * 86400), ("b", start, start + 8 * 86400)]
    assert affected_spans([], ZoneInfo("UTC"), 7) == []  # an import that touched nothing


def test_a_nightly_import_off_utc_judges_only_the_local_days_it_wrote(db, monkeypatch):
    """The ledger keeps UTC days, and in Seoul each UTC day is parts of two local days: an
    import of one local day used to re-judge the whole day before it as well (twice the rows
    of a nightly file). It judges the local days it wrote, with the same flags."""
    import cctvctl.detect as detect

    frame, _, _ = _small_injected()
    night = frame["start"].dt.date == date(2021, 4, 11)
    load(db, frame[~night], detect=False)
    judged = []
    real = detect.judge_chunk
    monkeypatch.setattr(detect, "judge_chunk", lambda db_, tz, spans, *a, **k: judged.append(spans) or real(db_, tz, spans, *a, **k))
    load(db, frame[night])
    spans = [s for chunk in judged for s in chunk]
    assert spans and {s.start_utc for s in spans} == {utc(datetime(2021, 4, 11))}
    assert {s.end_utc for s in spans} == {utc(datetime(2021, 4, 12))}
    monkeypatch.setattr(detect, "judge_chunk", real)
    again = seasonal_flags(db, date(2021, 4, 11), date(2021, 4, 12), store=False)
    stored = load_flags(db, utc(datetime(2021, 4, 11)), utc(datetime(2021, 4, 12)))
    assert [(f.camera, f.start_utc, f.metric, f.direction) for f in stored] == \
           [(f.camera, f.start_utc, f.metric, f.direction) for f in again.flags]


# -- the original scenario, through a real import ----------------------------------------

def test_a_week_of_history_then_a_clearly_high_interval_is_flagged_with_its_reference(db):
    history = series(7, step_min=5, seed=11)
    load(db, history, step_min=5)  # its first week is judged by the threshold fallback
    at = datetime(2021, 3, 8, 13, 0)
    mean, std = pandas_slot_reference(history, at)
    normal = pd.DataFrame({"camera": ["cam-1"], "start": [at], "people": [round(mean)], "vehicle": [8]})
    assert load(db, normal, step_min=5).outliers == 0
    high_at = at + timedelta(minutes=5)
    high = pd.DataFrame({"camera": ["cam-1"], "start": [high_at], "people": [round(mean * 3)], "vehicle": [8]})
    result = load(db, high, step_min=5)
    assert result.outliers == 1
    flags = load_flags(db, utc(at), utc(at + timedelta(hours=1)))
    assert [(f.start_utc, f.metric, f.direction, f.label) for f in flags] == [
        (utc(high_at), "people", "high", "people high")]
    flag = flags[0]
    sigma = max(std, mean ** 0.5, 1)
    assert flag.expected == pytest.approx(mean)
    assert flag.band_high == pytest.approx(mean + 4 * sigma)
    assert flag.band_low == pytest.approx(mean - 4 * sigma)
    assert flag.score == pytest.approx((round(mean * 3) - mean) / sigma)
    assert flag.params["baseline_days"] == 7 and flag.params["baseline_n"] == 7 * 12
    assert flag.end_utc == utc(high_at) + 300


# -- synthetic series with injected events --------------------------------------------------

@pytest.fixture(scope="module")
def injected():
    """Ten weeks of hourly counts with a surge, a drop, a dead camera and a level shift."""
    frame = series(70, seed=3)
    t = frame["start"]
    events = {
        "surge": (t == datetime(2021, 4, 20, 14)),
        "drop": (t == datetime(2021, 4, 22, 12)),
        "dead": (t >= datetime(2021, 4, 27, 9)) & (t < datetime(2021, 4, 27, 17)),
    }
    frame.loc[events["surge"], "people"] *= 3
    frame.loc[events["drop"], "people"] //= 10
    frame.loc[events["dead"], ["people", "vehicle"]] = 0
    shift = t >= datetime(2021, 5, 3)
    frame.loc[shift, "people"] = np.random.default_rng(9).poisson(frame.loc[shift, "people"] * 2.5)
    return frame, events, shift


def test_injected_events_are_flagged_and_normal_days_are_not(mem_db, injected):
    frame, events, shift = injected
    load(mem_db, frame)
    result = seasonal_flags(mem_db, DAY0, date(2021, 5, 10))
    people = {f.start_utc: f for f in result.flags if f.metric == "people"}
    local = frame["start"].map(lambda s: utc(s.to_pydatetime()))
    surge = people[local[events["surge"]].iloc[0]]
    assert surge.direction == "high" and surge.score > 4
    assert people[local[events["drop"]].iloc[0]].direction == "low"
    low = {f.start_utc for f in result.flags if f.direction == "low"}
    assert set(local[events["dead"]]) <= low  # every dead hour, by people or vehicles
    assert sum(1 for s in local[shift & (frame["start"] < datetime(2021, 5, 4))] if s in people) >= 5
    injected_times = set(local[events["surge"] | events["drop"] | events["dead"] | shift])
    seasonal = [f for f in result.flags if f.start_utc not in injected_times
                and f.params.get("fallback") is None]
    assert seasonal == []  # Poisson noise alone never reaches 4σ here
    assert {f.params["fallback"] for f in result.flags if f.start_utc < utc(datetime(2021, 3, 8))} == {"threshold"}


def test_the_expected_value_of_every_flag_matches_pandas(mem_db, injected):
    frame, _, _ = injected
    load(mem_db, frame)
    result = seasonal_flags(mem_db, date(2021, 4, 1), date(2021, 5, 10), weeks=3)
    assert result.flags
    for flag in result.flags:
        at = datetime.fromtimestamp(flag.start_utc, SEOUL).replace(tzinfo=None)
        mean, std = pandas_slot_reference(frame, at, flag.metric, days=21)
        sigma = max(std, mean ** 0.5, 1)
        assert flag.expected == pytest.approx(mean)
        assert (flag.band_low, flag.band_high) == pytest.approx((mean - 4 * sigma, mean + 4 * sigma))


def pandas_seasonal_flags(frame: pd.DataFrame, first: date, end: date, k: float = 4,
                          weeks: int = 8) -> set[tuple[int, str, str]]:
    """Independent: (start_utc, metric, direction) of every raw row of ``[first, end)`` outside
    ``mean ± k·σ`` of the same local hour over the previous ``weeks``, σ = max(std, √mean, 1)."""
    lo, hi = pd.Timestamp(first), pd.Timestamp(end)
    out = set()
    for row in frame[(frame["start"] >= lo) & (frame["start"] < hi)].itertuples(index=False):
        for metric in ("people", "vehicle"):
            mean, std = pandas_slot_reference(frame, row.start.to_pydatetime(), metric, days=7 * weeks)
            sigma = max(std, mean ** 0.5, 1)
            value = getattr(row, metric)
            if abs(value - mean) > k * sigma:
                out.add((utc(row.start.to_pydatetime()), metric, "high" if value > mean else "low"))
    return out


def test_a_level_shift_is_absorbed_as_the_window_moves_on(mem_db, injected):
    """A level shift (×2.5 from 3 May) is flagged in its first week and absorbed once the
    trailing window holds the new level: both weeks' flags equal an independent pandas
    reading of the raw rows."""
    frame, _, shift = injected
    load(mem_db, frame)
    first_week = seasonal_flags(mem_db, date(2021, 5, 3), date(2021, 5, 10))
    got = {(f.start_utc, f.metric, f.direction) for f in first_week.flags}
    assert got == pandas_seasonal_flags(frame, date(2021, 5, 3), date(2021, 5, 10))
    shifted = set(frame.loc[shift, "start"].map(lambda s: utc(s.to_pydatetime())))
    assert {t for t, metric, _ in got if metric == "people"} <= shifted
    assert {d for _, metric, d in got if metric == "people"} == {"high"}
    more = series(35, first=date(2021, 5, 10), seed=21, scale=2.5)
    load(mem_db, more)
    settled = seasonal_flags(mem_db, date(2021, 6, 7), date(2021, 6, 14))
    everything = pd.concat([frame, more], ignore_index=True)
    assert {(f.start_utc, f.metric, f.direction) for f in settled.flags} == \
        pandas_seasonal_flags(everything, date(2021, 6, 7), date(2021, 6, 14))
    assert settled.intervals <= 2 < first_week.intervals


def test_weekday_slots_only_compare_like_days(mem_db):
    frame = series(63, seed=4)
    weekend = frame["start"].dt.day_of_week >= 5
    frame.loc[weekend, "people"] = frame.loc[weekend, "people"] * 3
    load(mem_db, frame, detect=False)
    # a tiny k flags nearly every interval, which exposes each one's expected value
    first, last = date(2021, 4, 24), date(2021, 4, 27)  # Saturday … Monday
    for slot, days_alike in (("daytype-hour", lambda d: d.dt.day_of_week >= 5),
                             ("weekday-hour", lambda d: d.dt.day_of_week),
                             ("hour", lambda d: d.dt.day_of_week * 0)):
        result = seasonal_flags(mem_db, first, last, slot=slot, k=0.001, store=False)
        checked = {True: 0, False: 0}
        for flag in (f for f in result.flags if f.metric == "people"):
            at = pd.Timestamp(datetime.fromtimestamp(flag.start_utc, SEOUL).replace(tzinfo=None))
            alike = frame[days_alike(frame["start"]) == days_alike(pd.Series([at])).iloc[0]]
            mean, _ = pandas_slot_reference(alike, at.to_pydatetime())
            assert flag.expected == pytest.approx(mean), (slot, at)
            checked[at.day_of_week >= 5] += 1
        assert checked[True] > 20 and checked[False] > 10, slot


# -- threshold and fallback through the database ------------------------------------------

def test_threshold_method_uses_last_month_and_flags_only_highs(mem_db):
    frame = series(45, first=date(2021, 2, 1), seed=8)
    frame.loc[frame["start"] == datetime(2021, 3, 10, 3), "people"] = 0
    frame.loc[frame["start"] == datetime(2021, 3, 10, 4), "people"] = 999
    load(mem_db, frame, detect=False)
    result = detect_range(mem_db, SEOUL, utc(datetime(2021, 3, 10)), utc(datetime(2021, 3, 11)),
                          method="threshold")
    feb = frame[(frame["start"] >= "2021-02-01") & (frame["start"] < "2021-03-01")]
    ref = feb["people"].mean() + 1.5 * feb["people"].std(ddof=0)
    day = frame[frame["start"].dt.date == date(2021, 3, 10)]
    expected = sorted(utc(s.to_pydatetime()) for s in day.loc[day["people"] > ref, "start"])
    people = [f for f in result.flags if f.metric == "people"]
    assert [f.start_utc for f in people] == expected and utc(datetime(2021, 3, 10, 4)) in expected
    assert {(f.direction, f.params["grain"], f.params["period"]) for f in people} == {("high", "month", "2021-02")}
    assert people[0].band_high == pytest.approx(ref)


def test_short_history_falls_back_to_threshold_and_says_so(mem_db):
    frame = series(3, seed=6)
    frame.loc[frame["start"] == datetime(2021, 3, 3, 13), "people"] = 900
    load(mem_db, frame, detect=False)
    result = seasonal_flags(mem_db, date(2021, 3, 3), date(2021, 3, 4))
    flag = next(f for f in result.flags if f.start_utc == utc(datetime(2021, 3, 3, 13)))
    assert flag.method == "seasonal" and flag.params["fallback"] == "threshold"
    assert flag.params["grain"] == "day" and flag.params["period"] == "2021-03-02"
    assert flag.basis == "threshold day 2021-03-02"
    yesterday = frame[frame["start"].dt.date == date(2021, 3, 2)]["people"]
    assert flag.band_high == pytest.approx(yesterday.mean() + 1.5 * yesterday.std(ddof=0))
    assert result.fallback == 24 and result.unjudged == 0
    first_day = seasonal_flags(mem_db, DAY0, date(2021, 3, 2))
    assert first_day.unjudged == 24 and first_day.flags == []


# -- stored flags, both backends ------------------------------------------------------------

def test_import_time_flags_equal_detect_over_the_same_range(db):
    frame, _, _ = _small_injected()
    for week in range(6):  # imported in time order, a week per file, detection on
        part = frame[(frame["start"] >= pd.Timestamp(DAY0) + pd.Timedelta(days=7 * week))
                     & (frame["start"] < pd.Timestamp(DAY0) + pd.Timedelta(days=7 * week + 7))]
        load(db, part)
    stored = load_flags(db, 0, 2 ** 40)
    again = seasonal_flags(db, DAY0, date(2021, 4, 12), store=False)
    key = [(f.camera, f.start_utc, f.metric, f.direction, round(f.expected, 6), f.label) for f in stored]
    assert key == [(f.camera, f.start_utc, f.metric, f.direction, round(f.expected, 6), f.label)
                   for f in again.flags]
    assert any(f.params.get("fallback") is None for f in stored)
    rerun = seasonal_flags(db, DAY0, date(2021, 4, 12))  # idempotent: replaces, never duplicates
    assert len(load_flags(db, 0, 2 ** 40)) == len(stored) == len(rerun.flags)
    assert db.scalar("SELECT COUNT(*) FROM outliers") == len(stored)


def test_late_data_re_judges_the_days_after_it(db):
    frame, _, _ = _small_injected()
    late = frame["start"].dt.date == date(2021, 3, 20)
    load(db, frame[~late])
    load(db, frame[late])
    stored = load_flags(db, 0, 2 ** 40)
    again = seasonal_flags(db, DAY0, date(2021, 4, 12), store=False)
    assert [(f.start_utc, f.metric, f.direction) for f in stored] == \
           [(f.start_utc, f.metric, f.direction) for f in again.flags]


def test_threshold_and_seasonal_flags_live_side_by_side(db):
    frame, _, _ = _small_injected()
    load(db, frame, detect=False)
    seasonal = seasonal_flags(db, date(2021, 3, 15), date(2021, 4, 12))
    threshold = detect_range(db, SEOUL, utc(datetime(2021, 3, 15)), utc(datetime(2021, 4, 12)),
                             method="threshold")
    assert db.scalar("SELECT COUNT(*) FROM outliers WHERE method = ?", ("seasonal",)) == len(seasonal.flags)
    assert db.scalar("SELECT COUNT(*) FROM outliers WHERE method = ?", ("threshold",)) == len(threshold.flags)
    assert len(threshold.flags) > len(seasonal.flags)  # the original rule flags every busy hour


def _small_injected():
    frame = series(42, seed=13)
    surge = frame["start"] == datetime(2021, 3, 30, 15)
    frame.loc[surge, ["people", "vehicle"]] *= 4
    drop = frame["start"] == datetime(2021, 4, 6, 12)
    frame.loc[drop, "people"] = 0
    return frame, surge, drop


def test_long_ranges_are_judged_in_time_chunks_with_the_same_result(mem_db, monkeypatch):
    import cctvctl.detect as detect

    frame, _, _ = _small_injected()
    load(mem_db, frame, detect=False)
    whole = seasonal_flags(mem_db, DAY0, date(2021, 4, 12), store=False)
    monkeypatch.setattr(detect, "CHUNK_INTERVALS", 1)  # → 7-day chunks
    chunked = seasonal_flags(mem_db, DAY0, date(2021, 4, 12), store=False)
    assert [(f.start_utc, f.metric, f.expected) for f in chunked.flags] == \
           [(f.start_utc, f.metric, f.expected) for f in whole.flags]
    assert (chunked.evaluated, chunked.fallback, chunked.unjudged) == \
           (whole.evaluated, whole.fallback, whole.unjudged) == (len(frame), 6 * 24, 24)


def test_reading_only_suspect_hours_gives_what_reading_every_row_gives(mem_db):
    frame, _, _ = _small_injected()
    five_min = series(30, step_min=5, camera="cam-5", seed=2)
    five_min.loc[five_min["start"] == datetime(2021, 3, 25, 13, 5), "people"] = 200
    load(mem_db, frame, detect=False)
    load(mem_db, five_min, step_min=5, detect=False)
    lo, hi = utc(datetime(2021, 3, 1)), utc(datetime(2021, 4, 12))
    for method in ("seasonal", "threshold"):
        scanned = detect_range(mem_db, SEOUL, lo, hi, method=method, store=False)  # whole days
        every = detect_range(mem_db, SEOUL, lo - 1, hi - 1, method=method, store=False)  # not
        assert [(f.camera, f.start_utc, f.metric, f.direction, f.expected, f.end_utc) for f in scanned.flags] == \
               [(f.camera, f.start_utc, f.metric, f.direction, f.expected, f.end_utc) for f in every.flags]
        assert (scanned.evaluated, scanned.fallback, scanned.unjudged) == \
               (every.evaluated, every.fallback, every.unjudged) != (0, 0, 0)
        assert any(f.camera == "cam-5" for f in scanned.flags)


def test_the_repeated_hour_of_a_dst_night_is_screened_like_every_other(mem_db):
    """Fall-back night in Berlin: wall hour 02 holds two real hours (both in one bucket); a spike
    in its second half is found on whole days exactly as when every row is judged."""
    berlin = ZoneInfo("Europe/Berlin")
    instants = pd.date_range("2021-10-01", "2021-11-05", freq="5min", tz="UTC", inclusive="left")
    frame = series(35, step_min=5, first=date(2021, 10, 1), seed=4)
    frame["start"] = instants.tz_convert(berlin).tz_localize(None)  # 02:xx twice on 10-31
    spike = instants.get_loc(pd.Timestamp("2021-10-31 01:10", tz="UTC"))  # the later 02:10
    assert frame["start"].iloc[spike] == datetime(2021, 10, 31, 2, 10)
    frame.loc[spike, "people"] = 300
    load(mem_db, frame, tz=berlin, step_min=5, detect=False)
    lo, hi = utc(datetime(2021, 10, 29), berlin), utc(datetime(2021, 11, 2), berlin)
    scanned = detect_range(mem_db, berlin, lo, hi, store=False)
    every = detect_range(mem_db, berlin, lo - 1, hi - 1, store=False)
    key = [(f.camera, f.start_utc, f.metric, f.direction, f.expected) for f in scanned.flags]
    assert key == [(f.camera, f.start_utc, f.metric, f.direction, f.expected) for f in every.flags]
    assert (scanned.evaluated, scanned.fallback) == (every.evaluated, every.fallback)
    assert any(f.start_utc == int(instants[spike].timestamp()) and f.metric == "people" for f in scanned.flags)


def test_fallback_and_unjudged_tallies_count_rows_not_hours(mem_db):
    """Files of one camera with different columns: a people-only history, then hours that mix
    people-only, vehicle-only and empty rows. The whole-day pre-screen tallies what judging every
    row tallies: people (18 days of history) is judged by its season, vehicle (none before) is
    unjudged on the first day and falls back to the threshold rule on the second."""
    rows = []
    for i, t in enumerate(range(0, 20 * 86400, 300)):
        if t < 18 * 86400:
            if i % 2 == 0:
                rows.append({"camera": "a", "start": t, "people": 5 + i % 3})
        else:
            kind = i % 3  # people only, vehicle only, neither
            rows.append({"camera": "a", "start": t, "people": 5 if kind == 0 else None,
                         "vehicle": 1 if kind == 1 else None})
    mem_db.executemany("INSERT INTO imports (source, sha256, options_sha256, tz, status, started_at) "
                       "VALUES ('t', 'x', 'y', 'UTC', 'ok', 0)", [()])
    mem_db.executemany("INSERT INTO counts (camera, start_utc, end_utc, people, vehicle, import_id) "
                       "VALUES (?, ?, ?, ?, ?, 1)",
                       [(r["camera"], r["start"], r["start"] + 300, r.get("people"), r.get("vehicle"))
                        for r in rows])
    utc = ZoneInfo("UTC")
    whole = detect_range(mem_db, utc, 18 * 86400, 20 * 86400, cameras=["a"], store=False)
    every = detect_range(mem_db, utc, 18 * 86400 - 1, 20 * 86400 - 1, cameras=["a"], store=False)
    assert (whole.evaluated, whole.fallback, whole.unjudged) == \
           (every.evaluated, every.fallback, every.unjudged) == (576, 96, 288)


def test_only_hours_that_hold_a_flag_have_their_rows_read(mem_db, monkeypatch):
    """The pre-screen judges each hour on its smallest and largest value: an hour is read back
    only if one of its intervals is flagged (not, say, every hour with a wide spread)."""
    import cctvctl.detect.scan as scan

    frame, _, _ = _small_injected()
    five_min = series(30, step_min=5, camera="cam-5", seed=2)
    five_min.loc[five_min["start"] == datetime(2021, 3, 25, 13, 5), "people"] = 200
    load(mem_db, frame, detect=False)
    load(mem_db, five_min, step_min=5, detect=False)
    read: list[tuple] = []
    real = scan._suspect_rows

    def spy(db, tz, suspect, current, spans):
        read.extend(zip(suspect["camera"], suspect["day"], suspect["hour"]))
        return real(db, tz, suspect, current, spans)

    monkeypatch.setattr(scan, "_suspect_rows", spy)
    lo, hi = utc(datetime(2021, 3, 1)), utc(datetime(2021, 4, 12))
    for method in ("seasonal", "threshold"):
        read.clear()
        result = detect_range(mem_db, SEOUL, lo, hi, method=method, store=False)
        local = [datetime.fromtimestamp(f.start_utc, SEOUL) for f in result.flags]
        flagged = {(f.camera, t.date().toordinal(), t.hour) for f, t in zip(result.flags, local)}
        assert sorted(read) == sorted(flagged) and flagged
        assert len(read) == len(set(read))


def test_references_read_from_the_aggregated_hours_equal_those_from_raw_counts(db):
    from cctvctl.stats import run_aggregate

    frame, _, _ = _small_injected()
    load(db, frame, detect=False)
    days = (date(2021, 3, 26), date(2021, 4, 2))

    def expected_values():  # a tiny k flags nearly everything and so exposes every reference
        result = seasonal_flags(db, *days, k=0.001, store=False)
        windows.update((f.params["baseline_n"], f.params["baseline_days"]) for f in result.flags)
        return {(f.start_utc, f.metric): f.expected for f in result.flags}

    windows: set = set()
    from_raw = expected_values()
    raw_windows, windows = windows, set()
    run_aggregate(db, "day", SEOUL, now=datetime(2021, 4, 1, 12, tzinfo=SEOUL))
    assert db.scalar("SELECT value FROM agg_state WHERE name = 'through:day'") == "2021-03-31"
    assert expected_values() == from_raw and len(from_raw) > 100
    assert windows == raw_windows == {(d, d) for d in range(25, 32)}  # hourly: n = days
    # the stored hours are really what is read: tampering with one shows in its references
    db.execute("UPDATE stats SET people_sum = people_sum + 5600 WHERE grain = 'hour' "
               "AND period_start = '2021-03-20' AND hour = 13")
    tampered = expected_values()
    at = (utc(datetime(2021, 3, 27, 13)), "people")
    assert tampered[at] == pytest.approx(from_raw[at] + 5600 / 26)  # 26 days of history (from 03-01)
    # late data after the aggregation: the touched day is read from raw counts again
    changed = frame[frame["start"].dt.date == date(2021, 3, 20)].copy()
    changed["people"] += 1
    rows = [{"camera": r.camera, "start": r.start.isoformat(), "people": int(r.people),
             "vehicle": int(r.vehicle)} for r in changed.itertuples(index=False)]
    import_rows(db, rows, ImportOptions(tz=SEOUL, interval=3600, replace=True, detect=False))
    late = expected_values()
    frame.loc[frame["start"].dt.date == date(2021, 3, 20), "people"] += 1
    mean, _ = pandas_slot_reference(frame, datetime(2021, 3, 27, 13))
    assert late[at] == pytest.approx(mean) and late[at] != pytest.approx(tampered[at])
