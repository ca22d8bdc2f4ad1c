"""Detection quality on real, labelled count series; the figures that chose the seasonal defaults.

The robust method (the default since issue 13) is measured across Brooklyn, Melbourne, Fremont
(the snow week as a drop) and injected dead cameras, with leave-one-set-out, by
``detect_study.py`` next to this file.

Runs the tool as a user would: the real files (rows not in time order) are sorted into one file
per month, imported in time order with ``cctvctl import`` (detection on, as by default), then
``cctvctl detect --dry-run --format json`` re-evaluates the whole range for each parameter set.
Reported per data set and parameter set: known events caught (a high flag inside the event's
window) and false-alarm episodes (flags outside every event window; a run of consecutive
flagged intervals of one camera is one episode) per month.

Labels: the Brooklyn Bridge file's ``events`` column (each named day is a window), and the
Melbourne surges of ``../shared/data/README.md`` (White Night 2014-02-22 night, AFL Grand Final
parade 2014-09-26, Melbourne Cup parades, New Year's Eve), with the same events of the other
years in the data taken from the public record (marked ``+`` below).

Usage::

    python tests/bench/detect_quality.py              # quality grid on both data sets
    python tests/bench/detect_quality.py --speed      # import time with and without detection
    python tests/bench/detect_quality.py --keep DIR   # keep (and reuse) the databases in DIR

Nothing is asserted except that import-time flags equal ``detect`` flags (causality).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data"
CCTVCTL = [shutil.which("cctvctl") or sys.executable, *([] if shutil.which("cctvctl") else ["-m", "cctvctl"])]

KS = (3.0, 3.5, 4.0, 4.5, 5.0, 6.0)
WEEKS = (4, 8, 12)
SLOTS = ("hour", "daytype-hour", "weekday-hour")
FLOORS = ("sqrt", "one")


@dataclass(frozen=True)
class Event:
    name: str
    start: datetime  # local, naive
    end: datetime
    from_readme: bool = True
    #: which flags catch it: "high" (a surge) or "" (either direction: a holiday may empty a place)
    direction: str = "high"


@dataclass
class DataSet:
    name: str
    tz: str
    import_args: list[str]
    months: list[Path]
    events: list[Event]
    first: str
    last: str
    months_covered: float = 0.0
    camera_months: float = 0.0
    event_pairs: int = 0


def cli(db: str, tz: str, *args: str) -> str:
    out = subprocess.run([*CCTVCTL, "--db", db, "--tz", tz, *args], capture_output=True, text=True)
    if out.returncode:
        sys.exit(f"cctvctl {' '.join(args)} failed ({out.returncode}): {out.stderr.strip()}")
    return out.stdout


# -- data preparation ----------------------------------------------------------------------

def melbourne_rows(work: Path) -> tuple[pd.DataFrame, pd.Series]:
    """The Melbourne sensor file as text columns, and each row's local start time."""
    src = work / "pedestriancounts_melbourne.csv"
    if not src.exists():
        with zipfile.ZipFile(DATA / "melbourne" / "pedestriancounts_melbourne.zip") as z:
            z.extractall(work)
    raw = pd.read_csv(src, dtype=str, keep_default_na=False)
    return raw, pd.to_datetime(raw["Date"], format="%d-%b-%Y") + pd.to_timedelta(raw["Hour"].astype(int), "h")


def melbourne(work: Path) -> DataSet:
    raw, when = melbourne_rows(work)
    months = _split_by_month(raw, when, work / "melbourne")
    d = datetime
    events = [
        Event("White Night 2013 +", d(2013, 2, 23, 19), d(2013, 2, 24, 7), False),
        Event("White Night 2014", d(2014, 2, 22, 19), d(2014, 2, 23, 7)),
        Event("AFL GF parade 2012 +", d(2012, 9, 28, 8), d(2012, 9, 28, 18), False),
        Event("AFL GF parade 2013 +", d(2013, 9, 27, 8), d(2013, 9, 27, 18), False),
        Event("AFL GF parade 2014", d(2014, 9, 26, 8), d(2014, 9, 26, 18)),
        Event("Melbourne Cup parade 2012", d(2012, 11, 5, 8), d(2012, 11, 5, 18)),
        Event("Melbourne Cup parade 2013", d(2013, 11, 4, 8), d(2013, 11, 4, 18)),
        Event("Melbourne Cup parade 2014", d(2014, 11, 3, 8), d(2014, 11, 3, 18)),
        Event("New Year's Eve 2012", d(2012, 12, 31, 18), d(2013, 1, 1, 3)),
        Event("New Year's Eve 2013", d(2013, 12, 31, 18), d(2014, 1, 1, 3)),
        Event("New Year's Eve 2014", d(2014, 12, 31, 18), d(2015, 1, 1, 3)),
    ]
    return DataSet("melbourne", "Australia/Melbourne",
                   ["--map", "people=PedestrianCount", "--map", "camera=SensorID", "--map", "date=Date",
                    "--map", "hour=Hour", "--interval", "60", "--on-error", "skip"],
                   months, events, str(when.min().date()), str(when.max().date()))


def brooklyn(work: Path) -> DataSet:
    raw = pd.read_csv(DATA / "brooklyn" / "brooklyn_bridge_pedestrian_counts.csv", dtype=str,
                      keep_default_na=False)
    when = pd.to_datetime(raw["hour_beginning"], format="%m/%d/%Y %I:%M:%S %p")
    months = _split_by_month(raw, when, work / "brooklyn")
    named = raw.assign(day=when.dt.normalize())[raw["events"] != ""]
    events = [Event(f"{name} {day.date()}", day.to_pydatetime(),
                    (day + timedelta(days=1)).to_pydatetime(), True, "")
              for (day, name), _ in named.groupby(["day", "events"])]
    return DataSet("brooklyn", "America/New_York",
                   ["--map", "start=hour_beginning", "--map", "people=Pedestrians", "--camera",
                    "brooklyn-bridge", "--interval", "60", "--on-error", "skip"],
                   months, events, str(when.min().date()), str(when.max().date()))


def _split_by_month(raw: pd.DataFrame, when: pd.Series, folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    ordered = raw.assign(_when=when).sort_values("_when", kind="stable")
    paths = []
    for month, part in ordered.groupby(ordered["_when"].dt.strftime("%Y-%m"), sort=True):
        path = folder / f"{month}.csv"
        part.drop(columns="_when").to_csv(path, index=False)
        paths.append(path)
    return paths


# -- scoring --------------------------------------------------------------------------------

def score(flags: pd.DataFrame, ds: DataSet, k: float | None) -> dict:
    """Events caught and false-alarm episodes per month for the flags with |score| > k.

    An event is caught when a flag of its direction lies in its window; with several cameras,
    ``pairs`` also counts (event, camera) windows caught among those where the camera has data.
    """
    if k is not None and not flags.empty:
        seasonal = ~flags["basis"].str.startswith("threshold")
        flags = flags[~seasonal | (flags["score"].abs() > k)]
    flags = flags.assign(local=_local(flags["start_utc"], ds.tz))
    in_event = pd.Series(False, index=flags.index)
    caught, pairs = [], 0
    for ev in ds.events:
        inside = (flags["local"] >= ev.start) & (flags["local"] < ev.end)
        in_event |= inside
        wanted = inside & (flags["direction"] == ev.direction) if ev.direction else inside
        if wanted.any():
            caught.append(ev.name)
        pairs += flags.loc[wanted, "camera"].nunique()
    false = flags[~in_event].sort_values(["camera", "start_utc"])
    episodes = {"high": 0, "low": 0}
    for _, group in false.groupby("camera"):
        starts = group["start_utc"].to_numpy()
        if not len(starts):
            continue
        new = [True] + list(starts[1:] - starts[:-1] > 3600)
        for direction, first in zip(group["direction"].to_numpy(), new):
            episodes[direction] += int(first)
    total = episodes["high"] + episodes["low"]
    return {"caught": len(caught), "events": len(ds.events), "caught_names": caught,
            "pairs": pairs, "pairs_total": ds.event_pairs, "episodes": total,
            "per_month": total / ds.months_covered, "high": episodes["high"] / ds.months_covered,
            "low": episodes["low"] / ds.months_covered,
            "per_camera_month": total / ds.camera_months, "flags": len(flags)}


def _local(epochs: pd.Series, tz: str) -> pd.Series:
    stamps = pd.to_datetime(epochs.astype("int64"), unit="s", utc=True)
    return stamps.dt.tz_convert(tz).dt.tz_localize(None)


def flags_of(db: str, ds: DataSet, work: Path, *args: str) -> pd.DataFrame:
    """``cctvctl detect --dry-run --format json`` over the whole data set (cached in ``work``)."""
    cache = work / f"{ds.name}-flags{'_'.join(a.strip('-') for a in args) or '_defaults'}.json"
    if not cache.exists():
        cache.write_text(cli(db, ds.tz, "detect", "--since", ds.first, "--until", ds.last,
                             "--dry-run", "--format", "json", *args))
    frame = pd.DataFrame(json.loads(cache.read_text()))
    return frame if not frame.empty else pd.DataFrame(columns=["camera", "start_utc", "score",
                                                               "direction", "basis", "metric"])


def coverage(ds: DataSet, db_path: Path) -> None:
    """Months covered, camera-months with data and (event, camera) windows with data."""
    import sqlite3

    con = sqlite3.connect(db_path)
    frame = pd.read_sql("SELECT camera, start_utc FROM counts", con)
    con.close()
    frame["local"] = _local(frame["start_utc"], ds.tz)
    ds.months_covered = (pd.Timestamp(ds.last) - pd.Timestamp(ds.first)).days / 30.44
    ds.camera_months = frame.groupby("camera")["local"].agg(lambda s: (s.max() - s.min()).days / 30.44).sum()
    ds.event_pairs = sum(frame.loc[(frame["local"] >= ev.start) & (frame["local"] < ev.end), "camera"].nunique()
                         for ev in ds.events)


# -- runs -----------------------------------------------------------------------------------

def import_in_order(ds: DataSet, db: str, detect: bool = True) -> tuple[float, int]:
    began = time.monotonic()
    outliers = 0
    for path in ds.months:
        extra = [] if detect else ["--no-detect"]
        result = json.loads(cli(db, ds.tz, "import", str(path), *ds.import_args, "--format", "json",
                                "--rejected", str(path) + ".rejected.csv", *extra))
        outliers += int(result.get("outliers", 0))
    return time.monotonic() - began, outliers


def quality(ds: DataSet, work: Path) -> None:
    db_path = work / (ds.name + ".db")
    db = f"sqlite:///{db_path}"
    print(f"\n## {ds.name}")
    if not db_path.exists():
        seconds, outliers = import_in_order(ds, db)
        print(f"{len(ds.months)} monthly files imported in time order in {seconds:.1f} s, "
              f"{outliers} intervals flagged at import")
    coverage(ds, db_path)
    # causality on real data: the flags the imports stored equal a later detect of the range
    import sqlite3

    con = sqlite3.connect(db_path)
    stored = con.execute("SELECT camera, start_utc, metric, direction FROM outliers "
                         "WHERE method = 'seasonal' ORDER BY start_utc, camera, metric").fetchall()
    con.close()
    again = flags_of(db, ds, work)
    same = stored == [(r.camera, r.start_utc, r.metric, r.direction) for r in again.itertuples()]
    print(f"flags stored by the imports: {len(stored)}; identical to a later detect of the "
          f"whole range: {same}")
    rows = [("threshold (original rule)", "", "", "",
             score(flags_of(db, ds, work, "--method", "threshold"), ds, None))]
    for weeks, slot, floor in itertools.product(WEEKS, SLOTS, FLOORS):
        began = time.monotonic()
        flags = flags_of(db, ds, work, "--k", str(min(KS)), "--weeks", str(weeks), "--slot", slot,
                         "--floor", floor)
        print(f"  weeks={weeks} slot={slot} floor={floor}: {time.monotonic() - began:.1f} s",
              file=sys.stderr)
        for k in KS:
            rows.append((f"{k:g}", weeks, slot, floor, score(flags, ds, k)))
    print(f"\n{ds.months_covered:.1f} months, {ds.camera_months:.0f} camera-months, "
          f"{len(ds.events)} events, {ds.event_pairs} (event, camera) windows with data\n")
    print("| k | weeks | slot | floor | events caught | (event, camera) caught | "
          "false-alarm episodes / month (high + low) | per camera-month | flags |")
    print("|---|---|---|---|---|---|---|---|---|")
    for k, weeks, slot, floor, s in rows:
        print(f"| {k} | {weeks} | {slot} | {floor} | {s['caught']}/{s['events']} | "
              f"{s['pairs']}/{s['pairs_total']} | {s['per_month']:.1f} ({s['high']:.1f} + {s['low']:.1f}) | "
              f"{s['per_camera_month']:.2f} | {s['flags']} |")
    default = score(flags_of(db, ds, work), ds, None)
    print(f"\ndefaults: caught {default['caught']}/{default['events']} "
          f"({', '.join(default['caught_names'])}); {default['per_month']:.1f} episodes/month")


@dataclass
class Timing:
    wall: float  # seconds
    cpu: float  # CPU seconds of the cctvctl process (not the database server's)
    flagged: int


def _timed_import(db: str, path: Path, *extra: str) -> Timing:
    """Wall and CPU time of one ``cctvctl import``; CPU is the steadier figure on a shared machine."""
    import resource

    before, began = resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic()
    out = json.loads(cli(db, "UTC", "import", str(path), "--format", "json", *extra))
    after, wall = resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic() - began
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Timing(wall, cpu, int(out["outliers"]))


def _row(backend: str, case: str, off: Timing, on: Timing) -> str:
    return (f"| {backend} | {case} | {off.wall:.2f} s / {off.cpu:.2f} s | {on.wall:.2f} s / "
            f"{on.cpu:.2f} s | {100 * (on.wall - off.wall) / off.wall:+.0f}% / "
            f"{100 * (on.cpu - off.cpu) / off.cpu:+.0f}% | {on.flagged} |")


def _fresh(backend: str, work: Path, name: str, template: Path | None = None) -> str:
    """A new empty (or copied) SQLite file, or a new MariaDB database, for one timed import."""
    if backend == "sqlite":
        db = work / f"{name}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        if template is not None:
            shutil.copy(template, db)
        return f"sqlite:///{db}"
    import pymysql

    admin = pymysql.connect(host="127.0.0.1", user="root", password="", autocommit=True)
    with admin.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {name}")
        cur.execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    admin.close()
    return f"mysql://root@127.0.0.1:3306/{name}"


def speed(work: Path, backends: list[str]) -> None:
    """Import time with and without detection: a 1,000,000-row file into an empty database, and
    one day (100 cameras, 5-minute counts) onto 8 weeks of history, aggregated or not."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from datagen import write_counts

    big, hist, day = work / "speed.csv", work / "hist.csv", work / "day.csv"
    rows = write_counts(big, cameras=20, days=174)
    write_counts(hist, cameras=100, days=56, start="2021-01-04")
    write_counts(day, cameras=100, days=1, start="2021-03-01", seed=8)
    print("| backend | case | import without detection (wall / CPU) | with detection | overhead "
          "(wall / CPU) | flagged |")
    print("|---|---|---|---|---|---|")
    for backend in backends:
        off = _timed_import(_fresh(backend, work, "cctv_speed_a"), big, "--no-detect")
        on = _timed_import(_fresh(backend, work, "cctv_speed_b"), big)
        print(_row(backend, f"{rows:,} rows into an empty database", off, on))
        for aggregated in (True, False):
            base = _fresh(backend, work, "cctv_speed_hist")
            cli(base, "UTC", "import", str(hist), "--no-detect", "-q")
            if aggregated:
                cli(base, "UTC", "aggregate", "day", "-q")
            times = []
            for flag in ("--no-detect", "--detect"):
                if backend == "sqlite":
                    db = _fresh(backend, work, "cctv_speed_day", template=work / "cctv_speed_hist.db")
                else:  # one database: the day is imported, timed, then removed again
                    db = base
                times.append(_timed_import(db, day, flag))
                if backend != "sqlite":
                    _undo_last_import(db)
            label = "aggregated" if aggregated else "not aggregated"
            print(_row(backend, f"one day, 28,800 rows, onto 8 weeks of history ({label})", *times))


def _undo_last_import(url: str) -> None:
    from cctvctl.db import connect

    with connect(url) as db, db.atomic():
        last = db.scalar("SELECT MAX(id) FROM imports")
        db.execute("DELETE FROM counts WHERE import_id = ?", (last,))
        db.execute("DELETE FROM import_days WHERE import_id = ?", (last,))
        db.execute("DELETE FROM outliers")
        db.execute("DELETE FROM imports WHERE id = ?", (last,))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", help="folder for the monthly files and databases (reused)")
    parser.add_argument("--speed", action="store_true", help="measure import time with/without detection")
    parser.add_argument("--only", choices=("melbourne", "brooklyn"))
    parser.add_argument("--backend", action="append", choices=("sqlite", "mysql"),
                        help="for --speed (default: both; MariaDB at 127.0.0.1:3306, root)")
    args = parser.parse_args()
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="cctv-detect-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        if args.speed:
            speed(work, args.backend or ["sqlite", "mysql"])
            return
        if not DATA.is_dir():
            sys.exit(f"real data folder {DATA} is absent")
        for build in (brooklyn, melbourne):
            if args.only and build.__name__ != args.only:
                continue
            quality(build(work), work)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("COLUMNS", "120")
    main()
