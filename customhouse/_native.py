"""Whether this process may use the compiled build of the misconfiguration scanner's hot modules.

`scripts/build-native` compiles the modules below with mypyc into extension modules placed next
to their sources (a Dockerfile scan spends most of its time in them, and compiled they take about
0.7 of the time; docs/benchmarks.md). Python prefers an extension module to a source file of the
same name, so a build left behind after its sources were edited would silently run old code. The
build therefore writes a manifest of every source it was compiled from (the modules and the
project modules they import, transitively) with their size and modification time, and of the
extension files themselves. At start-up, before any of those modules is imported, `install`
compares the manifest with the files (about 60 `stat` calls). If anything differs, or there is no
build, or `CUSTOMHOUSE_PURE_PYTHON` is set, an import hook makes every module of the group load
from its `.py` source: the group is used whole or not at all, since the compiled modules call
into each other directly.
"""

from __future__ import annotations

import os
import sys
from importlib.machinery import EXTENSION_SUFFIXES, ModuleSpec

MODULES: tuple[str, ...] = (
    "customhouse.misconfig.shell",
    "customhouse.misconfig.dfsyntax",
    "customhouse.misconfig.dockerfile",
    "customhouse.misconfig.checks.dockerfile",
    "customhouse.misconfig.checks._secrettext",
    "customhouse.misconfig.checks._secretvalues",
    "customhouse.misconfig.imageref",
    "customhouse.misconfig.runner",
    "customhouse.report.findings_json",
)
GROUP = "customhouse._native"  # the shared library: customhouse/_native__mypyc<suffix>
MANIFEST = "_native.manifest"  # in the package directory, next to __init__.py
FORMAT = 1
PURE_ENV = "CUSTOMHOUSE_PURE_PYTHON"

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_STATE = ["not checked"]


def header() -> str:
    """The manifest's first line: a build is only valid for the interpreter ABI it was made for."""
    return f"customhouse-native {FORMAT} {sys.implementation.cache_tag} {EXTENSION_SUFFIXES[0]}"


def stale_reason(package_dir: str = _PACKAGE_DIR) -> str | None:
    """None when the compiled build matches the files on disk, else why it may not be used."""
    try:
        with open(os.path.join(package_dir, MANIFEST), encoding="utf-8") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return "no compiled build"
    if not lines or lines[0] != header():
        return "the compiled build is for another interpreter or format"
    if len(lines) < 2:
        return "the compiled build's manifest is empty"
    for line in lines[1:]:
        rel, _, rest = line.partition("\t")
        size, _, mtime = rest.partition("\t")
        try:
            st = os.stat(os.path.join(package_dir, rel))
        except OSError:
            return f"{rel} is missing"
        if str(st.st_size) != size or str(st.st_mtime_ns) != mtime:
            return f"{rel} changed after the compiled build"
    return None


class _SourceFinder:
    """Loads the group's modules from their `.py` files, ahead of the extension modules."""

    def __init__(self, package_dir: str) -> None:
        self.package_dir = package_dir

    def find_spec(self, name: str, path: object = None, target: object = None) -> ModuleSpec | None:
        if name not in MODULES:
            return None
        from importlib.util import spec_from_file_location

        source = os.path.join(self.package_dir, *name.split(".")[1:]) + ".py"
        return spec_from_file_location(name, source)


def install() -> None:
    """Decide once per process, before the group's modules are imported."""
    if _STATE[0] != "not checked":
        return
    why = f"{PURE_ENV} is set" if os.environ.get(PURE_ENV) else stale_reason()
    if why is None:
        _STATE[0] = "compiled"
        return
    _STATE[0] = f"pure Python: {why}"
    sys.meta_path.insert(0, _SourceFinder(_PACKAGE_DIR))


def picklable(*classes: type) -> None:
    """Let pickle rebuild these frozen dataclasses through their constructor.

    Pickle's default way creates an empty object and then sets each field, which a frozen
    dataclass compiled by mypyc refuses (it has no `__dict__` to fill behind `__setattr__`'s
    back), and which a compiled class with its own `__init__` cannot do either (creating it runs
    that `__init__`, without arguments); so a parsed Dockerfile could not travel from a worker
    process to its parent. Rebuilt
    by the constructor, the object is the same compiled or not. Every field must be an `__init__`
    parameter, in order (true of all our frozen dataclasses: none is `init=False` or keyword-only)."""
    import copyreg

    for cls in classes:
        copyreg.pickle(cls, _by_constructor)


def _by_constructor(obj: object) -> tuple[type, tuple[object, ...]]:
    import dataclasses

    return type(obj), tuple(getattr(obj, f.name) for f in dataclasses.fields(obj))  # type: ignore[arg-type]


def status() -> str:
    """What `customhouse --version` reports: "compiled", or "pure Python: <why>"."""
    return _STATE[0]
