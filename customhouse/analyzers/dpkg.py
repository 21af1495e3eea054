"""Debian packages: `var/lib/dpkg/status`, distroless `status.d/*`, licenses from copyright files.

Only packages whose files are on disk are reported: `config-files` (removed, not purged) and
`not-installed` entries are history, not inventory. The source package and its version come
from `Source: name (version)`, because Debian advisories are filed against source packages.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from customhouse.analyzers.base import Analyzer, Blob, Found, register
from customhouse.image.fs import ImageFS
from customhouse.licenses import normalize_license
from customhouse.model import AnalysisResult, FileInfo, Note, Package

STATUS = "var/lib/dpkg/status"
STATUS_D = "var/lib/dpkg/status.d/"
DOC_PREFIX = "usr/share/doc/"
_PRESENT_STATES = frozenset(
    {"installed", "half-configured", "unpacked", "half-installed", "triggers-awaited", "triggers-pending"}
)
_SOURCE_RE = re.compile(r"^(?P<name>\S+)(?:\s+\((?P<ver>[^)]+)\))?")


def parse_stanzas(text: str) -> Iterator[dict[str, str]]:
    """deb822 paragraphs; continuation lines are kept (joined with newlines) for long fields."""
    fields: dict[str, str] = {}
    key = ""
    for line in text.splitlines():
        if not line.strip():
            if fields:
                yield fields
            fields, key = {}, ""
            continue
        if line[0] in " \t":
            if key:
                fields[key] += "\n" + line.strip()
            continue
        k, sep, v = line.partition(":")
        if not sep:
            continue
        key = k.strip()
        fields[key] = v.strip()
    if fields:
        yield fields


def package_from_stanza(st: dict[str, str], path: str) -> Package | None:
    name = st.get("Package", "")
    version = st.get("Version", "")
    if not name or not version:
        return None
    status = st.get("Status", "install ok installed").split()
    if len(status) == 3 and status[2] not in _PRESENT_STATES:
        return None
    src_name, src_ver = name, version
    if st.get("Source"):
        m = _SOURCE_RE.match(st["Source"])
        if m:
            src_name = m.group("name")
            src_ver = m.group("ver") or version
    return Package(
        name=name,
        version=version,
        type="deb",
        path=path,
        arch=st.get("Architecture", ""),
        source_name=src_name,
        source_version=src_ver,
        found_by="dpkg",
    )


_LICENSE_LINE = re.compile(r"^License:\s*(\S.*)$", re.MULTILINE)
_COMMON_LICENSE = re.compile(r"/usr/share/common-licenses/([A-Za-z0-9.+-]+)")


def licenses_from_copyright(text: str) -> list[str]:
    """Machine-readable (DEP-5) `License:` fields, else references to common-licenses."""
    found: list[str] = []
    for m in _LICENSE_LINE.finditer(text):
        value = m.group(1).strip()
        # "GPL-2+ or Artistic" style expressions: keep each operand.
        for part in re.split(r"\s+(?:or|and)\s+|,\s*", value):
            part = part.strip()
            if part and part.lower() not in ("public-domain", "other", "unknown") and len(part) < 80:
                found.append(part)
    if not found:
        found.extend(m.group(1) for m in _COMMON_LICENSE.finditer(text))
    out: list[str] = []
    for lic in found:
        norm = normalize_license(lic)
        if norm not in out:
            out.append(norm)
    return out


@register
class DpkgAnalyzer(Analyzer):
    name = "dpkg"
    version = 1
    paths = frozenset({STATUS})
    prefixes = (STATUS_D,)
    basenames = frozenset({"copyright"})
    max_size = 256 << 20

    def required(self, info: FileInfo) -> bool:
        p = info.path
        if p == STATUS:
            return True
        if p.startswith(STATUS_D):
            return "/" not in p[len(STATUS_D) :] and not p.endswith(".md5sums")
        # usr/share/doc/<pkg>/copyright
        return p.startswith(DOC_PREFIX) and p.count("/") == 4

    def analyze(self, info: FileInfo, blob: Blob) -> AnalysisResult | None:
        text = blob.read().decode("utf-8", "replace")
        if info.path.startswith(DOC_PREFIX):
            lics = licenses_from_copyright(text)
            if not lics:
                return None
            return AnalysisResult(notes=(Note("copyright", {"package": info.path.split("/")[3], "licenses": lics}),))
        pkgs = [p for st in parse_stanzas(text) if (p := package_from_stanza(st, info.path)) is not None]
        return AnalysisResult(packages=tuple(pkgs)) if pkgs else None

    def finalize(self, found: Sequence[Found], fs: ImageFS | None) -> AnalysisResult:
        lic: dict[str, list[str]] = {}
        for f in found:
            for n in f.result.notes:
                if n.kind == "copyright":
                    lic[str(n.data["package"])] = list(n.data["licenses"])
        from dataclasses import replace

        packages: list[Package] = []
        for f in found:
            for p in f.result.packages:
                # Multi-arch packages keep their doc in usr/share/doc/<name> too.
                licenses = lic.get(p.name) or lic.get(p.name.split(":")[0]) or []
                packages.append(replace(p, licenses=tuple(licenses)) if licenses else p)
        return AnalysisResult(packages=tuple(packages))
