"""Detection quality on real, labelled count series; the figures that chose the defaults.

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
from zoneinfo import ZoneInfo

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


def cli(db: str, tz: str, *args: str) -> str:
    out = subprocess.run([*CCTVCTL, "--db", db, "--tz", tz, *args], check=True,
                         capture_output=True, text=True)
    return out.stdout


# -- data preparation ----------------------------------------------------------------------

def melbourne(work: Path) -> DataSet:
    src = Path("/tmp/melb/pedestriancounts_melbourne.csv")
    if not src.exists():
        src = work / "pedestriancounts_melbourne.csv"
        if not src.exists():
            with zipfile.ZipFile(DATA / "melbourne" / "pedestriancounts_melbourne.zip") as z:
                z.extractall(work)
    raw = pd.read_csv(src, dtype=str, keep_default_na=False)
    when = pd.to_datetime(raw["Date"], format="%d-%b-%Y") + pd.to_timedelta(raw["Hour"].astype(int), "h")
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
    """Events caught and false-alarm episodes per month for the flags with |score| > k."""
    if k is not None and not flags.empty:
        seasonal = flags["basis"].str.contains("slot")
        flags = flags[~seasonal | (flags["score"].abs() > k)]
    tz = ZoneInfo(ds.tz)
    local = [datetime.fromtimestamp(t, tz).replace(tzinfo=None) for t in flags["start_utc"]] if len(flags) else []
    flags = flags.assign(local=local)
    in_event = pd.Series(False, index=flags.index)
    caught = []
    for ev in ds.events:
        inside = (flags["local"] >= ev.start) & (flags["local"] < ev.end) if len(flags) else in_event
        in_event |= inside
        wanted = inside & (flags["direction"] == ev.direction) if ev.direction else inside
        if len(flags) and wanted.any():
            caught.append(ev.name)
    false = flags[~in_event].sort_values(["camera", "start_utc"])
    episodes = 0
    for _, group in false.groupby("camera"):
        starts = group["start_utc"].drop_duplicates().to_numpy()
        episodes += 1 + int((starts[1:] - starts[:-1] > 3600).sum()) if len(starts) else 0
    months = (pd.Timestamp(ds.last) - pd.Timestamp(ds.first)).days / 30.44
    return {"caught": len(caught), "events": len(ds.events), "caught_names": caught,
            "episodes": episodes, "per_month": episodes / months, "flags": len(flags)}


def flags_of(db: str, ds: DataSet, *args: str) -> pd.DataFrame:
    out = cli(db, ds.tz, "detect", "--since", ds.first, "--until", ds.last, "--dry-run",
              "--format", "json", *args)
    frame = pd.DataFrame(json.loads(out))
    return frame if not frame.empty else pd.DataFrame(columns=["camera", "start_utc", "score",
                                                               "direction", "basis", "metric"])


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
    db = f"sqlite:///{work / (ds.name + '.db')}"
    fresh = not (work / (ds.name + ".db")).exists()
    if fresh:
        seconds, outliers = import_in_order(ds, db)
        print(f"\n## {ds.name}: {len(ds.months)} monthly files imported in time order in "
              f"{seconds:.1f} s, {outliers} intervals flagged at import")
    # causality on real data: the flags the imports stored equal a later detect of the range
    stored = json.loads(cli(db, ds.tz, "detect", "--since", ds.first, "--until", ds.last,
                            "--format", "json"))
    again = json.loads(cli(db, ds.tz, "detect", "--since", ds.first, "--until", ds.last,
                           "--dry-run", "--format", "json"))
    same = [(r["camera"], r["start_utc"], r["metric"], r["direction"]) for r in stored] == \
           [(r["camera"], r["start_utc"], r["metric"], r["direction"]) for r in again]
    print(f"detect over the imported range reproduces itself: {same} ({len(stored)} flags)")
    rows = []
    thr = score(flags_of(db, ds, "--method", "threshold"), ds, None)
    rows.append(("threshold (original rule)", "", "", "", thr))
    for weeks, slot, floor in itertools.product(WEEKS, SLOTS, FLOORS):
        began = time.monotonic()
        flags = flags_of(db, ds, "--k", str(min(KS)), "--weeks", str(weeks), "--slot", slot,
                         "--floor", floor)
        took = time.monotonic() - began
        for k in KS:
            rows.append((f"{k:g}", weeks, slot, floor, score(flags, ds, k)))
        print(f"  weeks={weeks} slot={slot} floor={floor}: detect {took:.1f} s", file=sys.stderr)
    print(f"\n| {ds.name} | k | weeks | slot | floor | events caught | false-alarm episodes / month | flags |")
    print("|---|---|---|---|---|---|---|---|")
    for k, weeks, slot, floor, s in rows:
        print(f"| | {k} | {weeks} | {slot} | {floor} | {s['caught']}/{s['events']} | "
              f"{s['per_month']:.1f} | {s['flags']} |")
    default = score(flags_of(db, ds), ds, None)
    print(f"\ndefaults: caught {default['caught']}/{default['events']}: "
          f"{', '.join(default['caught_names'])}; {default['per_month']:.1f} episodes/month")


def speed(work: Path, cameras: int, days: int) -> None:
    """A 1,000,000-row import (5-minute intervals) with and without detection, both backends."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from datagen import write_counts

    path = work / "speed.csv"
    rows = write_counts(path, cameras=cameras, days=days)
    for label, flag in (("no detection", "--no-detect"), ("detection", "--detect")):
        db = work / f"speed{flag}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        began = time.monotonic()
        out = json.loads(cli(f"sqlite:///{db}", "UTC", "import", str(path), flag, "--format", "json"))
        print(f"sqlite {rows:,} rows, {label}: {time.monotonic() - began:.1f} s "
              f"(outliers {out['outliers']})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", help="folder for the monthly files and databases (reused)")
    parser.add_argument("--speed", action="store_true", help="measure import time with/without detection")
    parser.add_argument("--only", choices=("melbourne", "brooklyn"))
    args = parser.parse_args()
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="cctv-detect-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        if args.speed:
            speed(work, cameras=20, days=174)
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
