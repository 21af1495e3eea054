"""PHP packages: Composer's `vendor/composer/installed.json` and `composer.lock`.

`installed.json` is what Composer actually put in `vendor/`: a bare array in Composer 1, an
object `{"packages": [...], "dev": bool, "dev-package-names": [...]}` in Composer 2 (the only
form that tells dev packages apart). `composer.lock` lists what `composer install` would
install, production packages under `packages` and dev ones under `packages-dev`.

Both are reported; as for npm, a lock entry is dropped when the same name and version is
installed in the same project (`<dir>/composer.lock` next to `<dir>/<vendor>/composer/
installed.json`), and the lock's dev flag is carried over to the installed package. Lock
files inside a `vendor/` tree belong to a dependency's own development and are ignored.

Versions are kept as Composer writes them (`v5.4.0` as well as `5.4.0`): that is the
package's native identifier; `version_normalized` goes into metadata for comparators.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from customhouse.analyzers.base import Analyzer, AnalyzerError, Blob, Found, register
from customhouse.image.fs import ImageFS
from customhouse.licenses import normalize_license
from customhouse.model import AnalysisResult, FileInfo, Package

INSTALLED = "installed.json"
LOCK = "composer.lock"


def _licenses(raw: Any) -> tuple[str, ...]:
    items = raw if isinstance(raw, list) else [raw]
    out: list[str] = []
    for item in items:
        if isinstance(item, str) and item.strip():
            v = item.strip()
            lic = v if (" or " in v.lower() or " and " in v.lower()) else normalize_license(v)
            if lic not in out:
                out.append(lic)
    return tuple(out)


def _package(entry: Any, path: str, dev: bool, source: str) -> Package | None:
    if not isinstance(entry, dict):
        return None
    name, version = entry.get("name"), entry.get("version")
    if not isinstance(name, str) or not isinstance(version, str) or not name.strip() or not version.strip():
        return None
    meta: list[tuple[str, str]] = [("source", source)]
    if dev:
        meta.append(("dev", "true"))
    for key in ("version_normalized", "type"):
        v = entry.get(key)
        if isinstance(v, str) and v:
            meta.append((key, v))
    for origin in ("dist", "source"):
        ref = entry.get(origin)
        if isinstance(ref, dict) and isinstance(ref.get("reference"), str) and ref["reference"]:
            meta.append((f"{origin}_reference", ref["reference"]))
    return Package(
        name=name.strip(),
        version=version.strip(),
        type="composer",
        path=path,
        licenses=_licenses(entry.get("license")),
        found_by=ComposerAnalyzer.name,
        metadata=tuple(sorted(meta)),
    )


def _load(data: bytes) -> Any:
    return json.loads(data.decode("utf-8-sig", "replace"))


def parse_installed(data: bytes, path: str) -> list[Package]:
    doc = _load(data)
    dev_names: set[str] = set()
    if isinstance(doc, list):  # Composer 1
        entries: Iterable[Any] = doc
    elif isinstance(doc, dict) and isinstance(doc.get("packages"), list):
        entries = doc["packages"]
        names = doc.get("dev-package-names")
        if isinstance(names, list):
            dev_names = {n for n in names if isinstance(n, str)}
    else:
        raise AnalyzerError("installed.json is neither a package array nor an object with `packages`")
    out = []
    for e in entries:
        p = _package(e, path, isinstance(e, dict) and e.get("name") in dev_names, "installed")
        if p is not None:
            out.append(p)
    return out


def parse_lock(data: bytes, path: str) -> list[Package]:
    doc = _load(data)
    if not isinstance(doc, dict):
        raise AnalyzerError("composer.lock is not a JSON object")
    out: list[Package] = []
    for section, dev in (("packages", False), ("packages-dev", True)):
        entries = doc.get(section)
        if not isinstance(entries, list):
            continue
        for e in entries:
            p = _package(e, path, dev, "lock")
            if p is not None:
                out.append(p)
    return out


def project_dir(path: str) -> str:
    """`app/vendor/composer/installed.json` -> `app` (any vendor-dir name); `app/composer.lock` -> `app`."""
    parts = path.split("/")
    if parts[-1] == INSTALLED:
        return "/".join(parts[:-3])
    return "/".join(parts[:-1])


def _in_vendor(path: str) -> bool:
    return path.startswith("vendor/") or "/vendor/" in path


@register
class ComposerAnalyzer(Analyzer):
    name = "composer"
    version = 1
    basenames = frozenset({INSTALLED, LOCK})
    max_size = 64 << 20

    def required(self, info: FileInfo) -> bool:
        parent, _, base = info.path.rpartition("/")
        if base == INSTALLED:
            return parent.endswith("/composer")  # <vendor-dir>/composer/installed.json
        return not _in_vendor(info.path)

    def analyze(self, info: FileInfo, blob: Blob) -> AnalysisResult | None:
        data = blob.read()
        pkgs = parse_installed(data, info.path) if info.basename == INSTALLED else parse_lock(data, info.path)
        return AnalysisResult(packages=tuple(pkgs)) if pkgs else None

    def finalize(self, found: Sequence[Found], fs: ImageFS | None) -> AnalysisResult:
        return AnalysisResult(packages=tuple(merge_installed_and_locked(f.result.packages for f in found)))


def merge_installed_and_locked(groups: Iterable[Sequence[Package]]) -> list[Package]:
    installed: list[Package] = []
    locked: list[Package] = []
    for g in groups:
        for p in g:
            (installed if p.meta("source") == "installed" else locked).append(p)
    keys = {(project_dir(p.path), p.name, p.version) for p in installed}
    lock_dev: Mapping[tuple[str, str, str], bool] = {
        (project_dir(p.path), p.name, p.version): p.meta("dev") == "true" for p in locked
    }
    out: list[Package] = []
    for p in installed:
        if lock_dev.get((project_dir(p.path), p.name, p.version)) and p.meta("dev") != "true":
            p = replace(p, metadata=tuple(sorted((*p.metadata, ("dev", "true")))))
        out.append(p)
    out.extend(p for p in locked if (project_dir(p.path), p.name, p.version) not in keys)
    return out
