"""The misconfiguration engine: checks as data plus a function, one registry, one runner.

Every check declares its metadata (stable id, severity, rationale, remediation, references and
the frameworks it maps to) next to its code, so `checks list`, `checks show`, docs/checks.md,
SARIF rule help and the tests all read the same source. A check receives a parsed `Document`
and yields `Violation`s that point at a line and say how to fix it; the runner turns them into
`Finding`s and applies suppressions. Dockerfiles, compose files, daemon and node configs,
image configurations and (later) Kubernetes manifests all go through this one path.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from customhouse.report.findings import Severity

FileType = str  # "dockerfile", "compose", "docker-daemon", "containerd", "kubelet", "kubernetes", "image-config"

# Every file type, in the order documentation lists them, with the name people call it by.
FILE_TYPES: dict[FileType, str] = {
    "dockerfile": "Dockerfiles",
    "compose": "Compose files",
    "docker-daemon": "Docker daemon configuration (daemon.json)",
    "containerd": "containerd configuration (config.toml)",
    "kubelet": "Kubelet configuration (KubeletConfiguration)",
    "kubernetes": "Kubernetes manifests",
    "kubernetes-tree": "Kubernetes manifests, the tree as a whole (NetworkPolicy reachability)",
    "image-config": "Image configuration (image --scanners misconfig)",
}


@dataclass(frozen=True)
class Framework:
    """Where a check comes from in the standards people audit against."""

    cis_docker: str = ""  # CIS Docker Benchmark section, e.g. "4.1"
    nist_800_190: str = ""  # NIST SP 800-190 countermeasure section, e.g. "4.1.4"
    mitre_attack: str = ""  # MITRE ATT&CK (Containers) technique, e.g. "T1611"
    cis_kubernetes: str = ""
    pss: str = ""  # Pod Security Standards control (issue 5)

    def pairs(self) -> tuple[tuple[str, str], ...]:
        """(framework, control) for each one set; remembered on the (immutable) instance, since
        every finding of the check asks."""
        got: tuple[tuple[str, str], ...] | None = self.__dict__.get("_pairs")
        if got is not None:
            return got
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
        got = self.__dict__["_pairs"] = tuple(out)
        return got


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
    # `Options` fields (or `extra` keys) the check reads, when its code does not show it plainly
    # (see `options_used`, which also finds the ones it reads itself).
    options: tuple[str, ...] = ()


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

    def __init__(
        self,
        message: str,
        line: int = 0,
        column: int = 0,
        end_line: int = 0,
        snippet: str = "",
        fix: str = "",
        replacement: str = "",
        json_path: str = "",
        resource_kind: str = "",
        resource_namespace: str = "",
        resource_name: str = "",
        path: str = "",
        layer_index: int = -1,
        layer_digest: str = "",
        created_by: str = "",
        extra: tuple[tuple[str, str], ...] = (),
    ) -> None:
        # written out: one per finding of every check, and stores into the instance dict take a
        # third of the time of the `object.__setattr__` calls `@dataclass(frozen=True)` generates
        d = self.__dict__
        d["message"] = message
        d["line"] = line
        d["column"] = column
        d["end_line"] = end_line
        d["snippet"] = snippet
        d["fix"] = fix
        d["replacement"] = replacement
        d["json_path"] = json_path
        d["resource_kind"] = resource_kind
        d["resource_namespace"] = resource_namespace
        d["resource_name"] = resource_name
        d["path"] = path
        d["layer_index"] = layer_index
        d["layer_digest"] = layer_digest
        d["created_by"] = created_by
        d["extra"] = extra


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

    def __getstate__(self) -> dict[str, Any]:
        # the split lines are a cache: sent to another process they would double the text
        return {**self.__dict__, "_lines": None}

    def source(self, line: int, end_line: int = 0) -> str:
        if line <= 0:
            return ""
        end = max(end_line, line)
        return "\n".join(self.lines[line - 1 : end])


DEFAULT_ADMIN_PORTS = frozenset({22, 23, 2375, 2376, 3389, 5900, 5985, 5986, 6443, 10250})


@dataclass(frozen=True)
class Options:
    """Settings checks may consult; each is described in `OPTIONS` (and so in docs/checks.md)."""

    registry_allowlist: tuple[str, ...] = ()  # empty: the registry check is off
    admin_ports: frozenset[int] = DEFAULT_ADMIN_PORTS
    pin_packages: bool = True  # the "unpinned package versions" checks
    tree_files: frozenset[str] = frozenset()  # every file of the scanned tree (e.g. to see .dockerignore)
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OptionInfo:
    """What one option means, for `checks show` and docs/checks.md."""

    name: str  # an `Options` field, or a key of `Options.extra`
    flag: str  # the command-line flag that sets it; "" when only the library API can
    default: str
    description: str
    internal: bool = False  # set by the scanner itself, not by the user: not documented as an option


OPTIONS: tuple[OptionInfo, ...] = (
    OptionInfo(
        "admin_ports",
        "--admin-ports PORT[,PORT...]",
        ", ".join(str(p) for p in sorted(DEFAULT_ADMIN_PORTS)),
        "ports that count as remote administration (SSH, Telnet, Docker API, RDP, VNC, WinRM, Kubernetes API, kubelet)",
    ),
    OptionInfo(
        "registry_allowlist",
        "--registry-allowlist REG[,REG...]",
        "empty (the check is off)",
        "registries base images may come from",
    ),
    OptionInfo(
        "pin_packages", "--no-pin-check", "checked", "whether package installs without a pinned version are reported"
    ),
    OptionInfo(
        "max_image_age_days",
        "--max-image-age DAYS",
        "365",
        "how old (by its `created` date) an image may be before it is reported",
    ),
    OptionInfo(
        "wasted_bytes_min",
        "",
        "1048576 (1 MiB)",
        "the smallest size of a file added in one layer and removed in a later one that is reported",
    ),
    OptionInfo("now", "", "today", "the reference date for age checks (reproducible reports and tests)"),
    OptionInfo(
        "pss_level",
        "--pss-level LEVEL",
        "restricted",
        "the Pod Security Standards level manifests are held to (privileged, baseline, restricted)",
    ),
    OptionInfo(
        "pss_version",
        "--pss-version v1.N|latest",
        "latest",
        "the Pod Security Standards version evaluated (`v1.N` or latest)",
    ),
    OptionInfo("rbac_max_depth", "", "8", "the most steps an RBAC escalation path is followed for"),
    OptionInfo("tree_files", "", "", "the files of the scanned tree", internal=True),
)
_OPTION_NAMES = {o.name for o in OPTIONS}
_FIELD_USE = re.compile(r"\.(registry_allowlist|admin_ports|pin_packages|tree_files)\b")
_EXTRA_USE = re.compile(r"\bextra\s*(?:\.get\(\s*|\[\s*)[\"'](\w+)[\"']")


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
    options: Iterable[str] = (),
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
            tuple(options),
        )
        _CHECKS[id] = Check(meta, fn)
        return fn

    return deco


#: The file types each check module registers checks for, so a scan imports only the modules
#: its files need (a tree of Dockerfiles never loads the Kubernetes analyses: a tenth of a
#: second of start-up). tests/misconfig/test_engine.py keeps it equal to what the modules do.
MODULE_FILE_TYPES: dict[str, tuple[str, ...]] = {
    "compose": ("compose",),
    "containerd": ("containerd",),
    "daemon": ("docker-daemon",),
    "dockerfile": ("dockerfile",),
    "imageconfig": ("image-config",),
    "k8s_netpol": ("kubernetes-tree",),
    "k8s_pss": ("kubernetes",),
    "k8s_rbac": ("kubernetes-tree",),
    "k8s_workload": ("kubernetes", "kubernetes-tree"),
    "kubelet": ("kubelet",),
}
_IMPORTED: set[str] = set()
_TYPES_LOADED: set[str] = set()  # file types whose modules are all imported


@functools.cache
def _check_modules() -> tuple[str, ...]:
    here = os.path.join(os.path.dirname(__file__), "checks")
    return tuple(sorted(n[:-3] for n in os.listdir(here) if n.endswith(".py") and not n.startswith("_")))


def load_checks(file_type: str | None = None) -> None:
    """Import the modules in customhouse/misconfig/checks (one file per file type): all of
    them, or those registering checks for `file_type` (and any module the map does not know).

    Asked once per scanned file: a file type already loaded returns at once (listing the
    directory on every call was a tenth of the CPU of scanning 2,000 manifests)."""
    global _LOADED
    if _LOADED or file_type in _TYPES_LOADED:
        return
    names = _check_modules()
    for name in names:
        if name in _IMPORTED:
            continue
        if file_type is None or file_type in MODULE_FILE_TYPES.get(name, (file_type,)):
            importlib.import_module(f"customhouse.misconfig.checks.{name}")
            _IMPORTED.add(name)
    if file_type is not None:
        _TYPES_LOADED.add(file_type)
    if file_type is None or _IMPORTED.issuperset(names):
        _LOADED = True


_SORTED: list[Check] = []


def all_checks() -> list[Check]:
    load_checks()
    if len(_SORTED) != len(_CHECKS):  # checks only ever get added; scans ask for the list per file
        _SORTED[:] = [_CHECKS[k] for k in sorted(_CHECKS)]
    return list(_SORTED)


def get_check(check_id: str) -> Check | None:
    load_checks()
    return _CHECKS.get(check_id)


_SELECTED: dict[tuple[FileType, frozenset[str], frozenset[str], int], tuple[Check, ...]] = {}


def checks_for(file_type: FileType, skip: Iterable[str] = (), include_disabled: Iterable[str] = ()) -> Iterator[Check]:
    """The checks to run on a file of `file_type`; remembered, since a tree asks once per file."""
    skip_set, extra = frozenset(skip), frozenset(include_disabled)
    load_checks(file_type)
    key = (file_type, skip_set, extra, len(_CHECKS))
    selected = _SELECTED.get(key)
    if selected is None:
        selected = tuple(
            c
            for c in (_CHECKS[k] for k in sorted(_CHECKS))
            if (c.meta.enabled_by_default or c.meta.id in extra)
            and file_type in c.meta.file_types
            and c.meta.id not in skip_set
        )
        _SELECTED[key] = selected
    return iter(selected)


def get_check_ci(check_id: str) -> Check | None:
    """`get_check`, but `ch-dc-001` names CH-DC-001 too (ids are compared case-insensitively)."""
    return get_check(check_id) or get_check(check_id.upper())


@functools.cache
def _module_functions(module_name: str) -> dict[str, tuple[str, frozenset[str]]]:
    """A module's top-level functions: name -> (source with decorators, names it mentions).
    Read from the module's source file, not from the function objects: the module may be
    compiled (customhouse/_native.py), and compiled functions carry no code or source."""
    import ast
    import sys

    module = sys.modules.get(module_name)
    file = getattr(module, "__file__", None)
    if not file:
        return {}
    source = os.path.join(os.path.dirname(file), os.path.basename(file).split(".")[0] + ".py")
    try:
        with open(source, encoding="utf-8") as fh:
            text = fh.read()
        tree = ast.parse(text, source)
    except (OSError, SyntaxError, ValueError):
        return {}
    lines = text.splitlines(keepends=True)
    out: dict[str, tuple[str, frozenset[str]]] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
            names.update(n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute))
            out[node.name] = ("".join(lines[first - 1 : node.end_lineno]), frozenset(names))
    return out


def _module_sources(fn: Callable[..., Any]) -> Iterator[str]:
    """The source of `fn` and of the functions of its own module it calls, transitively."""
    functions = _module_functions(getattr(fn, "__module__", None) or "")
    seen: set[str] = set()
    todo = [getattr(inspect.unwrap(fn), "__name__", "")]
    while todo:
        name = todo.pop()
        if name in seen or name not in functions:
            continue
        seen.add(name)
        source, names = functions[name]
        yield source
        todo.extend(names)


def options_used(c: Check) -> tuple[str, ...]:
    """The options a check consults: those it declares plus those its code (and the helpers in
    its module it calls) reads from `Options`, in the order of `OPTIONS`."""
    names = set(c.meta.options)
    for src in _module_sources(c.run):
        names.update(_FIELD_USE.findall(src))
        names.update(_EXTRA_USE.findall(src))
    known = [o.name for o in OPTIONS if o.name in names]
    return (*known, *sorted(names - _OPTION_NAMES))
