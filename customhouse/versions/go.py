"""Go module versions, ordered as golang.org/x/mod/semver orders them.

Go's semver requires the "v" prefix; OSV's Go advisories write versions without it ("1.2.3",
"0"), module graphs with it, so a missing "v" is added. "v1" and "v1.2" are shorthands for
v1.0.0 and v1.2.0 (without pre-release or build). Build metadata, including "+incompatible",
does not take part in the order. Pseudo-versions (v0.0.0-20191109021931-daa7c04131f5,
v1.2.4-0.20191109021931-daa7c04131f5) are ordinary pre-releases, so they sort after the tagged
version they derive from and before the next release, exactly as the go command sorts them.
Anything x/mod/semver calls invalid (leading zeros, empty identifiers, "V1.0.0"...) raises.
"""

from __future__ import annotations

import re

from customhouse.versions._base import KeyScheme, VersionError
from customhouse.versions.semver import prerelease_key

_NUM = r"(?:0|[1-9][0-9]*)"
_ID = rf"(?:[0-9]*[a-zA-Z-][a-zA-Z0-9-]*|{_NUM})"
_GO = re.compile(
    rf"v({_NUM})(?:\.({_NUM})(?:\.({_NUM})(?:-({_ID}(?:\.{_ID})*))?(?:\+[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)*)?)?)?\Z"
)


def key(version: str) -> tuple[object, ...]:
    v = version if version.startswith("v") else "v" + version
    m = _GO.match(v)
    # A pre-release or build needs all three numbers; the regex nests them accordingly.
    if not m:
        raise VersionError(f"go: invalid version {version!r}")
    major, minor, patch, pre = m.groups()
    return (int(major), int(minor or 0), int(patch or 0), prerelease_key(pre))


SCHEME = KeyScheme("go", key)
