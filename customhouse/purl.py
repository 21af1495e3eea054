"""Package URLs, built in one place after the OS is known.

Analyzers of OS packages cannot know the distribution (the dpkg database looks the same on
Debian and Ubuntu, and is cached per layer without the OS), so every PURL is completed here,
with the `distro` qualifier that tells consumers which advisories apply.

Names follow each ecosystem's own identifier so matching needs no translation: Maven
`group:artifact`, npm `@scope/name`, Go module paths, Composer `vendor/name`.
"""

from __future__ import annotations

import re
from dataclasses import replace

from packageurl import PackageURL

from customhouse.model import OSInfo, Package

_RPM_VENDOR = {
    "rhel": "redhat",
    "centos": "centos",
    "rocky": "rocky",
    "almalinux": "almalinux",
    "fedora": "fedora",
    "amzn": "amazon",
    "ol": "oracle",
    "opensuse": "opensuse",
    "opensuse-leap": "opensuse",
    "opensuse-tumbleweed": "opensuse",
    "sles": "suse",
    "sle-micro": "suse",
    "photon": "photon",
    "mariner": "mariner",
    "azurelinux": "azurelinux",
}


def pep503(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _distro(os_info: OSInfo | None) -> str:
    if os_info is None or not os_info.family:
        return ""
    return f"{os_info.family}-{os_info.version}" if os_info.version else os_info.family


def build_purl(p: Package, os_info: OSInfo | None) -> str:
    q: dict[str, str] = {}
    ns: str | None = None
    name = p.name
    version = p.version
    t = p.type
    if t == "deb":
        ns = "ubuntu" if os_info and os_info.family == "ubuntu" else "debian"
        if p.arch:
            q["arch"] = p.arch
        if p.source_name and p.source_name != p.name:
            q["upstream"] = p.source_name
    elif t == "apk":
        ns = os_info.family if os_info and os_info.family in ("alpine", "wolfi", "chainguard") else "alpine"
        if p.arch:
            q["arch"] = p.arch
        if p.source_name and p.source_name != p.name:
            q["upstream"] = p.source_name
    elif t == "rpm":
        ns = _RPM_VENDOR.get(os_info.family, os_info.family) if os_info else None
        epoch, sep, rest = version.partition(":")
        if sep and epoch.isdigit():
            version = rest
            if epoch != "0":
                q["epoch"] = epoch
        if p.arch:
            q["arch"] = p.arch
        if p.source_name:
            q["upstream"] = p.meta("sourcerpm") or p.source_name
    elif t == "pypi":
        name = pep503(name)
    elif t == "npm":
        if name.startswith("@") and "/" in name:
            ns, name = name.split("/", 1)
    elif t == "golang":
        if "/" in name:
            ns, name = name.rsplit("/", 1)
    elif t == "maven":
        if ":" in name:
            ns, name = name.split(":", 1)
    elif t == "composer" and "/" in name:
        ns, name = name.split("/", 1)
    d = _distro(os_info) if t in ("deb", "apk", "rpm") else ""
    if d:
        q["distro"] = d
    return PackageURL(type=t, namespace=ns, name=name, version=version or None, qualifiers=q or None).to_string()


def complete_purl(p: Package, os_info: OSInfo | None) -> Package:
    if p.purl:
        return p
    try:
        return replace(p, purl=build_purl(p, os_info))
    except ValueError:
        return p
