"""Installed Python distributions: `*.dist-info/METADATA`, `*.egg-info/PKG-INFO`, `*.egg-info` files.

These are the records pip, setuptools, distutils and Debian's packaging leave behind; they are
what `importlib.metadata` reads, so they are the ground truth for "what `import` would find".
We do not insist on a `site-packages`/`dist-packages` parent: virtualenvs, `pip --target`
directories, zipapp staging dirs and `.egg` directories (`EGG-INFO/PKG-INFO`) all hold real
installs, and the metadata directory names are specific enough not to need the extra guard.

Only the header block is parsed (the body is the long description, often hundreds of KB).
Licenses prefer the PEP 639 `License-Expression` (already SPDX), then trove classifiers (a
controlled vocabulary we can map), and only then the free-text `License` field, which in
older metadata frequently holds the whole license text and is used only when short (one
exception, see `licenses_from_headers`: a short field that is an SPDX id beats classifiers
that only name a license family).
"""

from __future__ import annotations

from customhouse.analyzers.base import Analyzer, AnalyzerError, Blob, register
from customhouse.licenses import is_spdx_id, normalize_license
from customhouse.model import AnalysisResult, FileInfo, Package

#: A free-text `License:` value longer than this is license text, not a license name.
MAX_LICENSE_NAME = 80
#: Classifiers that say nothing about which license applies.
_VAGUE_CLASSIFIERS = frozenset({"osi approved", "freely distributable"})


def _header_block(data: bytes) -> str:
    """The RFC 822 header part: everything before the first empty line."""
    text = data.decode("utf-8", "replace")
    if "\r\n" in text:
        text = text.replace("\r\n", "\n")
    head, _, _ = text.partition("\n\n")
    return head + "\n"


def _license_expression(value: str) -> str:
    value = value.strip()
    if " " in value:  # an expression ("MIT OR Apache-2.0"): keep it whole, it is SPDX by spec
        return value
    return normalize_license(value)


def licenses_from_headers(expression: str, classifiers: list[str], free_text: str) -> tuple[str, ...]:
    """Pick the most reliable license statement present (see the module docstring for the order).

    One refinement: when no classifier maps to an SPDX id (`Zope Public License`, `BSD
    License` name a family, not a version) but the short `License` field is an SPDX id
    (`ZPL-2.1`), the field is the more precise statement and wins.
    """
    if expression.strip():
        return (_license_expression(expression),)
    from_classifiers: list[str] = []
    for c in classifiers:
        c = c.strip()
        if not c.startswith("License ::"):
            continue
        leaf = c.rsplit("::", 1)[1].strip()
        if leaf.lower() in _VAGUE_CLASSIFIERS:
            continue
        lic = normalize_license(c)
        if lic and lic not in from_classifiers:
            from_classifiers.append(lic)
    text = free_text.strip()
    from_field = ""
    if text and "\n" not in text and len(text) <= MAX_LICENSE_NAME and text.upper() not in ("UNKNOWN", "NONE"):
        from_field = _license_expression(text) if (" OR " in text or " AND " in text) else normalize_license(text)
    if from_field and is_spdx_id(from_field) and not any(is_spdx_id(c) for c in from_classifiers):
        return (from_field,)
    if from_classifiers:
        return tuple(from_classifiers)
    return (from_field,) if from_field else ()


def parse_metadata(data: bytes, path: str) -> Package | None:
    """One distribution from a METADATA/PKG-INFO document; None when it names no distribution."""
    if b"\x00" in data[:4096]:
        raise AnalyzerError("binary data where Python package metadata was expected")
    # Imported here: the email package costs ~14 ms at start-up, paid only when METADATA exists.
    from email.parser import HeaderParser
    from email.policy import compat32

    msg = HeaderParser(policy=compat32).parsestr(_header_block(data))
    name = str(msg.get("Name", "") or "").strip()
    version = str(msg.get("Version", "") or "").strip()
    if not name or not version or "\n" in name or "\n" in version:
        return None
    classifiers = [str(c) for c in msg.get_all("Classifier", [])]
    licenses = licenses_from_headers(
        str(msg.get("License-Expression", "") or ""), classifiers, str(msg.get("License", "") or "")
    )
    meta: list[tuple[str, str]] = []
    mv = str(msg.get("Metadata-Version", "") or "").strip()
    if mv:
        meta.append(("metadata_version", mv))
    return Package(
        name=name,
        version=version,
        type="pypi",
        path=path,
        licenses=licenses,
        found_by=PythonAnalyzer.name,
        metadata=tuple(meta),
    )


@register
class PythonAnalyzer(Analyzer):
    name = "python"
    version = 1
    basenames = frozenset({"METADATA", "PKG-INFO"})
    suffixes = (".egg-info",)
    max_size = 16 << 20

    def required(self, info: FileInfo) -> bool:
        parent, _, base = info.path.rpartition("/")
        if base == "METADATA":
            return parent.endswith(".dist-info")
        if base == "PKG-INFO":
            return parent.endswith(".egg-info") or parent == "EGG-INFO" or parent.endswith("/EGG-INFO")
        # distutils and Debian write a bare `name-version.egg-info` *file* (kinds keeps dirs out).
        return base.endswith(".egg-info")

    def analyze(self, info: FileInfo, blob: Blob) -> AnalysisResult | None:
        pkg = parse_metadata(blob.read(), info.path)
        return AnalysisResult(packages=(pkg,)) if pkg else None
