"""The misconfiguration engine: checks as data plus a function, one registry, one runner.

Every check declares its metadata (stable id, severity, rationale, remediation, references and
the frameworks it maps to) next to its code, so `checks list`, `checks show`, docs/checks.md,
SARIF rule help and the tests all read the same source. A check receives a parsed `Document`
and yields `Violation`s that point at a line and say how to fix it; the runner turns them into
`Finding`s and applies suppressions. Dockerfiles, compose files, daemon and node configs,
image configurations and (later) Kubernetes manifests all go through this one path.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from customhouse.report.findings import Severity

FileType = str  # "dockerfile", "compose", "docker-daemon", "containerd", "kubelet", "kubernetes", "image-config"


@dataclass(frozen=True)
class Framework:
    """Where a check comes from in the standards people audit against."""

    cis_docker: str = ""  # CIS Docker Benchmark section, e.g. "4.1"
    nist_800_190: str = ""  # NIST SP 800-190 countermeasure section, e.g. "4.1.4"
    mitre_attack: str = ""  # MITRE ATT&CK (Containers) technique, e.g. "T1611"
    cis_kubernetes: str = ""
    pss: str = ""  # Pod Security Standards control (issue 5)

    def pairs(self) -> tuple[tuple[str, str], ...]:
        out = []
        for name, value in (
            ("CIS Docker Benchmark", self.cis_docker),
            ("NIST SP 800-190", self.nist_800_190),
            ("MITRE ATT&CK", self.mitre_attack),
            ("CIS Kubernetes Benchmark", self.cis_kubernetes),
            ("Pod Security Standards", self.pss),
        ):
            if value:
                out.append((name, value))
        return tuple(out)


@dataclass(frozen=True)
class CheckMeta:
    id: str  # CH-DF-001 style: prefix per file type, never reused
    title: str
    severity: Severity
    file_types: tuple[FileType, ...]
    description: str
    rationale: str
    remediation: str
    references: tuple[str, ...] = ()
    frameworks: Framework = field(default_factory=Framework)
    enabled_by_default: bool = True


@dataclass(frozen=True)
class Violation:
    """One place a check fails. Lines are 1-based; 0 means "the whole file"."""

    message: str
    line: int = 0
    column: int = 0
    end_line: int = 0
    snippet: str = ""  # defaults to the source lines line..end_line
    fix: str = ""  # what to change, concretely; defaults to the check's remediation
    replacement: str = ""  # mechanical replacement text for `snippet`, when there is one
    json_path: str = ""
    resource_kind: str = ""
    resource_namespace: str = ""
    resource_name: str = ""
    path: str = ""  # a file inside the target (canonical, no leading slash); "" = the document itself
    layer_index: int = -1
    layer_digest: str = ""  # diff_id of the layer the file is in
    created_by: str = ""
    extra: tuple[tuple[str, str], ...] = ()


@dataclass
class Document:
    """A parsed input file. `data` is the file type's model (see customhouse/misconfig/parsers)."""

    path: str  # as shown in reports: relative to the scanned root, or the image path
    file_type: FileType
    text: str
    data: Any
    _lines: list[str] | None = None

    @property
    def lines(self) -> list[str]:
        if self._lines is None:
            self._lines = self.text.splitlines()
        return self._lines

    def source(self, line: int, end_line: int = 0) -> str:
        if line <= 0:
            return ""
        end = max(end_line, line)
        return "\n".join(self.lines[line - 1 : end])


@dataclass(frozen=True)
class Options:
    """Settings checks may consult; all have CLI flags (docs/checks.md)."""

    registry_allowlist: tuple[str, ...] = ()  # empty: the registry check is off
    admin_ports: frozenset[int] = frozenset({22, 23, 2375, 2376, 3389, 5900, 5985, 5986, 6443, 10250})
    pin_packages: bool = True  # the "unpinned package versions" checks
    tree_files: frozenset[str] = frozenset()  # every file of the scanned tree (e.g. to see .dockerignore)
    extra: Mapping[str, Any] = field(default_factory=dict)


CheckFn = Callable[[Document, Options], Iterable[Violation]]


@dataclass(frozen=True)
class Check:
    meta: CheckMeta
    run: CheckFn


_CHECKS: dict[str, Check] = {}
_LOADED = False


def check(
    id: str,
    title: str,
    severity: Severity,
    file_types: Iterable[FileType],
    description: str,
    rationale: str,
    remediation: str,
    references: Iterable[str] = (),
    frameworks: Framework | None = None,
    enabled_by_default: bool = True,
) -> Callable[[CheckFn], CheckFn]:
    """Register a check function with its metadata."""

    def deco(fn: CheckFn) -> CheckFn:
        if id in _CHECKS:
            raise RuntimeError(f"check {id} registered twice")
        meta = CheckMeta(
            id,
            title,
            severity,
            tuple(file_types),
            description.strip(),
            rationale.strip(),
            remediation.strip(),
            tuple(references),
            frameworks or Framework(),
            enabled_by_default,
        )
        _CHECKS[id] = Check(meta, fn)
        return fn

    return deco


def load_checks() -> None:
    """Import every module in customhouse/misconfig/checks (one file per file type)."""
    global _LOADED
    if _LOADED:
        return
    here = os.path.join(os.path.dirname(__file__), "checks")
    for name in sorted(os.listdir(here)):
        if name.endswith(".py") and not name.startswith("_"):
            importlib.import_module(f"customhouse.misconfig.checks.{name[:-3]}")
    _LOADED = True


def all_checks() -> list[Check]:
    load_checks()
    return [_CHECKS[k] for k in sorted(_CHECKS)]


def get_check(check_id: str) -> Check | None:
    load_checks()
    return _CHECKS.get(check_id)


def checks_for(file_type: FileType, skip: Iterable[str] = (), include_disabled: Iterable[str] = ()) -> Iterator[Check]:
    skip_set, extra = set(skip), set(include_disabled)
    for c in all_checks():
        wanted = c.meta.enabled_by_default or c.meta.id in extra
        if wanted and file_type in c.meta.file_types and c.meta.id not in skip_set:
            yield c
