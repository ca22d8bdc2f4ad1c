"""Deterministic count files for benchmarks: C cameras × D days of 5-minute intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd


def write_counts(path, cameras: int, days: int, start: str = "2021-01-04", interval_min: int = 5,
                 seed: int = 7) -> int:
    """Write the original layout (camera,start_date,end_date,people,vehicle); returns rows."""
    per_day = 24 * 60 // interval_min
    n = per_day * days
    ts = pd.date_range(start, periods=n, freq=f"{interval_min}min")
    start_s = ts.strftime("%Y-%m-%d %H:%M:%S").to_numpy()
    end_s = (ts + pd.Timedelta(minutes=interval_min)).strftime("%Y-%m-%d %H:%M:%S").to_numpy()
    hour = ts.hour.to_numpy()
    rhythm = 5 + 40 * np.exp(-((hour - 13) ** 2) / 18)
    rng = np.random.default_rng(seed)
    with open(path, "w") as fh:
        fh.write("camera,start_date,end_date,people,vehicle\n")
        for c in range(cameras):
            people = rng.poisson(rhythm * (0.5 + (c % 7) / 7))
            vehicle = rng.poisson(rhythm / 2)
            frame = pd.DataFrame({"camera": f"cam-{c:04d}", "s": start_s, "e": end_s,
                                  "p": people, "v": vehicle})
            frame.to_csv(fh, header=False, index=False)
    return cameras * n
