"""Measure the two ways of writing CycloneDX: our direct JSON vs cyclonedx-python-lib.

Not a test (pytest does not collect it): run `.venv/bin/python -m tests.sbom.bench_cyclonedx [N]`.
Each sample runs in a fresh interpreter, so the import cost is what a CLI invocation pays.
The numbers decided how customhouse.report.cyclonedx is written; rerun after upgrading either.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys

_CHILD = r"""
import sys, time, json
sys.path.insert(0, ".")
from tests.sbom.inventories import synthetic_inventory, analysis_of
analysis = analysis_of(synthetic_inventory(int(sys.argv[2])))
t0 = time.perf_counter()
if sys.argv[1] == "direct":
    from customhouse.report.cyclonedx import render
    t1 = time.perf_counter()
    out = render(analysis)
else:
    import cyclonedx.model.bom, cyclonedx.model.component, cyclonedx.model.license, cyclonedx.output.json
    from tests.sbom.bench_cyclonedx import lib_render
    t1 = time.perf_counter()
    out = lib_render(analysis)
t2 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "render": t2 - t1, "bytes": len(out)}))
"""


def lib_render(analysis: object) -> str:
    """The same BOM built with cyclonedx-python-lib's model and serializer."""
    from cyclonedx.model import Property
    from cyclonedx.model.bom import Bom
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.model.contact import OrganizationalEntity
    from cyclonedx.model.license import DisjunctiveLicense, LicenseExpression
    from cyclonedx.output.json import JsonV1Dot6
    from packageurl import PackageURL

    from customhouse.report import cyclonedx as ours
    from customhouse.report import sbom_common as sc

    inv = analysis.inventory  # type: ignore[attr-defined]
    ident = sc.image_identity(inv.target)
    root = Component(
        name=ident.name,
        type=ComponentType.CONTAINER,
        version=ident.version,
        bom_ref="image:" + ident.version,
        properties=[Property(name=k, value=v) for k, v in sc.image_properties(inv.target, inv.layers)],
    )
    bom = Bom()
    bom.metadata.component = root
    os_comp = Component(
        name=inv.os.family,
        version=inv.os.version,
        type=ComponentType.OPERATING_SYSTEM,
        bom_ref=f"os:{inv.os.family}@{inv.os.version}",
        properties=[Property(name=k, value=v) for k, v in sc.os_properties(inv.os)],
    )
    bom.components.add(os_comp)
    comps = [os_comp]
    used: set[str] = set()
    for p in inv.packages:
        d = ours._component(p, used)
        lics: list[LicenseExpression | DisjunctiveLicense] = []
        for entry in d.get("licenses", []):
            if "expression" in entry:
                lics.append(LicenseExpression(entry["expression"]))
            elif "id" in entry["license"]:
                lics.append(DisjunctiveLicense(id=entry["license"]["id"]))
            else:
                lics.append(DisjunctiveLicense(name=entry["license"]["name"]))
        c = Component(
            name=d["name"],
            group=d.get("group"),
            version=d.get("version"),
            bom_ref=d["bom-ref"],
            purl=PackageURL.from_string(p.purl) if p.purl else None,
            supplier=OrganizationalEntity(name=d["supplier"]["name"]) if "supplier" in d else None,
            licenses=lics,
            properties=[Property(name=x["name"], value=x["value"]) for x in d.get("properties", [])],
        )
        bom.components.add(c)
        comps.append(c)
    bom.register_dependency(root, comps)
    return JsonV1Dot6(bom).output_as_string(indent=2)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    runs = 5
    for way in ("direct", "lib"):
        samples = [
            json.loads(
                subprocess.run([sys.executable, "-c", _CHILD, way, str(n)], capture_output=True, check=True).stdout
            )
            for _ in range(runs)
        ]
        imp = statistics.median(s["import"] for s in samples) * 1000
        ren = statistics.median(s["render"] for s in samples) * 1000
        size = samples[0]["bytes"]
        print(f"{way:6} n={n}: import {imp:6.1f} ms  render {ren:6.1f} ms  total {imp + ren:6.1f} ms  ({size} bytes)")


if __name__ == "__main__":
    main()
