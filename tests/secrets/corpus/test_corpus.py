"""Issue 6 quality bars: recall on a corpus of planted secrets, false positives on clean text.

The corpus is built by `build.py` into the test cache (once per rules file). Recall counts a
plant found when its file yields a finding of the plant's rule with the planted secret
(whitespace aside: a PEM block indented in YAML is reported with its indentation). False
positives are every finding on the clean set, scanned twice: with nothing skipped by path
(`allow_paths=()`: how good the rules themselves are) and with the default configuration
(what users get: test suites, node_modules and docs are skipped by path).
"""

from __future__ import annotations

import collections
from collections.abc import Iterable
from pathlib import Path

import pytest

from customhouse.secrets import Scanner, SecretConfig, SecretMatch, fingerprint
from customhouse.secrets.targets import scan_directory
from tests.conftest import bookworm_rootfs
from tests.secrets.conftest import BACKENDS, BUILTIN_RULES, HS_CACHE
from tests.secrets.corpus.build import Plant, load_plants, npm_node_modules, planted_corpus, stdlib_dir, walk

RECALL_BAR = 0.99
# Measured (see docs/benchmarks.md, "Secrets"): 58 findings with nothing skipped by path
# (stdlib 24: its test suite's keys and netrc fixtures; node_modules 34: README examples and
# minified code matched by the generic detectors; bookworm 0), 1 with the default configuration.
# Bounds leave a small margin for drift in npm's transitive dependencies.
FP_BOUND_UNFILTERED = 64
FP_BOUND_DEFAULT = 3

_SCANNERS: dict[tuple[str, bool], Scanner] = {}


def _scanner(backend: str = "hyperscan", default_paths: bool = True) -> Scanner:
    key = (backend, default_paths)
    if key not in _SCANNERS:
        kw: dict[str, object] = {} if default_paths else {"allow_paths": ()}
        _SCANNERS[key] = Scanner.create(SecretConfig(backend=backend, cache_dir=HS_CACHE, **kw))  # type: ignore[arg-type]
    return _SCANNERS[key]


def _squash(s: str) -> str:
    return "".join(s.split())


def _found(p: Plant, matches: list[SecretMatch]) -> bool:
    return any(m.rule_id == p.rule_id and (p.secret is None or _squash(m.secret) == _squash(p.secret)) for m in matches)


def _recall(sc: Scanner, corpus: Path, plants: list[Plant]) -> tuple[int, list[Plant]]:
    results: dict[tuple[str, str], list[SecretMatch]] = {}
    for p in plants:
        if (p.root, p.path) not in results:
            results[(p.root, p.path)] = sc.scan_file(corpus / p.root / p.path, p.path)
    misses = [p for p in plants if not _found(p, results[(p.root, p.path)])]
    return len(plants) - len(misses), misses


def _describe_misses(misses: list[Plant]) -> str:
    return "\n".join(f"  {p.rule_id} [{p.context}] {p.root}/{p.path}: {p.text[:60]!r}..." for p in misses)


@pytest.fixture(scope="module")
def corpus() -> Path:
    return planted_corpus()


@pytest.fixture(scope="module")
def plants(corpus: Path) -> list[Plant]:
    return load_plants(corpus)


def test_corpus_plants_every_rule_in_varied_contexts(plants: list[Plant]) -> None:
    direct = [p for p in plants if p.context != "k8s-secret-base64"]
    assert {p.rule_id for p in direct} == {r.id for r in BUILTIN_RULES}
    contexts = collections.Counter(p.context for p in direct)
    assert len(contexts) >= 10, contexts
    assert min(contexts.values()) >= 30, contexts
    assert len(direct) >= 1000
    assert any(p.path.count("/") >= 8 for p in direct)  # files at depth


@pytest.mark.parametrize("backend", BACKENDS)
def test_recall_on_planted_secrets(corpus: Path, plants: list[Plant], backend: str) -> None:
    direct = [p for p in plants if p.context != "k8s-secret-base64"]
    hits, misses = _recall(_scanner(backend), corpus, direct)
    recall = hits / len(direct)
    print(f"{backend}: recall {hits}/{len(direct)} = {recall:.4f}\n{_describe_misses(misses)}")
    assert recall >= RECALL_BAR, (
        f"recall {recall:.4f} < {RECALL_BAR} ({len(misses)} of {len(direct)} missed):\n{_describe_misses(misses)}"
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_recall_on_base64_in_kubernetes_secrets(corpus: Path, plants: list[Plant], backend: str) -> None:
    """Every planted text, base64-encoded in a Secret's `data`, scanned as `customhouse fs` (and
    `config`) scan a manifest: `targets.scan_directory` decodes the Secret's values."""
    b64 = [p for p in plants if p.context == "k8s-secret-base64"]
    assert len(b64) >= 500
    sc = _scanner(backend)
    misses = []
    for p in b64:
        found = scan_directory(corpus / p.root, sc).findings
        want = fingerprint(p.rule_id, p.secret) if p.secret is not None else None
        decoded = [f for f in found if f.secret is not None and f.secret.origin == "k8s-secret"]
        if not any(f.id == p.rule_id and (want is None or f.fingerprint == want) for f in decoded):
            misses.append(p)
    recall = (len(b64) - len(misses)) / len(b64)
    print(f"{backend}: base64 recall {len(b64) - len(misses)}/{len(b64)} = {recall:.4f}\n{_describe_misses(misses)}")
    assert recall >= RECALL_BAR, _describe_misses(misses)


def _clean_sources() -> list[tuple[str, Iterable[tuple[Path, str]]]]:
    """The three clean sources the issue names, all of them: a false-positive bound measured on
    a part of the corpus would claim more than it measured. scripts/setup installs debootstrap
    and npm, so a source that cannot be built is a failure, not a smaller corpus."""
    skip = frozenset({"site-packages", "dist-packages", "__pycache__"})
    try:
        return [
            ("bookworm", walk(bookworm_rootfs())),
            ("stdlib", walk(stdlib_dir(), "usr/lib/python3.11/", skip)),
            ("node_modules", walk(npm_node_modules(), "srv/app/node_modules/")),
        ]
    except pytest.skip.Exception as exc:
        pytest.fail(f"clean corpus incomplete: {exc}")


@pytest.fixture(scope="module")
def clean_files() -> list[tuple[str, Path, str]]:
    files = [(name, f, shown) for name, it in _clean_sources() for f, shown in it]
    return files


@pytest.mark.parametrize(("default_paths", "bound"), [(False, FP_BOUND_UNFILTERED), (True, FP_BOUND_DEFAULT)])
def test_false_positives_on_clean_text(
    clean_files: list[tuple[str, Path, str]], default_paths: bool, bound: int
) -> None:
    sc = _scanner(default_paths=default_paths)
    found: list[tuple[str, SecretMatch]] = []
    for name, f, shown in clean_files:
        try:
            found.extend((name, m) for m in sc.scan_file(f, shown))
        except OSError:  # unreadable (permissions), vanished
            continue
    per_source = collections.Counter(name for name, _ in found)
    listing = "\n".join(f"  [{n}] {m.rule_id} {m.path}:{m.line} {m.redacted_match[:80]!r}" for n, m in found)
    sources = sorted({n for n, _, _ in clean_files})
    print(f"{len(clean_files)} clean files ({', '.join(sources)}): {len(found)} findings {dict(per_source)}\n{listing}")
    assert len(found) <= bound, f"{len(found)} false positives > {bound} ({dict(per_source)}):\n{listing}"
