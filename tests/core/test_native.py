"""The compiled build of the hot modules (customhouse/_native.py, scripts/build-native): used only
while it matches its sources, and giving the same reports as the Python it was compiled from."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from customhouse import _native

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "misconfig" / "dockerfile"


def _build_script() -> ModuleType:
    path = ROOT / "scripts" / "build-native"
    loader = importlib.machinery.SourceFileLoader("build_native", str(path))
    spec = importlib.util.spec_from_loader("build_native", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def _manifest(pkg: Path, *files: Path) -> None:
    lines = [_native.header()]
    for f in files:
        st = f.stat()
        lines.append(f"{f.relative_to(pkg)}\t{st.st_size}\t{st.st_mtime_ns}")
    (pkg / _native.MANIFEST).write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_a_build_counts_only_while_every_file_it_lists_is_unchanged(tmp_path: Path) -> None:
    pkg = tmp_path / "customhouse"
    (pkg / "misconfig").mkdir(parents=True)
    src, lib = pkg / "misconfig" / "shell.py", pkg / "_native__mypyc.so"
    src.write_text("x = 1\n")
    lib.write_bytes(b"\x7fELF")
    assert _native.stale_reason(str(pkg)) == "no compiled build"
    _manifest(pkg, src, lib)
    assert _native.stale_reason(str(pkg)) is None
    src.write_text("x = 2\n")  # same size, new content and time
    assert _native.stale_reason(str(pkg)) == "misconfig/shell.py changed after the compiled build"
    _manifest(pkg, src, lib)
    lib.unlink()
    assert _native.stale_reason(str(pkg)) == "_native__mypyc.so is missing"
    lib.write_bytes(b"\x7fELF")
    _manifest(pkg, src, lib)
    text = (pkg / _native.MANIFEST).read_text().replace(sys.implementation.cache_tag, "cpython-27")
    (pkg / _native.MANIFEST).write_text(text)
    assert "another interpreter" in (_native.stale_reason(str(pkg)) or "")
    (pkg / _native.MANIFEST).write_text(_native.header() + "\n")
    assert "empty" in (_native.stale_reason(str(pkg)) or "")


def _module_files(env: dict[str, str]) -> list[str]:
    code = (
        "import json, importlib; from customhouse import _native; print(json.dumps([_native.status()] + "
        "[importlib.import_module(m).__file__ for m in _native.MODULES]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env).stdout
    import json

    got: list[str] = json.loads(out)
    return got


def test_the_pure_python_switch_loads_every_module_of_the_group_from_source() -> None:
    status, *files = _module_files({**os.environ, _native.PURE_ENV: "1"})
    assert status == f"pure Python: {_native.PURE_ENV} is set"
    assert files and all(f.endswith(".py") for f in files)


def test_setup_compiled_the_group_where_it_can() -> None:
    """./scripts/setup builds the group when the machine has a C compiler and Python's headers
    (as CI's does): the tests and benchmarks then run the compiled modules."""
    why = _build_script().why_not_buildable()
    if why is not None:
        pytest.skip(f"no compiled build on this machine: {why}")
    status, *files = _module_files({k: v for k, v in os.environ.items() if k != _native.PURE_ENV})
    assert status == "compiled", f"{status}: run scripts/build-native"
    assert all(f.endswith(importlib.machinery.EXTENSION_SUFFIXES[0]) for f in files)


def test_the_build_key_covers_every_source_it_reads() -> None:
    """The sources of a build are the group's modules and every project module they import, so
    editing any of them makes the build stale."""
    build = _build_script()
    sources = {str(p.relative_to(ROOT / "customhouse")) for p in build.closure()}
    for name in _native.MODULES:
        assert name.removeprefix("customhouse.").replace(".", "/") + ".py" in sources
    assert {"misconfig/engine.py", "report/findings.py", "__init__.py", "_native.py"} <= sources


def test_compiled_and_pure_python_give_the_same_report(tmp_path: Path) -> None:
    """Every Dockerfile fixture of the checks, through the command line, both ways: byte for byte
    the same JSON report (with suppressions, fixes, snippets and the secret checks)."""
    from tests.misconfig.dockerfile.test_checks import CASES

    texts = [t for c in CASES for t in (c.fail, c.passing)]
    texts += [p.read_text() for p in sorted((FIXTURES / "data").iterdir())]
    assert len(texts) > 90
    tree = tmp_path / "tree"
    for i, text in enumerate(texts):
        dest = tree / f"{i:03d}" / "Dockerfile"
        dest.parent.mkdir(parents=True)
        dest.write_text(text)
    base = {k: v for k, v in os.environ.items() if k != _native.PURE_ENV}
    outs = []
    for env in (base, {**base, _native.PURE_ENV: "1"}):
        r = subprocess.run(
            [sys.executable, "-m", "customhouse", "config", str(tree), "-f", "json", "-q", "--jobs", "2"],
            capture_output=True,
            env={**env, "CUSTOMHOUSE_CACHE_DIR": str(tmp_path / "cache")},
            check=False,
        )
        assert r.returncode in (0, 1), r.stderr
        outs.append(r.stdout)
    assert outs[0].count(b'"CH-DF-') > 100
    assert outs[0] == outs[1]
