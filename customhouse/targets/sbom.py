"""`sbom:FILE`: an existing SBOM (CycloneDX 1.2-1.7 or SPDX 2.2/2.3 JSON) as a scan target.

The purl is the one identifier every producer agrees on, so packages are rebuilt from it:
type, name (namespace joined the way customhouse.purl writes it), version (an `epoch`
qualifier folded back into `epoch:version`), arch and source package. Producers then differ
in where they put the rest, and the reader knows three dialects: our own `customhouse:`
properties (lossless), syft's `syft:` properties and trivy's `aquasecurity:trivy:`
properties (CycloneDX) or annotations and `sourceInfo` (SPDX).

An SBOM is untrusted input like any image: it is size-bounded before it is read, every value
is type-checked before use, and anything malformed is an `InputError` naming the file, the
element and the reason (exit 3), never a traceback.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from customhouse.errors import InputError
from customhouse.model import Inventory, LayerInfo, OSInfo, Package, TargetInfo, sort_packages
from customhouse.report import sbom_common as sc
from customhouse.settings import Settings

CYCLONEDX_VERSIONS = ("1.2", "1.3", "1.4", "1.5", "1.6", "1.7")
SPDX_VERSIONS = ("SPDX-2.2", "SPDX-2.3")
MAX_COMPONENT_DEPTH = 64

_TRIVY = "aquasecurity:trivy:"
_SYFT = "syft:"
# Family names as other producers spell them -> OSInfo.family.
_FAMILY = {
    "redhat": "rhel",
    "red hat enterprise linux": "rhel",
    "amazon": "amzn",
    "amazon linux": "amzn",
    "oracle": "ol",
    "oracle linux": "ol",
    "oracle linux server": "ol",
    "debian gnu/linux": "debian",
    "centos linux": "centos",
    "rocky linux": "rocky",
    "cbl-mariner": "mariner",
    "suse linux enterprise server": "sles",
    "opensuse.leap": "opensuse-leap",
    "opensuse.tumbleweed": "opensuse-tumbleweed",
}


class SbomSource:
    def __init__(self, path: Path, name: str, settings: Settings) -> None:
        self.path = path
        self.name = name
        self.settings = settings

    def inventory(self) -> Inventory:
        doc = load_document(self.path, self.settings.limits.max_json_bytes)
        return read_document(doc, str(self.path), self.name)

    def close(self) -> None:
        """Nothing held open: the document is read whole."""


def load_document(path: Path, limit: int) -> Any:
    """Read and parse `path`, refusing it before reading if it is larger than `limit`."""
    where = str(path)
    try:
        if not path.is_file():
            raise InputError(f"{where}: no such file" if not path.exists() else f"{where}: not a regular file")
        size = path.stat().st_size
        if size > limit:
            raise InputError(f"{where}: SBOM of {size} bytes exceeds the {limit}-byte limit")
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except OSError as exc:
        raise InputError(f"{where}: cannot read ({exc.strerror or exc})") from None
    if len(data) > limit:
        raise InputError(f"{where}: SBOM exceeds the {limit}-byte limit")
    if data.lstrip()[:1] == b"<":
        raise InputError(f"{where}: looks like XML; only JSON SBOMs (CycloneDX, SPDX) can be read")
    try:
        return json.loads(data)
    except RecursionError:
        raise InputError(f"{where}: invalid JSON (nested too deeply)") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"{where}: invalid JSON ({exc})") from None


def read_document(doc: Any, where: str, name: str) -> Inventory:
    """The inventory an already-parsed SBOM describes; `name` is the target as the user wrote it."""
    if not isinstance(doc, dict):
        raise InputError(f"{where}: neither a CycloneDX nor an SPDX JSON document (top level is not an object)")
    r = _Reader(where)
    try:
        if doc.get("bomFormat") == "CycloneDX":
            return r.cyclonedx(doc, name)
        if "spdxVersion" in doc:
            return r.spdx(doc, name)
    except RecursionError:
        raise InputError(f"{where}: document nested too deeply") from None
    ctx = doc.get("@context")
    if isinstance(ctx, str | list) and "spdx" in json.dumps(ctx).lower():
        raise InputError(f"{where}: SPDX 3 (JSON-LD) is not supported; use SPDX 2.2 or 2.3 JSON")
    raise InputError(f"{where}: neither a CycloneDX nor an SPDX JSON document (no bomFormat or spdxVersion)")


# --------------------------------------------------------------------------- shared


@dataclass
class _Facts:
    """One package as a document states it, before the dialects are reconciled."""

    ctx: str
    name: str
    group: str = ""
    version: str = ""
    purl: str = ""
    licenses: list[str] = field(default_factory=list)
    props: list[tuple[str, str]] = field(default_factory=list)
    supplier: str = ""
    source_hint: tuple[str, str] = ("", "")

    def prop(self, key: str) -> str:
        for k, v in self.props:
            if k == key:
                return v
        return ""


def _props_first(props: list[tuple[str, str]], key: str) -> str:
    for k, v in props:
        if k == key:
            return v
    return ""


def _props_all(props: list[tuple[str, str]], key: str) -> list[str]:
    return [v for k, v in props if k == key]


class _Reader:
    def __init__(self, where: str) -> None:
        self.where = where
        self.warnings: list[str] = []

    # ----------------------------------------------------------- typed access

    def fail(self, ctx: str, msg: str) -> InputError:
        return InputError(f"{self.where}: {ctx}: {msg}")

    def obj(self, value: Any, ctx: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(ctx, f"expected an object, got {_tname(value)}")
        return value

    def opt_obj(self, d: dict[str, Any], key: str, ctx: str) -> dict[str, Any]:
        v = d.get(key)
        return {} if v is None else self.obj(v, f"{ctx}.{key}" if ctx else key)

    def arr(self, d: dict[str, Any], key: str, ctx: str) -> list[Any]:
        v = d.get(key)
        if v is None:
            return []
        if not isinstance(v, list):
            raise self.fail(f"{ctx}.{key}" if ctx else key, f"expected an array, got {_tname(v)}")
        return v

    def s(self, d: dict[str, Any], key: str, ctx: str) -> str:
        v = d.get(key)
        if v is None:
            return ""
        if not isinstance(v, str):
            raise self.fail(f"{ctx}.{key}" if ctx else key, f"expected a string, got {_tname(v)}")
        return v

    # ------------------------------------------------------------- CycloneDX

    def cyclonedx(self, doc: dict[str, Any], name: str) -> Inventory:
        spec = doc.get("specVersion")
        if not isinstance(spec, str) or spec not in CYCLONEDX_VERSIONS:
            raise self.fail(
                "specVersion", f"unsupported CycloneDX version {spec!r} (supported: {', '.join(CYCLONEDX_VERSIONS)})"
            )
        meta = self.opt_obj(doc, "metadata", "")
        root = self.opt_obj(meta, "component", "metadata")
        image_props = self.cdx_props(root, "metadata.component") if root else []
        facts: list[_Facts] = []
        os_candidates: list[OSInfo] = []
        for comp, ctx in self.cdx_walk(doc):
            ctype = self.s(comp, "type", ctx)
            if ctype == "operating-system":
                os_candidates.append(self.cdx_os(comp, ctx))
                continue
            if ctype in ("container", "file", "device", "firmware", "data", "machine-learning-model", "platform"):
                continue
            f = self.cdx_facts(comp, ctx)
            if f.purl or f.prop(sc.P_TYPE) or (ctype in ("library", "framework") and f.version):
                facts.append(f)
        return self.finish(name, image_props, facts, os_candidates)

    def cdx_walk(self, doc: dict[str, Any]) -> Iterator[tuple[dict[str, Any], str]]:
        """Every component, nested ones included, depth-first in document order."""
        stack: list[tuple[list[Any], str, int]] = [(self.arr(doc, "components", ""), "components", 0)]
        while stack:
            items, base, depth = stack.pop()
            nested: list[tuple[list[Any], str, int]] = []
            for i, item in enumerate(items):
                ctx = f"{base}[{i}]"
                comp = self.obj(item, ctx)
                yield comp, ctx
                children = self.arr(comp, "components", ctx)
                if children:
                    if depth + 1 >= MAX_COMPONENT_DEPTH:
                        raise self.fail(ctx, f"components nested more than {MAX_COMPONENT_DEPTH} deep")
                    nested.append((children, f"{ctx}.components", depth + 1))
            stack.extend(reversed(nested))

    def cdx_props(self, comp: dict[str, Any], ctx: str) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        for i, item in enumerate(self.arr(comp, "properties", ctx)):
            pctx = f"{ctx}.properties[{i}]"
            p = self.obj(item, pctx)
            out.append((self.s(p, "name", pctx), self.s(p, "value", pctx)))
        return out

    def cdx_licenses(self, comp: dict[str, Any], ctx: str) -> list[str]:
        out: list[str] = []
        for i, item in enumerate(self.arr(comp, "licenses", ctx)):
            lctx = f"{ctx}.licenses[{i}]"
            choice = self.obj(item, lctx)
            if "expression" in choice:
                out.extend(sc.split_conjunction(self.s(choice, "expression", lctx)))
                continue
            lic = self.opt_obj(choice, "license", lctx)
            value = self.s(lic, "id", f"{lctx}.license") or self.s(lic, "name", f"{lctx}.license")
            if value.strip():
                out.append(value.strip())
        return out

    def cdx_facts(self, comp: dict[str, Any], ctx: str) -> _Facts:
        supplier = self.opt_obj(comp, "supplier", ctx)
        return _Facts(
            ctx=ctx,
            name=self.s(comp, "name", ctx),
            group=self.s(comp, "group", ctx),
            version=self.s(comp, "version", ctx),
            purl=self.s(comp, "purl", ctx),
            licenses=self.cdx_licenses(comp, ctx),
            props=self.cdx_props(comp, ctx),
            supplier=self.s(supplier, "name", f"{ctx}.supplier") or self.s(comp, "publisher", ctx),
        )

    def cdx_os(self, comp: dict[str, Any], ctx: str) -> OSInfo:
        props = self.cdx_props(comp, ctx)
        return _os_info(
            props, self.s(comp, "name", ctx), self.s(comp, "version", ctx), self.s(comp, "description", ctx)
        )

    # ------------------------------------------------------------------ SPDX

    def spdx(self, doc: dict[str, Any], name: str) -> Inventory:
        version = doc.get("spdxVersion")
        if not isinstance(version, str) or version not in SPDX_VERSIONS:
            raise self.fail(
                "spdxVersion", f"unsupported SPDX version {version!r} (supported: {', '.join(SPDX_VERSIONS)})"
            )
        extracted: dict[str, str] = {}
        for i, item in enumerate(self.arr(doc, "hasExtractedLicensingInfos", "")):
            ctx = f"hasExtractedLicensingInfos[{i}]"
            info = self.obj(item, ctx)
            lid = self.s(info, "licenseId", ctx)
            text = self.s(info, "name", ctx) or self.s(info, "extractedText", ctx)
            # Only short, one-line texts are names; a full license text stays a reference.
            if lid and text and "\n" not in text.strip() and len(text) <= 200:
                extracted[lid] = text.strip()
        described: set[str] = set()
        for i, item in enumerate(self.arr(doc, "documentDescribes", "")):
            if not isinstance(item, str):
                raise self.fail(f"documentDescribes[{i}]", f"expected a string, got {_tname(item)}")
            described.add(item)
        for i, item in enumerate(self.arr(doc, "relationships", "")):
            ctx = f"relationships[{i}]"
            rel = self.obj(item, ctx)
            kind = self.s(rel, "relationshipType", ctx)
            a, b = self.s(rel, "spdxElementId", ctx), self.s(rel, "relatedSpdxElement", ctx)
            if kind == "DESCRIBES" and a == "SPDXRef-DOCUMENT":
                described.add(b)
            elif kind == "DESCRIBED_BY" and b == "SPDXRef-DOCUMENT":
                described.add(a)

        image_props: list[tuple[str, str]] = []
        facts: list[_Facts] = []
        os_candidates: list[OSInfo] = []
        for i, item in enumerate(self.arr(doc, "packages", "")):
            ctx = f"packages[{i}]"
            pkg = self.obj(item, ctx)
            sid = self.s(pkg, "SPDXID", ctx)
            purpose = self.s(pkg, "primaryPackagePurpose", ctx)
            props = self.spdx_props(pkg, ctx)
            purl = self.spdx_purl(pkg, ctx)
            pname = self.s(pkg, "name", ctx)
            version = self.s(pkg, "versionInfo", ctx)
            if purpose == "OPERATING-SYSTEM" or _props_first(props, sc.P_OS_FAMILY):
                os_candidates.append(_os_info(props, pname, version, self.s(pkg, "description", ctx)))
                continue
            purl_type = purl.partition(":")[2].partition("/")[0]
            if purpose == "CONTAINER" or (sid in described and (not purl or purl_type in ("oci", "docker"))):
                if not image_props:
                    image_props = props
                continue
            # Without a purl, only what says it is a package: SPDX 2.2 has no purpose field,
            # so an unmarked OS or file-set element would otherwise become a bogus package.
            if not (purl or _props_first(props, sc.P_TYPE) or (purpose in ("LIBRARY", "FRAMEWORK") and version)):
                continue
            facts.append(
                _Facts(
                    ctx=ctx,
                    name=pname,
                    version=version,
                    purl=purl,
                    licenses=self.spdx_licenses(pkg, ctx, extracted),
                    props=props,
                    supplier=_spdx_actor(self.s(pkg, "supplier", ctx)),
                    source_hint=_trivy_source_info(self.s(pkg, "sourceInfo", ctx)),
                )
            )
        return self.finish(name, image_props, facts, os_candidates)

    def spdx_purl(self, pkg: dict[str, Any], ctx: str) -> str:
        for i, item in enumerate(self.arr(pkg, "externalRefs", ctx)):
            rctx = f"{ctx}.externalRefs[{i}]"
            ref = self.obj(item, rctx)
            cat = self.s(ref, "referenceCategory", rctx).replace("_", "-").upper()
            if cat == "PACKAGE-MANAGER" and self.s(ref, "referenceType", rctx) == "purl":
                loc = self.s(ref, "referenceLocator", rctx)
                if loc:
                    return loc
        return ""

    def spdx_props(self, pkg: dict[str, Any], ctx: str) -> list[tuple[str, str]]:
        """Our annotation's properties, or trivy's `Key: value` annotations as trivy properties."""
        out: list[tuple[str, str]] = []
        for i, item in enumerate(self.arr(pkg, "annotations", ctx)):
            actx = f"{ctx}.annotations[{i}]"
            ann = self.obj(item, actx)
            comment = self.s(ann, "comment", actx)
            if comment.startswith(sc.SPDX_ANNOTATION_PREFIX):
                try:
                    pairs = json.loads(comment[len(sc.SPDX_ANNOTATION_PREFIX) :])
                except ValueError as exc:
                    raise self.fail(f"{actx}.comment", f"invalid customhouse properties ({exc})") from None
                if not isinstance(pairs, list) or not all(
                    isinstance(p, list) and len(p) == 2 and all(isinstance(x, str) for x in p) for p in pairs
                ):
                    raise self.fail(f"{actx}.comment", "customhouse properties must be a list of [name, value] pairs")
                out.extend((k, v) for k, v in pairs)
            elif self.s(ann, "annotator", actx).startswith("Tool: trivy") and ": " in comment:
                key, _, value = comment.partition(": ")
                out.append((_TRIVY + key, value))
        return out

    def spdx_licenses(self, pkg: dict[str, Any], ctx: str, extracted: dict[str, str]) -> list[str]:
        expr = ""
        for key in ("licenseDeclared", "licenseConcluded"):
            value = self.s(pkg, key, ctx).strip()
            if value and value not in ("NOASSERTION", "NONE"):
                expr = value
                break
        return [extracted.get(part, part) for part in sc.split_conjunction(expr)] if expr else []

    # ------------------------------------------------------------- reconcile

    def finish(
        self, name: str, image_props: list[tuple[str, str]], facts: list[_Facts], os_candidates: list[OSInfo]
    ) -> Inventory:
        target = _target_info(name, image_props)
        layers = self.layers(image_props)
        packages = [p for p in (self.package(f, layers) for f in facts) if p is not None]
        os_info = os_candidates[0] if os_candidates else _os_from_purls(packages)
        return Inventory(
            target=target,
            os=os_info,
            packages=tuple(sort_packages(packages)),
            layers=tuple(layers),
            warnings=tuple(dict.fromkeys(self.warnings)),
        )

    def layers(self, props: list[tuple[str, str]]) -> list[LayerInfo]:
        """Our per-layer image properties, else trivy's ordered DiffID list."""
        by_index: dict[int, dict[str, str]] = {}
        for k, v in props:
            if not k.startswith(sc.P_IMAGE_LAYER):
                continue
            num, _, fname = k[len(sc.P_IMAGE_LAYER) :].partition(":")
            if num.isdigit() and fname in sc.LAYER_FIELDS and int(num) < 100_000:
                by_index.setdefault(int(num), {})[fname] = v
        if by_index:
            out = []
            for idx in sorted(by_index):
                d = by_index[idx]
                size = d.get("size", "0")
                out.append(
                    LayerInfo(
                        index=idx,
                        digest=d.get("digest", ""),
                        diff_id=d.get("diff_id", ""),
                        size=int(size) if size.isdigit() else 0,
                        media_type=d.get("media_type", ""),
                        created_by=d.get("created_by", ""),
                        created=d.get("created", ""),
                        comment=d.get("comment", ""),
                    )
                )
            return out
        return [LayerInfo(index=i, digest="", diff_id=d) for i, d in enumerate(_props_all(props, _TRIVY + "DiffID"))]

    def package(self, f: _Facts, layers: list[LayerInfo]) -> Package | None:
        from packageurl import PackageURL

        purl = None
        if f.purl:
            try:
                purl = PackageURL.from_string(f.purl)
            except ValueError as exc:
                self.warnings.append(f"{self.where}: {f.ctx}: ignoring invalid purl {f.purl!r} ({exc})")
        q: dict[str, str] = {}
        if purl is not None and isinstance(purl.qualifiers, dict):
            q = {str(k): str(v) for k, v in purl.qualifiers.items()}
        ptype = purl.type if purl is not None else (f.prop(sc.P_TYPE) or "generic")
        name = _resolve_name(ptype, f, purl)
        if not name:
            self.warnings.append(f"{self.where}: {f.ctx}: package without a name skipped")
            return None
        version = f.version or (purl.version if purl is not None and purl.version else "")
        epoch = q.get("epoch", "")
        if epoch and version and ":" not in version:
            version = f"{epoch}:{version}"
        source_name, source_version = _source(ptype, name, version, f, q)
        diff_id = f.prop(sc.P_LAYER_DIFF_ID) or f.prop("syft:location:0:layerID") or f.prop(_TRIVY + "LayerDiffID")
        index_text = f.prop(sc.P_LAYER_INDEX)
        layer_index = int(index_text) if index_text.isdigit() else -1
        if layer_index < 0 and diff_id:
            layer_index = next((li.index for li in layers if li.diff_id == diff_id), -1)
        layer = next((li for li in layers if li.index == layer_index), None) if layer_index >= 0 else None
        path = f.prop(sc.P_PATH) or f.prop("syft:location:0:path") or f.prop(_TRIVY + "FilePath")
        metadata = {k[len(sc.P_METADATA) :]: v for k, v in f.props if k.startswith(sc.P_METADATA)}
        if f.supplier and "maintainer" not in metadata:
            metadata["maintainer"] = f.supplier
        return Package(
            name=name,
            version=version,
            type=ptype,
            purl=f.purl if purl is not None else "",
            path=path.lstrip("/"),
            arch=q.get("arch", "") or f.prop(sc.P_ARCH),
            source_name=source_name,
            source_version=source_version,
            licenses=tuple(dict.fromkeys(f.licenses)),
            found_by=f.prop(sc.P_FOUND_BY) or "sbom",
            layer_index=layer_index,
            layer_diff_id=diff_id or (layer.diff_id if layer else ""),
            layer_digest=f.prop(sc.P_LAYER_DIGEST) or (layer.digest if layer else ""),
            created_by=f.prop(sc.P_LAYER_CREATED_BY) or (layer.created_by if layer else ""),
            metadata=tuple(sorted(metadata.items())),
        )


# --------------------------------------------------------------------------- helpers


def _tname(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number" if isinstance(value, int | float) else type(value).__name__
    )


def _join_name(ptype: str, namespace: str, name: str) -> str:
    """purl namespace + name -> our package name (customhouse.purl's inverse)."""
    if not namespace or ptype in sc.OS_PACKAGE_TYPES:
        return name
    if ptype == "maven":
        return f"{namespace}:{name}"
    if ptype == "npm" and not namespace.startswith("@"):
        return f"@{namespace}/{name}"
    return f"{namespace}/{name}"


def _fold(ptype: str, name: str) -> str:
    if ptype == "pypi":
        from customhouse.purl import pep503

        return pep503(name)
    return name.lower()


def _resolve_name(ptype: str, f: _Facts, purl: Any) -> str:
    """The document's own spelling when it names the same thing as the purl, else the purl's.

    purls normalise some names (PyPI lower-cases, Composer too) while the component keeps the
    project's spelling; but a component name that disagrees with its purl is not trusted.
    """
    doc_name = _join_name(ptype, f.group, f.name) if ptype in ("maven", "npm", "composer") else f.name
    if purl is None:
        return doc_name
    from_purl = _join_name(ptype, purl.namespace or "", purl.name)
    if doc_name and _fold(ptype, doc_name) == _fold(ptype, from_purl):
        return doc_name
    return from_purl


_SRC_RPM = re.compile(r"^(?P<name>.+)-(?P<version>[^-]+-[^-]+)\.(?:no)?src\.rpm$")


def _source(ptype: str, name: str, version: str, f: _Facts, q: dict[str, str]) -> tuple[str, str]:
    """Source package (name, version) from the most specific statement the document makes."""
    own = f.prop(sc.P_SOURCE_NAME)
    if own:
        return own, f.prop(sc.P_SOURCE_VERSION)
    trivy = f.prop(_TRIVY + "SrcName")
    if trivy:
        sv = f.prop(_TRIVY + "SrcVersion")
        rel = f.prop(_TRIVY + "SrcRelease")
        ep = f.prop(_TRIVY + "SrcEpoch")
        if sv and rel:
            sv = f"{sv}-{rel}"
        if sv and ep and ep != "0":
            sv = f"{ep}:{sv}"
        return trivy, sv
    if f.source_hint[0]:
        return f.source_hint
    srpm = f.prop("syft:metadata:sourceRpm") or (q.get("upstream", "") if ptype == "rpm" else "")
    m = _SRC_RPM.match(srpm)
    if m:
        return m.group("name"), m.group("version")
    syft = f.prop("syft:metadata:originPackage") or f.prop("syft:metadata:source")
    if syft:
        return syft, f.prop("syft:metadata:sourceVersion") or (version if ptype == "apk" else "")
    upstream = q.get("upstream", "")
    if upstream:
        up_name, _, up_version = upstream.partition("@")
        # An Alpine subpackage is always built at its origin's version.
        return up_name, up_version or (version if ptype == "apk" else "")
    if ptype in ("deb", "apk"):
        # Debian and Alpine omit the source when it equals the binary package's name.
        return name, version
    return "", ""


def _trivy_source_info(text: str) -> tuple[str, str]:
    """trivy's SPDX `sourceInfo`: `built package from: NAME VERSION`."""
    prefix = "built package from: "
    if not text.startswith(prefix):
        return "", ""
    name, _, version = text[len(prefix) :].strip().partition(" ")
    return name, version.strip()


def _spdx_actor(text: str) -> str:
    """`Organization: Name (mail)` -> `Name <mail>` (how package metadata spells maintainers)."""
    text = text.strip()
    if not text or text in ("NOASSERTION", "NONE"):
        return ""
    _, sep, rest = text.partition(": ")
    rest = rest if sep else text
    m = re.fullmatch(r"(.*?)\s*\(([^()]*)\)", rest)
    if m and m.group(2):
        return f"{m.group(1)} <{m.group(2)}>"
    return m.group(1) if m else rest


def _normalize_family(name: str) -> str:
    low = name.strip().lower()
    return _FAMILY.get(low, low)


def _os_info(props: list[tuple[str, str]], name: str, version: str, description: str) -> OSInfo:
    own = _props_first(props, sc.P_OS_FAMILY)
    if own:
        id_like = _props_first(props, sc.P_OS_ID_LIKE)
        return OSInfo(
            family=own,
            version=version,
            name=_props_first(props, sc.P_OS_NAME) or description,
            codename=_props_first(props, sc.P_OS_CODENAME),
            id_like=tuple(id_like.split()),
            source=_props_first(props, sc.P_OS_SOURCE),
            distroless=_props_first(props, sc.P_OS_DISTROLESS) == "true",
        )
    family = (
        _props_first(props, "syft:distro:id") or _props_first(props, _TRIVY + "Type") or name or "unknown"
    ).strip()
    return OSInfo(
        family=_normalize_family(family),
        version=version or _props_first(props, "syft:distro:versionID"),
        name=_props_first(props, "syft:distro:prettyName") or description,
    )


_DISTRO = re.compile(r"^(?P<family>[A-Za-z][A-Za-z0-9_.]*?)-(?P<rest>[A-Za-z0-9][\w.+~-]*)$")
_VENDOR_FAMILY = {"redhat": "rhel", "amazon": "amzn", "oracle": "ol", "suse": "sles"}


def _os_from_purls(packages: list[Package]) -> OSInfo | None:
    """The distribution most OS packages name in their `distro` qualifier (syft's SPDX has no
    OS element; trivy writes the bare version, leaving the family to the purl namespace)."""
    from packageurl import PackageURL

    votes: Counter[tuple[str, str]] = Counter()
    for p in packages:
        if p.type not in sc.OS_PACKAGE_TYPES or not p.purl:
            continue
        try:
            purl = PackageURL.from_string(p.purl)
        except ValueError:
            continue
        quals = purl.qualifiers if isinstance(purl.qualifiers, dict) else {}
        distro = str(quals.get("distro", ""))
        ns = (purl.namespace or "").lower()
        m = _DISTRO.match(distro)
        if m:
            family, version = m.group("family").lower(), m.group("rest")
        elif distro[:1].isdigit():
            family, version = _VENDOR_FAMILY.get(ns, ns), distro
        else:
            continue
        if family:
            votes[(_normalize_family(family), version)] += 1
    if not votes:
        return None
    (family, version), _ = sorted(votes.items(), key=lambda kv: (-kv[1], kv[0]))[0]
    if version[:1].isdigit():
        return OSInfo(family=family, version=version, source="sbom purl distro qualifier")
    return OSInfo(family=family, version="", codename=version, source="sbom purl distro qualifier")


def _target_info(name: str, props: list[tuple[str, str]]) -> TargetInfo:
    return TargetInfo(
        name=name,
        kind="sbom",
        image_id=_props_first(props, sc.P_IMAGE_ID) or _props_first(props, _TRIVY + "ImageID"),
        repo_tags=tuple(_props_all(props, sc.P_IMAGE_TAG) or _props_all(props, _TRIVY + "RepoTag")),
        repo_digests=tuple(_props_all(props, sc.P_IMAGE_REPO_DIGEST) or _props_all(props, _TRIVY + "RepoDigest")),
        architecture=_props_first(props, sc.P_IMAGE_ARCH),
        os=_props_first(props, sc.P_IMAGE_OS),
        created=_props_first(props, sc.P_IMAGE_CREATED),
    )
