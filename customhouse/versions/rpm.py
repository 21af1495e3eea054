"""RPM versions (`[epoch:]version[-release]`), ordered as rpm 4.18's `rpmverCmp` orders them.

The string is split the way rpm's EVR parser splits it: leading digits followed by ':' are the
epoch (an empty epoch is 0, a missing one compares as 0), the text after the last '-' is the
release. Epoch, version and release each compare with `rpmvercmp`: runs of ASCII letters or
digits, anything else is a separator; digits beat letters; numbers compare by value; '~' sorts
before everything including the end, '^' after the end but before any further segment. A
version with a release sorts after the same version without one (rpm compares a missing
release as lower, even against an empty one).

rpm accepts any non-empty string, so only "" and strings with NUL (which C would truncate)
raise VersionError.
"""

from __future__ import annotations

from customhouse.versions._base import KeyScheme, VersionError

# Segment kinds in rpmvercmp's order of precedence.
_TILDE, _END, _CARET, _ALPHA, _NUM = range(5)


def _is_digit(c: str) -> bool:
    return "0" <= c <= "9"


def _is_alpha(c: str) -> bool:
    return "a" <= c <= "z" or "A" <= c <= "Z"


def segments(text: str) -> tuple[tuple[int, object], ...]:
    """The rpmvercmp segments of one field, closed by an end marker so tuples compare like rpm."""
    out: list[tuple[int, object]] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "~":
            out.append((_TILDE, 0))
            i += 1
        elif c == "^":
            out.append((_CARET, 0))
            i += 1
        elif _is_digit(c):
            j = i
            while j < n and _is_digit(text[j]):
                j += 1
            out.append((_NUM, int(text[i:j])))
            i = j
        elif _is_alpha(c):
            j = i
            while j < n and _is_alpha(text[j]):
                j += 1
            # strcmp order on ASCII letters is code point order.
            out.append((_ALPHA, text[i:j]))
            i = j
        else:
            i += 1
    out.append((_END, 0))
    return tuple(out)


def parse(version: str) -> tuple[int, str, str | None]:
    """(epoch, version, release) as rpm's parseEVR splits the string."""
    if not version:
        raise VersionError("rpm: version is empty")
    if "\0" in version:
        raise VersionError(f"rpm: version contains NUL: {version!r}")
    i = 0
    while i < len(version) and _is_digit(version[i]):
        i += 1
    epoch = 0
    rest = version
    if i < len(version) and version[i] == ":":
        epoch = int(version[:i]) if i else 0
        rest = version[i + 1 :]
    # The release separator is searched from the end of the epoch digits onward.
    hyphen = version.rfind("-", i)
    if hyphen < 0:
        return epoch, rest, None
    offset = len(version) - len(rest)
    return epoch, rest[: hyphen - offset], rest[hyphen - offset + 1 :]


def key(version: str) -> tuple[object, ...]:
    epoch, ver, release = parse(version)
    rel: tuple[object, ...] = (0,) if release is None else (1, segments(release))
    return (epoch, segments(ver), rel)


SCHEME = KeyScheme("rpm", key)
