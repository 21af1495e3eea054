"""Our schemes against the real implementations, pair by pair, on generated and real versions.

Each hypothesis example is a pool of versions aimed at one scheme's edge cases; all ordered
pairs of the pool (including a version with itself) go to the oracle in one batch. The oracle's
"E" (it rejects a version) must be our VersionError, and any other difference is our bug.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from customhouse.versions import VersionError, scheme_for
from customhouse.versions.semver import MAX_SAFE_INTEGER
from tests.versions import oracles
from tests.versions import strategies as vs
from tests.versions.helpers import DIFFERENTIAL, all_pairs, assert_agrees, assert_pool_agrees, ours


def pool(strategy: st.SearchStrategy[str], size: int) -> st.SearchStrategy[list[str]]:
    return st.lists(strategy, min_size=size, max_size=size, unique=True)


@settings(DIFFERENTIAL, max_examples=8)
@given(st.one_of(vs.dpkg_family, pool(vs.dpkg_version.filter(lambda v: v.strip(" \t") != ""), 20)))
def test_dpkg(versions: list[str]) -> None:
    assert_pool_agrees(scheme_for("debian:12"), oracles.dpkg, versions)


@settings(DIFFERENTIAL, max_examples=12)
@given(st.one_of(vs.rpm_family, pool(vs.rpm_version, 40)))
def test_rpm(versions: list[str]) -> None:
    assert_pool_agrees(scheme_for("rhel:9"), oracles.rpm, versions)


def _apk_safe(v: str) -> bool:
    return v != "" and not any(c.isspace() for c in v)


@settings(DIFFERENTIAL, max_examples=12)
@given(st.one_of(vs.apk_family.map(lambda f: f[:14]), pool(vs.apk_version.filter(_apk_safe), 10)))
def test_apk(versions: list[str]) -> None:
    scheme = scheme_for("alpine:3.20")
    invalid = oracles.apk_invalid(versions)
    assert {v for v in versions if ours(scheme, v, v) == "E"} == invalid
    valid = [v for v in versions if v not in invalid]
    # apk compares invalid strings too (by partial tokens); only valid pairs have a meaning.
    assert_agrees(scheme, oracles.apk, all_pairs(valid))


@settings(DIFFERENTIAL, max_examples=12)
@given(st.one_of(vs.npm_family, pool(vs.npm_version, 40)))
def test_npm(versions: list[str]) -> None:
    assert_pool_agrees(scheme_for("npm"), lambda p: oracles.node_semver(p, loose=True), versions)


@settings(DIFFERENTIAL, max_examples=12)
@given(st.one_of(vs.cargo_family, pool(vs.cargo_version, 40)))
def test_cargo_against_semver_crate(versions: list[str]) -> None:
    assert_pool_agrees(scheme_for("cargo"), oracles.cargo_semver, versions)


def _node_safe(v: str) -> bool:
    """node's numbers stop being exact at 2^53; beyond it node and SemVer 2.0 part ways."""
    core, _, rest = v.partition("-")
    numbers = [p for p in core.split("+")[0].split(".") + rest.split("+")[0].split(".") if p.isdigit()]
    return all(int(n) < MAX_SAFE_INTEGER for n in numbers) and not v.startswith("v")


@settings(DIFFERENTIAL, max_examples=8)
@given(st.one_of(vs.cargo_family, pool(vs.cargo_version, 40)))
def test_cargo_order_matches_node_strict(versions: list[str]) -> None:
    """Second opinion on precedence: node-semver in strict mode, on versions Cargo accepts."""
    cargo = scheme_for("cargo")
    valid = [v for v in versions if ours(cargo, v, v) != "E" and _node_safe(v)]
    assert_agrees(cargo, lambda p: oracles.node_semver(p, loose=False), all_pairs(valid))


def _with_v(v: str) -> str:
    return v if v.startswith("v") else "v" + v


@settings(DIFFERENTIAL, max_examples=12)
@given(st.one_of(vs.go_family, pool(vs.go_version, 40)))
def test_go(versions: list[str]) -> None:
    assert_pool_agrees(scheme_for("golang"), oracles.go_semver, versions, rewrite=_with_v)


@settings(DIFFERENTIAL, max_examples=10)
@given(st.one_of(vs.maven_family, pool(vs.maven_version.filter(lambda v: v.strip() != ""), 40)))
def test_maven(versions: list[str]) -> None:
    assert_pool_agrees(scheme_for("maven"), oracles.maven, versions)


@settings(DIFFERENTIAL, max_examples=12)
@given(st.one_of(vs.gem_family, pool(vs.gem_version, 40)))
def test_rubygems(versions: list[str]) -> None:
    assert_pool_agrees(scheme_for("gem"), oracles.rubygems, versions)


@settings(DIFFERENTIAL, max_examples=12)
@given(st.one_of(vs.composer_family, pool(vs.composer_version, 40)))
def test_composer(versions: list[str]) -> None:
    assert_pool_agrees(scheme_for("composer"), oracles.composer, versions)


@pytest.mark.parametrize("version", ["", " ", "\t"])
@pytest.mark.parametrize("ecosystem", ["debian:12", "maven"])
def test_blank_versions_raise_where_tools_have_a_special_case(ecosystem: str, version: str) -> None:
    """dpkg treats "" as "no version", Maven as "0": as data, blank means broken, so we refuse."""
    with pytest.raises(VersionError):
        scheme_for(ecosystem).key(version)


def test_rpm_refuses_only_what_rpm_refuses() -> None:
    with pytest.raises(VersionError):
        scheme_for("rhel:9").key("")
    assert oracles.rpm([("", "1")]) == ["E"]
    # rpm takes " " as a version made of one separator; so do we.
    assert oracles.rpm([(" ", "1")]) == [ours(scheme_for("rhel:9"), " ", "1")] == ["<"]
