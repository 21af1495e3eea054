"""Python package versions (PEP 440), ordered by `packaging.version`, the reference implementation.

pip itself orders versions with `packaging`, so reimplementing PEP 440 could only add
disagreements; this module only turns its errors into VersionError.
"""

from __future__ import annotations

from packaging.version import InvalidVersion, Version

from customhouse.versions._base import KeyScheme, VersionError


def key(version: str) -> Version:
    try:
        return Version(version)
    except InvalidVersion:
        raise VersionError(f"pep440: invalid version {version!r}") from None


SCHEME = KeyScheme("pep440", key)
