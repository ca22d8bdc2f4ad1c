"""Deterministic count files for benchmarks: C cameras × D days of 5-minute intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd


def write_counts(path, cameras: int, days: int, start: str = "2021-01-04", interval_min: int = 5,
                 seed: int = 7, order: str = "camera") -> int:
    """Write the original layout (camera,start_date,end_date,people,vehicle); returns rows.

    ``order="camera"``: each camera's whole span in turn (an export per camera);
    ``order="time"``: day by day, every camera's intervals in time order (what a city's
    nightly files look like, and the order MariaDB's time-first key loads fastest).
    """
    per_day = 24 * 60 // interval_min
    rng = np.random.default_rng(seed)
    with open(path, "w") as fh:
        fh.write("camera,start_date,end_date,people,vehicle\n")
        if order == "camera":
            ts = pd.date_range(start, periods=per_day * days, freq=f"{interval_min}min")
            for c in range(cameras):
                _frame([c], ts, interval_min, rng).to_csv(fh, header=False, index=False)
        else:
            for d in range(days):
                ts = pd.date_range(pd.Timestamp(start) + pd.Timedelta(days=d), periods=per_day,
                                   freq=f"{interval_min}min")
                _frame(range(cameras), ts, interval_min, rng, by_time=True).to_csv(
                    fh, header=False, index=False)
    return cameras * per_day * days


def _frame(cams, ts: pd.DatetimeIndex, interval_min: int, rng, by_time: bool = False) -> pd.DataFrame:
    cams = list(cams)
    start_s = ts.strftime("%Y-%m-%d %H:%M:%S").to_numpy()
    end_s = (ts + pd.Timedelta(minutes=interval_min)).strftime("%Y-%m-%d %H:%M:%S").to_numpy()
    hour = ts.hour.to_numpy()
    rhythm = 5 + 40 * np.exp(-((hour - 13) ** 2) / 18)
    n = len(ts)
    scale = np.repeat([0.5 + (c % 7) / 7 for c in cams], n)
    frame = pd.DataFrame({"camera": np.repeat([f"cam-{c:04d}" for c in cams], n),
                          "s": np.tile(start_s, len(cams)), "e": np.tile(end_s, len(cams)),
                          "p": rng.poisson(np.tile(rhythm, len(cams)) * scale),
                          "v": rng.poisson(np.tile(rhythm, len(cams)) / 2),
                          "t": np.tile(np.arange(n), len(cams))})
    if by_time:
        frame = frame.sort_values(["t", "camera"], kind="stable")
    return frame.drop(columns=["t"])
