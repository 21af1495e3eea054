"""Rust crates compiled into executables, from the dependency list `cargo auditable` embeds.

`cargo auditable build` links a section named `.dep-v0` into the binary: zlib-compressed JSON
`{"packages": [{"name", "version", "source", "kind", "dependencies", "root"}]}` where `source`
is `crates.io`, `registry`, `git` or `local`, `kind` is `build` or `runtime` (omitted =
runtime), `dependencies` are indices into the array and exactly one package has `root`.

What is reported, and why:

* every `runtime` crate from `crates.io`, another registry or git, as a `cargo` package;
* the root package (the program itself), marked `metadata["root"] = "true"`, so the inventory
  says which program the binary is;
* not `build`-only crates (build scripts and proc-macros run at compile time; their code is
  not in the binary, so their advisories do not apply to it — Trivy skips them too; the count
  is kept in the root's metadata);
* `local` (path) crates too, with `metadata["source"] = "local"`: they are in the binary and an
  inventory must show them (trivy and syft list them as well), but they have no public
  identity, so vulnerability matching must skip them rather than match the advisories of an
  unrelated crates.io crate that happens to share the name.

Binaries built without cargo-auditable carry no such section and are rejected after reading
the ELF header and section table. The decompressed JSON is capped: the section comes from the
image, and a small compressed section could otherwise inflate without bound.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

from customhouse.analyzers._elf import ElfError, ElfFile, is_elf
from customhouse.analyzers.base import Analyzer, AnalyzerError, Blob, register
from customhouse.model import AnalysisResult, FileInfo, Package

SECTION = ".dep-v0"
#: Compressed section and decompressed JSON caps; real ones are a few KB (a thousand crates
#: compress to well under 100 KB).
MAX_SECTION = 8 << 20
MAX_JSON = 32 << 20

_PUBLIC_SOURCES = frozenset({"crates.io", "registry", "git"})


def read_dep_section(data: bytes) -> bytes:
    """The compressed section's JSON, refusing decompression past `MAX_JSON`."""
    d = zlib.decompressobj()
    try:
        out = d.decompress(data, MAX_JSON)
    except zlib.error as exc:
        raise AnalyzerError(f"{SECTION} is not zlib data: {exc}") from None
    if d.unconsumed_tail:
        raise AnalyzerError(f"{SECTION} decompresses to more than {MAX_JSON} bytes")
    return out


def parse_audit_json(raw: bytes) -> list[dict[str, Any]]:
    doc = json.loads(raw)
    if not isinstance(doc, dict) or not isinstance(doc.get("packages"), list):
        raise AnalyzerError(f"{SECTION} JSON has no package list")
    pkgs = [p for p in doc["packages"] if isinstance(p, dict)]
    for p in pkgs:
        if not isinstance(p.get("name"), str) or not isinstance(p.get("version"), str):
            raise AnalyzerError(f"{SECTION} package without name or version: {p!r:.200}")
    return pkgs


def packages_from(entries: list[dict[str, Any]], where: str, found_by: str) -> list[Package]:
    out: list[Package] = []
    skipped_build = local_count = 0
    root_index = -1
    for i, e in enumerate(entries):
        source = str(e.get("source", ""))
        is_root = bool(e.get("root", False))
        if is_root and root_index < 0:
            root_index = i
            continue
        if e.get("kind", "runtime") == "build":
            skipped_build += 1
            continue
        if source not in _PUBLIC_SOURCES:
            local_count += 1  # still reported; counted so the root says how many are path crates
        out.append(
            Package(
                name=e["name"],
                version=e["version"],
                type="cargo",
                path=where,
                found_by=found_by,
                metadata=(("source", source),),
            )
        )
    if root_index >= 0:
        r = entries[root_index]
        meta = {
            "root": "true",
            "source": str(r.get("source", "")),
            "skipped_build_deps": str(skipped_build),
            "local_deps": str(local_count),
        }
        out.append(
            Package(
                name=r["name"],
                version=r["version"],
                type="cargo",
                path=where,
                found_by=found_by,
                metadata=tuple(sorted(meta.items())),
            )
        )
    return out


@register
class RustAuditableAnalyzer(Analyzer):
    name = "rustbinary"
    version = 2
    executables = True
    max_size = 1 << 30

    def analyze(self, info: FileInfo, blob: Blob) -> AnalysisResult | None:
        if not is_elf(blob.head(4)):
            return None
        f = blob.open()
        try:
            if not is_elf(f.read(4)):
                return None
            try:
                elf = ElfFile(f)
                sec = elf.section(SECTION)
                if sec is None:
                    return None
                data = elf.section_data(sec, MAX_SECTION)
            except ElfError as exc:
                raise AnalyzerError(f"malformed ELF: {exc}") from None
        finally:
            f.close()
        entries = parse_audit_json(read_dep_section(data))
        pkgs = packages_from(entries, info.path, self.name)
        return AnalysisResult(packages=tuple(pkgs)) if pkgs else None
