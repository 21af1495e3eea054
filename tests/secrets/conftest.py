"""Fixtures for the secret scanner: one scanner per backend per worker, test-string expansion."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from customhouse.secrets import Rule, Scanner, SecretConfig, load_rules
from customhouse.secrets.engine import normalize_path
from customhouse.secrets.rules import RuleTest
from customhouse.secrets.samples import expand, split_expected
from tests.conftest import TEST_CACHE

# The compiled Hyperscan database is kept here between runs and shared by xdist workers
# (written atomically); a fresh checkout compiles it once, in a few seconds.
HS_CACHE = TEST_CACHE / "secrets"
BACKENDS = ("hyperscan", "re")
DEFAULT_TEST_PATH = "srv/app/config.txt"


def config(backend: str = "hyperscan", **kw: object) -> SecretConfig:
    """A configuration for tests: nothing allowlisted by path unless asked, shared DB cache."""
    kw.setdefault("allow_paths", ())
    kw.setdefault("cache_dir", HS_CACHE)
    return SecretConfig(backend=backend, **kw)  # type: ignore[arg-type]


_SCANNERS: dict[str, Scanner] = {}


def scanner(backend: str) -> Scanner:
    if backend not in _SCANNERS:
        _SCANNERS[backend] = Scanner.create(config(backend))
        assert _SCANNERS[backend].backend == backend
    return _SCANNERS[backend]


@pytest.fixture(params=BACKENDS)
def any_scanner(request: pytest.FixtureRequest) -> Iterator[Scanner]:
    yield scanner(request.param)


def example_path(glob: str) -> str:
    """A concrete path that `glob` matches (for rules limited by `paths`)."""
    g = normalize_path(glob)
    return g.replace("**/", "").replace("/**", "/x").replace("**", "x").replace("*", "x").replace("?", "x")


@dataclass(frozen=True)
class Case:
    rule: Rule
    kind: str  # "positive" | "negative"
    index: int
    text: str
    path: str
    expected_secret: str | None
    validated: bool | None


def cases(rule: Rule, kind: str) -> list[Case]:
    tests: tuple[RuleTest, ...] = rule.positives if kind == "positive" else rule.negatives
    out = []
    for i, t in enumerate(tests):
        text, secret = split_expected(expand(t.text, f"{rule.id}:{kind}:{i}"))
        path = t.path or (example_path(rule.paths[0]) if rule.paths else DEFAULT_TEST_PATH)
        out.append(Case(rule, kind, i, text, path, secret, t.validated))
    return out


BUILTIN_RULES = load_rules()
RULE_IDS = [r.id for r in BUILTIN_RULES]


def rule_by_id(rid: str) -> Rule:
    return next(r for r in BUILTIN_RULES if r.id == rid)


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path
