"""Alpine (and Wolfi/Chainguard) package versions, ordered as apk-tools 2.14 orders them.

Grammar: `digits{.digits}[letter]{_suffix[digits]}[-r digits]`, suffixes `alpha`, `beta`,
`pre`, `rc` (before the plain release) and `cvs`, `svn`, `git`, `hg`, `p` (after it).

apk compares token by token, where each token's value is read together with the kind of the
token that follows it, so the order has a few rules that a simple split would miss, all
reproduced here and checked against `apk version -t` of Alpine 3.20 (apk-tools 2.14.4):

- a dot-separated component that starts with '0' stands for minus the number of its *extra*
  leading zeros ("1.0" > "1.00"), and the digits after the zeros form a following component;
- when the tokens of both versions agree up to where one version moves on to a different kind
  of token, the version whose next token is a pre-release suffix is lower; otherwise the one
  whose next token is of the later kind in the grammar is lower (so "1.2a" < "1.2.1",
  "1.2_p1" < "1.2a", and the end of the string is lower than anything but a pre-release);
- a number of 18 or more digits makes the version invalid, as do '~' (apk 2.14 has no commit
  hash component) and upper-case letters.

apk accepts a few degenerate strings ("", "1.", "1_", "1-r"); so do we, with apk's order.
"""

from __future__ import annotations

from customhouse.versions._base import KeyScheme, VersionError

# Token kinds, in apk-tools' order (later kinds rank lower when kinds differ).
_DIGIT_OR_ZERO, _DIGIT, _LETTER, _SUFFIX, _SUFFIX_NO, _REVISION_NO, _END = range(7)
_PRE_SUFFIXES = ("alpha", "beta", "pre", "rc")
_POST_SUFFIXES = ("cvs", "svn", "git", "hg", "p")
_MAX_DIGITS = 18
# Kinds that may follow a kind without breaking apk's grammar when they rank lower.
_BACKWARD_OK = {(_DIGIT_OR_ZERO, _DIGIT), (_SUFFIX, _SUFFIX_NO), (_DIGIT, _LETTER)}


def _is_digit(c: str) -> bool:
    return "0" <= c <= "9"


class _Invalid(Exception):
    pass


def _next_kind(kind: int, s: str, i: int) -> tuple[int, int]:
    """The kind of the token starting at s[i] (after its separator) and where its text starts."""
    if i >= len(s):
        return _END, i
    c = s[i]
    if kind in (_DIGIT, _DIGIT_OR_ZERO) and "a" <= c <= "z":
        new = _LETTER
    elif kind == _LETTER and _is_digit(c):
        new = _DIGIT
    elif kind == _SUFFIX and _is_digit(c):
        new = _SUFFIX_NO
    else:
        if c == ".":
            new = _DIGIT_OR_ZERO
        elif c == "_":
            new = _SUFFIX
        elif c == "-" and i + 1 < len(s) and s[i + 1] == "r":
            new = _REVISION_NO
            i += 1
        else:
            raise _Invalid
        i += 1
    if new < kind and (new, kind) not in _BACKWARD_OK:
        raise _Invalid
    return new, i


def _suffix_value(s: str, i: int) -> tuple[int, int]:
    """(value, length) of the suffix at s[i]: pre-release suffixes are negative."""
    for n, name in enumerate(_PRE_SUFFIXES):
        if s.startswith(name, i):
            return n - len(_PRE_SUFFIXES), len(name)
    for n, name in enumerate(_POST_SUFFIXES):
        if s.startswith(name, i):
            return n, len(name)
    raise _Invalid


def tokens(version: str) -> list[tuple[int, int]]:
    """[(kind, value), ...] closed by (END, 0), as apk's tokenizer reads the string."""
    out: list[tuple[int, int]] = []
    kind, i, n = _DIGIT, 0, len(version)
    while True:
        if i >= n:
            # apk reads a token that starts at the end of the string as value 0, then stops.
            out.append((kind, 0))
            out.append((_END, 0))
            return out
        forced = -1
        if kind == _DIGIT_OR_ZERO and version[i] == "0":
            z = 0
            while i + z + 1 < n and version[i + z + 1] == "0":
                z += 1
            value, i, forced = -z, i + z, _DIGIT
        elif kind in (_DIGIT_OR_ZERO, _DIGIT, _SUFFIX_NO, _REVISION_NO):
            j = i
            while j < n and _is_digit(version[j]):
                j += 1
            if j - i >= _MAX_DIGITS:
                raise _Invalid
            value, i = (int(version[i:j]) if j > i else 0), j
        elif kind == _LETTER:
            value, i = ord(version[i]), i + 1
        else:  # _SUFFIX
            value, length = _suffix_value(version, i)
            i += length
        out.append((kind, value))
        if i >= n:
            kind = _END
        elif forced >= 0:
            kind = forced
        else:
            kind, i = _next_kind(kind, version, i)
        if kind == _END:
            out.append((_END, 0))
            return out


def key(version: str) -> tuple[object, ...]:
    """Tokens flattened to (rank, value) pairs; the rank encodes apk's rule for differing kinds."""
    if "\0" in version:
        raise VersionError(f"apk: invalid version {version!r}")
    try:
        toks = tokens(version)
    except _Invalid:
        raise VersionError(f"apk: invalid version {version!r}") from None
    out: list[tuple[int, int]] = []
    for kind, value in toks:
        # A pre-release suffix loses to every other kind; otherwise a later kind loses.
        rank = -100 if kind == _SUFFIX and value < 0 else -kind
        out.append((rank, value))
    return tuple(out)


SCHEME = KeyScheme("apk", key)
