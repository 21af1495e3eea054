"""Operating system detection from release files, with distroless Debian images recognised.

`os-release` is authoritative when present; the distribution-specific files refine it (Alpine's
`alpine-release` and Debian's `debian_version` carry the point release that `VERSION_ID`
lacks) or stand in for it on old images. `etc/os-release` is usually a symlink into
`usr/lib`, so both are read and the merged filesystem decides which one is the image's.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence

from customhouse.analyzers.base import Analyzer, Blob, Found, register, resolve_in_image
from customhouse.image.fs import ImageFS
from customhouse.model import AnalysisResult, FileInfo, Note, OSInfo

OS_RELEASE = ("etc/os-release", "usr/lib/os-release")
_REDHAT_LIKE = {
    "etc/redhat-release": "rhel",
    "etc/centos-release": "centos",
    "etc/rocky-release": "rocky",
    "etc/almalinux-release": "almalinux",
    "etc/fedora-release": "fedora",
    "etc/oracle-release": "ol",
    "etc/system-release": "",
}
_RELEASE_RE = re.compile(r"^(?P<name>.+?) release (?P<ver>[0-9][0-9.]*)")


def parse_os_release(text: str) -> dict[str, str]:
    """KEY=value lines with shell quoting, as os-release(5) defines them."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        try:
            parts = shlex.split(value, posix=True)
        except ValueError:
            parts = [value.strip("\"'")]
        out[key.strip()] = parts[0] if parts else ""
    return out


def _family(os_id: str) -> str:
    return {"opensuse-leap": "opensuse", "opensuse-tumbleweed": "opensuse", "sles": "sles"}.get(os_id, os_id)


@register
class OSAnalyzer(Analyzer):
    name = "os"
    version = 1
    paths = frozenset({*OS_RELEASE, "etc/alpine-release", "etc/debian_version", "etc/lsb-release", *_REDHAT_LIKE})
    kinds = frozenset({"file"})
    max_size = 64 << 10

    def analyze(self, info: FileInfo, blob: Blob) -> AnalysisResult | None:
        text = blob.read().decode("utf-8", "replace")
        p = info.path
        if p in OS_RELEASE:
            kv = parse_os_release(text)
            os_id = kv.get("ID", "").lower()
            if not os_id:
                return None
            return AnalysisResult(
                os=OSInfo(
                    family=_family(os_id),
                    version=kv.get("VERSION_ID", ""),
                    name=kv.get("PRETTY_NAME", kv.get("NAME", "")),
                    codename=kv.get("VERSION_CODENAME", ""),
                    id_like=tuple(kv.get("ID_LIKE", "").split()),
                    source=p,
                )
            )
        first = text.strip().splitlines()[0].strip() if text.strip() else ""
        if not first:
            return None
        if p == "etc/alpine-release":
            return AnalysisResult(os=OSInfo("alpine", first, f"Alpine Linux v{first}", source=p))
        if p == "etc/debian_version":
            return AnalysisResult(notes=(Note("debian_version", {"value": first}),))
        if p == "etc/lsb-release":
            kv = parse_os_release(text)
            if kv.get("DISTRIB_ID", "").lower() == "ubuntu":
                return AnalysisResult(
                    os=OSInfo(
                        "ubuntu",
                        kv.get("DISTRIB_RELEASE", ""),
                        kv.get("DISTRIB_DESCRIPTION", ""),
                        codename=kv.get("DISTRIB_CODENAME", ""),
                        source=p,
                    )
                )
            return None
        m = _RELEASE_RE.match(first)
        if not m:
            return None
        fam = _REDHAT_LIKE.get(p) or _family_from_name(m.group("name"))
        return AnalysisResult(os=OSInfo(fam, m.group("ver"), first, source=p))

    def finalize(self, found: Sequence[Found], fs: ImageFS | None) -> AnalysisResult:
        by_path = {f.path: f.result for f in found}
        warnings: list[Note] = []
        chosen: OSInfo | None = None
        # The image's own os-release: follow etc/os-release through symlinks inside the image.
        for candidate in OS_RELEASE:
            path = resolve_in_image(fs, candidate, "os", warnings)
            if path is None:
                continue
            res = by_path.get(path)
            if res is not None and res.os is not None:
                chosen = res.os
                break
        debian_version = next(
            (str(n.data.get("value", "")) for f in found for n in f.result.notes if n.kind == "debian_version"), ""
        )
        alpine = by_path.get("etc/alpine-release")
        if chosen is None:
            for path in ("etc/alpine-release", "etc/lsb-release", *_REDHAT_LIKE):
                res = by_path.get(path)
                if res is not None and res.os is not None:
                    chosen = res.os
                    break
        if chosen is not None and chosen.family == "alpine" and alpine is not None and alpine.os is not None:
            # alpine-release has the full point release (3.10.3) that VERSION_ID may round.
            chosen = OSInfo(
                chosen.family, alpine.os.version, chosen.name, chosen.codename, chosen.id_like, chosen.source
            )
        distroless = fs is not None and bool(fs.listdir("var/lib/dpkg/status.d")) and "var/lib/dpkg/status" not in fs
        if chosen is None and debian_version and debian_version[:1].isdigit():
            chosen = OSInfo("debian", debian_version, f"Debian GNU/Linux {debian_version}", source="etc/debian_version")
        elif chosen is None and distroless:
            chosen = OSInfo("debian", "", "Debian (distroless)", source="var/lib/dpkg/status.d")
        # debian_version has the point release (12.5) that os-release omits.
        if (
            chosen is not None
            and chosen.family == "debian"
            and debian_version[:1].isdigit()
            and (not chosen.version or debian_version.startswith(chosen.version.split(".")[0] + "."))
        ):
            chosen = OSInfo("debian", debian_version, chosen.name, chosen.codename, chosen.id_like, chosen.source)
        if chosen is not None and distroless:
            chosen = OSInfo(
                chosen.family, chosen.version, chosen.name, chosen.codename, chosen.id_like, chosen.source, True
            )
        return AnalysisResult(os=chosen, notes=tuple(warnings))


def _family_from_name(name: str) -> str:
    n = name.lower()
    for key, fam in (
        ("red hat", "rhel"),
        ("centos", "centos"),
        ("rocky", "rocky"),
        ("alma", "almalinux"),
        ("fedora", "fedora"),
        ("oracle", "ol"),
        ("amazon", "amzn"),
    ):
        if key in n:
            return fam
    return n.split()[0] if n else ""
