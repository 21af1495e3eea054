"""Scheme selection, documented orderings, and the properties every key must have.

NuGet has no oracle on this machine (no .NET), so its tests here are the examples NuGet's
documentation gives plus order properties; the other schemes' examples pin decisions the
differential tests cannot (our refusals, our deliberate departures).
"""

from __future__ import annotations

import functools
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from customhouse.versions import VersionError, scheme_for
from tests.versions import strategies as vs
from tests.versions.helpers import DIFFERENTIAL


@pytest.mark.parametrize(
    ("ecosystem", "name"),
    [
        ("debian:12", "dpkg"),
        ("ubuntu:22.04", "dpkg"),
        ("alpine:3.20", "apk"),
        ("wolfi", "apk"),
        ("chainguard", "apk"),
        ("rhel:9", "rpm"),
        ("almalinux:9", "rpm"),
        ("rocky:9", "rpm"),
        ("centos:7", "rpm"),
        ("fedora:40", "rpm"),
        ("amzn:2023", "rpm"),
        ("ol:9", "rpm"),
        ("sles:15.6", "rpm"),
        ("opensuse:15.6", "rpm"),
        ("pypi", "pep440"),
        ("npm", "semver"),
        ("cargo", "semver"),
        ("golang", "go"),
        ("maven", "maven"),
        ("gem", "rubygems"),
        ("nuget", "nuget"),
        ("composer", "composer"),
    ],
)
def test_scheme_for(ecosystem: str, name: str) -> None:
    assert scheme_for(ecosystem).name == name


@pytest.mark.parametrize("ecosystem", ["", "debian", "alpine:", "PyPI", "go", "hex", "wolfi:1", "arch:rolling"])
def test_unknown_ecosystem(ecosystem: str) -> None:
    with pytest.raises(KeyError):
        scheme_for(ecosystem)


def test_npm_and_cargo_differ_in_leniency() -> None:
    assert scheme_for("npm").compare("v1.2.3", "1.2.3") == 0
    with pytest.raises(VersionError):
        scheme_for("cargo").key("v1.2.3")


def _ordered(ecosystem: str, versions: list[str]) -> None:
    scheme = scheme_for(ecosystem)
    for a, b in itertools.pairwise(versions):
        assert scheme.compare(a, b) == -1, (a, b)
        assert scheme.compare(b, a) == 1, (b, a)
        assert scheme.key(a) < scheme.key(b)


def test_documented_orders() -> None:
    _ordered("debian:12", ["1.0~rc1", "1.0", "1.0-1", "1.0a", "1.0+b1", "1:0.1"])
    _ordered("rhel:9", ["1.0~rc1", "1.0", "1.0-1", "1.0^git1", "1.0a", "1.1", "1:0.1"])
    _ordered("alpine:3.20", ["1.0_alpha", "1.0_beta2", "1.0_rc1", "1.0", "1.0-r1", "1.0_p1", "1.0a", "1.0.1"])
    _ordered("pypi", ["1.0.dev0", "1.0a1", "1.0rc1", "1.0", "1.0.post1", "1.1"])
    _ordered(
        "npm",
        [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
        ],
    )
    _ordered(
        "golang",
        [
            "v0.0.0-20191109021931-daa7c04131f5",
            "v1.2.3",
            "v1.2.4-0.20191109021931-daa7c04131f5",
            "v1.2.4",
            "v2.0.0+incompatible",
        ],
    )
    _ordered("maven", ["1-alpha-1", "1-beta", "1-milestone", "1-rc", "1-SNAPSHOT", "1", "1-sp", "1-foo", "1-1", "1.1"])
    _ordered("gem", ["1.0.a", "1.0.b1", "1.0.rc", "1.0", "1.0.1"])
    _ordered("composer", ["1.0.0-dev", "1.0.0-alpha1", "1.0.0-beta2", "1.0.0-RC1", "1.0.0", "1.0.0-patch1", "1.0.1"])


def test_documented_equalities() -> None:
    for eco, a, b in [
        ("debian:12", "1.0", "1.0-0"),
        ("debian:12", "0:1.0", "1.0"),
        ("rhel:9", "0:1.0-1", "1.0-1"),
        ("rhel:9", "1.01", "1.1"),
        ("npm", "1.0.0+build.1", "1.0.0+build.2"),
        ("cargo", "1.0.0+a", "1.0.0+b"),
        ("golang", "1.2.3", "v1.2.3"),
        ("golang", "v1", "v1.0.0"),
        ("golang", "v2.0.0+incompatible", "v2.0.0"),
        ("maven", "1.0.0", "1"),
        ("maven", "1-ga", "1.final"),
        ("maven", "1.cr", "1-RC"),
        ("gem", "1.0.0", "1"),
        ("gem", "1.0-rc1", "1.0.pre.rc1"),
        ("composer", "v1.0", "1.0.0.0"),
        ("composer", "1.0.0-b2", "1.0.0-beta2"),
        ("composer", "1.0.0+build", "1.0.0"),
        ("nuget", "1.0", "1.0.0.0"),
        ("nuget", "1.0.0-ALPHA", "1.0.0-alpha"),
        ("nuget", "1.0.0+meta", "1.0.0+other"),
    ]:
        scheme = scheme_for(eco)
        assert scheme.compare(a, b) == 0, (eco, a, b)
        assert scheme.key(a) == scheme.key(b), (eco, a, b)


def test_rubygems_zero_between_letter_runs() -> None:
    """A zero inside the pre-release part counts as padding only until a letter run follows it."""
    _ordered("gem", ["1.a.0.b", "1.a", "1.a.0.1"])
    assert scheme_for("gem").compare("1.a.0", "1.a") == 0


@pytest.mark.parametrize(
    ("ecosystem", "version"),
    [
        ("debian:12", "a1.0"),
        ("debian:12", "1.0-"),
        ("debian:12", "1.0 1"),
        ("debian:12", "1_0"),
        ("alpine:3.20", "1.0-r1a"),
        ("alpine:3.20", "1.0~abc"),
        ("alpine:3.20", "1.0_foo"),
        ("alpine:3.20", "1." + "9" * 18),
        ("pypi", "1.0-foo"),
        ("npm", "1.2"),
        ("npm", "1.2.3." + "0" * 260),
        ("npm", "9007199254740992.0.0"),
        ("cargo", "01.2.3"),
        ("cargo", "1.2.3-01"),
        ("golang", "v1.2-pre"),
        ("golang", "V1.2.3"),
        ("golang", "v01.2.3"),
        ("gem", "1.0 beta"),
        ("gem", "a1"),
        ("composer", "dev-main"),
        ("composer", "master"),
        ("composer", "not-a-version"),
        ("nuget", "1.0.0-01"),
        ("nuget", "1.0.0-"),
        ("nuget", "1.2.3.4.5"),
        ("nuget", "v1.0.0"),
        ("nuget", "2147483648.0"),
    ],
)
def test_invalid(ecosystem: str, version: str) -> None:
    scheme = scheme_for(ecosystem)
    with pytest.raises(VersionError):
        scheme.key(version)
    with pytest.raises(VersionError):
        scheme.compare("1.0.0", version)


def test_non_string_is_a_version_error() -> None:
    for eco in ("debian:12", "maven", "npm"):
        with pytest.raises(VersionError):
            scheme_for(eco).key(None)  # type: ignore[arg-type]


def test_maven_order_is_not_transitive_and_keys_follow_maven() -> None:
    """Maven 3.8.7 itself answers "1.sp.1" < "1-alpha" < "1" < "1.sp.1" (see test_differential
    for the oracle); our keys answer the same, pair by pair, instead of inventing a total order."""
    m = scheme_for("maven")
    a, b, c = (m.key(v) for v in ("1.sp.1", "1-alpha", "1"))
    assert a < b
    assert b < c
    assert c < a
    assert m.compare("1.sp.1", "1-alpha") == -1 and m.compare("1", "1.sp.1") == -1


def test_npm_large_prerelease_numbers_compare_exactly() -> None:
    """node-semver rounds identifiers above 2^53; we keep SemVer 2.0's exact order (documented)."""
    npm = scheme_for("npm")
    assert npm.compare("1.0.0-9007199254740993", "1.0.0-9007199254740992") == 1


def test_nuget_documented_examples() -> None:
    """From NuGet's package versioning documentation: pre-release ordering and normalization."""
    _ordered(
        "nuget",
        [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
            "1.0.0.1",
            "1.0.1",
        ],
    )
    _ordered("nuget", ["1.0.0-1", "1.0.0-2", "1.0.0-10", "1.0.0-a"])
    nuget = scheme_for("nuget")
    assert nuget.compare("1.0.0-Beta", "1.0.0-beta") == 0
    assert nuget.compare("01.02.03", "1.2.3") == 0
    assert nuget.compare("1", "1.0.0") == 0
    assert nuget.compare(" 1.0.0 ", "1.0.0") == 0


@settings(DIFFERENTIAL, max_examples=300)
@given(st.lists(vs.nuget_version, min_size=3, max_size=3))
def test_nuget_order_properties(vs3: list[str]) -> None:
    _check_order("nuget", vs3)


@settings(DIFFERENTIAL, max_examples=150)
@given(
    st.sampled_from(["debian:12", "rhel:9", "alpine:3.20", "npm", "cargo", "golang", "gem", "composer"]).flatmap(
        lambda eco: st.tuples(
            st.just(eco),
            st.lists(
                {
                    "debian:12": vs.dpkg_version,
                    "rhel:9": vs.rpm_version,
                    "alpine:3.20": vs.apk_version,
                    "npm": vs.npm_version,
                    "cargo": vs.cargo_version,
                    "golang": vs.go_version,
                    "gem": vs.gem_version,
                    "composer": vs.composer_version,
                }[eco],
                min_size=3,
                max_size=3,
            ),
        )
    )
)
def test_order_properties(case: tuple[str, list[str]]) -> None:
    _check_order(*case)


def _check_order(ecosystem: str, versions: list[str]) -> None:
    """Antisymmetry, transitivity and key/compare agreement on whichever of the versions are valid."""
    scheme = scheme_for(ecosystem)
    valid = []
    for v in versions:
        try:
            scheme.key(v)
            valid.append(v)
        except VersionError:
            pass
    for a, b in itertools.product(valid, repeat=2):
        c = scheme.compare(a, b)
        assert c in (-1, 0, 1)
        assert scheme.compare(b, a) == -c
        ka, kb = scheme.key(a), scheme.key(b)
        assert (ka > kb) - (ka < kb) == c
    ordered = sorted(valid, key=functools.cmp_to_key(scheme.compare))
    for a, b in itertools.pairwise(ordered):
        assert scheme.compare(a, b) <= 0
    for a, b, c in itertools.permutations(valid, 3):
        if scheme.compare(a, b) <= 0 and scheme.compare(b, c) <= 0:
            assert scheme.compare(a, c) <= 0, (a, b, c)


def test_keys_are_cached() -> None:
    scheme = scheme_for("debian:12")
    assert scheme.key("1:2.3-4") is scheme.key("1:2.3-4")
