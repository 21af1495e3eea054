""".NET dependencies from `*.deps.json`, the manifest the .NET host reads to load assemblies.

Every framework-dependent or self-contained app ships `<app>.deps.json` beside its entry
assembly; its `libraries` map (`"Name/Version": {"type": ...}`) lists what was resolved at
build time. `type: package` entries are NuGet packages; `project` entries are the app's own
assemblies (the app itself and projects of its solution) and `reference` entries plain DLL
references. All three are reported, as syft does, because an inventory of an image should
include the application and everything it loads; `library_type` in metadata tells them apart,
so matchers can keep registry advisories to real packages. Other types (`runtimepack`,
`msbuild`, ...) are build plumbing and skipped.
NuGet ids are case-insensitive but kept as written: that is how the package presents itself.
"""

from __future__ import annotations

import json

from customhouse.analyzers.base import Analyzer, AnalyzerError, Blob, register
from customhouse.model import AnalysisResult, FileInfo, Package

SUFFIX = ".deps.json"
LIBRARY_TYPES = frozenset({"package", "project", "reference"})


def parse_deps_json(data: bytes, path: str) -> list[Package]:
    doc = json.loads(data.decode("utf-8-sig", "replace"))
    if not isinstance(doc, dict):
        raise AnalyzerError("deps.json is not a JSON object")
    libraries = doc.get("libraries")
    if libraries is None:
        return []
    if not isinstance(libraries, dict):
        raise AnalyzerError("deps.json `libraries` is not an object")
    out: list[Package] = []
    seen: set[tuple[str, str]] = set()
    for key, lib in libraries.items():
        if not isinstance(lib, dict) or lib.get("type") not in LIBRARY_TYPES:
            continue
        name, sep, version = str(key).partition("/")
        name, version = name.strip(), version.strip()
        if not sep or not name or not version or (name, version) in seen:
            continue
        seen.add((name, version))
        meta: list[tuple[str, str]] = [("library_type", str(lib["type"]))]
        for field in ("sha512", "path"):
            v = lib.get(field)
            if isinstance(v, str) and v:
                meta.append((field, v))
        out.append(
            Package(
                name=name,
                version=version,
                type="nuget",
                path=path,
                found_by=DotnetDepsAnalyzer.name,
                metadata=tuple(sorted(meta)),
            )
        )
    return out


@register
class DotnetDepsAnalyzer(Analyzer):
    name = "dotnet-deps"
    version = 1
    suffixes = (SUFFIX,)
    max_size = 32 << 20

    def required(self, info: FileInfo) -> bool:
        return len(info.basename) > len(SUFFIX)

    def analyze(self, info: FileInfo, blob: Blob) -> AnalysisResult | None:
        pkgs = parse_deps_json(blob.read(), info.path)
        return AnalysisResult(packages=tuple(pkgs)) if pkgs else None
