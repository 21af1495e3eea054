"""Hypothesis strategies aimed at each scheme's edge cases, plus a little noise for validity."""

from __future__ import annotations

from hypothesis import strategies as st

S = st.SearchStrategy


def joined(*parts: S[str]) -> S[str]:
    return st.tuples(*parts).map("".join)


def opt(s: S[str]) -> S[str]:
    return st.one_of(st.just(""), s)


def seq(item: S[str], sep: S[str], max_size: int = 4, min_size: int = 1) -> S[str]:
    """item (sep item)*, with separators drawn independently."""
    return st.lists(st.tuples(sep, item), min_size=min_size - 1, max_size=max_size - 1).flatmap(
        lambda rest: item.map(lambda first: first + "".join(s + i for s, i in rest))
    )


small = st.integers(0, 12).map(str)
digits = st.one_of(
    small,
    small,
    small,
    st.sampled_from(["0", "00", "01", "007", "10", "99", "100"]),
    st.integers(0, 10**20).map(str),
)
zdigits = st.one_of(digits, digits.map(lambda d: "0" + d))

# dpkg: epoch, upstream with ~ + . - :, revision; and characters dpkg refuses.
dpkg_epoch = st.sampled_from(
    ["", "", "", "1:", "0:", "01:", "2:", "+2:", "-0:", "-1:", "a:", ":", "2147483647:", "2147483648:"]
)
dpkg_chunk = st.one_of(
    zdigits, st.sampled_from(["~", "~~", "+", ".", "a", "b", "Z", "~rc", "+dfsg", ".1", "-", ":", "~~a"])
)
dpkg_upstream = joined(st.sampled_from("0123456789"), st.lists(dpkg_chunk, max_size=5).map("".join))
dpkg_revision = opt(
    joined(
        st.just("-"),
        st.lists(st.one_of(zdigits, st.sampled_from(["~", "+", ".", "a", "ubuntu", "deb12u"])), max_size=4).map(
            "".join
        ),
    )
)
dpkg_noise = st.text(alphabet="0123456789.~+-:abA_ é\t", min_size=1, max_size=8)
dpkg_clean_chunk = st.one_of(
    zdigits, st.sampled_from(["~", "~~", "+", ".", "a", "b", "Z", "~rc", "+dfsg", ".1", "~~a"])
)
dpkg_clean = joined(
    st.sampled_from(["", "", "", "1:", "0:", "2:"]),
    st.sampled_from("0123456789"),
    st.lists(dpkg_clean_chunk, max_size=5).map("".join),
    opt(
        joined(
            st.just("-"),
            st.lists(
                st.one_of(zdigits, st.sampled_from(["~", "+", ".", "a", "ubuntu", "deb12u"])), min_size=1, max_size=4
            ).map("".join),
        )
    ),
)
dpkg_structured = joined(dpkg_epoch, dpkg_upstream, dpkg_revision)
dpkg_version = st.one_of(dpkg_clean, dpkg_clean, dpkg_clean, dpkg_structured, dpkg_noise)

# rpm: anything goes; stress ~ ^, separators, epochs, releases.
rpm_chunk = st.one_of(
    zdigits, st.sampled_from(["~", "^", ".", "-", "_", "+", "a", "b", "Z", "rc", "git", "el9", "é", " ", ":"])
)
rpm_version = st.one_of(
    joined(
        st.sampled_from(["", "", "1:", "0:", "00:", ":", "a:", "10:"]),
        st.lists(rpm_chunk, min_size=1, max_size=7).map("".join),
    ),
    st.text(alphabet="0123456789.~^-:aZ_", min_size=1, max_size=8),
)

# apk: the grammar, slightly bent.
apk_suffix = st.sampled_from(
    ["alpha", "beta", "pre", "rc", "cvs", "svn", "git", "hg", "p", "", "foo", "pp", "r", "rcx"]
)
apk_version = st.one_of(
    joined(
        seq(st.one_of(small, st.sampled_from(["0", "00", "01", "001", "010", "9" * 17, "9" * 18])), st.just("."), 4),
        opt(st.sampled_from("abz")),
        st.lists(joined(st.just("_"), apk_suffix, opt(small)), max_size=2).map("".join),
        opt(st.sampled_from(["~abc", "~0f", "~", "~X"])),
        opt(joined(st.sampled_from(["-r", "-r", "-", "-x"]), opt(small))),
    ),
    st.text(alphabet="0123456789._-rpa~A", min_size=1, max_size=7),
)

# node-semver (loose) and SemVer 2.0 (strict) share pieces.
_ident = st.one_of(
    st.sampled_from(["alpha", "beta", "rc", "a", "b", "pre", "x-y", "-", "--", "0a", "a0", "A", "Z"]),
    st.integers(0, 2**53 - 2).map(str),
    small,
    st.sampled_from(["01", "00", "0"]),
)
semver_core = joined(zdigits, st.just("."), zdigits, st.just("."), zdigits)
semver_pre = opt(joined(st.sampled_from(["-", "-", "", "."]), seq(_ident, st.just("."), 3)))
semver_build = opt(joined(st.just("+"), seq(st.sampled_from(["build", "001", "x-y", "sha.1", "0"]), st.just("."), 2)))
_npm_structured = joined(
    st.sampled_from(["", "", "", "v", "=", "v=", " ", "=v ", "\u00a0", "\ufeff", "\x1c", "V"]),
    semver_core,
    semver_pre,
    semver_build,
    st.sampled_from(["", "", " ", "\n"]),
)
npm_version = st.one_of(
    _npm_structured,
    _npm_structured,
    joined(
        st.sampled_from(["", "", "", "v", "=", "v=", " ", "=v ", "\u00a0", "\ufeff", "\x1c", "V"]),
        semver_core,
        semver_pre,
        semver_build,
        st.sampled_from(["", "", " ", "\n"]),
    ),
    joined(small, st.just("."), small, st.just("."), st.integers(2**53 - 3, 2**53 + 3).map(str)),
    st.text(alphabet="0123456789.-+vaZ", min_size=1, max_size=9),
)
cargo_version = st.one_of(
    joined(semver_core, semver_pre, semver_build),
    joined(small, st.just("."), small, st.just("."), small, semver_pre, semver_build),
    joined(small, st.just("."), small, st.just("."), small, semver_pre, semver_build),
    joined(small, st.just("."), small, st.just("."), st.integers(2**64 - 3, 2**64 + 3).map(str)),
    st.text(alphabet="0123456789.-+a", min_size=1, max_size=9),
)

# Go: with and without "v", short forms, pseudo-versions, +incompatible.
go_pseudo = st.builds(
    lambda base, ts, sha: f"{base}{ts}-{sha}",
    st.sampled_from(["v0.0.0-", "v1.2.4-0.", "v1.2.3-pre.0.", "v2.0.0-rc.1.0.", "v1.2.4-"]),
    st.integers(20180101000000, 20251231235959).map(str),
    st.sampled_from(["abcdef123456", "daa7c04131f5", "000000000000"]),
)
go_version = st.one_of(
    joined(
        st.sampled_from(["v", "v", ""]), semver_core, semver_pre, st.sampled_from(["", "", "+incompatible", "+meta.1"])
    ),
    joined(st.sampled_from(["v", ""]), zdigits, opt(joined(st.just("."), zdigits))),
    go_pseudo,
    go_pseudo.map(lambda p: p + "+incompatible"),
    st.text(alphabet="v0123456789.-+a", min_size=1, max_size=9),
)

# Maven: numbers, qualifiers (and their aliases and shorthands), '.', '-' and transitions.
maven_item = st.one_of(
    zdigits,
    st.sampled_from(
        [
            "alpha",
            "a",
            "beta",
            "b",
            "milestone",
            "m",
            "rc",
            "cr",
            "snapshot",
            "SNAPSHOT",
            "ga",
            "final",
            "release",
            "sp",
            "foo",
            "RC",
            "Final",
            "GA",
            "x",
            "",
            "\u0661",
            "\u0660\u0661",
        ]
    ),
)
maven_version = st.one_of(
    seq(maven_item, st.sampled_from([".", "-", "", "_"]), 6),
    st.text(alphabet="0123456789.-abcmrs", min_size=1, max_size=10),
)

# RubyGems.
gem_seg = st.one_of(zdigits, st.sampled_from(["a", "b", "pre", "rc", "beta", "Z", "x0", "0x", "a1b2"]))
gem_version = st.one_of(
    joined(
        st.sampled_from(["", "", " ", "\t"]),
        zdigits,
        st.lists(joined(st.just("."), gem_seg), max_size=4).map("".join),
        opt(joined(st.just("-"), seq(gem_seg, st.sampled_from([".", "-"]), 3))),
        st.sampled_from(["", "", " ", "\n"]),
    ),
    st.text(alphabet="0123456789.-aZ _", min_size=0, max_size=8),
)

# Composer.
composer_mod = opt(
    joined(
        st.sampled_from(["", "-", ".", "_"]),
        st.sampled_from(["stable", "beta", "b", "RC", "rc", "alpha", "a", "patch", "pl", "p", "STABLE", "Beta", "foo"]),
        opt(joined(st.sampled_from(["", ".", "-"]), small)),
    )
)
composer_version = st.one_of(
    joined(
        st.sampled_from(["", "", "v", "V"]),
        seq(st.one_of(small, st.sampled_from(["123456", "00", "99999999999999999999"])), st.just("."), 4),
        composer_mod,
        st.sampled_from(["", "", "-dev", ".dev", "dev"]),
        st.sampled_from(["", "", "+build.1", "@stable", "@dev", " as 1.0.0"]),
    ),
    joined(
        st.sampled_from(["", "v"]), st.sampled_from(["2010", "20100102", "2010-01-02", "201001021530"]), composer_mod
    ),
    st.sampled_from(
        ["dev-master", "master", "trunk", "1.x-dev", "2.0.x-dev", "v1.*-dev", "dev-feature/x", "1.0-dev", "x-dev"]
    ),
    st.text(alphabet="0123456789.-vaxdeb", min_size=1, max_size=9),
)

# NuGet.
nuget_label = st.one_of(
    st.sampled_from(["alpha", "Alpha", "ALPHA", "beta", "rc", "-1", "-", "01", "0", "a-b"]),
    small,
    st.integers(2**31 - 2, 2**31 + 2).map(str),
)
nuget_version = st.one_of(
    joined(
        seq(st.one_of(small, st.sampled_from(["01", "2147483647", "2147483648"])), st.just("."), 5),
        opt(joined(st.just("-"), seq(nuget_label, st.just("."), 3))),
        opt(joined(st.just("+"), seq(st.sampled_from(["meta", "01", "x-y", ""]), st.just("."), 2))),
    ),
    st.text(alphabet="0123456789.-+aA ", min_size=1, max_size=9),
)


def family(prefix: S[str], tail: S[str], n_prefix: int = 3, n_tail: int = 10) -> S[list[str]]:
    """Every prefix joined with every tail: versions that agree up to a point and differ after it,
    where ordering rules (tildes, suffixes, padding, pre-releases) actually decide."""
    return st.tuples(
        st.lists(prefix, min_size=n_prefix, max_size=n_prefix),
        st.lists(tail, min_size=n_tail, max_size=n_tail),
    ).map(lambda t: list(dict.fromkeys(p + x for p in t[0] for x in t[1])))


_dot_num = joined(st.just("."), st.one_of(small, st.sampled_from(["0", "00", "01"])))
dpkg_family = family(
    joined(st.sampled_from(["", "1:"]), st.sampled_from(["0", "1", "1.0", "2.3", "10"])),
    st.lists(
        st.one_of(dpkg_clean_chunk, st.sampled_from(["-1", "-0", "-1~", "-a", "~", "", "0", ".0"])), max_size=3
    ).map("".join),
)
rpm_family = family(
    st.sampled_from(["1", "1.0", "2:1.0", "1.0-1", "0:1", "a"]),
    st.lists(st.one_of(rpm_chunk, st.sampled_from(["", "~", "^", "0", ".0", "-1", "-0"])), max_size=3).map("".join),
)
apk_family = family(
    st.sampled_from(["1", "1.2", "0", "1.0", "2.10"]),
    joined(
        st.lists(_dot_num, max_size=2).map("".join),
        opt(st.sampled_from("abz")),
        st.lists(
            joined(
                st.just("_"),
                apk_suffix.filter(lambda x: x in ("alpha", "beta", "pre", "rc", "cvs", "svn", "git", "hg", "p", "")),
                opt(small),
            ),
            max_size=2,
        ).map("".join),
        opt(joined(st.just("-r"), opt(small))),
    ),
)
_pre_tail = joined(opt(joined(st.just("-"), seq(_ident, st.just("."), 3))), opt(st.sampled_from(["+b", "+b.1", "+0"])))
npm_family = family(st.sampled_from(["1.0.0", "0.0.1", "v1.2.3", "=1.2.3", "1.0.0 "]).map(str.strip), _pre_tail)
cargo_family = family(st.sampled_from(["1.0.0", "0.0.1", "1.2.3", "0.0.0"]), _pre_tail)
go_family = family(
    st.sampled_from(["v1.0.0", "v0.0.0", "1.2.3", "v1.2.4", "v2.0.0"]),
    st.one_of(
        _pre_tail, st.sampled_from(["-0.20191109021931-daa7c04131f5", "-20191109021931-daa7c04131f5", "+incompatible"])
    ),
)
maven_family = family(
    st.sampled_from(["1", "1.0", "1-", "2.3", "1.0.0"]),
    st.lists(joined(st.sampled_from([".", "-", ""]), maven_item), max_size=3).map("".join),
)
gem_family = family(
    st.sampled_from(["1", "1.0", "0", "2.3", "1.0.0"]),
    st.lists(joined(st.sampled_from([".", "-", "."]), gem_seg), max_size=3).map("".join),
)
composer_family = family(
    st.sampled_from(["1", "1.0", "v1.0.0", "1.0.0.0", "2010-01-02"]),
    joined(composer_mod, st.sampled_from(["", "", "-dev", ".0"])),
)
