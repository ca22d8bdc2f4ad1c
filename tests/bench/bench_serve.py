"""`cctvctl serve` under 50 detector boxes, against `cctvctl import` of the same rows.

Each simulated box owns CAMERAS_PER_BOX cameras and, in a bounded loop for --seconds, posts the
next 5-minute interval of all its cameras as one CSV batch (as a box would every 5 minutes, here
back to back). Measured: batches/s, p50/p99 latency, rows acknowledged vs rows stored (lost must
be 0); then every acknowledged row is written to one file and imported with `cctvctl import`
into a fresh database of the same backend, and the rows/s of both are compared.

    python tests/bench/bench_serve.py --db sqlite:///tmp/bench-serve.db --seconds 60
    python tests/bench/bench_serve.py --db mysql://root@127.0.0.1:3306/bench_serve --seconds 60
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import httpx

BOXES = 50
CAMERAS_PER_BOX = 4
START = datetime(2021, 8, 1)
TZ = "Asia/Seoul"
HERE = Path(__file__).resolve().parent


def cctvctl(*args: str, db: str) -> subprocess.CompletedProcess:
    exe = str(Path(sys.executable).with_name("cctvctl"))
    return subprocess.run([exe, "--db", db, "--tz", TZ, *args], capture_output=True, text=True,
                          check=True, timeout=3600)


def fresh(db: str, suffix: str) -> str:
    """An empty database: a new SQLite file, or a new MySQL database named with the suffix."""
    if db.startswith("sqlite"):
        path = Path(db.split("sqlite://", 1)[1]).with_suffix(f".{suffix}.db")
        for p in path.parent.glob(path.name + "*"):
            p.unlink()
        return f"sqlite://{path}"
    import pymysql

    base, name = db.rsplit("/", 1)
    name = f"{name}_{suffix}"
    host = re.match(r"mysql://(?:[^@]+@)?([^:/]+):?(\d+)?", db)
    conn = pymysql.connect(host=host[1], port=int(host[2] or 3306), user="root", password="",
                           autocommit=True)
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {name}")
        cur.execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    conn.close()
    return f"{base}/{name}"


def batch(box: int, step: int) -> str:
    when = (START + timedelta(minutes=5 * step)).strftime("%Y-%m-%d %H:%M")
    rows = [f"box{box:02d}-cam{c},{when},{(box * 7 + c * 3 + step) % 60},{(box + step) % 9}"
            for c in range(CAMERAS_PER_BOX)]
    return "camera,start,people,vehicle\n" + "\n".join(rows) + "\n"


async def box_loop(client, base, token, box, until, latencies, acked, errors):
    step = 0
    while time.monotonic() < until:
        text = batch(box, step)
        t0 = time.perf_counter()
        try:
            r = await client.post(f"{base}/v1/counts", content=text.encode(),
                                  headers={"Content-Type": "text/csv", "Authorization": f"Bearer {token}"})
        except httpx.HTTPError as exc:
            errors.append(type(exc).__name__)
            continue
        latencies.append(time.perf_counter() - t0)
        if r.status_code == 200:
            acked.append(text)
            step += 1
        elif r.status_code in (429, 503):
            await asyncio.sleep(float(r.headers.get("Retry-After", "1")))
        else:
            errors.append(f"{r.status_code} {r.text[:100]}")


async def load(base: str, tokens: list[str], seconds: float):
    latencies, acked, errors = [], [], []
    until = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=BOXES + 5)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        started = time.perf_counter()
        await asyncio.gather(*(box_loop(client, base, tokens[b], b, until, latencies, acked, errors)
                               for b in range(BOXES)))
        wall = time.perf_counter() - started
    return latencies, acked, errors, wall


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", default=f"sqlite:///{tempfile.gettempdir()}/bench-serve.db")
    ap.add_argument("--seconds", type=float, default=60)
    args = ap.parse_args()
    served = fresh(args.db, "serve")
    tokens = []
    for b in range(BOXES):
        made = cctvctl("token", "create", "--name", f"box{b:02d}", "--camera", f"box{b:02d}-*",
                       "--format", "json", db=served)
        tokens.append(json.loads(made.stdout)["token"])
    log = Path(tempfile.mkstemp(suffix=".log")[1])
    exe = str(Path(sys.executable).with_name("cctvctl"))
    server = subprocess.Popen([exe, "--db", served, "--tz", TZ, "serve", "--port", "0", "--rate", "1000"],
                              stderr=open(log, "wb"))
    try:
        for _ in range(600):
            m = re.search(r"listening on (http://[\d.]+:\d+)", log.read_text())
            if m:
                break
            time.sleep(0.1)
        else:
            raise SystemExit(f"server did not start: {log.read_text()}")
        latencies, acked, errors, wall = asyncio.run(load(m[1], tokens, args.seconds))
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(60)
    rows_acked = sum(t.count("\n") - 1 for t in acked)
    stored = int(cctvctl("db", "status", "--format", "json", db=served).stdout and
                 json.loads(cctvctl("db", "status", "--format", "json", db=served).stdout)["rows"])
    # the same rows through cctvctl import, one file
    with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as fh:
        fh.write("camera,start,people,vehicle\n")
        for t in acked:
            fh.write(t.split("\n", 1)[1])
    imported = fresh(args.db, "import")
    t0 = time.perf_counter()
    cctvctl("import", fh.name, db=imported)
    import_s = time.perf_counter() - t0
    os.unlink(fh.name)
    lat = sorted(latencies)
    result = {
        "backend": served.split(":", 1)[0], "boxes": BOXES, "cameras_per_box": CAMERAS_PER_BOX,
        "seconds": round(wall, 1), "batches": len(acked), "batches_per_s": round(len(acked) / wall, 1),
        "p50_ms": round(statistics.median(lat) * 1000, 1) if lat else None,
        "p99_ms": round(lat[int(0.99 * (len(lat) - 1))] * 1000, 1) if lat else None,
        "rows_acked": rows_acked, "rows_stored": stored, "rows_lost": rows_acked - stored,
        "errors": len(errors), "serve_rows_per_s": round(rows_acked / wall, 1),
        "import_rows_per_s": round(rows_acked / import_s, 1) if import_s else None,
    }
    print(json.dumps(result, indent=2))
    out = HERE / "serve_results.json"
    previous = json.loads(out.read_text()) if out.exists() else {}
    previous[result["backend"]] = result
    out.write_text(json.dumps(previous, indent=2) + "\n")


if __name__ == "__main__":
    main()
