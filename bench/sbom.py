"""SBOM benchmark: customhouse vs trivy vs syft on the same docker-archive, in one run.

Input: the bookworm minbase root filesystem plus a layer with a Go binary (bench/fixtures.py).
Cold = empty cache for both cached tools; warm = the same scan again. syft has no cache.
Memory: peak RSS of a cold scan of an image with a 1 GiB layer.

    .venv/bin/python -m bench.sbom [--runs 5] [--skip-big]
"""

from __future__ import annotations

import argparse
import json
import sys

from bench._common import PEER_FLAGS_TRIVY, ROOT, fresh_dir, measure, precompile, table, tool
from bench.fixtures import big_layer_image, bookworm_go_archive

TARGETS = {"cold_vs_trivy": 1.0, "warm_vs_trivy": 3.0, "vs_syft": 5.0, "big_layer_peak_mb": 250.0}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--skip-big", action="store_true")
    ap.add_argument("--format", default="cyclonedx-json", help="our output format (peers write CycloneDX)")
    args = ap.parse_args()
    precompile()
    work = ROOT / "bench" / "results" / "sbom"
    work.mkdir(parents=True, exist_ok=True)
    image = bookworm_go_archive()
    ours_cache, trivy_cache = work / "ours-cache", work / "trivy-cache"
    ours = [tool("customhouse"), "sbom", f"docker-archive:{image}", "-f", args.format, "--cache-dir", str(ours_cache)]
    trivy = [
        tool("trivy"),
        "image",
        "--input",
        str(image),
        "--format",
        "cyclonedx",
        "--cache-dir",
        str(trivy_cache),
        *PEER_FLAGS_TRIVY,
    ]
    syft = [tool("syft"), f"docker-archive:{image}", "-o", "cyclonedx-json", "-q"]
    syft_env = {"SYFT_CHECK_FOR_APP_UPDATE": "false"}
    n = args.runs
    # Interleave tools per round so machine noise hits all of them alike.
    results = {
        "ours_cold": measure("customhouse cold", ours, n, before=fresh_dir(ours_cache), stdout=work / "ours.cdx.json"),
        "trivy_cold": measure("trivy cold", trivy, n, before=fresh_dir(trivy_cache), stdout=work / "trivy.cdx.json"),
        "syft": measure("syft", syft, n, env=syft_env, stdout=work / "syft.cdx.json"),
    }
    results["ours_warm"] = measure("customhouse warm", ours, n, stdout=work / "ours.cdx.json")
    results["trivy_warm"] = measure("trivy warm", trivy, n, stdout=work / "trivy.cdx.json")
    ratios = {
        "cold_vs_trivy": results["ours_cold"].median / results["trivy_cold"].median,
        "warm_vs_trivy": results["trivy_warm"].median / results["ours_warm"].median,
        "vs_syft": results["syft"].median / results["ours_cold"].median,
    }
    rows = [("run", "median s", "best s", "peak MB")]
    for r in results.values():
        rows.append((r.name, f"{r.median:.3f}", f"{r.best:.3f}", f"{r.peak_mb:.0f}"))
    print(f"image: {image} ({image.stat().st_size / 1e6:.0f} MB), {n} runs each")
    print(table(rows))
    print()
    print(f"cold: customhouse takes {ratios['cold_vs_trivy']:.2f}x trivy's time (target <= {TARGETS['cold_vs_trivy']})")
    print(
        f"warm: customhouse is {ratios['warm_vs_trivy']:.2f}x faster than trivy (target >= {TARGETS['warm_vs_trivy']})"
    )
    print(f"cold: customhouse is {ratios['vs_syft']:.2f}x faster than syft (target >= {TARGETS['vs_syft']})")
    out: dict[str, object] = {k: {"median": v.median, "best": v.best, "peak_mb": v.peak_mb} for k, v in results.items()}
    out["ratios"] = ratios
    if not args.skip_big:
        big = big_layer_image()
        big_cache = work / "big-cache"
        archive = big / "docker-archive.tar"
        runs = {}
        for label, target in (
            ("docker-archive", f"docker-archive:{archive}"),
            ("oci-layout (gzip)", f"oci-layout:{big / 'oci'}"),
        ):
            runs[label] = measure(
                f"customhouse {label}",
                [tool("customhouse"), "sbom", target, "-f", "json", "--cache-dir", str(big_cache)],
                1,
                before=fresh_dir(big_cache),
            )
        t = measure(
            "trivy docker-archive",
            [
                tool("trivy"),
                "image",
                "--input",
                str(archive),
                "--format",
                "cyclonedx",
                "--cache-dir",
                str(trivy_cache),
                *PEER_FLAGS_TRIVY,
            ],
            1,
            before=fresh_dir(trivy_cache),
        )
        size = sum(f.stat().st_size for f in (big / "oci").rglob("*") if f.is_file())
        print(f"1 GiB layer (docker-archive {archive.stat().st_size / 1e9:.2f} GB, OCI layout {size / 1e9:.2f} GB):")
        for label, r in runs.items():
            print(f"  customhouse {label}: peak {r.peak_mb:.0f} MB in {r.median:.1f} s (target <= 250 MB)")
        print(f"  trivy docker-archive: peak {t.peak_mb:.0f} MB in {t.median:.1f} s")
        out["big_layer"] = {
            **{f"ours {k}": {"seconds": v.median, "peak_mb": v.peak_mb} for k, v in runs.items()},
            "trivy": {"seconds": t.median, "peak_mb": t.peak_mb},
        }
    (work / "results.json").write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    sys.exit(main())
