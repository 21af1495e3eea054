"""JavaScript packages: installed `package.json` files and npm, yarn and pnpm lock files.

Installed packages
    Every `package.json` that names a package (`name` and `version`) counts, wherever it is:
    `node_modules` trees, Debian's `/usr/share/nodejs/<pkg>`, and application roots such as
    `/app/package.json` (the application is part of the image's inventory too). Inside a
    `node_modules` tree only package positions count (`node_modules/<name>/package.json`,
    `node_modules/@scope/<name>/package.json`): packages publish test fixtures and build
    helpers with package.json files of their own, and those are not installed packages. The
    pnpm store layout (`node_modules/.pnpm/<key>/node_modules/<name>`) fits the same rule.

Lock files
    `package-lock.json`/`npm-shrinkwrap.json` (v1 nested `dependencies`, v2/v3 `packages`),
    `yarn.lock` (classic v1 and berry), `pnpm-lock.yaml` (v5, v6, v9 key formats). Lock files
    inside `node_modules` are ignored: a dependency's own lock describes its development tree,
    not what was installed here. Aliases (`"my-ms": "npm:ms@2.1.3"`) are reported under the
    real package name, because that is what advisories are filed against.

How the two coexist (see `finalize`)
    Both are reported, so the result is a superset of an "installed only" scan (what syft and
    trivy do for images) and of a "lock only" scan (what they do for source directories).
    A lock entry is dropped when the same name and version is installed in the lock's
    project, i.e. anywhere below the lock's directory where no nearer lock file takes over
    (`<dir>/node_modules/...`, workspace folders and their own node_modules, and
    `<dir>/package.json` itself): the installed copy is stronger evidence and carries the
    license. The lock still contributes what only it knows: its `dev` flag is copied onto
    the installed package. Between several lock files of one project (package-lock.json next
    to yarn.lock), the first by path wins.

Dev dependencies are marked `dev=true` in metadata where the lock says so: npm's `dev` flag,
pnpm v5/v6's `dev` flag, and for pnpm v9 (which dropped the flag) by walking the lock's own
graph from each importer's `dependencies` versus `devDependencies`. yarn.lock records no such
distinction, so yarn-only packages carry no dev flag.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

from customhouse.analyzers.base import Analyzer, AnalyzerError, Blob, Found, register
from customhouse.image.fs import ImageFS
from customhouse.licenses import normalize_license
from customhouse.model import AnalysisResult, FileInfo, Package

PACKAGE_JSON = "package.json"
NPM_LOCKS = frozenset({"package-lock.json", "npm-shrinkwrap.json"})
YARN_LOCK = "yarn.lock"
PNPM_LOCK = "pnpm-lock.yaml"
LOCKS = NPM_LOCKS | {YARN_LOCK, PNPM_LOCK}
NM = "node_modules"


# ---------------------------------------------------------------------------- helpers


def _in_node_modules(path: str) -> bool:
    return path.startswith(NM + "/") or f"/{NM}/" in path


def _dirname(path: str) -> str:
    return path.rpartition("/")[0]


def owning_lock_dir(path: str, lock_dirs: frozenset[str] | set[str]) -> str | None:
    """The nearest directory above `path` that holds a lock file, or None.

    An installed `app/packages/a/node_modules/x/package.json` belongs to `app/package-lock.json`
    when `app/packages/a` has no lock of its own (npm and yarn workspaces hoist into one lock),
    and to a nested project's own lock when it has one.
    """
    d = _dirname(path)
    while True:
        if d in lock_dirs:
            return d
        if not d:
            return None
        d = _dirname(d)


def is_package_position(path: str) -> bool:
    """True for `.../node_modules/<name>/package.json` and `.../node_modules/@scope/<name>/package.json`."""
    i = path.rfind(f"{NM}/")
    if i == -1 or (i > 0 and path[i - 1] != "/"):
        return not _in_node_modules(path)
    rest = path[i + len(NM) + 1 :].split("/")
    if len(rest) == 2:
        return not rest[0].startswith((".", "@"))
    if len(rest) == 3:
        return rest[0].startswith("@") and len(rest[0]) > 1 and not rest[1].startswith(".")
    return False


def split_spec(spec: str) -> tuple[str, str]:
    """`name@range`, `@scope/name@range` -> (name, range); the leading `@` of a scope is not a separator."""
    i = spec.find("@", 1)
    if i == -1:
        return spec, ""
    return spec[:i], spec[i + 1 :]


def _single_license(value: str) -> str:
    v = value.strip()
    if v.startswith("(") and v.endswith(")") and v.count("(") == 1:
        v = v[1:-1].strip()
    if " OR " in v or " AND " in v or " WITH " in v:
        return v
    return normalize_license(v)


def licenses_of(doc: Mapping[str, Any]) -> tuple[str, ...]:
    """`license` as SPDX string or `{type}` object, or the legacy `licenses` array (strings or objects)."""
    raw: list[Any] = []
    lic = doc.get("license")
    if isinstance(lic, list):
        raw.extend(lic)
    elif lic is not None:
        raw.append(lic)
    legacy = doc.get("licenses")
    if isinstance(legacy, list):
        raw.extend(legacy)
    elif isinstance(legacy, (dict, str)):
        raw.append(legacy)
    out: list[str] = []
    for item in raw:
        if isinstance(item, dict):
            item = item.get("type") or item.get("name")
        if isinstance(item, str) and item.strip():
            norm = _single_license(item)
            if norm and norm not in out:
                out.append(norm)
    return tuple(out)


def _str(v: Any) -> str:
    return v if isinstance(v, str) else ""


def _pkg(
    name: str,
    version: str,
    path: str,
    licenses: tuple[str, ...] = (),
    meta: Iterable[tuple[str, str]] = (),
) -> Package:
    return Package(
        name=name,
        version=version,
        type="npm",
        path=path,
        licenses=licenses,
        found_by=NpmAnalyzer.name,
        metadata=tuple(sorted((k, v) for k, v in meta if v)),
    )


def _load_json(data: bytes) -> dict[str, Any]:
    doc = json.loads(data.decode("utf-8-sig", "replace"))
    if not isinstance(doc, dict):
        raise AnalyzerError(f"expected a JSON object, got {type(doc).__name__}")
    return doc


# ---------------------------------------------------------------------------- package.json


def parse_package_json(data: bytes, path: str) -> Package | None:
    doc = _load_json(data)
    name, version = _str(doc.get("name")).strip(), _str(doc.get("version")).strip()
    if not name or not version:
        return None
    meta = [("private", "true" if doc.get("private") is True else "")]
    return _pkg(name, version, path, licenses_of(doc), meta)


# ---------------------------------------------------------------------------- package-lock.json


def _lock_meta(entry: Mapping[str, Any], kind: str) -> list[tuple[str, str]]:
    return [
        ("lockfile", kind),
        ("dev", "true" if entry.get("dev") is True else ""),
        ("optional", "true" if entry.get("optional") is True else ""),
        ("resolved", _str(entry.get("resolved"))),
        ("integrity", _str(entry.get("integrity"))),
    ]


def _alias(name: str, version: str) -> tuple[str, str]:
    """v1 lock and yarn aliases spell the version as `npm:real@1.2.3`."""
    if version.startswith("npm:"):
        real, ver = split_spec(version[4:])
        if real and ver:
            return real, ver
    return name, version


def parse_package_lock(data: bytes, path: str) -> list[Package]:
    doc = _load_json(data)
    packages = doc.get("packages")
    lv = doc.get("lockfileVersion", 1)
    if isinstance(packages, dict) and isinstance(lv, int) and lv >= 2:
        return _one_per_version(_lock_v2(packages, path, f"package-lock-v{lv}"))
    out: list[Package] = []
    name, version = _str(doc.get("name")), _str(doc.get("version"))
    if name and version:
        out.append(_pkg(name, version, path, meta=[("lockfile", "package-lock-v1"), ("root", "true")]))
    deps = doc.get("dependencies")
    stack: list[Any] = [deps] if isinstance(deps, dict) else []
    while stack:
        level = stack.pop()
        for dep_name, entry in level.items():
            if not isinstance(entry, dict):
                continue
            nested = entry.get("dependencies")
            if isinstance(nested, dict):
                stack.append(nested)
            version = _str(entry.get("version"))
            if not version or version.startswith(("file:", "link:")):
                continue  # local directories: their own package.json is the record
            real, ver = _alias(str(dep_name), version)
            out.append(_pkg(real, ver, path, meta=_lock_meta(entry, "package-lock-v1")))
    return _one_per_version(out)


def _one_per_version(pkgs: Iterable[Package]) -> list[Package]:
    """npm locks list a package once per install position; the inventory wants it once per lock.

    The merged entry is `dev` only if every position is: one production copy ships it.
    """
    merged: dict[tuple[str, str], Package] = {}
    for p in pkgs:
        k = (p.name, p.version)
        first = merged.get(k)
        if first is None:
            merged[k] = p
        elif first.meta("dev") == "true" and p.meta("dev") != "true":
            merged[k] = replace(first, metadata=tuple(m for m in first.metadata if m[0] != "dev"))
    return list(merged.values())


def _lock_v2(packages: Mapping[str, Any], path: str, kind: str) -> Iterator[Package]:
    for key, entry in packages.items():
        if not isinstance(entry, dict) or entry.get("link") is True:
            continue  # a link's target has its own entry under the workspace path
        version = _str(entry.get("version"))
        name = _str(entry.get("name"))
        if not name:
            i = key.rfind(f"{NM}/")
            if i == -1:
                continue  # a workspace folder without a name: nothing to report
            name = key[i + len(NM) + 1 :]
        if not version:
            continue
        meta = _lock_meta(entry, kind)
        if key == "":
            meta.append(("root", "true"))
        lic = entry.get("license")
        yield _pkg(name, version, path, licenses_of({"license": lic}) if lic else (), meta)


# ---------------------------------------------------------------------------- yarn.lock


def _yarn_blocks(text: str) -> Iterator[tuple[str, dict[str, str]]]:
    """Top-level entries of either yarn format: (key line, first-level fields).

    Classic v1 writes `  version "1.2.3"`, berry writes `  version: 1.2.3`; both indent
    fields by two spaces and nested maps (dependencies) deeper, which we do not need.
    """
    key = ""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line or line[0] == "#":
            continue
        if line[0] not in " \t":
            if key:
                yield key, fields
            key, fields = line.rstrip().rstrip(":"), {}
            continue
        if not key or not line.startswith("  ") or line[2:3] in (" ", "\t"):
            continue
        tok, _, value = line[2:].partition(" ")
        if tok.startswith('"'):
            continue
        fields[tok.rstrip(":")] = value.strip().strip('"')
    if key:
        yield key, fields


def parse_yarn_lock(data: bytes, path: str) -> list[Package]:
    text = data.decode("utf-8", "replace")
    berry = "\n__metadata:" in text or text.startswith("__metadata:")
    kind = "yarn-berry" if berry else "yarn-v1"
    out: list[Package] = []
    seen: set[tuple[str, str]] = set()
    for key, fields in _yarn_blocks(text):
        if key == "__metadata":
            continue
        version = fields.get("version", "")
        if not version:
            continue
        if berry:
            resolution = fields.get("resolution", "")
            name, ref = split_spec(resolution)
            if not name:
                continue
            if ref.startswith(("workspace:", "link:", "portal:")):
                continue  # the project's own packages, reported from their package.json
            meta = [("lockfile", kind), ("resolution", resolution), ("checksum", fields.get("checksum", ""))]
        else:
            first = key.split(",", 1)[0].strip().strip('"')
            name, rng = split_spec(first)
            name, _ = _alias(name, rng)
            if not name or rng.startswith(("file:", "link:")):
                continue
            meta = [
                ("lockfile", kind),
                ("resolved", fields.get("resolved", "")),
                ("integrity", fields.get("integrity", "")),
            ]
        if (name, version) in seen:
            continue  # berry repeats patched packages (`name@patch:...`) under the same version
        seen.add((name, version))
        out.append(_pkg(name, version, path, meta=meta))
    return out


# ---------------------------------------------------------------------------- pnpm-lock.yaml


def _pnpm_major(doc: Mapping[str, Any]) -> int:
    raw = str(doc.get("lockfileVersion", "")).strip("'\"")
    head = raw.split(".", 1)[0]
    return int(head) if head.isdigit() else 0


def _strip_peers(key: str) -> str:
    i = key.find("(")
    return key[:i] if i > 0 else key


def pnpm_key(key: str, major: int) -> tuple[str, str]:
    """`/name/1.0.0_peer` (v5), `/name@1.0.0(peer)` (v6), `name@1.0.0(peer)` (v9) -> (name, version)."""
    k = _strip_peers(key.lstrip("/"))
    if major and major < 6:
        name, _, ver = k.rpartition("/")
        return name, ver.split("_", 1)[0]
    return split_spec(k)


def _dep_key(name: str, ref: str, major: int) -> str:
    """A dependency reference as written in importers/snapshots -> the snapshot key it names."""
    base = _strip_peers(ref)
    if major >= 9:
        return ref if "@" in base[1:] else f"{name}@{ref}"
    if ref.startswith("/"):
        return ref
    return f"/{name}/{ref}" if major < 6 else f"/{name}@{ref}"


def _deps(entry: Any, fields: Sequence[str]) -> Iterator[tuple[str, str]]:
    if not isinstance(entry, dict):
        return
    for f in fields:
        d = entry.get(f)
        if not isinstance(d, dict):
            continue
        for n, v in d.items():
            if isinstance(v, dict):  # importers (v6+): {specifier, version}
                v = v.get("version", "")
            if isinstance(v, str) and v and not v.startswith(("link:", "file:")):
                yield str(n), v


def _reach(starts: Iterable[str], graph: Mapping[str, Any], major: int) -> set[str]:
    seen: set[str] = set()
    stack = list(starts)
    while stack:
        k = stack.pop()
        if k in seen:
            continue
        seen.add(k)
        for n, v in _deps(graph.get(k), ("dependencies", "optionalDependencies")):
            stack.append(_dep_key(n, v, major))
    return {_strip_peers(k) for k in seen}


def _pnpm_dev_only(doc: Mapping[str, Any], major: int) -> set[str]:
    """Package keys reachable from some importer's devDependencies and from no production root."""
    importers = doc.get("importers")
    roots: list[Any] = list(importers.values()) if isinstance(importers, dict) else [doc]
    graph = doc.get("snapshots") if major >= 9 else doc.get("packages")
    if not isinstance(graph, dict):
        return set()
    prod_starts = [_dep_key(n, v, major) for r in roots for n, v in _deps(r, ("dependencies", "optionalDependencies"))]
    dev_starts = [_dep_key(n, v, major) for r in roots for n, v in _deps(r, ("devDependencies",))]
    return _reach(dev_starts, graph, major) - _reach(prod_starts, graph, major)


def _unquote(s: str) -> str:
    if len(s) >= 2 and s[0] == s[-1] == "'":
        return s[1:-1].replace("''", "'")
    if len(s) >= 2 and s[0] == s[-1] == '"':
        return s[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return s


def _split_entry(content: str, lineno: int) -> tuple[str, str]:
    """`key: value` / `key:` with a plain or quoted key -> (key, raw value)."""
    if content[0] in "'\"":
        end = content.find(content[0], 1)
        while end != -1 and content[0] == "'" and content[end + 1 : end + 2] == "'":
            end = content.find("'", end + 2)  # '' is an escaped quote inside single quotes
        if end == -1 or content[end + 1 : end + 2] != ":":
            raise AnalyzerError(f"pnpm lock line {lineno}: malformed quoted key")
        return _unquote(content[: end + 1]), content[end + 2 :].strip()
    key, sep, value = content.partition(": ")
    if not sep:
        if not content.endswith(":"):
            raise AnalyzerError(f"pnpm lock line {lineno}: expected `key: value`")
        return content[:-1], ""
    return key, value.strip()


def _flow_map(value: str) -> dict[str, Any]:
    """One-level `{a: b, c: 'd'}`, as pnpm writes `resolution` and `engines`."""
    out: dict[str, Any] = {}
    for part in value[1:-1].split(", "):
        k, sep, v = part.partition(": ")
        if sep:
            out[_unquote(k.strip())] = _unquote(v.strip())
    return out


def load_pnpm_yaml(text: str) -> dict[str, Any]:
    """The YAML subset pnpm writes (block mappings, two-space indent, flow maps one level deep).

    PyYAML, even with libyaml, builds nodes in Python at about 1 MB/s, and monorepo locks run
    to tens of MB; this single pass is an order of magnitude faster. Scalars stay strings (no
    `1.10` -> 1.1). Sequences are skipped: pnpm uses them only for `os`/`cpu` style fields
    we do not read. With several documents (pnpm 10 puts its config-dependency lock first),
    the last one is the project's lock.
    """
    docs: list[dict[str, Any]] = [{}]
    stack: list[tuple[int, dict[str, Any]]] = [(-1, docs[-1])]
    skip_below = -1  # indentation of a sequence or block scalar being skipped
    for lineno, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped[0] == "#":
            continue
        indent = len(line) - len(line.lstrip(" "))
        if skip_below >= 0:
            if indent > skip_below or (indent == skip_below and stripped.startswith("- ")):
                continue
            skip_below = -1
        if stripped == "---":
            docs.append({})
            stack = [(-1, docs[-1])]
            continue
        if stripped.startswith("- ") or stripped == "-":
            skip_below = indent
            continue
        key, value = _split_entry(stripped, lineno)
        while stack[-1][0] >= indent:
            stack.pop()
        parent = stack[-1][1]
        if not value:
            child: dict[str, Any] = {}
            parent[key] = child
            stack.append((indent, child))
        elif value[0] == "{" and value[-1] == "}":
            parent[key] = _flow_map(value)
        elif value[0] in "|>":
            parent[key] = ""
            skip_below = indent
        else:
            parent[key] = _unquote(value)
    locks = [d for d in docs if "lockfileVersion" in d]
    if not locks:
        raise AnalyzerError("not a pnpm lock file (no lockfileVersion)")
    full = [d for d in locks if "packages" in d or "importers" in d]
    result: dict[str, Any] = (full or locks)[-1]
    return result


def parse_pnpm_lock(data: bytes, path: str) -> list[Package]:
    doc = load_pnpm_yaml(data.decode("utf-8", "replace"))
    major = _pnpm_major(doc)
    packages = doc.get("packages")
    if not isinstance(packages, dict):
        return []
    dev_only = _pnpm_dev_only(doc, major) if major >= 9 else set()
    kind = f"pnpm-v{major}" if major else "pnpm"
    out: list[Package] = []
    seen: set[tuple[str, str]] = set()
    for key, entry in packages.items():
        key = str(key)
        e = entry if isinstance(entry, dict) else {}
        name, version = pnpm_key(key, major)
        name = _str(e.get("name")) or name
        version = _str(e.get("version")) or version
        if not name or not version or version.startswith(("link:", "file:")):
            continue
        if (name, version) in seen:
            continue  # v5/v6 list one entry per peer-dependency variant
        seen.add((name, version))
        # v5/v6 carry a `dev` flag per package; v9 dropped it for the importer graph.
        dev = _strip_peers(key) in dev_only if major >= 9 else _str(e.get("dev")) == "true"
        res = e.get("resolution")
        integrity = _str(res.get("integrity")) if isinstance(res, dict) else ""
        tarball = _str(res.get("tarball")) if isinstance(res, dict) else ""
        meta = [
            ("lockfile", kind),
            ("dev", "true" if dev else ""),
            ("optional", "true" if _str(e.get("optional")) == "true" else ""),
            ("integrity", integrity),
            ("resolved", tarball),
        ]
        out.append(_pkg(name, version, path, meta=meta))
    return out


# ---------------------------------------------------------------------------- analyzer


@register
class NpmAnalyzer(Analyzer):
    name = "npm"
    version = 1
    basenames = frozenset({PACKAGE_JSON}) | LOCKS
    max_size = 128 << 20

    def required(self, info: FileInfo) -> bool:
        if info.basename == PACKAGE_JSON:
            return info.size <= 16 << 20 and is_package_position(info.path)
        return not _in_node_modules(info.path)

    def analyze(self, info: FileInfo, blob: Blob) -> AnalysisResult | None:
        base = info.basename
        data = blob.read()
        if base == PACKAGE_JSON:
            pkg = parse_package_json(data, info.path)
            return AnalysisResult(packages=(pkg,)) if pkg else None
        if base in NPM_LOCKS:
            pkgs = parse_package_lock(data, info.path)
        elif base == YARN_LOCK:
            pkgs = parse_yarn_lock(data, info.path)
        else:
            pkgs = parse_pnpm_lock(data, info.path)
        return AnalysisResult(packages=tuple(pkgs)) if pkgs else None

    def finalize(self, found: Sequence[Found], fs: ImageFS | None) -> AnalysisResult:
        installed: list[Package] = []
        locked: list[Package] = []
        for f in found:
            target = installed if f.path.rpartition("/")[2] == PACKAGE_JSON else locked
            target.extend(f.result.packages)
        lock_dirs = {_dirname(p.path) for p in locked}
        owner = {p.path: owning_lock_dir(p.path, lock_dirs) for p in installed} if lock_dirs else {}
        installed_keys = {(owner.get(p.path), p.name, p.version) for p in installed}
        # What the locks say about dev-ness, per (lock dir, name, version): dev only if every
        # sighting says so (a package both a dev and a prod dependency ships in production).
        lock_dev: dict[tuple[str | None, str, str], bool] = {}
        for p in locked:
            k = (_dirname(p.path), p.name, p.version)
            lock_dev[k] = lock_dev.get(k, True) and p.meta("dev") == "true"
        out: list[Package] = []
        for p in installed:
            if lock_dev.get((owner.get(p.path), p.name, p.version)) and p.meta("dev") != "true":
                p = replace(p, metadata=tuple(sorted((*p.metadata, ("dev", "true")))))
            out.append(p)
        emitted: set[tuple[str | None, str, str]] = set()
        for p in sorted(locked, key=lambda p: p.path):
            k = (_dirname(p.path), p.name, p.version)
            if k in installed_keys or k in emitted:
                continue
            emitted.add(k)
            out.append(p)
        return AnalysisResult(packages=tuple(out))
