"""Analyzers: one module per file format, each registering itself on import.

`load_all()` imports every module of this package once; adding an analyzer means adding a
file, nothing else (no central list to forget). `registered_versions()` answers "which
analyzers at which versions" from a snapshot in the cache directory while the analyzer sources
are unchanged, so a scan served entirely from the cache imports none of them.
"""

from __future__ import annotations

import importlib
import json
import os as _os  # aliased: the `os` analyzer submodule becomes this package's `os` attribute
from pathlib import Path

_LOADED = False

# Modules in this package that are helpers, not analyzers.
_NOT_ANALYZERS = frozenset({"base"})
_HERE = Path(__file__).parent


def _modules() -> list[str]:
    names = []
    for entry in _os.scandir(_HERE):
        name = entry.name
        if entry.is_file() and name.endswith(".py") and not name.startswith("_") and name[:-3] not in _NOT_ANALYZERS:
            names.append(name[:-3])
    return sorted(names)


def load_all() -> None:
    global _LOADED
    if _LOADED:
        return
    for name in _modules():
        importlib.import_module(f"{__name__}.{name}")
    _LOADED = True


def _fingerprint() -> str:
    """Changes whenever any analyzer (or helper) source changes, or customhouse is upgraded."""
    from customhouse import __version__

    parts = [__version__]
    for entry in sorted(_os.scandir(_HERE), key=lambda e: e.name):
        if entry.name.endswith(".py") or (
            entry.is_dir() and entry.name.startswith("_") and entry.name != "__pycache__"
        ):
            st = entry.stat()
            parts.append(f"{entry.name}:{st.st_size}:{st.st_mtime_ns}")
            if entry.is_dir():
                for sub in sorted(_os.scandir(entry.path), key=lambda e: e.name):
                    if sub.name.endswith(".py"):
                        sst = sub.stat()
                        parts.append(f"{entry.name}/{sub.name}:{sst.st_size}:{sst.st_mtime_ns}")
    return "|".join(parts)


def registered_versions(cache_dir: Path) -> dict[str, int]:
    from customhouse.analyzers.base import registered

    snap = cache_dir / "analyzers.json"
    fp = _fingerprint()
    try:
        doc = json.loads(snap.read_text())
        if doc.get("fingerprint") == fp and isinstance(doc.get("versions"), dict):
            return {str(k): int(v) for k, v in doc["versions"].items()}
    except (OSError, ValueError, TypeError, AttributeError):
        pass
    load_all()
    versions = {name: a.version for name, a in registered().items()}
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = snap.with_name(f"analyzers.json.{_os.getpid()}.tmp")
        tmp.write_text(json.dumps({"fingerprint": fp, "versions": versions}))
        _os.replace(tmp, snap)
    except OSError:
        pass
    return versions
