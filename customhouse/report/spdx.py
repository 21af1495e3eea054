"""SPDX 2.3 JSON, written directly (spdx-tools is a test-only dependency, used to validate).

SPDX requires two values that are normally random or the clock, and both are derived here
from the input so the same image always gives the same bytes (CONVENTIONS.md):

- `creationInfo.created` is the image's own creation date (the config's `created`), else the
  newest layer's history date, else 1970-01-01T00:00:00Z (`sbom_common.document_date`).
- `documentNamespace` ends in the SHA-256 of the rest of the document, so two documents
  share a namespace only if they say exactly the same thing.

`licenseConcluded` is NOASSERTION: we report what packages declare and have concluded nothing
ourselves. What SPDX has no field for (layer, path, source package, analyzer) travels in one
annotation per package whose comment is `customhouse:properties=` and a JSON list of
[name, value] pairs, the same properties the CycloneDX output carries.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import TYPE_CHECKING, Any

from customhouse.model import Inventory, Package
from customhouse.report import sbom_common as sc
from customhouse.report.jsonlayout import dump_json

if TYPE_CHECKING:
    from customhouse.image.scan import ImageAnalysis

SPDX_VERSION = "SPDX-2.3"
# SPDX wants a unique absolute URI, not a resolvable one. The project has no domain yet;
# `.invalid` is reserved (RFC 2606) so this can never be mistaken for a real location.
NAMESPACE_BASE = "https://customhouse.invalid/spdx/"
NOASSERTION = "NOASSERTION"
IMAGE_ID = "SPDXRef-Image"
OS_ID = "SPDXRef-OperatingSystem"


def render(analysis: ImageAnalysis) -> str:
    return dump_json(document_dict(analysis.inventory))


def document_dict(inv: Inventory) -> dict[str, Any]:
    ident = sc.image_identity(inv.target)
    created = sc.document_date(inv)
    annotator = f"Tool: {sc.TOOL}-{sc.tool_version()}"
    extracted: dict[str, dict[str, str]] = {}

    def annotate(pkg: dict[str, Any], props: list[sc.Property]) -> None:
        if props:
            comment = sc.SPDX_ANNOTATION_PREFIX + json.dumps([list(kv) for kv in props], separators=(",", ":"))
            pkg["annotations"] = [
                {"annotator": annotator, "annotationDate": created, "annotationType": "OTHER", "comment": comment}
            ]

    image: dict[str, Any] = {
        "SPDXID": IMAGE_ID,
        "name": ident.name,
    }
    if ident.version:
        image["versionInfo"] = ident.version
    image.update(
        {
            "downloadLocation": NOASSERTION,
            "filesAnalyzed": False,
            "licenseConcluded": NOASSERTION,
            "licenseDeclared": NOASSERTION,
            "primaryPackagePurpose": "CONTAINER",
        }
    )
    if ident.purl:
        image["externalRefs"] = [_purl_ref(ident.purl)]
    annotate(image, sc.image_properties(inv.target, inv.layers))
    packages = [image]
    relationships = [_rel("SPDXRef-DOCUMENT", "DESCRIBES", IMAGE_ID)]

    if inv.os is not None:
        os_pkg: dict[str, Any] = {"SPDXID": OS_ID, "name": inv.os.family}
        if inv.os.version:
            os_pkg["versionInfo"] = inv.os.version
        os_pkg.update(
            {
                "downloadLocation": NOASSERTION,
                "filesAnalyzed": False,
                "licenseConcluded": NOASSERTION,
                "licenseDeclared": NOASSERTION,
                "primaryPackagePurpose": "OPERATING-SYSTEM",
            }
        )
        if inv.os.name:
            os_pkg["description"] = inv.os.name
        annotate(os_pkg, sc.os_properties(inv.os))
        packages.append(os_pkg)
        relationships.append(_rel(IMAGE_ID, "CONTAINS", OS_ID))

    used = {IMAGE_ID, OS_ID}
    for p in inv.packages:
        spdx_id = _spdx_id(p, used)
        pkg: dict[str, Any] = {"SPDXID": spdx_id, "name": p.name}
        if p.version:
            pkg["versionInfo"] = p.version
        supplier = _supplier(p)
        if supplier:
            pkg["supplier"] = supplier
        pkg.update(
            {
                "downloadLocation": NOASSERTION,
                "filesAnalyzed": False,
                "licenseConcluded": NOASSERTION,
                "licenseDeclared": license_expression(p.licenses, extracted),
            }
        )
        if p.purl:
            pkg["externalRefs"] = [_purl_ref(p.purl)]
        pkg["primaryPackagePurpose"] = "LIBRARY"
        annotate(pkg, sc.package_properties(p))
        packages.append(pkg)
        relationships.append(_rel(IMAGE_ID, "CONTAINS", spdx_id))

    doc: dict[str, Any] = {
        "spdxVersion": SPDX_VERSION,
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": ident.name,
        "documentNamespace": "",
        "creationInfo": {"creators": [annotator], "created": created},
        "packages": packages,
    }
    if extracted:
        doc["hasExtractedLicensingInfos"] = [extracted[k] for k in sorted(extracted)]
    doc["relationships"] = relationships
    digest = hashlib.sha256(json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", ident.name).strip("-")[:80] or "image"
    doc["documentNamespace"] = f"{NAMESPACE_BASE}{slug}-{digest}"
    return doc


def license_expression(values: tuple[str, ...], extracted: dict[str, dict[str, str]]) -> str:
    """All of a package's licenses as one SPDX expression (a conjunction), or NOASSERTION.

    Names that are not SPDX become LicenseRefs whose extracted text and name keep the exact
    words, which is how the reader gets them back.
    """
    entries = [e for e in (sc.classify_license(v) for v in values) if e is not None]
    if not entries:
        return NOASSERTION

    def ref(name: str) -> str:
        lid = sc.license_ref_for(name)
        extracted.setdefault(lid, {"licenseId": lid, "extractedText": name, "name": name})
        return lid

    for e in entries:
        if e.kind == "expression":
            # A LicenseRef we were given has no text of ours; it still must be declared.
            for tok in re.findall(r"LicenseRef-[A-Za-z0-9.\-]+", e.value):
                extracted.setdefault(tok, {"licenseId": tok, "extractedText": tok, "name": tok})
    return sc.conjunction(entries, ref)


def _spdx_id(p: Package, used: set[str]) -> str:
    slug = re.sub(r"[^A-Za-z0-9.-]+", "-", f"{p.type}-{p.name}").strip("-")[:60]
    base = f"SPDXRef-Package-{slug}-{sc.package_key(p)}"
    sid, n = base, 2
    while sid in used:
        sid = f"{base}-{n}"
        n += 1
    used.add(sid)
    return sid


def _supplier(p: Package) -> str:
    """`Organization: name (mail)`: we cannot tell a person from a team, and an organization
    is the weaker claim."""
    raw = sc.supplier_of(p)
    if not raw:
        return ""
    name, mail = sc.split_contact(raw)
    if "<" in name or not name:
        name, mail = re.sub(r"[<>]", "", raw).strip(), ""
    name = name.replace("(", "[").replace(")", "]")
    if not name:
        return ""
    return f"Organization: {name} ({mail})" if mail else f"Organization: {name}"


def _purl_ref(purl: str) -> dict[str, str]:
    return {"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": purl}


def _rel(a: str, kind: str, b: str) -> dict[str, str]:
    return {"spdxElementId": a, "relationshipType": kind, "relatedSpdxElement": b}
