"""Ruby gem versions, ordered as RubyGems' `Gem::Version#<=>` orders them.

A version is split into numbers and letter runs ("1.0.b1" -> 1, 0, "b", 1; a "-" reads as
".pre."). Trailing zeros of the leading numeric part and of the rest are dropped, then segments
compare pairwise with the shorter side padded by zeros: equal segments are skipped, a letter run
is lower than any number, numbers compare by value and letter runs by byte order. So any letter
makes a pre-release ("1.0.a" < "1.0"), and "1.0.0" == "1".

Validity is Gem::Version.correct?: digits first, then dot-separated alphanumerics, then an
optional "-" part; surrounding white space is allowed, and a blank string means version 0.
"""

from __future__ import annotations

import re

from customhouse.versions._base import KeyScheme, VersionError

# Ruby's \s: space, \t, \n, \v, \f, \r.
_RUBY_SPACE = " \t\n\v\f\r"
_PATTERN = re.compile(r"[ \t\n\v\f\r]*([0-9]+(?>\.[0-9a-zA-Z]+)*(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?)?[ \t\n\v\f\r]*\Z")
_SEGMENT = re.compile(r"[0-9]+|[a-zA-Z]+")


def canonical_segments(version: str) -> list[int | str]:
    if not _PATTERN.match(version):
        raise VersionError(f"rubygems: malformed version {version!r}")
    text = version.strip(_RUBY_SPACE) or "0"
    text = text.replace("-", ".pre.")
    segs: list[int | str] = [int(s) if s[0].isdigit() else s for s in _SEGMENT.findall(text)]
    first_str = next((i for i, s in enumerate(segs) if isinstance(s, str)), len(segs))
    out: list[int | str] = []
    for part in (segs[:first_str], segs[first_str:]):
        while part and part[-1] == 0:
            part.pop()
        out.extend(part)
    return out


def key(version: str) -> tuple[object, ...]:
    """Segments encoded so that plain tuple order equals Ruby's zero-padded comparison.

    Letter runs rank below every number; a zero takes the direction of the next segment that is
    not zero (below the padding if that is a letter run, above if a number), and the key ends
    with the padding itself. This is `_base.zero_padded` extended to letter runs.
    """
    segs = canonical_segments(version)
    while segs and segs[-1] == 0:
        segs.pop()
    out: list[tuple[object, ...]] = []
    ahead = 0
    for s in reversed(segs):
        if isinstance(s, str):
            out.append((0, s.encode()))
            ahead = -1
        elif s == 0:
            out.append((1, ahead))
        else:
            out.append((2, s))
            ahead = 1
    out.reverse()
    out.append((1, 0))
    return tuple(out)


SCHEME = KeyScheme("rubygems", key)
