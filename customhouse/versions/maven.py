"""Maven versions, ordered as Maven 3.8.7's `ComparableVersion` (Debian's maven-artifact) orders them.

A version (lower-cased) is parsed into nested lists of items: numbers, qualifiers and sub-lists.
'.' separates items; '-' and every switch between letters and digits open a sub-list, and so
does a trailing qualifier after a '.' ("1.sp" is 1-sp). Trailing "null" items (0, "", "ga",
"final", "release", empty lists) are dropped. Qualifiers order alpha < beta < milestone < rc =
cr < snapshot < "" = ga = final = release < sp < any other (by name); "a1", "b1", "m1" mean
alpha-1, beta-1, milestone-1. Items compare by kind first (qualifier < list < number) and a
missing item compares as "null": equal to 0, below a non-zero number, against a qualifier as
against "", against a list as its items against null.

That order is not transitive: with a qualifier directly after a dot,
"1.sp.1" < "1-alpha" < "1" < "1.sp.1" holds in Maven itself. So no tuple can serve as key; keys
here are objects that compare by running the algorithm, which makes every comparison agree with
Maven, and sorting well defined wherever Maven's order is.
"""

from __future__ import annotations

from functools import lru_cache

from customhouse.versions._base import CACHE_SIZE, VersionError

_QUALIFIERS = ("alpha", "beta", "milestone", "rc", "snapshot", "", "sp")
_ALIASES = {"ga": "", "final": "", "release": "", "cr": "rc"}
_SHORT = {"a": "alpha", "b": "beta", "m": "milestone"}
_RELEASE_INDEX = "5"

# Item kinds; order between different kinds is qualifier < list < number.
_STR, _LIST, _INT = 1, 2, 3

Item = tuple[int, object]  # (_INT, int) | (_STR, comparable qualifier) | (_LIST, tuple[Item, ...])


def _comparable_qualifier(q: str) -> str:
    if q in _QUALIFIERS:
        return str(_QUALIFIERS.index(q))
    return f"{len(_QUALIFIERS)}-{q}"


def _java_str_key(s: str) -> bytes:
    """Java compares strings by UTF-16 code units; big-endian UTF-16 bytes sort the same way."""
    return s.encode("utf-16-be", "surrogatepass")


def _string_item(text: str, followed_by_digit: bool) -> Item:
    if followed_by_digit and len(text) == 1:
        text = _SHORT.get(text, text)
    return (_STR, _java_str_key(_comparable_qualifier(_ALIASES.get(text, text))))


def _number_item(text: str) -> Item:
    """Maven keeps numbers as int, long or BigInteger by digit count (after stripping ASCII
    zeros), and orders the three classes before their values; with ASCII digits that is plain
    numeric order, with other Unicode digits (which Java also accepts) it is not."""
    stripped = text.lstrip("0") or text
    size = 0 if len(stripped) <= 9 else 1 if len(stripped) <= 18 else 2
    return (_INT, (size, int(text)))


def _parse_item(is_digit: bool, text: str) -> Item:
    return _number_item(text) if is_digit else _string_item(text, False)


_ZERO: Item = (_INT, (0, 0))
_RELEASE: bytes = _java_str_key(_RELEASE_INDEX)


def _is_null(item: Item) -> bool:
    kind, value = item
    if kind == _INT:
        return bool(value[1] == 0)  # type: ignore[index]
    if kind == _STR:
        return value == _RELEASE
    return not value


class _List:
    """A mutable list while parsing; frozen into a tuple item afterwards."""

    __slots__ = ("items",)

    def __init__(self) -> None:
        self.items: list[Item | _List] = []


def _freeze(lst: _List) -> Item:
    items: list[Item] = [_freeze(i) if isinstance(i, _List) else i for i in lst.items]
    # Drop trailing nulls; a non-null list stops nothing (Maven walks past it), anything else stops.
    i = len(items) - 1
    while i >= 0:
        if _is_null(items[i]):
            del items[i]
        elif items[i][0] != _LIST:
            break
        i -= 1
    return (_LIST, tuple(items))


def _is_java_digit(c: str) -> bool:
    return c.isdecimal()


def parse(version: str) -> Item:
    """ComparableVersion.parseVersion of Maven 3.8.7, as nested (kind, value) tuples."""
    text = version.lower()
    root = _List()
    cur = root
    is_digit = False
    start = 0

    def sub() -> _List:
        new = _List()
        cur.items.append(new)
        return new

    for i, c in enumerate(text):
        if c in ".-":
            cur.items.append(_ZERO if i == start else _parse_item(is_digit, text[start:i]))
            start = i + 1
            if c == "-":
                cur = sub()
        elif _is_java_digit(c):
            if not is_digit and i > start:
                if cur.items:
                    cur = sub()
                cur.items.append(_string_item(text[start:i], True))
                start = i
                cur = sub()
            is_digit = True
        else:
            if is_digit and i > start:
                cur.items.append(_number_item(text[start:i]))
                start = i
                cur = sub()
            is_digit = False
    if len(text) > start:
        if not is_digit and cur.items:
            cur = sub()
        cur.items.append(_parse_item(is_digit, text[start:]))
    return _freeze(root)


def _sign(x: int) -> int:
    return (x > 0) - (x < 0)


def _cmp_values(a: object, b: object) -> int:
    return int((a > b) - (a < b))  # type: ignore[operator]


def _compare(a: Item, b: Item | None) -> int:
    """Item.compareTo: `b` None is a missing item."""
    kind, value = a
    if b is None:
        if kind == _INT:
            return 0 if value[1] == 0 else 1  # type: ignore[index]
        if kind == _STR:
            return _cmp_values(value, _RELEASE)
        for item in value:  # type: ignore[attr-defined]
            r = _compare(item, None)
            if r:
                return r
        return 0
    other_kind, other = b
    if kind != other_kind:
        return 1 if kind > other_kind else -1
    if kind != _LIST:
        return _cmp_values(value, other)
    left: tuple[Item, ...] = value  # type: ignore[assignment]
    right: tuple[Item, ...] = other  # type: ignore[assignment]
    for i in range(max(len(left), len(right))):
        lhs = left[i] if i < len(left) else None
        rhs = right[i] if i < len(right) else None
        r = _compare(lhs, rhs) if lhs is not None else 0 if rhs is None else -_compare(rhs, None)
        if r:
            return _sign(r)
    return 0


class MavenKey:
    """A version's parsed items; comparisons run Maven's algorithm (see the module docstring)."""

    __slots__ = ("items", "version")

    def __init__(self, version: str, items: Item) -> None:
        self.version = version
        self.items = items

    def cmp(self, other: MavenKey) -> int:
        return _compare(self.items, other.items)

    def __lt__(self, other: MavenKey) -> bool:
        return self.cmp(other) < 0

    def __le__(self, other: MavenKey) -> bool:
        return self.cmp(other) <= 0

    def __gt__(self, other: MavenKey) -> bool:
        return self.cmp(other) > 0

    def __ge__(self, other: MavenKey) -> bool:
        return self.cmp(other) >= 0

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MavenKey) and self.cmp(other) == 0

    def __hash__(self) -> int:
        # Equal keys have equal normalized items (Maven's own equals/hashCode rely on that too).
        return hash(self.items)

    def __repr__(self) -> str:
        return f"MavenKey({self.version!r})"


@lru_cache(maxsize=CACHE_SIZE)
def _key(version: str) -> MavenKey:
    if not version.strip():
        # ComparableVersion accepts "" (it equals "0"), but an empty version is a data error.
        raise VersionError("maven: version is empty")
    return MavenKey(version, parse(version))


class MavenScheme:
    name = "maven"

    def key(self, version: str) -> MavenKey:
        if not isinstance(version, str):
            raise VersionError(f"maven: version must be a string, not {type(version).__name__}")
        return _key(version)

    def compare(self, a: str, b: str) -> int:
        return self.key(a).cmp(self.key(b))

    def __repr__(self) -> str:
        return "<version scheme maven>"


SCHEME = MavenScheme()
