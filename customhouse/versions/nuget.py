"""NuGet package versions, ordered as NuGet.Versioning's VersionComparer.Default orders them.

No .NET runtime is available here to test against, so this follows NuGet.Client's parser and
comparer as published (NuGetVersionFactory, SemanticVersionFactory, VersionComparer) and is
tested against NuGet's documented examples and the properties of an order:

- "Major.Minor[.Patch[.Revision]]" (a single number gets ".0"), each part a non-negative 32-bit
  integer as .NET's int parser reads it (so leading zeros, a sign and surrounding ASCII white
  space inside a part are accepted), missing parts are 0: "1.0" == "1.0.0.0";
- then "-" and dot-separated release labels of [0-9A-Za-z-], none empty, no leading zero in an
  all-digit label; then "+" and metadata, which is validated but never compared;
- a version with labels sorts before the same version without; labels compare pairwise,
  numeric ones (what int.TryParse accepts, so "-1" too) by value and before non-numeric ones,
  the others case-insensitively; a shorter list that is a prefix sorts first.
"""

from __future__ import annotations

import re

from customhouse.versions._base import KeyScheme, VersionError

_INT_MAX = 2**31 - 1
_INT_MIN = -(2**31)
# .NET's String.Trim: Unicode White_Space.
_DOTNET_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000" + "".join(map(chr, range(0x2000, 0x200B)))
# int.TryParse with NumberStyles.Integer: optional ASCII white space around an optional sign and digits.
_INT = re.compile(r"[\t\n\v\f\r ]*([+-]?)([0-9]+)[\t\n\v\f\r ]*\Z")
_PART = re.compile(r"[0-9A-Za-z-]+\Z")


def _dotnet_int(text: str) -> int | None:
    m = _INT.match(text)
    if not m:
        return None
    value = int(m.group(2))
    if m.group(1) == "-":
        value = -value
    return value if _INT_MIN <= value <= _INT_MAX else None


def _valid_part(part: str, allow_leading_zeros: bool) -> bool:
    if not _PART.match(part):
        return False
    return allow_leading_zeros or not (len(part) > 1 and part[0] == "0" and part[1:].isdigit())


def _sections(value: str) -> tuple[str | None, list[str] | None, str | None]:
    """Split like NuGet's ParseSections: first '-' or '+' ends the numbers, first later '+' the labels."""
    numbers: str | None = None
    labels: list[str] | None = None
    metadata: str | None = None
    dash = plus = -1
    last = len(value) - 1
    for i, c in enumerate(value):
        end = i == last
        if dash < 0:
            if end or c in "-+":
                numbers = value[: i + 1] if end else value[:i]
                dash = i
                if c == "+":
                    plus = i
        elif plus < 0:
            if end or c == "+":
                labels = value[dash + 1 : i + 1 if end else i].split(".")
                plus = i
        elif end:
            metadata = value[plus + 1 :]
    return numbers, labels, metadata


def _label_key(label: str) -> tuple[int, int | str]:
    number = _dotnet_int(label)
    if number is not None:
        return (0, number)
    # OrdinalIgnoreCase on ASCII labels: compare the upper-cased code units.
    return (1, label.upper())


def key(version: str) -> tuple[object, ...]:
    numbers, labels, metadata = _sections(version.strip(_DOTNET_SPACE))
    if not numbers:
        raise VersionError(f"nuget: invalid version {version!r}")
    parts = numbers.split(".") if "." in numbers else [numbers, "0"]
    values = [_dotnet_int(p) for p in parts]
    if not 2 <= len(parts) <= 4 or any(v is None or v < 0 for v in values):
        raise VersionError(f"nuget: invalid version {version!r}")
    if labels is not None and not all(_valid_part(p, allow_leading_zeros=False) for p in labels):
        raise VersionError(f"nuget: invalid release label in {version!r}")
    if metadata is not None and not all(_valid_part(p, allow_leading_zeros=True) for p in metadata.split(".")):
        raise VersionError(f"nuget: invalid metadata in {version!r}")
    nums = [v for v in values if v is not None] + [0] * (4 - len(values))
    release: tuple[object, ...] = (1,) if labels is None else (0, tuple(_label_key(p) for p in labels))
    return (*nums, release)


SCHEME = KeyScheme("nuget", key)
