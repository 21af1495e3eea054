"""Vulnerability database benchmark: build time and size from ../shared/data, and a large
synthetic database for the matching benchmark.

Build: `customhouse db build --from ../shared/data` run as a real process (wall time, peak RSS),
into a fresh file each run. Synthetic: `customhouse.vulndb.synthetic.generate` with --rows
affected rows (default 500,000), then cold-ish lookups of (ecosystem, package) batches the way a
scan asks, through the reader the matcher uses.

    .venv/bin/python -m bench.db_build [--runs 3] [--rows 500000] [--keep PATH]
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import sys
import time
from pathlib import Path

from bench._common import ROOT, fresh_dir, measure, precompile, table


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--rows", type=int, default=500_000, help="affected rows of the synthetic database")
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--keep", type=Path, help="write the synthetic database here (default: bench/results)")
    args = ap.parse_args()
    precompile()
    work = ROOT / "bench" / "results" / "db"
    work.mkdir(parents=True, exist_ok=True)
    rows = [("what", "median s", "best s", "peak MB", "size MB", "rows")]

    if args.data.is_dir():
        cache = work / "cache"
        db = work / "shared.db"
        cmd = [sys.executable, "-m", "customhouse.vulndb.cli", "db", "build", "--from", str(args.data)]
        cmd += ["--db", str(db), "--cache-dir", str(cache), "-q"]
        result = measure("build ../shared/data", cmd, args.runs, before=fresh_dir(cache))
        with sqlite3.connect(db) as con:
            affected = con.execute("SELECT count(*) FROM affected").fetchone()[0]
        rows.append(
            (
                result.name,
                f"{result.median:.2f}",
                f"{result.best:.2f}",
                f"{result.peak_mb:.0f}",
                f"{db.stat().st_size / 1e6:.1f}",
                str(affected),
            )
        )
    else:
        print(f"skipping the shared-data build: {args.data} not found", file=sys.stderr)

    from customhouse.vulndb.db import VulnDB
    from customhouse.vulndb.synthetic import generate

    path = args.keep or work / "synthetic.db"
    stats = generate(path, args.rows)
    rows.append(
        (
            f"synthetic {args.rows} rows",
            f"{stats.seconds:.2f}",
            f"{stats.seconds:.2f}",
            "-",
            f"{stats.size / 1e6:.1f}",
            str(stats.affected),
        )
    )
    # A scan asks per ecosystem for a few hundred package names at once.
    con = sqlite3.connect(path)
    by_eco: dict[str, list[str]] = {}
    for eco, pkg in con.execute("SELECT DISTINCT ecosystem, package FROM affected"):
        by_eco.setdefault(eco, []).append(pkg)
    con.close()
    rnd = random.Random(7)
    t0 = time.perf_counter()
    found = 0
    with VulnDB(path) as db:
        for _ in range(20):
            for eco in ("debian:12", "ubuntu:22.04", "alpine:3.20", "npm", "pypi"):
                names = rnd.sample(by_eco[eco], min(300, len(by_eco[eco])))
                found += len(db.affected(eco, names))
    per_scan = (time.perf_counter() - t0) / 20
    rows.append(("lookup: 5 ecosystems x 300 packages", f"{per_scan:.3f}", "-", "-", "-", str(found // 20)))
    print(table(rows))
    print(f"\nsynthetic database: {path}")


if __name__ == "__main__":
    main()
