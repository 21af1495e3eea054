"""Matching benchmark: a 300-package image against a database of >= 500,000 affected rows,
plus the full `customhouse image` on the Alpine image with a warm cache.

- The database is the synthetic one (customhouse.vulndb.synthetic), realistic in size and
  shape; the real feeds cannot be downloaded here.
- The image is the bookworm minbase root filesystem (88 real Debian packages) plus language
  packages named like the popular ones in the database, with versions in each ecosystem's
  style, to 300 packages.
- cold = a fresh process after dropping the page cache (root only; otherwise "first run");
  warm = the same matching repeated in-process.

    .venv/bin/python -m bench.match [--rows 500000] [--runs 7]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

from bench._common import ROOT, measure, precompile, table, tool
from tests.conftest import TEST_CACHE, bookworm_images, cached_build, shared, shared_vulndb

TARGETS = {"warm": 0.3, "cold": 1.0, "image_warm": 1.0}


def synthetic_db(rows: int) -> Path:
    def build(dst: Path) -> None:
        from customhouse.vulndb.synthetic import generate

        dst.mkdir(parents=True)
        generate(dst / "customhouse.db", affected_rows=rows, seed=1)

    return cached_build(f"bench-synthetic-db-{rows}", build) / "customhouse.db"


def inventory_packages(db_path: Path, n: int = 300, worst: bool = False) -> list[object]:
    """The bookworm packages plus language packages of the database, each once, at a version
    newer than 95 % of its advisories' fixes (an image mostly kept up to date, as real ones
    are). Typical: language packages drawn at random from the database's names. Worst case:
    the most-advised names (the synthetic Zipf head has hundreds of rows per package, far more
    than real feeds give any single library)."""
    import sqlite3

    from customhouse.catalog import catalog
    from customhouse.model import Package
    from customhouse.settings import Settings
    from customhouse.versions import scheme_for

    images = bookworm_images()
    inv = catalog(
        f"docker-archive:{images / 'docker-archive.tar'}", Settings(cache_dir=TEST_CACHE / "bench-cache")
    ).inventory
    pkgs: list[object] = []
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)

    def recent(eco: str, name: str, fallback: str) -> str:
        fixed = [
            r[0]
            for r in db.execute(
                "SELECT fixed_version FROM affected WHERE ecosystem=? AND package=? AND fixed_version != ''",
                (eco, name),
            )
        ]
        if not fixed:
            return fallback
        key = scheme_for(eco).key
        fixed.sort(key=key)
        return fixed[min(len(fixed) - 1, int(len(fixed) * 0.95))]

    for p in inv.packages:
        pkgs.append(replace(p, source_version=recent("debian:12", p.source_name or p.name, p.source_version)))
    ecos = ("npm", "pypi", "golang", "maven", "gem", "cargo", "nuget", "composer")
    per_eco = (n - len(pkgs)) // len(ecos) + 1
    for eco in ecos:
        ranked = [
            r[0]
            for r in db.execute(
                "SELECT package FROM affected WHERE ecosystem=? GROUP BY package ORDER BY count(*) DESC, package",
                (eco,),
            )
        ]
        names = ranked[:per_eco] if worst else random.Random(f"{eco}-7").sample(ranked, min(per_eco, len(ranked)))
        for name in names:
            if len(pkgs) >= n:
                break
            version = recent(eco, name, "1.0.0")
            pkgs.append(
                Package(
                    name=name,
                    version=("v" + version) if eco == "golang" else version,
                    type=eco,
                    path=f"app/{eco}/{name}",
                )
            )
    db.close()
    return pkgs


def _match_once(db_path: Path, pkgs: list[object], os_info: object) -> tuple[float, int]:
    from customhouse.match.matcher import match
    from customhouse.vulndb.db import VulnDB

    t = time.perf_counter()
    with VulnDB(db_path) as db:
        res = match(pkgs, os_info, db)  # type: ignore[arg-type]
    return time.perf_counter() - t, len(res.findings)


def _rows_examined(db_path: Path, pkgs: list[object], os_info: object) -> int:
    from customhouse.match.matcher import query_for
    from customhouse.vulndb.db import VulnDB

    with VulnDB(db_path) as db:
        total = 0
        for p in pkgs:
            q = query_for(p, os_info)  # type: ignore[arg-type]
            if q is not None:
                total += len(db.affected(q.ecosystem, q.names))
    return total


def _drop_caches() -> bool:
    try:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=500_000)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--worst", action="store_true", help="the most-advised package names instead of a random draw")
    args = ap.parse_args()
    db_path = synthetic_db(args.rows)
    from customhouse.model import OSInfo

    bookworm = OSInfo("debian", "12", "Debian GNU/Linux 12 (bookworm)", "bookworm")
    pkgs = inventory_packages(db_path, worst=args.worst)
    if args.child:  # a fresh process: the first run is cold, the next ones warm
        times = []
        for _ in range(1 + args.runs):
            seconds, n = _match_once(db_path, pkgs, bookworm)
            times.append(seconds)
        print(n, *(f"{t:.4f}" for t in times))
        return
    precompile()
    from customhouse.vulndb.db import VulnDB

    with VulnDB(db_path) as db:
        rows = db.counts()["affected"]
    examined = _rows_examined(db_path, pkgs, bookworm)
    cold: list[float] = []
    warm: list[float] = []
    dropped = False
    found = 0
    for _ in range(3):
        dropped = _drop_caches()
        child = [sys.executable, "-m", "bench.match", "--rows", str(args.rows), "--runs", str(args.runs), "--child"]
        out = subprocess.run(
            child + (["--worst"] if args.worst else []), cwd=ROOT, check=True, capture_output=True, text=True
        ).stdout.split()
        found = int(out[0])
        cold.append(float(out[1]))
        warm.extend(float(x) for x in out[2:])
    alpine = shared("images/alpine-3.10-docker-archive.tar.gz")
    real_db = shared_vulndb()
    cache = TEST_CACHE / "bench-match-cache"
    cmd = [
        tool("customhouse"),
        "image",
        f"docker-archive:{alpine}",
        "--db",
        str(real_db),
        "--cache-dir",
        str(cache),
        "-f",
        "json",
        "-q",
        "--max-db-age",
        "0",
    ]
    subprocess.run(cmd, check=True, capture_output=True)  # fill the layer cache
    image = measure("customhouse image (alpine 3.10, warm)", cmd, args.runs)
    print(
        f"database: {db_path} ({rows} affected rows, {db_path.stat().st_size / 1e6:.0f} MB); "
        f"{len(pkgs)} packages ({'worst case' if args.worst else 'typical'}), {examined} advisory rows "
        f"examined, {found} findings"
    )
    print(
        table(
            [
                ("run", "median s", "best s", "target s"),
                (
                    "match, cold" + ("" if dropped else " (page cache not dropped)"),
                    f"{statistics.median(cold):.3f}",
                    f"{min(cold):.3f}",
                    f"{TARGETS['cold']}",
                ),
                ("match, warm", f"{statistics.median(warm):.3f}", f"{min(warm):.3f}", f"{TARGETS['warm']}"),
                (
                    "customhouse image alpine, warm",
                    f"{image.median:.3f}",
                    f"{image.best:.3f}",
                    f"{TARGETS['image_warm']}",
                ),
            ]
        )
    )


if __name__ == "__main__":
    main()
