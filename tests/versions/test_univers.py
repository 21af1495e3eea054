"""univers (in the venv) against the same oracles: the evidence for not using it.

The project guide suggested univers' version classes; we use one only where it agrees with the
real tool on every pair. It does not for any scheme tried here (its PEP 440 class is packaging
itself, which we call directly), so univers stays out of the import path and these tests pin
the disagreements: if univers improves, they fail and the choice can be revisited.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

from tests.versions import oracles, realdata
from tests.versions.helpers import Pair, all_pairs, sampled_pairs

univers = pytest.importorskip("univers.versions")

EDGE: dict[str, list[str]] = {
    "dpkg": [
        "1.0",
        "1.0~rc1",
        "1.0-1",
        "1.0+b1",
        "1.0a",
        "1:0.1",
        "0:1.0",
        "1.0-0",
        "1.0~",
        "1.0~~",
        "1.00",
        "01.0",
        "1.0.0",
        "1.0-1~bpo1",
        "1.0-1ubuntu1",
        "2:1",
        "a1.0",
        "1.0-",
        "1.0:1",
        "1:1.0:1",
        "1.0-1-1",
        "1.0_1",
    ],
    "rpm": [
        "1.0",
        "1.0~rc1",
        "1.0^git1",
        "1.0-1",
        "1.0a",
        "1:0.1",
        "0:1.0",
        "1.0-0",
        "1.0~",
        "1.01",
        "1.0.0",
        "1.0-1.el9",
        "1.0-1.el9_1",
        "a",
        "1.0_1",
        "1..0",
        "1.0^",
        "1.0~^",
        ":1.0",
        "1.0-",
    ],
    "apk": [
        "1.0",
        "1.0-r0",
        "1.0-r1",
        "1.0_alpha",
        "1.0_beta2",
        "1.0_rc1",
        "1.0_p1",
        "1.0a",
        "1.0.1",
        "1.00",
        "1.01",
        "1.001",
        "1.0_rc1_p2",
        "1.0_git20200101",
        "1.0_pre",
        "1.0_cvs",
        "1.0-r",
        "1.",
        "1.2a3",
        "1.0~abc",
    ],
    "semver": [
        "1.0.0",
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-1",
        "1.0.0-01",
        "v1.0.0",
        "=1.0.0",
        "1.0.0beta",
        "1.0.0+b",
        "01.0.0",
        "1.0",
        "1.0.0-a.b.c",
        "1.0.0-a-b",
        "1.0.0--",
        "2.0.0-rc.10",
        "2.0.0-rc.9",
    ],
    "go": [
        "v1.0.0",
        "1.0.0",
        "v1",
        "v1.2",
        "v1.2.3-pre",
        "v1.2.3+incompatible",
        "v0.0.0-20191109021931-daa7c04131f5",
        "v1.2.4-0.20191109021931-daa7c04131f5",
        "v1.2-pre",
        "v01.2.3",
        "0",
        "v1.0.0-01",
        "v1.0.0-rc.1",
        "v2.0.0",
    ],
    "maven": [
        "1",
        "1.0",
        "1-alpha",
        "1-a1",
        "1.a1",
        "1-beta",
        "1-rc",
        "1-cr",
        "1-SNAPSHOT",
        "1-ga",
        "1.final",
        "1.release",
        "1-sp",
        "1.sp",
        "1-foo",
        "1-1",
        "1.1",
        "1.0.0.RC1",
        "1.sp.1",
        "1-0001",
        "2.0.x",
    ],
    "gem": [
        "1",
        "1.0",
        "1.0.0",
        "1.0.a",
        "1.0.b1",
        "1.0-rc1",
        "1.0.pre.rc1",
        "1.a.0.b",
        "1.a",
        "0",
        "",
        " 1.0 ",
        "1.0.A",
        "1.0.z",
        "1.0.0.1",
        "a1",
        "1..0",
        "1 0",
        "6 95.47a",
    ],
    "composer": [
        "1.0.0",
        "v1.0",
        "1.0.0-dev",
        "1.0.0-alpha1",
        "1.0.0-beta2",
        "1.0.0-b2",
        "1.0.0-RC1",
        "1.0.0-rc1",
        "1.0.0-patch1",
        "1.0.0-p1",
        "1.0.0-pl1",
        "1.0.1",
        "1.0.0+build",
        "1.0.x-dev",
        "dev-main",
        "2010-01-02",
        "1.0.0-stable",
        "1.0.0.0",
    ],
}

# (univers class, oracle, corpus name, rewrite of versions for the oracle)
CASES: dict[str, tuple[str, Callable[[Sequence[Pair]], list[str]], str]] = {
    "DebianVersion": ("DebianVersion", oracles.dpkg, "dpkg"),
    "RpmVersion": ("RpmVersion", oracles.rpm, "rpm"),
    "AlpineLinuxVersion": ("AlpineLinuxVersion", oracles.apk, "apk"),
    "SemverVersion": ("SemverVersion", lambda p: oracles.node_semver(p, loose=True), "semver"),
    "GolangVersion": ("GolangVersion", oracles.go_semver, "go"),
    "MavenVersion": ("MavenVersion", oracles.maven, "maven"),
    "RubygemsVersion": ("RubygemsVersion", oracles.rubygems, "gem"),
    "ComposerVersion": ("ComposerVersion", oracles.composer, "composer"),
}


def _univers_verdict(cls: type, a: str, b: str) -> str:
    try:
        va, vb = cls(a), cls(b)
        return "<" if va < vb else ">" if va > vb else "="
    except Exception:
        return "E"


def univers_disagreements(name: str) -> tuple[int, int]:
    cls_name, oracle, corpus = CASES[name]
    cls = getattr(univers, cls_name)
    versions = [v for v in EDGE[corpus] if v] if corpus == "apk" else EDGE[corpus]
    pairs = all_pairs(versions)
    if corpus == "go":
        oracle_pairs = [tuple(v if v.startswith("v") else "v" + v for v in p) for p in pairs]
        expected = oracle(oracle_pairs)  # type: ignore[arg-type]
    else:
        expected = oracle(pairs)
    bad = sum(1 for (a, b), exp in zip(pairs, expected, strict=True) if _univers_verdict(cls, a, b) != exp)
    return bad, len(pairs)


@pytest.mark.parametrize("name", sorted(CASES))
def test_univers_disagrees_with_the_real_tool(name: str) -> None:
    bad, total = univers_disagreements(name)
    print(f"univers {name}: {bad} of {total} pairs disagree with the oracle")
    assert bad > 0, f"univers {name} now agrees on all {total} pairs: consider it"


def test_univers_on_real_debian_versions() -> None:
    from customhouse.versions import scheme_for

    versions = realdata.dpkg_installed()
    pairs = sampled_pairs(versions, scheme_for("debian:12"), n_random=200)
    expected = oracles.dpkg(pairs)
    bad = sum(
        1 for (a, b), e in zip(pairs, expected, strict=True) if _univers_verdict(univers.DebianVersion, a, b) != e
    )
    print(f"univers DebianVersion on installed versions: {bad} of {len(pairs)} pairs disagree")
