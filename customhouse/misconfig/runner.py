"""Scan a tree (or single documents): detect file types, parse, run checks, suppress.

Bad files never stop a scan: an unparsable Dockerfile, invalid YAML, an alias bomb, an
oversized or binary file is reported as a warning naming the file (and line) and the rest of
the tree is scanned. Suppression happens here, once for every file type: inline
`# customhouse:ignore=ID[,ID...] reason` comments on or above the offending line, `--skip-check`,
and the shared ignore file (applied by the caller with the other scanners' findings).
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from customhouse.errors import InputError
from customhouse.misconfig.engine import Check, Document, FileType, Options, Violation, checks_for
from customhouse.report.findings import Finding, Location, MisconfigDetail, Suppression, fingerprint

MAX_FILE_BYTES = 10 << 20
SKIP_DIRS = frozenset({".git", ".hg", ".svn", "__pycache__", ".tox", ".venv", ".mypy_cache"})
_INLINE = re.compile(r"customhouse:ignore=([A-Za-z0-9_,.\-]+)\s*(.*)")

_DOCKERFILE_NAMES = ("Dockerfile", "Containerfile", "dockerfile", "containerfile")
_COMPOSE = re.compile(r"^(docker-)?compose([.\-][\w.\-]+)?\.ya?ml$|\.compose\.ya?ml$")


def detect_by_name(name: str) -> FileType | None:
    base = name.rsplit("/", 1)[-1]
    if (
        base in _DOCKERFILE_NAMES
        or base.startswith(("Dockerfile.", "Containerfile."))
        or base.endswith((".dockerfile", ".Dockerfile", ".containerfile"))
    ):
        return "dockerfile"
    if _COMPOSE.search(base):
        return "compose"
    if base == "daemon.json":
        return "docker-daemon"
    if base.endswith((".yaml", ".yml", ".json")):
        return "yaml?"  # decided by content: kubelet configuration, Kubernetes manifests
    if base == "config.toml" or base.endswith(".toml"):
        return "toml?"
    return None


def detect_by_content(kind: str, head: str) -> FileType | None:
    if kind == "toml?":
        return "containerd" if ("containerd" in head or "[plugins" in head) else None
    if re.search(r"(?m)^\s*\"?kind\"?\s*:\s*\"?KubeletConfiguration\b", head):
        return "kubelet"
    if re.search(r"(?m)^\s*\"?apiVersion\"?\s*:", head) and re.search(r"(?m)^\s*\"?kind\"?\s*:", head):
        return "kubernetes"
    return None


# file type -> "module:function" taking (text, display path) and returning the parsed model
PARSERS: dict[FileType, str] = {
    "dockerfile": "customhouse.misconfig.dockerfile:parse",
    "compose": "customhouse.misconfig.parsers:parse_yaml",
    "docker-daemon": "customhouse.misconfig.parsers:parse_yaml",
    "kubelet": "customhouse.misconfig.parsers:parse_yaml",
    "kubernetes": "customhouse.misconfig.parsers:parse_yaml",
    "containerd": "customhouse.misconfig.parsers:parse_toml",
}


def _parser(file_type: FileType) -> Callable[[str, str], Any]:
    import importlib

    mod, _, fn = PARSERS[file_type].partition(":")
    func: Callable[[str, str], Any] = getattr(importlib.import_module(mod), fn)
    return func


@dataclass
class ScanResult:
    findings: list[Finding] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    scanned: dict[str, int] = field(default_factory=dict)  # file type -> files
    skipped: int = 0


def parse_document(text: str, path: str, file_type: FileType) -> Document:
    return Document(path=path, file_type=file_type, text=text, data=_parser(file_type)(text, path))


def _inline_suppression(doc: Document, line: int, check_id: str) -> Suppression | None:
    """`customhouse:ignore=ID reason` in a comment on the line itself or the line above."""
    for n in (line, line - 1):
        if n <= 0 or n > len(doc.lines):
            continue
        text = doc.lines[n - 1]
        if "customhouse:ignore=" not in text:
            continue
        m = _INLINE.search(text)
        if m and (check_id in m.group(1).split(",") or "all" in m.group(1).split(",")):
            return Suppression(source="inline", reason=m.group(2).strip() or "inline ignore", status="ignored")
    return None


def to_finding(doc: Document, check: Check, v: Violation, target: str = "", source: str = "builtin") -> Finding:
    meta = check.meta
    snippet = v.snippet or doc.source(v.line, v.end_line)
    f = Finding(
        id=meta.id,
        kind="misconfiguration",
        severity=meta.severity,
        title=meta.title,
        message=v.message,
        target=target,
        location=Location(
            path=v.path or doc.path,
            layer_digest=v.layer_digest,
            layer_index=v.layer_index,
            created_by=v.created_by,
            line=v.line,
            column=v.column,
            end_line=v.end_line or v.line,
            json_path=v.json_path,
            resource_kind=v.resource_kind,
            resource_namespace=v.resource_namespace,
            resource_name=v.resource_name,
        ),
        fix=v.fix or meta.remediation,
        references=meta.references,
        frameworks=meta.frameworks.pairs(),
        suppressed=_inline_suppression(doc, v.line, meta.id) if v.line else None,
        misconfiguration=MisconfigDetail(
            file_type=doc.file_type,
            snippet=snippet[:2000],
            replacement=v.replacement,
            check_source=source,
            description=meta.description,
            extra=v.extra,
        ),
    )
    object.__setattr__(f, "fingerprint", fingerprint(f))
    return f


def run_checks(doc: Document, options: Options, skip: Iterable[str] = (), target: str = "") -> list[Finding]:
    out = []
    for c in checks_for(doc.file_type, skip):
        for v in c.run(doc, options):
            out.append(to_finding(doc, c, v, target))
    return out


def iter_files(root: Path) -> Iterable[tuple[Path, str]]:
    """(absolute path, path relative to root) of regular files, never following symlinks."""
    if root.is_file():
        yield root, root.name
        return
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
        for name in sorted(filenames):
            full = Path(dirpath) / name
            yield full, str(full.relative_to(root))


def scan_tree(
    root: Path,
    options: Options | None = None,
    skip: Iterable[str] = (),
    policies: Any = None,
    max_file_bytes: int = MAX_FILE_BYTES,
    exclude: Iterable[str] = (),
) -> ScanResult:
    if not root.exists():
        raise InputError(f"{root}: no such file or directory")
    files = list(iter_files(root))
    opts = options or Options()
    if not opts.tree_files:
        from dataclasses import replace

        opts = replace(opts, tree_files=frozenset(rel for _, rel in files))
    skip = tuple(skip)
    excl = tuple(exclude)
    result = ScanResult()
    for full, rel in files:
        if excl and any(fnmatch.fnmatch(rel, pat) for pat in excl):
            continue
        kind = detect_by_name(rel)
        if kind is None:
            continue
        try:
            st = full.lstat()
        except OSError as exc:
            result.warnings.append(f"{rel}: cannot read ({exc.strerror})")
            result.skipped += 1
            continue
        if not full.is_file() or full.is_symlink():
            continue
        if st.st_size > max_file_bytes:
            if kind in ("yaml?", "toml?"):  # only report files we would have scanned
                with open(full, "rb") as fh:
                    kind = detect_by_content(kind, fh.read(65536).decode("utf-8", "replace")) or ""
            if kind:
                result.warnings.append(f"{rel}: skipped, {st.st_size} bytes is over the {max_file_bytes}-byte limit")
                result.skipped += 1
            continue
        try:
            raw = full.read_bytes()
        except OSError as exc:
            result.warnings.append(f"{rel}: cannot read ({exc.strerror})")
            result.skipped += 1
            continue
        if b"\x00" in raw[:8192]:
            if kind not in ("yaml?", "toml?"):
                result.warnings.append(f"{rel}: skipped, binary content")
                result.skipped += 1
            continue
        text = raw.decode("utf-8", "replace")
        if kind in ("yaml?", "toml?"):
            detected = detect_by_content(kind, text[:65536])
            if detected is None:
                continue
            kind = detected
        ft: FileType = kind
        try:
            doc = parse_document(text, rel, ft)
        except InputError as exc:
            result.warnings.append(exc.message if exc.message.startswith(rel) else f"{rel}: {exc.message}")
            result.skipped += 1
            continue
        result.scanned[ft] = result.scanned.get(ft, 0) + 1
        result.findings.extend(run_checks(doc, opts, skip, target=str(root)))
        if policies is not None:
            result.findings.extend(policies.evaluate(doc, opts, skip, target=str(root)))
    return result
