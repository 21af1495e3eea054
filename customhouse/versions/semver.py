"""Semantic versions: npm's (node-semver, loose) and Cargo's (the `semver` crate, strict).

Both order by SemVer 2.0 precedence: major, minor, patch as numbers; a pre-release sorts before
its release; pre-release identifiers compare numerically when all digits (and then before
alphanumeric ones), otherwise by ASCII order; a shorter identifier list that is a prefix of a
longer one sorts first; build metadata is ignored ("1.0.0+a" == "1.0.0+b").

npm: we accept what node-semver 7 accepts with `loose: true`, because package.json files and
old registry documents carry versions like "v1.2.3", "=1.2.3", "1.2.3beta" or "01.2.3" that
npm itself still reads; every version strict mode accepts parses identically in loose mode. Limits
are node-semver's: at most 256 characters, major/minor/patch at most 2^53 - 1. One deliberate
difference: node converts all-digit pre-release identifiers above 2^53 to floating point, which
makes "1.0.0-9007199254740993.b" equal "1.0.0-9007199254740992.a" and its order intransitive;
we compare such identifiers exactly, as SemVer 2.0 says.

Cargo: exactly the `semver` crate's grammar (no "v" prefix, no leading zeros, no whitespace,
non-empty identifiers, numbers up to u64::MAX), ordered by precedence. The crate's own `Ord`
also sorts by build metadata to make the order total; vulnerability ranges use precedence, so
we do not.
"""

from __future__ import annotations

import re

from customhouse.versions._base import KeyScheme, VersionError

MAX_LENGTH = 256
MAX_SAFE_INTEGER = 2**53 - 1
_U64_MAX = 2**64 - 1

# What JavaScript's String.prototype.trim and regex \s treat as white space.
_JS_SPACE = "\t\n\v\f\r \u00a0\u1680\u2028\u2029\u202f\u205f\u3000\ufeff" + "".join(map(chr, range(0x2000, 0x200B)))
_JS_SPACE_CLASS = re.escape(_JS_SPACE)

_NONNUMERIC = r"[0-9]*[a-zA-Z-][a-zA-Z0-9-]*"
_BUILD = r"(?:\+([a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)*))?"
_LOOSE_ID = rf"(?:{_NONNUMERIC}|[0-9]+)"
_NPM_LOOSE = re.compile(
    rf"[v={_JS_SPACE_CLASS}]*([0-9]+)\.([0-9]+)\.([0-9]+)"
    rf"(?:-?({_LOOSE_ID}(?:\.{_LOOSE_ID})*))?{_BUILD}\Z"
)
_STRICT_NUM = r"(?:0|[1-9][0-9]*)"
_STRICT_ID = rf"(?:{_NONNUMERIC}|{_STRICT_NUM})"
_CARGO = re.compile(
    rf"({_STRICT_NUM})\.({_STRICT_NUM})\.({_STRICT_NUM})"
    rf"(?:-({_STRICT_ID}(?:\.{_STRICT_ID})*))?{_BUILD}\Z"
)

Prerelease = tuple[tuple[int, int | str], ...]


def prerelease_key(pre: str | None) -> tuple[object, ...]:
    """Release after any pre-release; identifiers numeric-first, then ASCII; prefixes first."""
    if pre is None:
        return (1,)
    ids: Prerelease = tuple((0, int(i)) if i.isdigit() else (1, i) for i in pre.split("."))
    return (0, ids)


def _npm_key(version: str) -> tuple[object, ...]:
    if len(version) > MAX_LENGTH:
        raise VersionError(f"npm: version is longer than {MAX_LENGTH} characters")
    m = _NPM_LOOSE.match(version.strip(_JS_SPACE))
    if not m:
        raise VersionError(f"npm: invalid version {version!r}")
    nums = [int(m.group(i)) for i in (1, 2, 3)]
    if any(n > MAX_SAFE_INTEGER for n in nums):
        raise VersionError(f"npm: version number too large in {version!r}")
    return (*nums, prerelease_key(m.group(4)))


def _cargo_key(version: str) -> tuple[object, ...]:
    m = _CARGO.match(version)
    if not m:
        raise VersionError(f"cargo: invalid version {version!r}")
    nums = [int(m.group(i)) for i in (1, 2, 3)]
    if any(n > _U64_MAX for n in nums):
        raise VersionError(f"cargo: version number too large in {version!r}")
    return (*nums, prerelease_key(m.group(4)))


NPM = KeyScheme("semver", _npm_key)
CARGO = KeyScheme("semver", _cargo_key)
