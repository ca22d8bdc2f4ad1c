"""cctvctl on a 3-node Galera cluster against a single private MariaDB, side by side in one run.

Starts both from the repository's own helpers (tests/galera_cluster.py, tests/mariadb_instance.py),
generates CAMERAS × DAYS of 5-minute rows, and times on each: `cctvctl import` of the file and the
first `cctvctl aggregate all`. Also reads the write-set bytes the import replicated
(wsrep_replicated_bytes), the basis of the documented size limit. Needs root.

    python tests/bench/bench_galera.py --cameras 100 --days 35      # ~1M rows
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from galera_cluster import GaleraCluster  # noqa: E402
from mariadb_instance import MariaDBInstance  # noqa: E402

TZ = "Asia/Seoul"


def write_file(path: Path, cameras: int, days: int) -> int:
    import numpy as np
    import pandas as pd

    stamps = pd.date_range("2021-08-01", periods=days * 288, freq="5min")
    text = stamps.strftime("%Y-%m-%d %H:%M").to_numpy()
    rng = np.random.default_rng(1)
    with open(path, "w") as out:
        out.write("camera,start,people,vehicle\n")
        for c in range(cameras):
            people = rng.poisson(30, len(stamps))
            vehicle = rng.poisson(10, len(stamps))
            out.write("".join(f"cam-{c:03d},{t},{p},{v}\n" for t, p, v in zip(text, people, vehicle)))
    return cameras * len(stamps)


def timed(url: str, *args: str) -> float:
    exe = str(Path(sys.executable).with_name("cctvctl"))
    t0 = time.perf_counter()
    subprocess.run([exe, "--db", url, "--tz", TZ, *args], check=True, capture_output=True, timeout=7200)
    return time.perf_counter() - t0


def status(conn, name: str) -> int:
    with conn.cursor() as cur:
        cur.execute("SHOW STATUS LIKE %s", (name,))
        return int(cur.fetchone()[1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cameras", type=int, default=100)
    ap.add_argument("--days", type=int, default=35)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="cctvctl-bench-galera-"))
    root.chmod(0o755)
    data = root / "counts.csv"
    rows = write_file(data, args.cameras, args.days)
    results = {"rows": rows, "cameras": args.cameras, "days": args.days}
    cluster = GaleraCluster(root / "cluster")
    single = MariaDBInstance(root / "single")
    (root / "single").mkdir()
    try:
        cluster.start()
        single.install()
        single.start()
        for label, admin, url in (
                ("single", single.admin(), f"mysql://root@127.0.0.1:{single.port}/bench"),
                ("galera3", cluster.admin(0), cluster.url("bench")),
        ):
            with admin.cursor() as cur:
                cur.execute("CREATE DATABASE bench CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
            before = status(admin, "wsrep_replicated_bytes") if label == "galera3" else 0
            imp = timed(url, "import", str(data), "--no-detect")
            after = status(admin, "wsrep_replicated_bytes") if label == "galera3" else 0
            agg = timed(url, "aggregate", "all")
            results[label] = {"import_s": round(imp, 1), "aggregate_all_s": round(agg, 1),
                              "import_rows_per_s": round(rows / imp)}
            if label == "galera3":
                results[label]["replicated_bytes_per_row"] = round((after - before) / rows, 1)
    finally:
        cluster.stop()
        single.stop() if hasattr(single, "stop") else single.kill()
        shutil.rmtree(root, ignore_errors=True)
    results["import_ratio"] = round(results["galera3"]["import_s"] / results["single"]["import_s"], 2)
    results["aggregate_ratio"] = round(results["galera3"]["aggregate_all_s"] / results["single"]["aggregate_all_s"], 2)
    print(json.dumps(results, indent=2))
    (HERE / "galera_results.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
