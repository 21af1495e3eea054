"""Shannon entropy and the value heuristics the free-form rules rely on.

A provider token has a fixed shape (`ghp_` and 36 base62 characters); a password assigned to
`DB_PASSWORD` has none. Rules for free-form values therefore lean on two weaker signals:

- *entropy*: random strings carry close to log2(alphabet) bits per character, words and
  identifiers much less. The threshold a rule gives is for a base64-like alphabet (6 bits per
  character at most); `meets_entropy` scales it down for values drawn from a smaller alphabet
  (hex carries at most 4 bits per character, decimal digits 3.3) and for short values (a value
  of n characters carries at most log2(n) bits per character), so one number works for a
  32-character hex key and a 12-character base64 password alike;
- *placeholders*: `${DB_PASSWORD}`, `<password>`, `{{ .Values.token }}`, `changeme`, `xxxxxxxx`
  are documentation and templating, not secrets. `is_placeholder` is applied to every finding
  of every rule (a real token never looks like one).
"""

from __future__ import annotations

import math
import re
from collections import Counter

_HEX = frozenset("0123456789abcdefABCDEF")
_DIGITS = frozenset("0123456789")
_LOWER_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
_UPPER_ALNUM = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_ALNUM = _LOWER_ALNUM | _UPPER_ALNUM


def shannon_entropy(value: str | bytes) -> float:
    """Bits per character of `value`'s own character distribution (0.0 for an empty value)."""
    n = len(value)
    if n == 0:
        return 0.0
    counts = Counter(value)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


def alphabet_bits(value: str) -> float:
    """log2 of the smallest usual alphabet `value` is drawn from (digits, hex, alnum, base64+)."""
    chars = set(value)
    if chars <= _DIGITS:
        return math.log2(10)
    if chars <= _HEX:
        return 4.0
    if chars <= _LOWER_ALNUM or chars <= _UPPER_ALNUM:
        return math.log2(36)
    if chars <= _ALNUM:
        return math.log2(62)
    return 6.0


def effective_threshold(value: str, threshold: float) -> float:
    """`threshold` (stated for a 64-symbol alphabet) adjusted to `value`'s alphabet and length.

    The length cap keeps short random values reachable: 8 distinct characters carry exactly
    3 bits each, so demanding 3.5 of an 8-character value would reject every such value.
    """
    scaled = threshold * min(1.0, alphabet_bits(value) / 6.0)
    if len(value) > 1:
        scaled = min(scaled, 0.85 * math.log2(len(value)))
    return scaled


def meets_entropy(value: str, threshold: float) -> bool:
    return shannon_entropy(value) >= effective_threshold(value, threshold)


# Values that stand for a secret instead of being one. Compared lower-cased, whole value.
_DUMMY_WORDS = frozenset(
    """
    password passwd pass pwd secret token apikey api_key key value changeme change_me changeit
    replaceme replace_me example sample dummy placeholder null none nil undefined true false yes no
    redacted hidden masked unset empty default test testing foo bar foobar baz qwerty letmein admin
    root user username login mypassword yourpassword my_password your_password mysecret yoursecret
    mytoken yourtoken secret123 password123 password1 123456 12345678 abc123 abcdef string str text
    """.split()  # noqa: SIM905 - a word list reads better as text
)
_PLACEHOLDER_RE = re.compile(
    r"""
    ^(?:
        \$\{[^}]*\}                 # ${VAR}, ${VAR:-default}
      | \$\([^)]*\)                 # $(command)
      | \$[A-Za-z_][A-Za-z0-9_]*    # $VAR
      | %[A-Za-z_][A-Za-z0-9_]*%    # %VAR%
      | %\([A-Za-z_]+\)s            # %(name)s
      | \{\{.*\}\}                  # {{ template }}
      | \{[A-Za-z_][A-Za-z0-9_.]*\} # {name}
      | \#\{[^}]*\}                 # #{ruby}
      | <[^<>]*>                    # <password>
      | \[[^\[\]]*\]                # [password]
      | @[A-Za-z_][A-Za-z0-9_]*@    # @VAR@ (autoconf)
      | __[A-Za-z0-9_]+__           # __TOKEN__
      | (?:x|X|\*|\.|\#|-|_|0){4,}  # xxxx, ****, ....
    )$
    """,
    re.VERBOSE,
)
_RUNS = re.compile(r"(?:x{5,}|X{5,}|\*{4,}|\.{4,}|#{4,}|<[A-Za-z_ -]{2,40}>)")


def is_placeholder(value: str) -> bool:
    """True for values that document or template a secret instead of holding one."""
    v = value.strip().strip("\"'`")
    if not v:
        return True
    if len(set(v)) == 1:
        return True
    if v.lower() in _DUMMY_WORDS:
        return True
    if _PLACEHOLDER_RE.match(v):
        return True
    return bool(_RUNS.search(v))
