"""Run our schemes against an oracle's verdicts and report every disagreement at once."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterable, Sequence

from hypothesis import HealthCheck, settings

from customhouse.versions import Scheme, VersionError

Pair = tuple[str, str]
Oracle = Callable[[Sequence[Pair]], list[str]]

# Reproducible in CI: a fixed derivation of examples, no example database.
DIFFERENTIAL = settings(
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)


def ours(scheme: Scheme, a: str, b: str) -> str:
    """Our verdict; VersionError is "E", any other exception fails the test."""
    try:
        return "<=>"[scheme.compare(a, b) + 1]
    except VersionError:
        return "E"


def all_pairs(pool: Sequence[str]) -> list[Pair]:
    return [(a, b) for a in pool for b in pool]


def sampled_pairs(versions: Sequence[str], scheme: Scheme, n_random: int, seed: int = 0) -> list[Pair]:
    """Neighbours in our order (where a wrong order shows first) plus seeded random pairs."""
    valid = []
    for v in versions:
        try:
            scheme.key(v)
            valid.append(v)
        except VersionError:
            pass
    valid.sort(key=scheme.key)
    pairs = list(itertools.pairwise(valid))
    rng = random.Random(seed)
    pairs += [(rng.choice(versions), rng.choice(versions)) for _ in range(n_random)]
    return pairs


def disagreements(scheme: Scheme, pairs: Sequence[Pair], expected: Iterable[str]) -> list[tuple[str, str, str, str]]:
    """[(a, b, oracle, ours)] for every pair where we differ from the oracle."""
    out = []
    for (a, b), exp in zip(pairs, expected, strict=True):
        got = ours(scheme, a, b)
        if got != exp:
            out.append((a, b, exp, got))
    return out


def assert_agrees(
    scheme: Scheme, oracle: Oracle, pairs: Sequence[Pair], oracle_pairs: Sequence[Pair] | None = None
) -> None:
    """Compare every pair with the oracle (which may see rewritten pairs, e.g. with a "v" added)."""
    expected = oracle(oracle_pairs if oracle_pairs is not None else pairs)
    bad = disagreements(scheme, pairs, expected)
    assert not bad, f"{len(bad)} of {len(pairs)} pairs disagree with the oracle, e.g. {bad[:10]}"


def assert_pool_agrees(
    scheme: Scheme, oracle: Oracle, pool: Sequence[str], rewrite: Callable[[str], str] | None = None
) -> int:
    """Validity of every version (the oracle on (v, v)), then every ordered pair of valid ones.

    Checking validity first keeps invalid strings from turning most pairs into "E" verdicts;
    `rewrite` maps a version to what the oracle must be given for it. Returns the pair count.
    """
    pool = list(pool)
    fix = rewrite or (lambda v: v)
    verdicts = oracle([(fix(v), fix(v)) for v in pool])
    bad = [(v, exp) for v, exp in zip(pool, verdicts, strict=True) if ours(scheme, v, v) != exp]
    assert not bad, f"validity differs from the oracle for {bad[:10]}"
    valid = [v for v, exp in zip(pool, verdicts, strict=True) if exp != "E"]
    pairs = all_pairs(valid)
    assert_agrees(scheme, oracle, pairs, [(fix(a), fix(b)) for a, b in pairs])
    return len(pool) + len(pairs)
