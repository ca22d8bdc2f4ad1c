"""Peak memory against the number of distinct cameras (issue 12 M12): figures, not asserts.

A file of N one-row cameras (what a garbled detector that invents a name per row produces) is
imported into a fresh SQLite file; then ``aggregate all`` and ``report --day`` run as the
installed command under GNU time, and their peak RSS is reported per N with the growth per
camera. Before the camera batches, 100,000 cameras took 4.3 GB in ``aggregate all``; before the
report read cameras in batches and kept them as integer rows, ``report --day`` took 626 MB.

The baseline is a hand ``GROUP BY camera`` over the day in SQLite, written as CSV by a plain
Python child (``sqlite3`` and ``csv`` only): the least a per-camera listing can cost. The
``report csv / baseline`` line is the ratio of peak RSS, per N.

    python tests/bench/bench_cameras.py                  # 2,000 / 20,000 / 100,000 cameras
    python tests/bench/bench_cameras.py 20000 --json     # one size, machine-readable
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from env import CCTVCTL, sqlite_url  # noqa: E402
from harness import run_child  # noqa: E402

TZ = "Asia/Seoul"
DAY = "2021-08-02"


def write_cameras(path: Path, n: int) -> None:
    """``n`` cameras with one 5-minute row each, spread over the hours of DAY."""
    with path.open("w") as fh:
        fh.write("camera,start,end,people,vehicle\n")
        for i in range(n):
            minute = (i * 5) % 1440
            a = f"{DAY} {minute // 60:02d}:{minute % 60:02d}:00"
            end = minute + 5
            b = f"{DAY} {end // 60:02d}:{end % 60:02d}:00" if end < 1440 else "2021-08-03 00:00:00"
            fh.write(f"cam-{i:06d},{a},{b},{i % 50},{i % 7}\n")


#: per camera over the day: rows, sums and sums of squares, peaks (what report's cameras and
#: summary sections hold), streamed to CSV
BASELINE = """
import csv, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
out = csv.writer(open("/dev/null", "w"))
for row in db.execute("SELECT camera, COUNT(*), SUM(people), SUM(people * people), MAX(people), "
                      "SUM(vehicle), SUM(vehicle * vehicle), MAX(vehicle) FROM counts "
                      "WHERE start_utc >= 1627830000 AND start_utc < 1627916400 GROUP BY camera"):
    out.writerow(row)
"""


def measure(n: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="cctv-bench-cameras-") as tmp:
        folder = Path(tmp)
        src = folder / "cams.csv"
        write_cameras(src, n)
        env = {"CCTV_DB": sqlite_url(folder / "cctv.db"), "CCTV_TZ": TZ}
        out = {"cameras": n, "file_mb": round(src.stat().st_size / 2**20, 2)}
        for name, args in (("import", ["import", "-q", "--no-detect", str(src)]),
                           ("aggregate all", ["aggregate", "all", "-q"]),
                           ("report --day json", ["report", "--day", DAY, "--format", "json"]),
                           ("report --day csv", ["report", "--day", DAY, "--format", "csv"]),
                           ("report --day table", ["report", "--day", DAY])):
            s = run_child([CCTVCTL, *args], env=env)
            out[name] = {"seconds": round(s.seconds, 2), "peak_rss_mb": round(s.peak_rss_mb or 0, 1)}
        s = run_child([sys.executable, "-c", BASELINE, str(folder / "cctv.db")])
        out["baseline GROUP BY"] = {"seconds": round(s.seconds, 2), "peak_rss_mb": round(s.peak_rss_mb or 0, 1)}
        out["report csv / baseline"] = round(out["report --day csv"]["peak_rss_mb"]
                                             / max(out["baseline GROUP BY"]["peak_rss_mb"], 1), 2)
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[2_000, 20_000, 100_000])
    parser.add_argument("--json", action="store_true", help="one JSON object per size")
    args = parser.parse_args()
    results = [measure(n) for n in args.sizes]
    if args.json:
        for r in results:
            print(json.dumps(r))
        return
    steps = [k for k in results[0] if isinstance(results[0][k], dict)]
    print(f"{'cameras':>9} {'file':>7}  " + "  ".join(f"{s:>20}" for s in steps))
    for r in results:
        cells = [f"{r[s]['peak_rss_mb']:>8.0f} MB {r[s]['seconds']:>6.1f} s" for s in steps]
        print(f"{r['cameras']:>9,} {r['file_mb']:>5.1f}MB  " + "  ".join(f"{c:>20}" for c in cells))
    if len(results) > 1:  # growth per camera between the smallest and the largest run
        a, b = results[0], results[-1]
        per = {s: (b[s]["peak_rss_mb"] - a[s]["peak_rss_mb"]) * 1024 / (b["cameras"] - a["cameras"])
               for s in steps}
        print("growth per camera: " + ", ".join(f"{s} {v:.2f} KB" for s, v in per.items()))
    print("report csv / baseline peak RSS: " + ", ".join(f"{r['cameras']:,}: {r['report csv / baseline']}"
                                                         for r in results))


if __name__ == "__main__":
    main()
