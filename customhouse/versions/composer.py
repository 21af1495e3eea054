"""PHP package versions, ordered as Composer orders them: normalize, then `version_compare`.

Composer first normalizes a version (composer/semver's VersionParser::normalize: "v1.2" ->
"1.2.0.0", "1.0-beta2" -> "1.0.0.0-beta2", "1.0.0-p1" -> "1.0.0.0-patch1", date versions, build
metadata dropped, "1.x-dev" -> "1.9999999.9999999.9999999-dev") and then compares normalized
versions with PHP's version_compare: dot-separated parts, numbers by value, words by their
special form (dev < alpha = a < beta = b < RC = rc < number < patch = pl = p; any other word
ranks lowest), and a longer version is newer when its next part is a number.

Branch versions ("dev-main", "master", "dev-feature/x") have no place in an order, so they raise
VersionError, as do strings normalize() rejects.
"""

from __future__ import annotations

import re

from customhouse.versions._base import KeyScheme, VersionError

_LONG_MAX = 2**63 - 1
_PHP_TRIM = " \t\n\r\0\x0b"
_FLAGS = re.ASCII | re.IGNORECASE
_MODIFIER = r"[._-]?(?:(stable|beta|b|RC|alpha|a|patch|pl|p)((?:[.-]?\d+)*+)?)?([.-]?dev)?"
_ALIAS = re.compile(r"^([^,\s]++) ++as ++([^,\s]++)$", re.ASCII)
_FLAG = re.compile(r"@(?:stable|RC|beta|alpha|dev)$", _FLAGS)
_BUILD = re.compile(r"^([^,\s+]++)\+[^\s]++$", re.ASCII)
_CLASSIC = re.compile(r"^v?(\d{1,5})(\.\d++)?(\.\d++)?(\.\d++)?" + _MODIFIER + "$", _FLAGS)
_DATE = re.compile(r"^v?(\d{4}(?:[.:-]?\d{2}){1,6}(?:[.:-]?\d{1,3})?)" + _MODIFIER + "$", _FLAGS)
_DEV_SUFFIX = re.compile(r"(.*?)[.-]?dev$", _FLAGS)
_BRANCH = re.compile(r"^v?(\d++)(\.(?:\d++|[xX*]))?(\.(?:\d++|[xX*]))?(\.(?:\d++|[xX*]))?$", _FLAGS)
_STABILITY = {"a": "alpha", "b": "beta", "p": "patch", "pl": "patch", "rc": "RC"}


def _expand(stability: str) -> str:
    low = stability.lower()
    return _STABILITY.get(low, low)


def normalize(version: str) -> str:
    """Composer's normalized form; VersionError where Composer throws or returns a branch."""
    v = version.strip(_PHP_TRIM)
    if m := _ALIAS.match(v):
        v = m.group(1)
    if m := _FLAG.search(v):
        v = v[: m.start()]
    if v in ("master", "trunk", "default"):
        v = "dev-" + v
    if v[:4].lower() == "dev-":
        raise VersionError(f"composer: branch {version!r} has no order")
    if m := _BUILD.match(v):
        v = m.group(1)
    matches: tuple[str | None, ...] | None = None
    if m := _CLASSIC.match(v):
        g = m.groups()
        v = g[0] + "".join(part or ".0" for part in g[1:4])
        matches = g[4:]
    elif m := _DATE.match(v):
        v = re.sub(r"\D", ".", m.group(1), flags=re.ASCII)
        matches = m.groups()[1:]
    if matches is not None:
        stability, number, dev = matches
        if stability:
            if stability == "stable":
                return v
            v += "-" + _expand(stability) + (number.lstrip(".-") if number else "")
        if dev:
            v += "-dev"
        return v
    if m := _DEV_SUFFIX.search(v):
        branch = m.group(1).strip(_PHP_TRIM)
        if b := _BRANCH.match(branch):
            parts = [(g or ".x").replace("*", "x").replace("X", "x") for g in b.groups()]
            return "".join(parts).replace("x", "9999999") + "-dev"
    raise VersionError(f"composer: invalid version {version!r}")


def _is_digit(c: str) -> bool:
    return "0" <= c <= "9"


def _canonical(v: str) -> list[str]:
    """PHP's canonicalize: '-', '_', '+' and other non-alphanumerics become '.', and a '.' is put
    between digits and non-digits; then split on '.'."""
    out = [v[0]]
    prev = v[0]
    for c in v[1:]:
        last = out[-1]
        if c in "-_+":
            if last != ".":
                out.append(".")
        elif prev != "." and c != "." and _is_digit(prev) != _is_digit(c):
            if last != ".":
                out.append(".")
            out.append(c)
        elif not (c.isascii() and c.isalnum()):
            if last != ".":
                out.append(".")
        else:
            out.append(c)
        prev = c
    return "".join(out).split(".")


# PHP's special forms, matched as prefixes in this order.
_FORMS = (
    ("dev", 0),
    ("alpha", 1),
    ("a", 1),
    ("beta", 2),
    ("b", 2),
    ("RC", 3),
    ("rc", 3),
    ("#", 4),
    ("pl", 5),
    ("p", 5),
)
_NUMBER_RANK = 4


def _form(word: str) -> int:
    for prefix, rank in _FORMS:
        if word.startswith(prefix):
            return rank
    return -6


def _php_int(part: str) -> int:
    digits = re.match(r"[0-9]*", part)
    return min(int(digits.group(0) or 0) if digits else 0, _LONG_MAX)


def key(version: str) -> tuple[object, ...]:
    """version_compare as a tuple: numbers rank with the "#" form; the end of the shorter version
    ranks like a number below every number (a longer version with a number next is newer, with
    a word next it is compared as "#N#" against that word)."""
    out: list[tuple[int, int]] = []
    for part in _canonical(normalize(version)):
        if not part:
            continue
        if _is_digit(part[0]):
            out.append((_NUMBER_RANK, _php_int(part)))
        else:
            out.append((_form(part), 0))
    out.append((_NUMBER_RANK, -1))
    return tuple(out)


SCHEME = KeyScheme("composer", key)
