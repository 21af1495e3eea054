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
    texts = _fixture_texts()
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


def _fixture_texts() -> list[str]:
    from tests.misconfig.dockerfile.test_checks import CASES

    return [t for c in CASES for t in (c.fail, c.passing)] + [
        p.read_text() for p in sorted((FIXTURES / "data").iterdir())
    ]


def test_parsed_dockerfiles_survive_pickling() -> None:
    """Workers send parsed documents to their parent pickled (`keep_documents`). The model's
    frozen dataclasses, compiled, cannot be rebuilt field by field; they are rebuilt through their
    constructors, and the checks find the same on the copy."""
    import pickle

    from customhouse.misconfig.engine import Options
    from customhouse.misconfig.runner import parse_document, run_checks

    def seen(doc: object) -> list[tuple[str, int, str, str]]:
        return [(f.id, f.location.line, f.message, f.fingerprint) for f in run_checks(doc, Options())]  # type: ignore[arg-type]

    total = 0
    for text in _fixture_texts():
        doc = parse_document(text, "Dockerfile", "dockerfile")
        back = pickle.loads(pickle.dumps(doc, protocol=pickle.HIGHEST_PROTOCOL))
        assert type(back.data) is type(doc.data)
        assert seen(back) == seen(doc)
        total += len(seen(doc))
    assert total > 100


_KEEP_SCRIPT = """
import json, sys
from pathlib import Path
from customhouse import _native
from customhouse.misconfig.runner import scan_tree
from customhouse.misconfig import dockerfile
got = scan_tree(Path(sys.argv[1]), jobs=2, keep_documents=True)
print(json.dumps({"status": _native.status(), "documents": len(got.documents),
                  "models": sum(isinstance(d.data, dockerfile.DockerfileModel) for d in got.documents),
                  "findings": len(got.findings)}))
"""


def test_a_parallel_scan_keeps_its_documents(tmp_path: Path) -> None:
    """Through the API in a fresh process, two workers, every parsed Dockerfile kept: the
    documents come back from the workers whole."""
    import json

    from customhouse.misconfig.runner import PARALLEL_MIN_FILES

    texts = _fixture_texts()
    n = max(PARALLEL_MIN_FILES * 2, len(texts))
    for i in range(n):
        dest = tmp_path / f"{i:03d}" / "Dockerfile"
        dest.parent.mkdir(parents=True)
        dest.write_text(texts[i % len(texts)])
    out = subprocess.run(
        [sys.executable, "-c", _KEEP_SCRIPT, str(tmp_path)], capture_output=True, text=True, check=True
    ).stdout
    got = json.loads(out)
    assert got["status"] == _native.status()
    from customhouse.misconfig.runner import scan_tree

    one = scan_tree(tmp_path, jobs=1)
    assert got["documents"] == got["models"] == sum(one.scanned.values()) >= n - 5
    assert got["findings"] == len(one.findings) > 100


_SIGNATURES_SCRIPT = """
import dataclasses, inspect, json
from customhouse.misconfig import dockerfile, engine, imageref, shell
from customhouse.report import findings
bad = []
classes = [
    shell.Word, shell.SimpleCommand, shell.Pipeline, shell.PackageOp, shell.ShellScript, shell._Ctx,
    dockerfile.Expanded, dockerfile.SourceMap, dockerfile.KeyValue, dockerfile.RunScript, dockerfile.Instruction,
    dockerfile.Stage, dockerfile.DockerfileModel, imageref.ImageRef,
    findings.Location, findings.MisconfigDetail, findings.Finding, engine.Violation,
]
for cls in classes:  # every field set, to its argument or default
    args = [f"{f.name}!" for f in dataclasses.fields(cls)]
    obj = cls(*args)
    if [getattr(obj, f.name) for f in dataclasses.fields(cls)] != args:
        bad.append((cls.__name__, "values"))
for cls in classes:
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    fields = dataclasses.fields(cls)
    if [p.name for p in params] != [f.name for f in fields]:
        bad.append((cls.__name__, "names"))
    for p, f in zip(params, fields):
        if f.default is not dataclasses.MISSING:
            ok = p.default == f.default
        elif f.default_factory is not dataclasses.MISSING:
            ok = p.default is None
        else:
            ok = p.default is inspect.Parameter.empty
        if not ok:
            bad.append((cls.__name__, f.name))
print(json.dumps({"classes": len(classes), "bad": bad}))
"""


def test_written_out_constructors_match_their_fields() -> None:
    """The hottest model classes write their `__init__` out (mypyc compiles it; the one
    `@dataclass` generates would run as Python), and so do the finding classes (stores into the
    instance dict are quicker than the generated `object.__setattr__` calls): the parameters must
    stay the dataclass's fields, in order, with the same defaults (None standing for a default
    factory), and each must set its own field."""
    import json

    out = subprocess.run(
        [sys.executable, "-c", _SIGNATURES_SCRIPT],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, _native.PURE_ENV: "1"},
    ).stdout
    got = json.loads(out)
    assert got == {"classes": 18, "bad": []}
