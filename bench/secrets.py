"""Secret-scanning benchmark (issue 6): customhouse vs trivy's secret scanner vs detect-secrets, in one run.

Input: the bookworm minbase root filesystem (tests/conftest.bookworm_rootfs), the same tree for
every tool. Rounds are interleaved (ours, trivy, ours, trivy, ...) so machine noise hits both
alike; detect-secrets (pure Python, minutes per run) runs `--ds-runs` times inside the rounds.
MB/s = bytes of the regular files under the root (symlinks not followed) / median wall time.

customhouse runs as `customhouse fs ROOT -f json` when that command exists; otherwise as a
`python -c` driver that walks the tree and calls `Scanner.scan_file` with the default
configuration (labelled "customhouse (Scanner.scan_file driver)" in the output).

    .venv/bin/python -m bench.secrets [--runs 5] [--ds-runs 1]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench._common import PEER_FLAGS_TRIVY, ROOT, Result, fresh_dir, precompile, run_once, table, tool
from tests.conftest import bookworm_rootfs

TARGET_VS_TRIVY = 3.0
PEERS_BIN = ROOT / ".venv-peers" / "bin"

# Walk like `customhouse fs` would: regular files, symlinks not followed, default configuration.
DRIVER = """
import json, os, sys
from pathlib import Path
from customhouse.secrets import Scanner, SecretConfig
root, cache = sys.argv[1], sys.argv[2]
sc = Scanner.create(SecretConfig(cache_dir=cache))
n = 0
for dirpath, dirnames, filenames in os.walk(root):
    for fn in filenames:
        p = os.path.join(dirpath, fn)
        if os.path.islink(p) or not os.path.isfile(p):
            continue
        try:
            n += len(sc.scan_file(p, os.path.relpath(p, root)))
        except OSError:
            pass
json.dump({"findings": n}, sys.stdout)
"""


def tree_bytes(root: Path) -> tuple[int, int]:
    files = size = 0
    for dirpath, _, filenames in os.walk(root):
        for fn in filenames:
            p = os.path.join(dirpath, fn)
            if not os.path.islink(p) and os.path.isfile(p):
                files += 1
                size += os.path.getsize(p)
    return files, size


def has_fs_command() -> bool:
    proc = subprocess.run([tool("customhouse"), "fs", "--help"], capture_output=True, check=False)
    return proc.returncode == 0


def count_findings(obj: Any) -> int:
    """Findings in our JSON: objects naming a rule (the schema of `customhouse fs` is not fixed yet)."""
    if isinstance(obj, dict):
        if "rule_id" in obj or "RuleID" in obj:
            return 1
        return sum(count_findings(v) for v in obj.values())
    if isinstance(obj, list):
        return sum(count_findings(v) for v in obj)
    return 0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--ds-runs", type=int, default=1, help="detect-secrets runs (each takes minutes)")
    ap.add_argument("--driver", action="store_true", help="use the Scanner.scan_file driver even if `fs` exists")
    args = ap.parse_args()
    precompile()
    work = ROOT / "bench" / "results" / "secrets"
    work.mkdir(parents=True, exist_ok=True)
    rootfs = bookworm_rootfs()
    nfiles, nbytes = tree_bytes(rootfs)
    ours_cache, trivy_cache = work / "ours-cache", work / "trivy-cache"
    fresh_dir(ours_cache)()
    use_fs = has_fs_command() and not args.driver
    if use_fs:
        ours_label = "customhouse fs"
        ours = [tool("customhouse"), "fs", str(rootfs), "-f", "json", "--cache-dir", str(ours_cache)]
    else:
        ours_label = "customhouse (Scanner.scan_file driver)"
        ours = [sys.executable, "-c", DRIVER, str(rootfs), str(ours_cache)]
    trivy = [
        tool("trivy"),
        "rootfs",
        "--scanners",
        "secret",
        "--format",
        "json",
        "--cache-dir",
        str(trivy_cache),
        *PEER_FLAGS_TRIVY,
        str(rootfs),
    ]
    ds_bin = PEERS_BIN / "detect-secrets"
    # detect-secrets only finds files below its working directory: run it from the root.
    ds = ["sh", "-c", f'cd "{rootfs}" && exec "{ds_bin}" scan --all-files .'] if ds_bin.exists() else None
    if args.ds_runs < 1:
        ds = None
    outputs = {"ours": work / "ours.json", "trivy": work / "trivy.json", "ds": work / "detect-secrets.json"}

    run_once(ours, stdout=outputs["ours"])  # warm-up: compiles and caches the Hyperscan database once
    results = {"ours": Result(ours_label, []), "trivy": Result("trivy rootfs --scanners secret", [])}
    if ds:
        results["ds"] = Result("detect-secrets scan --all-files", [])
    t0 = time.perf_counter()
    for i in range(args.runs):
        results["ours"].samples.append(run_once(ours, stdout=outputs["ours"]))
        fresh_dir(trivy_cache)()
        results["trivy"].samples.append(run_once(trivy, stdout=outputs["trivy"]))
        if ds and i < args.ds_runs:
            results["ds"].samples.append(run_once(ds, stdout=outputs["ds"]))
    elapsed = time.perf_counter() - t0

    oj = json.loads(outputs["ours"].read_text())
    driver_count = oj.get("findings") if isinstance(oj, dict) else None
    findings = {"ours": driver_count if isinstance(driver_count, int) else count_findings(oj)}
    tj = json.loads(outputs["trivy"].read_text())
    findings["trivy"] = sum(len(r.get("Secrets") or []) for r in tj.get("Results") or [])
    if ds:
        dj = json.loads(outputs["ds"].read_text())
        findings["ds"] = sum(len(v) for v in dj.get("results", {}).values())

    rows = [("tool", "runs", "median s", "best s", "MB/s", "peak MB", "findings")]
    for k, r in results.items():
        mbps = nbytes / 1e6 / r.median
        cells = (f"{r.median:.2f}", f"{r.best:.2f}", f"{mbps:.0f}", f"{r.peak_mb:.0f}", str(findings[k]))
        rows.append((r.name, str(len(r.samples)), *cells))
    ratio = results["trivy"].median / results["ours"].median
    print(f"root: {rootfs} ({nfiles} regular files, {nbytes / 1e6:.1f} MB); {elapsed:.0f} s of interleaved rounds")
    print(table(rows))
    print()
    print(f"customhouse is {ratio:.2f}x faster than trivy (target >= {TARGET_VS_TRIVY})")
    if ds:
        print(f"customhouse is {results['ds'].median / results['ours'].median:.1f}x faster than detect-secrets")
    out = {
        "rootfs": str(rootfs),
        "files": nfiles,
        "bytes": nbytes,
        "ours_command": "customhouse fs" if use_fs else "Scanner.scan_file driver",
        "tools": {
            k: {
                "name": r.name,
                "runs": len(r.samples),
                "median_s": r.median,
                "best_s": r.best,
                "mb_per_s": nbytes / 1e6 / r.median,
                "peak_mb": r.peak_mb,
                "findings": findings[k],
            }
            for k, r in results.items()
        },
        "ratio_vs_trivy": ratio,
        "target_vs_trivy": TARGET_VS_TRIVY,
    }
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    for name in (f"secrets-results-{stamp}.json", "secrets-results-latest.json"):
        (ROOT / "bench" / "results" / name).write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    sys.exit(main())
