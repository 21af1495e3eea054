"""Debian and Ubuntu package versions, ordered as `dpkg --compare-versions` orders them.

`[epoch:]upstream[-revision]`: the epoch is a decimal number, the revision is whatever follows
the last hyphen. Upstream and revision compare alike: alternating runs of non-digits and
digits; non-digits compare character by character with `~` below everything (even the end of
the string), then the end (or a digit), then letters, then the other characters; digit runs
compare as numbers. Missing revision equals revision "0".

Validity follows dpkg's parser exactly: anything dpkg rejects or warns about ("version number
does not start with digit", "invalid character in revision number", an epoch out of range...)
raises VersionError, because a version dpkg itself distrusts must not silently decide a verdict.
"""

from __future__ import annotations

from customhouse.versions._base import KeyScheme, VersionError, zero_padded

_INT_MAX = 2**31 - 1
_BLANK = " \t"
_SPACE = " \t\n\v\f\r"
_UPSTREAM_EXTRA = frozenset(".-+~:")
_REVISION_EXTRA = frozenset(".+~")


def _is_digit(c: str) -> bool:
    return "0" <= c <= "9"


def _is_alpha(c: str) -> bool:
    return "a" <= c <= "z" or "A" <= c <= "Z"


def _order(c: str) -> int:
    """dpkg's weight of one non-digit character; 0 is reserved for "a digit or the end"."""
    if _is_alpha(c):
        return ord(c)
    if c == "~":
        return -1
    return ord(c) + 256


def _flatten(part: str) -> list[int]:
    """Non-digit weights, a 0 for the end of each non-digit run, then the digit run's value."""
    out: list[int] = []
    i, n = 0, len(part)
    while i < n:
        while i < n and not _is_digit(part[i]):
            out.append(_order(part[i]))
            i += 1
        out.append(0)
        j = i
        while j < n and _is_digit(part[j]):
            j += 1
        out.append(int(part[i:j]) if j > i else 0)
        i = j
    return out


def _parse_epoch(text: str) -> int:
    """strtol semantics, which dpkg uses: optional sign, decimal digits, nothing else."""
    digits = text[1:] if text[:1] in ("+", "-") else text
    if not digits:
        raise VersionError("epoch in version is empty")
    if not all(_is_digit(c) for c in digits):
        raise VersionError("epoch in version is not number")
    value = int(digits)
    if text.startswith("-") and value:
        raise VersionError("epoch in version is negative")
    if value > _INT_MAX:
        raise VersionError("epoch in version is too big")
    return value


def parse(version: str) -> tuple[int, str, str]:
    """(epoch, upstream, revision) as dpkg's parseversion splits them; VersionError if dpkg would not."""
    s = version.lstrip(_BLANK)
    if not s:
        raise VersionError(f"dpkg: version string is empty: {version!r}")
    end = 0
    while end < len(s) and s[end] not in _SPACE:
        end += 1
    if s[end:].strip(_SPACE):
        raise VersionError(f"dpkg: version string has embedded spaces: {version!r}")
    s = s[:end]
    epoch = 0
    if ":" in s:
        head, _, s = s.partition(":")
        try:
            epoch = _parse_epoch(head)
        except VersionError as e:
            raise VersionError(f"dpkg: {e}: {version!r}") from None
        if not s:
            raise VersionError(f"dpkg: nothing after colon in version number: {version!r}")
    upstream, hyphen, revision = s.rpartition("-")
    if not hyphen:
        upstream, revision = s, ""
    elif not revision:
        raise VersionError(f"dpkg: revision number is empty: {version!r}")
    if not upstream:
        raise VersionError(f"dpkg: upstream version is empty: {version!r}")
    if not _is_digit(upstream[0]):
        raise VersionError(f"dpkg: version number does not start with digit: {version!r}")
    if any(not (_is_digit(c) or _is_alpha(c) or c in _UPSTREAM_EXTRA) for c in upstream):
        raise VersionError(f"dpkg: invalid character in version number: {version!r}")
    if any(not (_is_digit(c) or _is_alpha(c) or c in _REVISION_EXTRA) for c in revision):
        raise VersionError(f"dpkg: invalid character in revision number: {version!r}")
    return epoch, upstream, revision


def key(version: str) -> tuple[object, ...]:
    epoch, upstream, revision = parse(version)
    return (epoch, zero_padded(_flatten(upstream)), zero_padded(_flatten(revision)))


SCHEME = KeyScheme("dpkg", key)
