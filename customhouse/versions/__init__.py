"""Version ordering for every ecosystem the matcher evaluates advisories in.

A vulnerability verdict is only as good as the answer to "is the installed version below the
fixed one?", and every packaging world answers that question with its own rules. Each scheme
here reproduces one reference implementation (dpkg, rpm, apk-tools, packaging, node-semver, the
Cargo `semver` crate, golang.org/x/mod/semver, Maven's ComparableVersion, RubyGems, NuGet,
Composer + PHP's version_compare) and is tested differentially against the real tool where one
runs on this machine. Where the reference is itself inconsistent, the module docstring of the
scheme says which side we took and why.

`key()` is the primitive: matching sorts and compares the same few versions many times, so keys
are cached and comparing two keys is a plain tuple comparison. Maven is the one exception: its
ComparableVersion is not a total order (see `maven.py`), so its keys are objects that compare by
running the real algorithm.
"""

from __future__ import annotations

from functools import cache
from typing import Any, Protocol

from customhouse.versions._base import VersionError

__all__ = ["Scheme", "VersionError", "scheme_for"]


class Scheme(Protocol):
    """What matching needs from a versioning scheme."""

    name: str

    def key(self, version: str) -> Any:
        """A sortable key (keys compare with <, ==); raises VersionError for an invalid version."""
        ...

    def compare(self, a: str, b: str) -> int:
        """-1, 0 or 1 as `a` orders before, with or after `b`; raises VersionError."""
        ...


@cache
def _registry() -> dict[str, Scheme]:
    # Imported on first use so `import customhouse.versions` stays cheap for code that never matches.
    from customhouse.versions import apk, composer, dpkg, go, maven, nuget, pep440, rpm, rubygems, semver

    return {
        "dpkg": dpkg.SCHEME,
        "rpm": rpm.SCHEME,
        "apk": apk.SCHEME,
        "pypi": pep440.SCHEME,
        "npm": semver.NPM,
        "cargo": semver.CARGO,
        "golang": go.SCHEME,
        "maven": maven.SCHEME,
        "gem": rubygems.SCHEME,
        "nuget": nuget.SCHEME,
        "composer": composer.SCHEME,
    }


# Distribution families keyed by the part of the ecosystem key before ':' (vulndb/schema.py).
_DISTRO_SCHEME = {
    "debian": "dpkg",
    "ubuntu": "dpkg",
    "alpine": "apk",
    "rhel": "rpm",
    "almalinux": "rpm",
    "rocky": "rpm",
    "centos": "rpm",
    "fedora": "rpm",
    "amzn": "rpm",
    "ol": "rpm",
    "sles": "rpm",
    "opensuse": "rpm",
}
# Rolling distributions have no release part.
_ROLLING_SCHEME = {"wolfi": "apk", "chainguard": "apk"}
_LANGUAGES = ("pypi", "npm", "cargo", "golang", "maven", "gem", "nuget", "composer")


def scheme_for(ecosystem: str) -> Scheme:
    """The scheme that orders versions of `ecosystem` (a vulndb ecosystem key); KeyError if unknown."""
    if ecosystem in _LANGUAGES:
        return _registry()[ecosystem]
    if ecosystem in _ROLLING_SCHEME:
        return _registry()[_ROLLING_SCHEME[ecosystem]]
    family, sep, release = ecosystem.partition(":")
    if sep and release and family in _DISTRO_SCHEME:
        return _registry()[_DISTRO_SCHEME[family]]
    raise KeyError(ecosystem)
