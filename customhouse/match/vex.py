"""VEX: what a supplier (or the user) says about whether a vulnerability affects a product.

Three formats say the same thing in different shapes; each is read into one `VexStatement`
per (vulnerability, product) claim, so matching has one implementation:

- OpenVEX 0.2.0 (and the 0.0.x/0.1 spellings with string vulnerabilities and products),
- CycloneDX VEX: `vulnerabilities[]` with `analysis` and `affects[].ref`,
- CSAF 2.0 VEX: `product_tree` ids resolved to purls, `vulnerabilities[].product_status`,
  justified by `flags` and `threats`.

`apply_vex` suppresses findings that a statement declares `not_affected` or `fixed`, and only
annotates them for `affected` and `under_investigation` (those are facts to show, not reasons
to hide). Because a wrong suppression hides a real vulnerability, matching errs on the side
of not applying: a statement applies only when its vulnerability shares an id or alias with
the finding and its product provably is the finding's package (purl semantics) or the image
that was scanned (by digest, or by repository and tag); anything it cannot evaluate (version
ranges, CPE-only products) is skipped with a warning, never widened.

A malformed document is an `InputError` naming the file and the reason (exit 3), including a
`not_affected` claim without the justification or impact statement both specs require.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import unquote

from customhouse.errors import InputError
from customhouse.report.findings import Finding, Suppression

if TYPE_CHECKING:
    from customhouse.model import Inventory, TargetInfo

VexStatus = Literal["not_affected", "affected", "fixed", "under_investigation"]
STATUSES: frozenset[str] = frozenset({"not_affected", "affected", "fixed", "under_investigation"})
SUPPRESSING: frozenset[str] = frozenset({"not_affected", "fixed"})
# OpenVEX's justifications; CSAF's VEX flags use the same labels.
JUSTIFICATIONS: frozenset[str] = frozenset(
    {
        "component_not_present",
        "vulnerable_code_not_present",
        "vulnerable_code_not_in_execute_path",
        "vulnerable_code_cannot_be_controlled_by_adversary",
        "inline_mitigations_already_exist",
    }
)
CDX_JUSTIFICATIONS: frozenset[str] = frozenset(
    {
        "code_not_present",
        "code_not_reachable",
        "requires_configuration",
        "requires_dependency",
        "requires_environment",
        "protected_by_compiler",
        "protected_at_runtime",
        "protected_at_perimeter",
        "protected_by_mitigating_control",
    }
)
# CycloneDX analysis state -> VEX status.
_CDX_STATE = {
    "not_affected": "not_affected",
    "false_positive": "not_affected",
    "resolved": "fixed",
    "resolved_with_pedigree": "fixed",
    "exploitable": "affected",
    "in_triage": "under_investigation",
}
CDX_STATES: frozenset[str] = frozenset(_CDX_STATE)
# CSAF product_status category -> VEX status. `recommended` names versions with the fix.
_CSAF_STATUS = {
    "known_not_affected": "not_affected",
    "fixed": "fixed",
    "first_fixed": "fixed",
    "recommended": "fixed",
    "known_affected": "affected",
    "first_affected": "affected",
    "last_affected": "affected",
    "under_investigation": "under_investigation",
}
MAX_DOCUMENT_BYTES = 64 << 20  # the largest vendor CSAF files are a few MB
_IMAGE_TYPES = frozenset({"oci", "docker"})
_MAX_TREE_DEPTH = 64  # CSAF branches nest vendor/product/version; 64 is far past any real tree


@dataclass(frozen=True)
class Product:
    """A product a statement is about: a purl, or an image digest, with optional parts.

    `subcomponents` narrow the statement to those packages inside the product (an OpenVEX
    product's subcomponents, a CSAF `default_component_of` relationship).
    """

    ref: str  # as written: a purl, a digest, an IRI
    purl: str = ""
    hashes: tuple[str, ...] = ()  # "sha256:<hex>"
    subcomponents: tuple[Product, ...] = ()


@dataclass(frozen=True)
class VexStatement:
    vulnerability: str
    aliases: tuple[str, ...]
    products: tuple[Product, ...]
    status: VexStatus
    justification: str = ""
    impact_statement: str = ""
    action_statement: str = ""
    status_notes: str = ""
    timestamp: str = ""
    source: str = ""  # the file it came from
    format: str = ""  # openvex, cyclonedx, csaf

    @property
    def ids(self) -> frozenset[str]:
        return frozenset(i.upper() for i in (self.vulnerability, *self.aliases) if i)


@dataclass(frozen=True)
class VexDocument:
    source: str
    format: str
    statements: tuple[VexStatement, ...]
    warnings: tuple[str, ...] = ()


# ---------------------------------------------------------------------------- loading


def load_vex(path: str | Path) -> VexDocument:
    p = Path(path)
    try:
        with open(p, "rb") as fh:
            data = fh.read(MAX_DOCUMENT_BYTES + 1)
    except OSError as exc:
        raise InputError(f"{p}: cannot read VEX document: {exc.strerror or exc}") from None
    return parse_vex(data, str(p))


def parse_vex(data: bytes | str, source: str) -> VexDocument:
    """Read any of the three formats, told apart by their own markers."""
    if len(data) > MAX_DOCUMENT_BYTES:
        raise InputError(f"{source}: VEX document larger than {MAX_DOCUMENT_BYTES >> 20} MiB")
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise InputError(f"{source}: not valid JSON: {str(exc)[:200]}") from None
    if not isinstance(doc, dict):
        raise InputError(f"{source}: a VEX document must be a JSON object")
    ctx = doc.get("@context")
    if isinstance(ctx, str) and "openvex" in ctx.lower():
        return _Reader(source, "openvex").openvex(doc)
    if doc.get("bomFormat") == "CycloneDX":
        return _Reader(source, "cyclonedx").cyclonedx(doc)
    if isinstance(doc.get("document"), dict) and "csaf_version" in doc["document"]:
        return _Reader(source, "csaf").csaf(doc)
    raise InputError(f"{source}: not an OpenVEX, CycloneDX or CSAF document")


class _Reader:
    def __init__(self, source: str, fmt: str) -> None:
        self.source = source
        self.format = fmt
        self.statements: list[VexStatement] = []
        self.warnings: list[str] = []

    def fail(self, where: str, why: str) -> InputError:
        return InputError(f"{self.source}: {where}: {why}")

    def done(self) -> VexDocument:
        return VexDocument(self.source, self.format, tuple(self.statements), tuple(self.warnings))

    def add(self, vuln: str, aliases: Iterable[str], products: Sequence[Product], status: str, **kw: str) -> None:
        aliases = tuple(dict.fromkeys(a for a in aliases if a and a.upper() != vuln.upper()))
        self.statements.append(
            VexStatement(
                vulnerability=vuln,
                aliases=aliases,
                products=tuple(products),
                status=status,  # type: ignore[arg-type]
                source=self.source,
                format=self.format,
                **kw,
            )
        )

    # ---------------------------------------------------------------- OpenVEX

    def openvex(self, doc: dict[str, Any]) -> VexDocument:
        statements = doc.get("statements")
        if not isinstance(statements, list):
            raise self.fail("statements", "missing or not a list")
        doc_ts = _str(doc.get("last_updated")) or _str(doc.get("timestamp"))
        for i, st in enumerate(statements):
            where = f"statements[{i}]"
            if not isinstance(st, dict):
                raise self.fail(where, "not an object")
            vuln, aliases = self._openvex_vuln(st.get("vulnerability"), where)
            status = st.get("status")
            if status not in STATUSES:
                raise self.fail(where, f"status {status!r} is not one of {', '.join(sorted(STATUSES))}")
            just = _str(st.get("justification"))
            if just and just not in JUSTIFICATIONS:
                raise self.fail(where, f"unknown justification {just!r}")
            impact = _str(st.get("impact_statement"))
            if status == "not_affected" and not (just or impact):
                raise self.fail(where, "not_affected needs a justification or an impact_statement")
            products = [self._openvex_product(p, f"{where}.products[{j}]") for j, p in enumerate(_list(st, "products"))]
            if not products:
                self.warnings.append(f"{self.source}: {where} ({vuln}) names no product; skipped")
                continue
            self.add(
                vuln,
                aliases,
                products,
                status,
                justification=just,
                impact_statement=impact,
                action_statement=_str(st.get("action_statement")),
                status_notes=_str(st.get("status_notes")),
                timestamp=_str(st.get("last_updated")) or _str(st.get("timestamp")) or doc_ts,
            )
        return self.done()

    def _openvex_vuln(self, v: Any, where: str) -> tuple[str, list[str]]:
        if isinstance(v, str) and v:  # OpenVEX before 0.2.0
            return _id_from_iri(v), []
        if not isinstance(v, dict):
            raise self.fail(where, "vulnerability missing")
        name = _str(v.get("name")) or _id_from_iri(_str(v.get("@id")))
        if not name:
            raise self.fail(where, "vulnerability has no name")
        aliases = [a for a in v.get("aliases") or [] if isinstance(a, str)]
        iri_id = _id_from_iri(_str(v.get("@id")))
        if iri_id and iri_id != name:
            aliases.append(iri_id)
        return name, aliases

    def _openvex_product(self, p: Any, where: str, depth: int = 0) -> Product:
        if isinstance(p, str):  # OpenVEX before 0.2.0: products were plain identifiers
            return _product(p)
        if not isinstance(p, dict):
            raise self.fail(where, "product is neither an object nor a string")
        ids = _dict(p, "identifiers")
        ref = _str(p.get("@id")) or _str(ids.get("purl"))
        purl = _str(ids.get("purl")) or (ref if ref.startswith("pkg:") else "")
        hashes = _hashes_map(p.get("hashes"))
        if not (ref or purl or hashes):
            raise self.fail(where, "product has no @id, purl or hash")
        subs: tuple[Product, ...] = ()
        if depth == 0:
            subs = tuple(
                self._openvex_product(s, f"{where}.subcomponents[{k}]", 1)
                for k, s in enumerate(_list(p, "subcomponents"))
            )
        base = _product(ref or purl, purl=purl)
        return replace(base, hashes=tuple(sorted({*base.hashes, *hashes})), subcomponents=subs)

    # -------------------------------------------------------------- CycloneDX

    def cyclonedx(self, doc: dict[str, Any]) -> VexDocument:
        vulns = doc.get("vulnerabilities")
        if not isinstance(vulns, list):
            raise self.fail("vulnerabilities", "missing: a CycloneDX VEX lists vulnerabilities with an analysis")
        refs: dict[str, Product] = {}
        meta = _dict(doc, "metadata")
        if _dict(meta, "component"):
            self._cdx_components([meta["component"]], refs, 0)
        self._cdx_components(_list(doc, "components"), refs, 0)
        ts = _str(meta.get("timestamp"))
        skipped = 0
        for i, v in enumerate(vulns):
            where = f"vulnerabilities[{i}]"
            if not isinstance(v, dict):
                raise self.fail(where, "not an object")
            vid = _str(v.get("id"))
            if not vid:
                raise self.fail(where, "has no id")
            analysis = v.get("analysis")
            if analysis is None or (isinstance(analysis, dict) and "state" not in analysis):
                skipped += 1  # a vulnerability report entry, not a VEX claim
                continue
            if not isinstance(analysis, dict):
                raise self.fail(where, "analysis is not an object")
            state = analysis.get("state")
            if state not in _CDX_STATE:
                raise self.fail(where, f"analysis.state {state!r} is not a CycloneDX impact analysis state")
            just = _str(analysis.get("justification"))
            if just and just not in CDX_JUSTIFICATIONS:
                raise self.fail(where, f"unknown analysis.justification {just!r}")
            if state == "false_positive" and not just:
                just = "false_positive"
            aliases = [_str(r.get("id")) for r in _list(v, "references") if isinstance(r, dict)]
            products: list[Product] = []
            for j, a in enumerate(_list(v, "affects")):
                if not isinstance(a, dict) or not _str(a.get("ref")):
                    raise self.fail(f"{where}.affects[{j}]", "has no ref")
                products.extend(self._cdx_affect(a, refs, f"{where}.affects[{j}]", vid))
            if not products:
                self.warnings.append(f"{self.source}: {where} ({vid}) affects nothing that can be matched; skipped")
                continue
            responses = [r for r in _list(analysis, "response") if isinstance(r, str)]
            self.add(
                vid,
                aliases,
                products,
                _CDX_STATE[state],
                justification=just,
                impact_statement=_str(analysis.get("detail")),
                action_statement=", ".join(responses) or _str(v.get("recommendation")),
                timestamp=_str(analysis.get("lastUpdated")) or _str(v.get("updated")) or ts,
            )
        if skipped and not self.statements:
            self.warnings.append(f"{self.source}: {skipped} vulnerabilities without analysis state; no VEX claims")
        return self.done()

    def _cdx_components(self, comps: list[Any], refs: dict[str, Product], depth: int) -> None:
        if depth > _MAX_TREE_DEPTH:
            raise self.fail("components", f"nested deeper than {_MAX_TREE_DEPTH}")
        for c in comps:
            if not isinstance(c, dict):
                continue
            ref = _str(c.get("bom-ref"))
            purl = _str(c.get("purl"))
            hashes = tuple(
                f"{_alg(_str(h.get('alg')))}:{_str(h.get('content')).lower()}"
                for h in _list(c, "hashes")
                if isinstance(h, dict) and h.get("content")
            )
            if _digest(_str(c.get("version"))):  # a container's version is often its digest
                hashes = (*hashes, _digest(_str(c.get("version"))))
            if ref and (purl or hashes):
                refs[ref] = replace(_product(purl or ref, purl=purl), hashes=hashes)
            self._cdx_components(_list(c, "components"), refs, depth + 1)

    def _cdx_affect(self, a: dict[str, Any], refs: dict[str, Product], where: str, vid: str) -> list[Product]:
        ref = _str(a.get("ref"))
        product = refs.get(ref)
        if product is None:
            target = ref
            if ref.startswith("urn:cdx:"):  # BOM-Link: urn:cdx:<serial>/<version>#<bom-ref>
                target = unquote(ref.partition("#")[2])
            product = _product(target) if target.startswith("pkg:") or _digest(target) else None
        if product is None:
            self.warnings.append(f"{self.source}: {where} ({vid}): cannot resolve ref {ref!r}; skipped")
            return []
        if not product.purl or _purl_version(product.purl):
            return [product]
        exact = [_str(v.get("version")) for v in _list(a, "versions") if isinstance(v, dict) and v.get("version")]
        ranges = [v for v in _list(a, "versions") if isinstance(v, dict) and v.get("range")]
        if exact:
            return [_product(_with_version(product.purl, ver)) for ver in exact]
        if ranges:
            self.warnings.append(f"{self.source}: {where} ({vid}): version ranges are not evaluated; skipped")
            return []
        return [product]

    # -------------------------------------------------------------------- CSAF

    def csaf(self, doc: dict[str, Any]) -> VexDocument:
        meta = doc["document"]
        version = _str(meta.get("csaf_version"))
        if version not in ("2.0", "2.1"):
            raise self.fail("document.csaf_version", f"unsupported version {version!r}")
        tree = doc.get("product_tree")
        if not isinstance(tree, dict):
            raise self.fail("product_tree", "missing (a CSAF VEX document needs one)")
        products: dict[str, Product | None] = {}
        self._csaf_branches(_list(tree, "branches"), products, 0)
        for fp in _list(tree, "full_product_names"):
            self._csaf_full_name(fp, products)
        relationships = []
        for r in _list(tree, "relationships"):
            if isinstance(r, dict) and isinstance(r.get("full_product_name"), dict):
                relationships.append(r)
                products.setdefault(_str(r["full_product_name"].get("product_id")), None)
        for r in relationships:
            pid = _str(r["full_product_name"].get("product_id"))
            comp = products.get(_str(r.get("product_reference")))
            platform = products.get(_str(r.get("relates_to_product_reference")))
            products[pid] = _relationship(comp, platform)
        groups = {
            _str(g.get("group_id")): [_str(x) for x in _list(g, "product_ids")]
            for g in _list(tree, "product_groups")
            if isinstance(g, dict)
        }
        tracking = _dict(meta, "tracking")
        ts = _str(tracking.get("current_release_date"))
        unresolved: set[str] = set()
        for i, v in enumerate(_list(doc, "vulnerabilities")):
            where = f"vulnerabilities[{i}]"
            if not isinstance(v, dict):
                raise self.fail(where, "not an object")
            ids = [_str(x.get("text")) for x in _list(v, "ids") if isinstance(x, dict)]
            vid = _str(v.get("cve")) or next((x for x in ids if x), "")
            if not vid:
                raise self.fail(where, "has neither cve nor ids")
            status = v.get("product_status")
            if not isinstance(status, dict):
                continue
            per_product = self._csaf_reasons(v, groups, where)
            for category, pids in status.items():
                vex_status = _CSAF_STATUS.get(category)
                if vex_status is None:
                    raise self.fail(f"{where}.product_status", f"unknown category {category!r}")
                if not isinstance(pids, list):
                    raise self.fail(f"{where}.product_status.{category}", "not a list")
                for pid in pids:
                    if pid not in products:
                        raise self.fail(f"{where}.product_status.{category}", f"undefined product id {pid!r}")
                    just, impact, action = per_product.get(pid, ("", "", ""))
                    if vex_status == "not_affected" and not (just or impact):
                        raise self.fail(
                            f"{where}.product_status.known_not_affected",
                            f"product {pid!r} has no flag or impact threat saying why it is not affected",
                        )
                    product = products[pid]
                    if product is None:
                        unresolved.add(pid)
                        continue
                    self.add(
                        vid,
                        ids,
                        [product],
                        vex_status,
                        justification=just,
                        impact_statement=impact,
                        action_statement=action,
                        timestamp=ts,
                    )
        if unresolved:
            sample = ", ".join(sorted(unresolved)[:3])
            self.warnings.append(
                f"{self.source}: {len(unresolved)} product ids have no purl to match by ({sample}...); skipped"
            )
        return self.done()

    def _csaf_branches(self, branches: list[Any], products: dict[str, Product | None], depth: int) -> None:
        if depth > _MAX_TREE_DEPTH:
            raise self.fail("product_tree.branches", f"nested deeper than {_MAX_TREE_DEPTH}")
        for b in branches:
            if not isinstance(b, dict):
                continue
            if isinstance(b.get("product"), dict):
                self._csaf_full_name(b["product"], products)
            self._csaf_branches(_list(b, "branches"), products, depth + 1)

    def _csaf_full_name(self, fp: Any, products: dict[str, Product | None]) -> None:
        if not isinstance(fp, dict):
            return
        pid = _str(fp.get("product_id"))
        if not pid:
            raise self.fail("product_tree", f"product {fp.get('name')!r} has no product_id")
        helper = fp.get("product_identification_helper")
        helper = helper if isinstance(helper, dict) else {}
        purls = [_str(helper.get("purl"))] + [_str(x) for x in helper.get("purls") or [] if isinstance(x, str)]
        purls = [p for p in purls if p]
        hashes: list[str] = []
        for h in _list(helper, "hashes"):
            for fh in _list(h, "file_hashes") if isinstance(h, dict) else []:
                if isinstance(fh, dict) and fh.get("value"):
                    hashes.append(f"{_alg(_str(fh.get('algorithm')))}:{_str(fh.get('value')).lower()}")
        if purls:
            products[pid] = replace(_product(purls[0], purl=purls[0]), hashes=tuple(hashes))
        elif hashes:
            products[pid] = Product(ref=pid, hashes=tuple(hashes))
        else:
            products[pid] = None  # CPE-only or named-only: nothing we can match packages by

    def _csaf_reasons(
        self, v: dict[str, Any], groups: Mapping[str, list[str]], where: str
    ) -> dict[str, tuple[str, str, str]]:
        """(justification, impact, action) per product id, from flags, threats, remediations."""
        out: dict[str, list[str]] = {}

        def targets(x: dict[str, Any]) -> list[str]:
            pids = [_str(p) for p in _list(x, "product_ids")]
            for g in _list(x, "group_ids"):
                if g not in groups:
                    raise self.fail(where, f"undefined product group {g!r}")
                pids += groups[g]
            return pids

        for flag in _list(v, "flags"):
            if not isinstance(flag, dict):
                continue
            label = _str(flag.get("label"))
            if label not in JUSTIFICATIONS:
                raise self.fail(f"{where}.flags", f"unknown label {label!r}")
            for pid in targets(flag):
                out.setdefault(pid, ["", "", ""])[0] = label
        for threat in _list(v, "threats"):
            if isinstance(threat, dict) and threat.get("category") == "impact":
                for pid in targets(threat):
                    out.setdefault(pid, ["", "", ""])[1] = _str(threat.get("details"))
        for rem in _list(v, "remediations"):
            if isinstance(rem, dict):
                text = f"{_str(rem.get('category'))}: {_str(rem.get('details'))}".strip(": ")
                for pid in targets(rem):
                    out.setdefault(pid, ["", "", ""])[2] = text
        return {k: (a, b, c) for k, (a, b, c) in out.items()}


def _relationship(comp: Product | None, platform: Product | None) -> Product | None:
    """A CSAF "component X in platform Y" product.

    With an image platform it is X inside that image. A platform we cannot identify (a CPE
    for "Red Hat Enterprise Linux 9") is dropped, leaving the component's own purl, which
    for distribution packages carries the distribution already.
    """
    if comp is None:
        return None
    if platform is not None and (platform.purl or platform.hashes):
        return replace(platform, subcomponents=(comp,))
    return comp


# ------------------------------------------------------------------------ helpers


def _str(v: Any) -> str:
    return v.strip() if isinstance(v, str) else ""


def _dict(obj: Any, key: str) -> dict[str, Any]:
    v = obj.get(key) if isinstance(obj, dict) else None
    return v if isinstance(v, dict) else {}


def _list(obj: Any, key: str) -> list[Any]:
    v = obj.get(key) if isinstance(obj, dict) else None
    return v if isinstance(v, list) else []


def _alg(name: str) -> str:
    return name.lower().replace("-", "").replace("_", "")


def _hashes_map(h: Any) -> list[str]:
    if not isinstance(h, dict):
        return []
    return [f"{_alg(str(k))}:{str(v).lower()}" for k, v in h.items() if isinstance(v, str) and v]


def _id_from_iri(iri: str) -> str:
    """`https://nvd.nist.gov/vuln/detail/CVE-2023-1234` -> `CVE-2023-1234`; ids stay as they are."""
    if "://" not in iri:
        return iri
    return iri.rstrip("/").rsplit("/", 1)[-1]


def _digest(ref: str) -> str:
    """The digest in `sha256:<hex>` or `repo@sha256:<hex>`, else ""."""
    d = ref.rpartition("@")[2] if "@" in ref else ref
    alg, colon, hexa = d.partition(":")
    if colon and alg in ("sha256", "sha512") and len(hexa) in (64, 128) and all(c in "0123456789abcdef" for c in hexa):
        return d
    return ""


def _product(ref: str, *, purl: str = "") -> Product:
    if not purl and ref.startswith("pkg:"):
        purl = ref
    if purl:
        purl = purl.split("#package-id=", 1)[0]  # our own CycloneDX bom-refs, read back
    d = _digest(ref)
    return Product(ref=ref, purl=purl, hashes=(d,) if d else ())


# -------------------------------------------------------------------------- purls


@dataclass(frozen=True)
class _Purl:
    type: str
    namespace: str
    name: str
    version: str
    qualifiers: tuple[tuple[str, str], ...]
    subpath: str


# Types whose names compare case-insensitively (the purl spec lower-cases them).
_CASELESS = frozenset({"deb", "apk", "npm", "pypi", "github", "bitbucket", "hex", "pub", "nuget", "composer", "alpm"})


# Qualifier values the purl spec defines as the default, i.e. equal to leaving them out.
_QUALIFIER_DEFAULTS: dict[str, tuple[tuple[str, str], ...]] = {"maven": (("type", "jar"),)}


@lru_cache(maxsize=8192)
def parse_purl(s: str) -> _Purl | None:
    if not s.startswith("pkg:"):
        return None
    from packageurl import PackageURL

    try:
        p = PackageURL.from_string(s.split("#package-id=", 1)[0])
    except ValueError:
        return None
    t = p.type.lower()
    ns, name = p.namespace or "", p.name
    if t in _CASELESS:
        ns, name = ns.lower(), name.lower()
    if t == "pypi":
        from customhouse.purl import pep503

        name = pep503(name)
    q = dict(p.qualifiers) if isinstance(p.qualifiers, dict) else {}
    for key, default in _QUALIFIER_DEFAULTS.get(t, ()):
        if q.get(key) == default:
            del q[key]  # `pkg:maven/...?type=jar` is the same package as `pkg:maven/...`
    return _Purl(t, ns, name, p.version or "", tuple(sorted(q.items())), p.subpath or "")


def _purl_version(s: str) -> str:
    p = parse_purl(s)
    return p.version if p else ""


def _with_version(purl: str, version: str) -> str:
    from packageurl import PackageURL

    p = PackageURL.from_string(purl)
    return PackageURL(p.type, p.namespace, p.name, version, p.qualifiers, p.subpath).to_string()


def _qualifier_matches(key: str, want: str, have: str | None) -> bool:
    if have is None:
        return False
    if want == have:
        return True
    if key == "distro":  # `debian-12` names the release our `debian-12.5` is a point of
        return have.startswith(want + ".") or want.startswith(have + ".")
    return False


def purl_matches(pattern: str, candidate: str) -> bool:
    """Whether `candidate` (a package's purl) is the package `pattern` names.

    Type, namespace and name must be equal (case-insensitively for types that normalise
    case); the version only when the pattern has one; each qualifier and the subpath only
    when the pattern gives them, so `pkg:npm/lodash` names every lodash, and
    `pkg:deb/debian/openssl?arch=amd64` only the amd64 builds.
    """
    want, have = parse_purl(pattern), parse_purl(candidate)
    if want is None or have is None:
        return False
    if (want.type, want.namespace, want.name) != (have.type, have.namespace, have.name):
        return False
    if want.version and want.version != have.version:
        return False
    if want.subpath and want.subpath != have.subpath:
        return False
    hq = dict(have.qualifiers)
    return all(_qualifier_matches(k, v, hq.get(k)) for k, v in want.qualifiers)


# ------------------------------------------------------------------------- applying


@dataclass(frozen=True)
class _Image:
    """What identifies the scanned image: content digests and (weaker) repository names."""

    digests: frozenset[str]
    repositories: frozenset[str]  # full repository names, lower-case
    tags: frozenset[str]

    @classmethod
    def of(cls, t: TargetInfo) -> _Image:
        digests = {t.image_id} if t.image_id else set()
        repos: set[str] = set()
        tags: set[str] = set()
        for rd in t.repo_digests:
            repo, at, d = rd.rpartition("@")
            digests.add(d if at else rd)
            if at:
                repos.add(repo.lower())
        for rt in t.repo_tags:
            slash, colon = rt.rfind("/"), rt.rfind(":")
            if colon > slash:
                repos.add(rt[:colon].lower())
                tags.add(rt[colon + 1 :])
            else:
                repos.add(rt.lower())
        return cls(frozenset(d for d in digests if d), frozenset(repos), frozenset(tags))

    def is_it(self, p: Product) -> bool:
        if any(h in self.digests for h in p.hashes):
            return True
        pu = parse_purl(p.purl) if p.purl else None
        if pu is None or pu.type not in _IMAGE_TYPES:
            return False
        if pu.version:
            return pu.version in self.digests
        # No digest: the repository (and tag, when given) must be ours.
        q = dict(pu.qualifiers)
        names = {r.rsplit("/", 1)[-1] for r in self.repositories}
        if pu.name.lower() not in names:
            return False
        repo_url = q.get("repository_url", "").lower()
        if repo_url and not any(_same_repo(repo_url, r) for r in self.repositories):
            return False
        return not q.get("tag") or q["tag"] in self.tags


def _same_repo(a: str, b: str) -> bool:
    def norm(r: str) -> str:
        r = r.removeprefix("docker.io/").removeprefix("index.docker.io/")
        return r.removeprefix("library/")

    return norm(a) == norm(b)


def _timestamp(ts: str) -> datetime:
    try:
        dt = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


@dataclass
class _Context:
    image: _Image | None
    # (path, normalized purl) of every package, to decide whether a containing product (a
    # Go binary's main module, a fat jar) sits at the same file as a finding's package.
    packages_at: dict[str, list[str]] = field(default_factory=dict)


def _specificity(st: VexStatement, f: Finding, ctx: _Context) -> int:
    """0: does not apply; 1: the whole image; 2: names the finding's package."""
    v = f.vulnerability
    purl = v.purl if v is not None else ""
    best = 0
    for p in st.products:
        if ctx.image is not None and ctx.image.is_it(p):
            if not p.subcomponents:
                best = max(best, 1)
            elif purl and any(s.purl and purl_matches(s.purl, purl) for s in p.subcomponents):
                return 2
        elif p.subcomponents:
            container = p.purl and any(
                purl_matches(p.purl, other) for other in ctx.packages_at.get(f.location.path, ())
            )
            if container and purl and any(s.purl and purl_matches(s.purl, purl) for s in p.subcomponents):
                return 2
        elif p.purl and purl and purl_matches(p.purl, purl):
            return 2
    return best


def match_vex(
    findings: Iterable[Finding],
    statements: Iterable[VexStatement],
    *,
    target: TargetInfo | None = None,
    inventory: Inventory | None = None,
) -> list[tuple[Finding, VexStatement | None]]:
    """Each finding with the statement that decides it, or None.

    When several statements apply, the newest wins (VEX statements supersede older ones);
    on equal time the one naming the package beats an image-wide one, then the later one in
    input order (a later file on the command line overrides an earlier one).
    """
    stmts = list(statements)
    by_id: dict[str, list[int]] = {}
    for i, st in enumerate(stmts):
        for vid in st.ids:
            by_id.setdefault(vid, []).append(i)
    ctx = _Context(image=_Image.of(target) if target is not None else None)
    if inventory is not None:
        for p in inventory.packages:
            if p.purl and p.path:
                ctx.packages_at.setdefault(p.path, []).append(p.purl)
    out: list[tuple[Finding, VexStatement | None]] = []
    for f in findings:
        if f.vulnerability is None:
            out.append((f, None))
            continue
        ids = {f.id.upper(), *(a.upper() for a in f.vulnerability.aliases)}
        candidates = sorted({i for vid in ids for i in by_id.get(vid, ())})
        best: tuple[datetime, int, int] | None = None
        for i in candidates:
            spec = _specificity(stmts[i], f, ctx)
            if spec:
                key = (_timestamp(stmts[i].timestamp), spec, i)
                best = key if best is None or key > best else best
        out.append((f, stmts[best[2]] if best is not None else None))
    return out


def apply_vex(
    findings: Iterable[Finding],
    statements: Iterable[VexStatement],
    *,
    target: TargetInfo | None = None,
    inventory: Inventory | None = None,
) -> list[Finding]:
    """Findings with VEX decisions applied (order kept).

    `not_affected` and `fixed` suppress (source `vex:<file>`); `affected` and
    `under_investigation` leave the finding counted and add the statement to its message,
    so every report shows what the supplier said. A finding already suppressed by something
    else keeps that suppression. `target` enables image-level statements; `inventory`
    enables "component inside product" statements whose product is a package (a Go
    binary's main module) rather than the image.
    """
    out: list[Finding] = []
    for f, st in match_vex(findings, statements, target=target, inventory=inventory):
        if st is None or f.suppressed is not None:
            out.append(f)
        elif st.status in SUPPRESSING:
            reason = st.impact_statement or st.status_notes or st.justification or f"VEX status {st.status}"
            sup = Suppression(
                source=f"vex:{st.source}", reason=reason, status=st.status, justification=st.justification
            )
            out.append(replace(f, suppressed=sup))
        else:
            note = st.action_statement or st.status_notes or st.impact_statement
            text = f"VEX ({st.source}): {st.status.replace('_', ' ')}" + (f": {note}" if note else "")
            out.append(replace(f, message=f"{f.message} [{text}]" if f.message else f"[{text}]"))
    return out
