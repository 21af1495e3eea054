"""What the CycloneDX and SPDX writers and the SBOM reader must agree on.

Both writers describe the same inventory, and the reader must recover it from either, so the
license classification, the image identity and the `customhouse:` property names live here
once. If the two writers disagreed about what counts as an SPDX expression, a package could
read back with different licenses depending on the format it passed through.

Nothing here imports more than the standard library and our own small modules: every scan that
ends in an SBOM pays for these imports.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from customhouse.licenses import is_spdx_id, normalize_license
from customhouse.model import Inventory, LayerInfo, OSInfo, Package, TargetInfo

TOOL = "customhouse"
NS = "customhouse:"

# Package properties. The names are part of our output contract (docs/sbom.md): consumers
# filter on them, and the reader uses them to restore what purls cannot carry.
P_TYPE = NS + "type"
P_ARCH = NS + "arch"
P_PATH = NS + "path"
P_FOUND_BY = NS + "found_by"
P_SOURCE_NAME = NS + "source:name"
P_SOURCE_VERSION = NS + "source:version"
P_LAYER_INDEX = NS + "layer:index"
P_LAYER_DIFF_ID = NS + "layer:diff_id"
P_LAYER_DIGEST = NS + "layer:digest"
P_LAYER_CREATED_BY = NS + "layer:created_by"
P_METADATA = NS + "metadata:"

# Image properties (on the container component / root package).
P_TARGET_NAME = NS + "target:name"
P_TARGET_KIND = NS + "target:kind"
P_IMAGE_ID = NS + "image:id"
P_IMAGE_TAG = NS + "image:tag"
P_IMAGE_REPO_DIGEST = NS + "image:repo_digest"
P_IMAGE_ARCH = NS + "image:architecture"
P_IMAGE_OS = NS + "image:os"
P_IMAGE_CREATED = NS + "image:created"
P_IMAGE_LAYER = NS + "image:layer:"  # + "<index>:<field>"
LAYER_FIELDS = ("diff_id", "digest", "size", "media_type", "created_by", "created", "comment")

# Operating-system properties.
P_OS_FAMILY = NS + "os:family"
P_OS_NAME = NS + "os:name"
P_OS_CODENAME = NS + "os:codename"
P_OS_ID_LIKE = NS + "os:id_like"
P_OS_SOURCE = NS + "os:source"
P_OS_DISTROLESS = NS + "os:distroless"

# SPDX has no properties; ours ride in one annotation per element whose comment starts so.
SPDX_ANNOTATION_PREFIX = NS + "properties="

# Package types whose purl namespace is the vendor/distribution, not part of the name.
OS_PACKAGE_TYPES = frozenset({"deb", "apk", "rpm", "alpm", "opkg"})

Property = tuple[str, str]


def tool_version() -> str:
    from customhouse import __version__

    return __version__


def short_hash(*parts: str, n: int = 16) -> str:
    h = hashlib.sha256("\0".join(parts).encode("utf-8", "surrogatepass"))
    return h.hexdigest()[:n]


# ------------------------------------------------------------------- SPDX licenses

# Exception ids in the SPDX list whose names do not say "exception", and the one license
# whose name does; everything else is told apart by the word. Kept honest by a test against
# license-expression's index, which is what SPDX validators use.
_EXCEPTIONS_UNNAMED = frozenset(
    s.lower()
    for s in (
        "GPL-CC-1.0",
        "LLGPL",
        "Linux-syscall-note",
        "SHL-2.0",
        "SHL-2.1",
        "eCos-2.0",
        "GPL-2.0-with-GCC-exception",
        "GPL-2.0-with-autoconf-exception",
        "GPL-2.0-with-classpath-exception",
        "GPL-2.0-with-font-exception",
        "GPL-3.0-with-GCC-exception",
        "GPL-3.0-with-autoconf-exception",
    )
)
_LICENSES_NAMED_EXCEPTION = frozenset({"cal-1.0-combined-work-exception"})
_IDSTRING = re.compile(r"[A-Za-z0-9.\-]+")
_TOKEN = re.compile(r"\(|\)|[^\s()]+")
_OPERATORS = ("AND", "OR", "WITH")


def is_exception_id(value: str) -> bool:
    low = value.lower()
    if not is_spdx_id(value) or low in _LICENSES_NAMED_EXCEPTION:
        return False
    return low in _EXCEPTIONS_UNNAMED or "exception" in low


def is_license_id(value: str) -> bool:
    """An SPDX *license* id (not an exception): what CycloneDX `license.id` may hold."""
    return is_spdx_id(value) and not is_exception_id(value)


def _is_license_ref(token: str) -> bool:
    return token.startswith("LicenseRef-") and _IDSTRING.fullmatch(token) is not None


class _Parser:
    """Recursive descent over SPDX expression tokens, canonicalising id case on the way."""

    def __init__(self, tokens: list[str]) -> None:
        self.toks = tokens
        self.i = 0
        self.out: list[str] = []

    def peek(self) -> str | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> str:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def expr(self) -> bool:
        if not self.term():
            return False
        while self.peek() in ("AND", "OR"):
            self.out.append(self.take())
            if not self.term():
                return False
        return True

    def term(self) -> bool:
        tok = self.peek()
        if tok is None or tok in _OPERATORS or tok == ")":
            return False
        if tok == "(":
            self.out.append(self.take())
            if not self.expr() or self.peek() != ")":
                return False
            self.out.append(self.take())
            return True
        self.take()
        # No `id+`: the grammar allows it, but SPDX validators reject it for most ids, and an
        # expression that fails validation is worse than a LicenseRef that keeps the text.
        if _is_license_ref(tok):
            self.out.append(tok)
        elif is_license_id(tok):
            self.out.append(normalize_license(tok))
        else:
            return False
        if self.peek() == "WITH":
            self.out.append(self.take())
            exc = self.peek()
            if exc is None or not is_exception_id(exc):
                return False
            self.out.append(normalize_license(self.take()))
        return True


def _join_tokens(tokens: Sequence[str]) -> str:
    return " ".join(tokens).replace("( ", "(").replace(" )", ")")


def parse_expression(text: str) -> str | None:
    """The canonical form of `text` if it is an SPDX expression over known ids, else None."""
    tokens = _TOKEN.findall(text)
    if not tokens:
        return None
    p = _Parser(tokens)
    if not p.expr() or p.i != len(tokens):
        return None
    return _join_tokens(p.out)


def _top_level_operators(expr: str) -> set[str]:
    depth = 0
    found: set[str] = set()
    for tok in _TOKEN.findall(expr):
        if tok == "(":
            depth += 1
        elif tok == ")":
            depth -= 1
        elif depth == 0 and tok in ("AND", "OR"):
            found.add(tok)
    return found


def conjunction(entries: Sequence[LicenseEntry], ref: Callable[[str], str]) -> str:
    """A package's licenses as one SPDX expression that `split_conjunction` undoes exactly.

    Entries are joined with AND; an entry is parenthesised when it has a top-level AND (or
    it would be split into several entries on reading) or, among several entries, a
    top-level OR (AND binds tighter). `ref` turns a free-text name into a LicenseRef.
    """
    parts: list[str] = []
    for e in entries:
        if e.kind == "name":
            parts.append(ref(e.value))
            continue
        ops = _top_level_operators(e.value)
        wrap = "AND" in ops or (len(entries) > 1 and bool(ops))
        parts.append(f"({e.value})" if wrap else e.value)
    return " AND ".join(parts)


def split_conjunction(expr: str) -> list[str]:
    """`A AND (B OR C)` -> [`A`, `B OR C`]: how a license expression maps to our license list.

    Our packages list licenses as a conjunction (every entry applies), so a top-level AND is
    split into entries. A top-level OR is left whole: AND binds tighter, so `A OR B AND C`
    is one choice and splitting it would change its meaning.
    """
    tokens = _TOKEN.findall(expr.strip())
    parts: list[list[str]] = [[]]
    depth = 0
    for tok in tokens:
        if tok == "(":
            depth += 1
        elif tok == ")":
            depth -= 1
        if depth == 0 and tok == "OR":
            return [_strip_parens(tokens)] if tokens else []
        if depth == 0 and tok == "AND":
            parts.append([])
        else:
            parts[-1].append(tok)
    return [_strip_parens(p) for p in parts if p]


def _strip_parens(tokens: list[str]) -> str:
    while len(tokens) >= 2 and tokens[0] == "(" and tokens[-1] == ")" and _closes_at_end(tokens):
        tokens = tokens[1:-1]
    return _join_tokens(tokens)


def _closes_at_end(tokens: list[str]) -> bool:
    depth = 0
    for i, tok in enumerate(tokens):
        depth += tok == "("
        depth -= tok == ")"
        if depth == 0 and i < len(tokens) - 1:
            return False
    return True


@dataclass(frozen=True, slots=True)
class LicenseEntry:
    """One license of a package, classified once for every writer.

    kind is `id` (an SPDX license id, canonical case), `expression` (a valid SPDX expression
    over known ids and LicenseRefs, canonical form) or `name` (anything else, verbatim: we
    never guess an id, see customhouse.licenses).
    """

    kind: str
    value: str


@lru_cache(maxsize=4096)  # a few dozen distinct strings cover most images
def classify_license(raw: str) -> LicenseEntry | None:
    value = raw.strip()
    if not value:
        return None
    if is_license_id(value):
        return LicenseEntry("id", normalize_license(value))
    expr = parse_expression(value)
    if expr is not None and (" " in expr or expr.startswith("LicenseRef-")):
        return LicenseEntry("expression", expr)
    return LicenseEntry("name", value)


def license_ref_for(name: str) -> str:
    """A LicenseRef for a license name, stable and collision-free without a registry.

    A name that is already a valid idstring keeps it; any other gets its sanitised form plus a
    digest of the exact text, so two names can only share a ref if they are identical.
    """
    if _IDSTRING.fullmatch(name):
        return "LicenseRef-" + name
    cleaned = re.sub(r"[^A-Za-z0-9.\-]+", "-", name).strip("-")[:64] or "license"
    return f"LicenseRef-{cleaned}-{short_hash(name, n=8)}"


# --------------------------------------------------------------------- image identity


@dataclass(frozen=True, slots=True)
class ImageIdentity:
    name: str
    version: str  # manifest digest if known, else image (config) id
    purl: str  # pkg:oci/... only when a manifest digest and a repository are known
    tag: str


def image_identity(t: TargetInfo) -> ImageIdentity:
    repository = ""
    tag = ""
    if t.repo_tags:
        first = t.repo_tags[0]
        slash, colon = first.rfind("/"), first.rfind(":")
        if colon > slash:
            repository, tag = first[:colon], first[colon + 1 :]
        elif t.kind.startswith("oci") and "/" not in first:
            tag = first  # an OCI layout's ref.name annotation is usually just a tag
        else:
            repository = first
    digest = ""
    for rd in t.repo_digests:
        repo, at, dig = rd.rpartition("@")
        if at and dig:
            digest, repository = dig, repository or repo
            break
        if rd.startswith(("sha256:", "sha512:")):
            digest = rd
            break
    name = t.name
    if repository:
        name = f"{repository}:{tag}" if tag else repository
    purl = _oci_purl(repository, tag, digest, t.architecture) if repository and digest else ""
    return ImageIdentity(name=name, version=digest or t.image_id, purl=purl, tag=tag)


def _oci_purl(repository: str, tag: str, digest: str, arch: str) -> str:
    from packageurl import PackageURL

    from customhouse.errors import InputError
    from customhouse.targets.registry.reference import parse_reference

    try:
        ref = parse_reference(repository)
    except InputError:
        return ""
    q = {"repository_url": ref.name}
    if arch:
        q["arch"] = arch
    if tag:
        q["tag"] = tag
    last = ref.repository.rsplit("/", 1)[-1]
    try:
        return PackageURL(type="oci", name=last, version=digest, qualifiers=q).to_string()
    except ValueError:
        return ""


_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(?:\.\d+)?(Z|[+-]\d{2}:?\d{2})?$")
FALLBACK_DATE = "1970-01-01T00:00:00Z"


def utc_seconds(value: str) -> str:
    """An RFC 3339 time as SPDX wants it (UTC, whole seconds, `Z`), or "" if unparseable."""
    from datetime import UTC, datetime

    m = _DATE.match(value.strip())
    if not m:
        return ""
    zone = m.group(3) or "Z"
    zone = "+00:00" if zone == "Z" else zone if ":" in zone else zone[:3] + ":" + zone[3:]
    try:
        dt = datetime.fromisoformat(f"{m.group(1)}T{m.group(2)}{zone}")
    except ValueError:
        return ""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def document_date(inv: Inventory) -> str:
    """The one date an SBOM of `inv` carries: derived from the input, never the clock.

    The image's own `created`, else the newest layer's history date, else the Unix epoch, so
    the same image always yields the same bytes (CONVENTIONS.md: no timestamps in the body).
    """
    created = utc_seconds(inv.target.created)
    if created:
        return created
    layer_dates = sorted(d for d in (utc_seconds(li.created) for li in inv.layers) if d)
    return layer_dates[-1] if layer_dates else FALLBACK_DATE


# ------------------------------------------------------------------------- properties


def package_properties(p: Package) -> list[Property]:
    """What a purl cannot say about `p`, in a fixed order (the reader restores each)."""
    props: list[Property] = []
    if not p.purl:
        props.append((P_TYPE, p.type))
    if p.arch:
        props.append((P_ARCH, p.arch))
    if p.path:
        props.append((P_PATH, p.path))
    if p.found_by:
        props.append((P_FOUND_BY, p.found_by))
    if p.source_name:
        props.append((P_SOURCE_NAME, p.source_name))
    if p.source_version:
        props.append((P_SOURCE_VERSION, p.source_version))
    if p.layer_index >= 0:
        props.append((P_LAYER_INDEX, str(p.layer_index)))
    if p.layer_diff_id:
        props.append((P_LAYER_DIFF_ID, p.layer_diff_id))
    if p.layer_digest:
        props.append((P_LAYER_DIGEST, p.layer_digest))
    if p.created_by:
        props.append((P_LAYER_CREATED_BY, p.created_by))
    props.extend((P_METADATA + k, v) for k, v in sorted(p.metadata))
    return props


def image_properties(t: TargetInfo, layers: Iterable[LayerInfo]) -> list[Property]:
    props: list[Property] = [(P_TARGET_NAME, t.name), (P_TARGET_KIND, t.kind)]
    if t.image_id:
        props.append((P_IMAGE_ID, t.image_id))
    props.extend((P_IMAGE_TAG, tag) for tag in t.repo_tags)
    props.extend((P_IMAGE_REPO_DIGEST, d) for d in t.repo_digests)
    for key, value in ((P_IMAGE_ARCH, t.architecture), (P_IMAGE_OS, t.os), (P_IMAGE_CREATED, t.created)):
        if value:
            props.append((key, value))
    for li in layers:
        d = li.to_dict()
        for f in LAYER_FIELDS:
            v = d[f]
            if v not in ("", 0) or f == "diff_id":
                props.append((f"{P_IMAGE_LAYER}{li.index}:{f}", str(v)))
    return props


def os_properties(o: OSInfo) -> list[Property]:
    props: list[Property] = [(P_OS_FAMILY, o.family)]
    if o.name:
        props.append((P_OS_NAME, o.name))
    if o.codename:
        props.append((P_OS_CODENAME, o.codename))
    if o.id_like:
        props.append((P_OS_ID_LIKE, " ".join(o.id_like)))
    if o.source:
        props.append((P_OS_SOURCE, o.source))
    if o.distroless:
        props.append((P_OS_DISTROLESS, "true"))
    return props


def supplier_of(p: Package) -> str:
    """Who distributed the package, as far as its own metadata says (maintainer field)."""
    return p.meta("maintainer") or p.meta("supplier")


def split_contact(text: str) -> tuple[str, str]:
    """`Name <mail>` -> (`Name`, `mail`); SPDX writes contacts as `Name (mail)`."""
    m = re.fullmatch(r"\s*(.*?)\s*<([^<>]*)>\s*", text)
    if m:
        return m.group(1), m.group(2)
    return text.strip(), ""


def display_name(p: Package) -> tuple[str, str]:
    """(group, name) the way CycloneDX splits coordinates; the reader joins them back."""
    if p.type == "maven" and ":" in p.name:
        group, _, name = p.name.partition(":")
        return group, name
    if p.type == "npm" and p.name.startswith("@") and "/" in p.name:
        group, _, name = p.name.partition("/")
        return group, name
    if p.type == "composer" and "/" in p.name:
        group, _, name = p.name.partition("/")
        return group, name
    return "", p.name


def package_key(p: Package) -> str:
    """A stable identity for references (bom-ref, SPDXID): same package, same reference."""
    return short_hash(p.purl, p.type, p.name, p.version, p.arch, p.path)
