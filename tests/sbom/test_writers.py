"""CycloneDX and SPDX output: valid against the official validators, complete, deterministic."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from packageurl import PackageURL

from customhouse.image.scan import ImageAnalysis
from customhouse.model import Inventory
from customhouse.report import cyclonedx, inventory_renderer, spdx
from tests.sbom.conftest import MULTI_TAG, scan
from tests.sbom.inventories import LAYERS, analysis_of, every_type_inventory


def validate_cyclonedx(text: str) -> None:
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    assert error is None, f"CycloneDX 1.6 schema violation: {error}"


def validate_spdx(text: str, tmp_path: Path) -> None:
    from spdx_tools.spdx.parser.parse_anything import parse_file
    from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

    path = tmp_path / "doc.spdx.json"
    path.write_text(text)
    messages = validate_full_spdx_document(parse_file(str(path)))
    assert not messages, [m.validation_message for m in messages]


@pytest.fixture(params=["alpine-docker-archive", "multilayer-oci", "every-type"])
def analysis(request: pytest.FixtureRequest, tmp_path: Path) -> ImageAnalysis:
    if request.param == "alpine-docker-archive":
        return scan(f"docker-archive:{request.getfixturevalue('alpine_archive')}", tmp_path / "cache")
    if request.param == "multilayer-oci":
        return scan(f"oci-layout:{request.getfixturevalue('multilayer_layout')}", tmp_path / "cache")
    return analysis_of(every_type_inventory())


def test_cyclonedx_validates_and_lists_every_package(analysis: ImageAnalysis) -> None:
    text = cyclonedx.render(analysis)
    validate_cyclonedx(text)
    doc = json.loads(text)
    inv = analysis.inventory
    assert inv.packages, "the fixture inventory must not be empty"
    libs = [c for c in doc["components"] if c["type"] == "library"]
    assert [c.get("purl") for c in libs] == [p.purl for p in inv.packages]
    assert all(c["name"] for c in libs)
    assert len({c["bom-ref"] for c in doc["components"]}) == len(doc["components"])
    # The image depends on the OS and on every package, and every ref resolves.
    deps = {d["ref"]: d.get("dependsOn", []) for d in doc["dependencies"]}
    image_ref = doc["metadata"]["component"]["bom-ref"]
    assert deps[image_ref] == [c["bom-ref"] for c in doc["components"]]
    assert inv.os is not None
    os_comps = [c for c in doc["components"] if c["type"] == "operating-system"]
    assert [(c["name"], c["version"]) for c in os_comps] == [(inv.os.family, inv.os.version)]


def test_spdx_validates_and_contains_every_package(analysis: ImageAnalysis, tmp_path: Path) -> None:
    text = spdx.render(analysis)
    validate_spdx(text, tmp_path)
    doc = json.loads(text)
    inv = analysis.inventory
    pkgs = {p["SPDXID"]: p for p in doc["packages"]}
    assert len(pkgs) == len(doc["packages"]), "SPDXIDs must be unique"
    rels = [(r["spdxElementId"], r["relationshipType"], r["relatedSpdxElement"]) for r in doc["relationships"]]
    assert rels[0] == ("SPDXRef-DOCUMENT", "DESCRIBES", spdx.IMAGE_ID)
    assert pkgs[spdx.IMAGE_ID]["primaryPackagePurpose"] == "CONTAINER"
    contained = [b for a, kind, b in rels if a == spdx.IMAGE_ID and kind == "CONTAINS"]
    assert contained == [p["SPDXID"] for p in doc["packages"][1:]]
    listed = [p for p in doc["packages"] if p.get("primaryPackagePurpose") == "LIBRARY"]
    purls = [[r["referenceLocator"] for r in p["externalRefs"] if r["referenceType"] == "purl"] for p in listed]
    assert purls == [[p.purl] for p in inv.packages]
    assert all(p["downloadLocation"] == "NOASSERTION" and p["licenseConcluded"] == "NOASSERTION" for p in listed)


def test_every_type_inventory_details() -> None:
    """The fields the brief pins down, on the inventory with the awkward names and licenses."""
    inv = every_type_inventory()
    doc = json.loads(cyclonedx.render(analysis_of(inv)))
    meta = doc["metadata"]
    assert "timestamp" not in meta and "serialNumber" not in doc
    assert meta["tools"]["components"][0]["name"] == "customhouse"
    image = meta["component"]
    assert (image["type"], image["name"], image["version"]) == (
        "container",
        "registry.example.com/team/app:1.0",
        "sha256:" + "d" * 64,
    )
    ipurl = PackageURL.from_string(image["purl"])
    assert (ipurl.type, ipurl.name, ipurl.version) == ("oci", "app", "sha256:" + "d" * 64)
    assert ipurl.qualifiers == {"repository_url": "registry.example.com/team/app", "tag": "1.0", "arch": "amd64"}
    image_props = _props(image)
    assert image_props["customhouse:image:layer:1:diff_id"] == LAYERS[1].diff_id
    assert image_props["customhouse:image:layer:1:created_by"] == LAYERS[1].created_by

    by_purl = {c["purl"]: c for c in doc["components"] if "purl" in c}
    angular = by_purl["pkg:npm/%40angular/core@17.0.8"]
    assert (angular["group"], angular["name"]) == ("@angular", "core")
    log4j = by_purl["pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"]
    assert (log4j["group"], log4j["name"]) == ("org.apache.logging.log4j", "log4j-core")
    assert by_purl["pkg:pypi/django@4.2.7"]["name"] == "Django"
    assert by_purl["pkg:golang/golang.org/x/net@v0.0.0-20231201123456-abcdef012345"]["name"] == "golang.org/x/net"
    zlib = next(c for c in doc["components"] if c["name"] == "zlib1g")
    assert zlib["version"] == "1:1.2.13.dfsg-1"

    lic = {c["name"]: c.get("licenses") for c in doc["components"]}
    assert lic["libc6"] == [{"license": {"id": "LGPL-2.1-or-later"}}, {"license": {"id": "GPL-2.0-or-later"}}]
    assert lic["serde"] == [{"expression": "MIT OR Apache-2.0"}]
    assert lic["ring"] == [{"expression": "MIT AND ISC AND ((Apache-2.0 OR MIT) AND OpenSSL)"}]
    # A free-text name cannot sit in an expression, so everything becomes a license object.
    assert lic["lodash"] == [
        {"license": {"id": "MIT"}},
        {"license": {"name": "Apache-2.0 OR BSD-2-Clause"}},
        {"license": {"name": "Custom Proprietary (c) ACME, Inc."}},
    ]

    libc6 = _props(next(c for c in doc["components"] if c["name"] == "libc6"))
    assert libc6 == {
        "customhouse:arch": "amd64",
        "customhouse:path": "var/lib/dpkg/status",
        "customhouse:found_by": "dpkg",
        "customhouse:source:name": "glibc",
        "customhouse:source:version": "2.36-9+deb12u4",
        "customhouse:layer:index": "0",
        "customhouse:layer:diff_id": LAYERS[0].diff_id,
        "customhouse:layer:digest": LAYERS[0].digest,
        "customhouse:layer:created_by": LAYERS[0].created_by,
        "customhouse:metadata:maintainer": "GNU Libc Maintainers <debian-glibc@lists.debian.org>",
    }
    assert next(c for c in doc["components"] if c["name"] == "libc6")["supplier"] == {
        "name": "GNU Libc Maintainers <debian-glibc@lists.debian.org>"
    }


def test_spdx_every_type_details(tmp_path: Path) -> None:
    inv = every_type_inventory()
    doc = json.loads(spdx.render(analysis_of(inv)))
    # created: the image's own date, converted to UTC whole seconds (input was +02:00, .5 s).
    assert doc["creationInfo"]["created"] == "2024-03-02T09:30:05Z"
    assert doc["documentNamespace"].startswith(spdx.NAMESPACE_BASE + "registry.example.com-team-app-1.0-")
    pk = {p["name"]: p for p in doc["packages"]}
    assert pk["libc6"]["supplier"] == "Organization: GNU Libc Maintainers (debian-glibc@lists.debian.org)"
    assert pk["libc6"]["licenseDeclared"] == "LGPL-2.1-or-later AND GPL-2.0-or-later"
    assert pk["serde"]["licenseDeclared"] == "MIT OR Apache-2.0"
    assert pk["rails"]["licenseDeclared"] == "MIT"
    lodash = pk["lodash"]["licenseDeclared"].split(" AND ")
    assert lodash[:2] == ["MIT", "(Apache-2.0 OR BSD-2-Clause)"]
    extracted = {e["licenseId"]: e for e in doc["hasExtractedLicensingInfos"]}
    assert extracted[lodash[2]]["extractedText"] == "Custom Proprietary (c) ACME, Inc."
    assert pk["GPL-2+ thing"]["licenseDeclared"].endswith(" AND LicenseRef-acme-eula")
    assert "LicenseRef-acme-eula" in extracted
    assert pk["org.openjdk:jdk-runtime"]["licenseDeclared"].startswith("GPL-2.0-only WITH Classpath-exception-2.0 AND ")
    assert pk["debian"]["primaryPackagePurpose"] == "OPERATING-SYSTEM"
    assert pk["registry.example.com/team/app:1.0"]["externalRefs"][0]["referenceLocator"].startswith("pkg:oci/app@")


def test_single_and_expression_is_kept_whole_by_parentheses() -> None:
    """Alpine 3.20 records `MPL-2.0 AND MIT` as one license; the reader splits top-level AND,
    so the writers must parenthesise it or the package would read back with two licenses."""
    from customhouse.report.sbom_common import classify_license, conjunction, split_conjunction

    entries = [e for e in (classify_license("MPL-2.0 AND MIT"),) if e is not None]
    expr = conjunction(entries, str)
    assert expr == "(MPL-2.0 AND MIT)"
    assert split_conjunction(expr) == ["MPL-2.0 AND MIT"]
    assert cyclonedx.licenses(("MPL-2.0 AND MIT",)) == [{"expression": "(MPL-2.0 AND MIT)"}]


def test_multilayer_packages_are_attributed_to_their_layer(multilayer_layout: Path, tmp_path: Path) -> None:
    analysis = scan(f"oci-layout:{multilayer_layout}", tmp_path / "cache")
    doc = json.loads(cyclonedx.render(analysis))
    layers = analysis.inventory.layers
    assert len(layers) == 3
    comps = {c["name"]: _props(c) for c in doc["components"] if c["type"] == "library"}
    expected = {"musl": 0, "hello-sbom": 1, "tzdata": 2, "libzstd1": 2}
    for name, index in expected.items():
        assert comps[name]["customhouse:layer:index"] == str(index), name
        assert comps[name]["customhouse:layer:diff_id"] == layers[index].diff_id
        assert comps[name]["customhouse:layer:created_by"] == layers[index].created_by
    assert comps["hello-sbom"]["customhouse:source:name"] == "hello"
    assert comps["libzstd1"]["customhouse:source:name"] == "libzstd"
    image = doc["metadata"]["component"]
    assert image["name"] == MULTI_TAG
    # An OCI layout knows its manifest digest, so the image gets a pkg:oci purl.
    purl = PackageURL.from_string(image["purl"])
    assert (purl.name, purl.version) == ("sbom-multi", analysis.inventory.target.repo_digests[0])
    assert purl.qualifiers["repository_url"] == "docker.io/customhouse/sbom-multi"


def test_docker_archive_without_manifest_digest_gets_no_purl(alpine_archive: Path, tmp_path: Path) -> None:
    """A `docker save` archive has no registry manifest, so there is no digest a pkg:oci purl
    could name; the version falls back to the image id instead of inventing one."""
    analysis = scan(f"docker-archive:{alpine_archive}", tmp_path / "cache")
    image = json.loads(cyclonedx.render(analysis))["metadata"]["component"]
    assert "purl" not in image
    assert image["version"] == analysis.inventory.target.image_id
    assert image["name"] == "alpine:3.10"


def test_same_scan_gives_identical_bytes(alpine_archive: Path, multilayer_layout: Path, tmp_path: Path) -> None:
    for spec in (f"docker-archive:{alpine_archive}", f"oci-layout:{multilayer_layout}"):
        cold = scan(spec, tmp_path / f"cold-{spec[:6]}")
        cold_again = scan(spec, tmp_path / f"cold2-{spec[:6]}")
        warm = scan(spec, tmp_path / f"cold-{spec[:6]}")  # second run on the first cache
        assert warm.cache_hits == len(warm.inventory.layers)
        for fmt in ("cyclonedx-json", "spdx-json"):
            render = inventory_renderer(fmt)
            first = render(cold)
            assert render(cold_again) == first
            assert render(warm) == first


def test_spdx_namespace_and_date_follow_the_content() -> None:
    inv = every_type_inventory()
    base = json.loads(spdx.render(analysis_of(inv)))
    changed_pkg = replace(inv.packages[0], version=inv.packages[0].version + "-1")
    changed = json.loads(spdx.render(analysis_of(replace(inv, packages=(changed_pkg, *inv.packages[1:])))))
    assert base["documentNamespace"] != changed["documentNamespace"]
    assert base["creationInfo"] == changed["creationInfo"]
    # No image date: fall back to the newest layer's date, then to the epoch.
    undated = replace(inv, target=replace(inv.target, created=""))
    assert json.loads(spdx.render(analysis_of(undated)))["creationInfo"]["created"] == "2024-03-02T09:30:00Z"
    bare = replace(undated, layers=())
    assert json.loads(spdx.render(analysis_of(bare)))["creationInfo"]["created"] == "1970-01-01T00:00:00Z"


def test_duplicate_packages_get_distinct_references(tmp_path: Path) -> None:
    inv = every_type_inventory()
    dup = replace(inv, packages=(inv.packages[0], inv.packages[0], *inv.packages[1:]))
    text = cyclonedx.render(analysis_of(dup))
    validate_cyclonedx(text)  # the schema requires unique bom-refs
    refs = [c["bom-ref"] for c in json.loads(text)["components"]]
    assert len(refs) == len(set(refs)) == len(dup.packages) + 1
    stext = spdx.render(analysis_of(dup))
    validate_spdx(stext, tmp_path)


def test_inventory_without_os_or_layers(tmp_path: Path) -> None:
    inv = every_type_inventory()
    bare: Inventory = replace(inv, os=None, layers=())
    text = cyclonedx.render(analysis_of(bare))
    validate_cyclonedx(text)
    assert not [c for c in json.loads(text)["components"] if c["type"] == "operating-system"]
    validate_spdx(spdx.render(analysis_of(bare)), tmp_path)


def test_writers_and_reader_do_not_import_heavy_libraries() -> None:
    """The CLI budget depends on it: cyclonedx-python-lib alone costs ~0.1 s to import."""
    code = (
        "import sys; sys.path.insert(0, '.')\n"
        "from tests.sbom.inventories import every_type_inventory, analysis_of\n"
        "from customhouse.report import cyclonedx, spdx\n"
        "from customhouse.targets.sbom import read_document\n"
        "import json\n"
        "a = analysis_of(every_type_inventory())\n"
        "read_document(json.loads(cyclonedx.render(a)), 'x', 'x')\n"
        "read_document(json.loads(spdx.render(a)), 'x', 'x')\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'cyclonedx', 'spdx_tools', 'license_expression',"
        " 'jsonschema', 'serializable', 'py_serializable'})\n"
        "print(heavy)\n"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _props(comp: dict[str, Any]) -> dict[str, str]:
    return {p["name"]: p["value"] for p in comp.get("properties", [])}
