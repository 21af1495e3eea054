"""License names -> SPDX identifiers where the mapping is unambiguous.

Package metadata spells licenses every way (`GPL-2+`, `GPLv2+`, `Apache 2.0`, `Expat`). SBOM
consumers need SPDX ids to apply policy, but a wrong id is worse than none: anything we cannot
map with certainty is kept verbatim and written as a license *name*, not an id.
"""

from __future__ import annotations

import re
from functools import lru_cache


@lru_cache(maxsize=1)
def _spdx_ids() -> dict[str, str]:
    from importlib import resources

    text = resources.files("customhouse.data").joinpath("spdx-license-ids.txt").read_text()
    ids = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    return {i.lower(): i for i in ids}


_ALIASES = {
    "expat": "MIT",
    "mit license": "MIT",
    "the mit license": "MIT",
    "mit/x11": "MIT",
    "x11": "X11",
    "apache 2.0": "Apache-2.0",
    "apache-2": "Apache-2.0",
    "apache 2": "Apache-2.0",
    "apache2": "Apache-2.0",
    "apache license 2.0": "Apache-2.0",
    "apache license, version 2.0": "Apache-2.0",
    "apache license version 2.0": "Apache-2.0",
    "the apache license, version 2.0": "Apache-2.0",
    "the apache software license, version 2.0": "Apache-2.0",
    "asl 2.0": "Apache-2.0",
    "bsd-3-clause": "BSD-3-Clause",
    "bsd-2-clause": "BSD-2-Clause",
    "new bsd license": "BSD-3-Clause",
    "modified bsd license": "BSD-3-Clause",
    "simplified bsd license": "BSD-2-Clause",
    "bsd 3-clause": "BSD-3-Clause",
    "bsd 2-clause": "BSD-2-Clause",
    "isc license": "ISC",
    "mozilla public license 2.0": "MPL-2.0",
    "mpl 2.0": "MPL-2.0",
    "psf": "Python-2.0",
    "psf-2.0": "PSF-2.0",
    "python software foundation license": "Python-2.0",
    "zlib/libpng": "Zlib",
    "public domain": "LicenseRef-public-domain",
    "public-domain": "LicenseRef-public-domain",
    "artistic": "Artistic-1.0-Perl",
    "perl": "Artistic-1.0-Perl OR GPL-1.0-or-later",
    "gfdl-1.2+": "GFDL-1.2-or-later",
    "gfdl-1.3+": "GFDL-1.3-or-later",
    "eclipse public license 1.0": "EPL-1.0",
    "eclipse public license 2.0": "EPL-2.0",
    "cddl-1.0": "CDDL-1.0",
    "unlicense": "Unlicense",
    "the unlicense": "Unlicense",
    "0bsd": "0BSD",
    "cc0": "CC0-1.0",
    "cc0-1.0": "CC0-1.0",
    "wtfpl": "WTFPL",
}

# GNU family: GPL-2, GPL-2+, GPLv2+, GPL2, LGPL-2.1+, AGPL-3.0, GPL-2.0+ ...
_GNU = re.compile(
    r"^(?P<fam>a?gpl|lgpl|gfdl)[-\s]?v?(?P<ver>\d(?:\.\d)?)(?:\.0)?(?P<plus>\+|-or-later|\s+or\s+later)?(?:-only)?$",
    re.I,
)
# Classifier-style names from Python metadata.
_CLASSIFIER = {
    "gnu general public license v2 (gplv2)": "GPL-2.0-only",
    "gnu general public license v2 or later (gplv2+)": "GPL-2.0-or-later",
    "gnu general public license v3 (gplv3)": "GPL-3.0-only",
    "gnu general public license v3 or later (gplv3+)": "GPL-3.0-or-later",
    "gnu lesser general public license v2 (lgplv2)": "LGPL-2.0-only",
    "gnu lesser general public license v2 or later (lgplv2+)": "LGPL-2.0-or-later",
    "gnu lesser general public license v3 (lgplv3)": "LGPL-3.0-only",
    "gnu lesser general public license v3 or later (lgplv3+)": "LGPL-3.0-or-later",
    "gnu affero general public license v3": "AGPL-3.0-only",
    "gnu affero general public license v3 or later (agplv3+)": "AGPL-3.0-or-later",
    "apache software license": "Apache-2.0",
    "mit license": "MIT",
    "mozilla public license 2.0 (mpl 2.0)": "MPL-2.0",
    "isc license (iscl)": "ISC",
    "python software foundation license": "Python-2.0",
    "the unlicense (unlicense)": "Unlicense",
}


def is_spdx_id(value: str) -> bool:
    return value.lower() in _spdx_ids()


def normalize_license(raw: str) -> str:
    """Return the SPDX id for `raw` when certain, else `raw` stripped (never a guess)."""
    value = raw.strip().strip(".;")
    if not value:
        return value
    low = value.lower()
    if low.startswith("license :: osi approved :: ") or low.startswith("license :: "):
        low = low.rsplit("::", 1)[1].strip()
        value = value.rsplit("::", 1)[1].strip()
        if low in _CLASSIFIER:
            return _CLASSIFIER[low]
    ids = _spdx_ids()
    if low in ids:
        return ids[low]
    if low in _ALIASES:
        return _ALIASES[low]
    m = _GNU.match(value)
    if m:
        fam = m.group("fam").upper()
        ver = m.group("ver")
        if "." not in ver:
            ver = {"2": "2.0", "3": "3.0", "1": "1.0"}.get(ver, ver + ".0") if fam != "LGPL" or ver != "2" else "2.0"
        suffix = "-or-later" if m.group("plus") else "-only"
        cand = f"{fam}-{ver}{suffix}"
        if cand.lower() in ids:
            return ids[cand.lower()]
    return value
