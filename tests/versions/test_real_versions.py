"""Versions that exist: this machine's dpkg database, Alpine's secdb and minirootfs databases,
and the OSV feeds in ../shared/data, each checked against the ecosystem's own tool.

Pairs are neighbours in our order (a wrong order shows there first) plus seeded random pairs.
"""

from __future__ import annotations

import random

from packaging.version import InvalidVersion, Version

from customhouse.versions import VersionError, scheme_for
from tests.versions import oracles, realdata
from tests.versions.helpers import assert_agrees, ours, sampled_pairs


def test_dpkg_installed_versions() -> None:
    versions = realdata.dpkg_installed()
    assert len(versions) > 50
    scheme = scheme_for("debian:12")
    for v in versions:
        scheme.key(v)  # dpkg installed them, so they must be valid
    assert_agrees(scheme, oracles.dpkg, sampled_pairs(versions, scheme, n_random=200))


def test_alpine_secdb_and_installed_versions() -> None:
    versions = realdata.alpine_versions()
    assert len(versions) > 1000
    scheme = scheme_for("alpine:3.20")
    invalid = oracles.apk_invalid(versions)
    assert {v for v in versions if ours(scheme, v, v) == "E"} == invalid
    rng = random.Random(1)
    valid = [v for v in versions if v not in invalid]
    subset = rng.sample(valid, 500)
    assert_agrees(scheme, oracles.apk, sampled_pairs(subset, scheme, n_random=150))


def test_go_advisory_versions() -> None:
    versions = realdata.osv_versions("Go")
    assert len(versions) > 1000
    scheme = scheme_for("golang")
    pairs = sampled_pairs(versions, scheme, n_random=2000)

    def v(s: str) -> str:
        return s if s.startswith("v") else "v" + s

    assert_agrees(scheme, oracles.go_semver, pairs, [(v(a), v(b)) for a, b in pairs])


def test_pypi_advisory_versions_match_packaging() -> None:
    """Our PEP 440 scheme is packaging; check the wrapper keeps every verdict and refusal."""
    versions = realdata.osv_versions("PyPI")
    assert len(versions) > 1000
    scheme = scheme_for("pypi")
    valid: list[str] = []
    for s in versions:
        try:
            ref = Version(s)
        except InvalidVersion:
            assert ours(scheme, s, s) == "E", s
            continue
        assert scheme.key(s) == ref
        valid.append(s)
    assert len(valid) > 1000
    rng = random.Random(2)
    for a, b in [(rng.choice(valid), rng.choice(valid)) for _ in range(5000)]:
        va, vb = Version(a), Version(b)
        assert scheme.compare(a, b) == (va > vb) - (va < vb)
    for bad in ("1.0-foo", "not a version", "", "1..0", "v"):
        try:
            Version(bad)
        except InvalidVersion:
            pass
        else:
            continue
        try:
            scheme.key(bad)
        except VersionError:
            continue
        raise AssertionError(f"{bad!r} accepted")
