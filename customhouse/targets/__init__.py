"""Target syntax -> source. See CONVENTIONS.md: `docker-archive:`, `oci-archive:`, `oci-layout:`,
`dir:`, `sbom:`, `registry:`, or a bare reference (an existing path is sniffed; anything else is
a registry reference)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from customhouse.errors import InputError, UsageError
from customhouse.settings import Settings

if TYPE_CHECKING:
    from customhouse.targets.base import ImageSource, RootfsSource
    from customhouse.targets.sbom import SbomSource

    Source = ImageSource | RootfsSource | SbomSource

SCHEMES = ("docker-archive", "oci-archive", "oci-layout", "oci", "dir", "sbom", "registry", "docker")


def split_path_ref(rest: str) -> tuple[Path, str]:
    """`PATH[:REF]` where PATH may itself contain colons: the longest existing prefix wins."""
    if Path(rest).exists():
        return Path(rest), ""
    idx = rest.find(":")
    while idx != -1:
        cand = rest[:idx]
        if cand and Path(cand).exists():
            return Path(cand), rest[idx + 1 :]
        idx = rest.find(":", idx + 1)
    return Path(rest), ""


def sniff_path(path: Path) -> str:
    """Guess the kind of a bare path; raises InputError when nothing fits."""
    if path.is_dir():
        if (path / "index.json").is_file() and (path / "oci-layout").is_file():
            return "oci-layout"
        return "dir"
    try:
        with open(path, "rb") as f:
            head = f.read(2048)
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    stripped = head.lstrip()
    if stripped.startswith((b"{", b"[")):
        return "sbom"
    if head.startswith(b"\x1f\x8b") or _is_tar(path):
        try:
            from customhouse.targets.base import TarIndex

            idx = TarIndex(path, Settings(), str(path))
            try:
                if idx.has("index.json") and not idx.has("manifest.json"):
                    return "oci-archive"
                return "docker-archive"
            finally:
                idx.close()
        except InputError:
            pass
    try:
        json.loads(path.read_bytes())
        return "sbom"
    except (ValueError, OSError):
        pass
    raise InputError(
        f"{path}: cannot tell what kind of target this is; prefix it with docker-archive:, oci-archive:, sbom: ..."
    )


def _is_tar(path: Path) -> bool:
    import tarfile

    try:
        return tarfile.is_tarfile(path)
    except OSError:
        return False


def open_target(spec: str, settings: Settings) -> Source:
    """Open `spec`; the caller closes the returned source."""
    if not spec:
        raise UsageError("empty target")
    scheme, sep, rest = spec.partition(":")
    if not sep or scheme not in SCHEMES or (scheme in ("docker", "registry") and rest.startswith("//")):
        if scheme in ("docker", "registry") and rest.startswith("//"):
            rest = rest[2:]
            return _registry(rest, settings, spec)
        path = Path(spec)
        if path.exists():
            return open_target(f"{sniff_path(path)}:{spec}", settings)
        return _registry(spec, settings, spec)
    if scheme in ("docker-archive", "oci-archive", "oci-layout", "oci"):
        path, ref = split_path_ref(rest)
        if scheme == "docker-archive":
            from customhouse.targets.docker_archive import DockerArchive

            return DockerArchive(path, ref, settings, spec)
        from customhouse.targets.oci import OCILayout

        kind = "oci-archive" if scheme == "oci-archive" else "oci-layout"
        return OCILayout(kind, path, ref, settings, spec)
    if scheme == "dir":
        from customhouse.targets.rootfs import DirSource

        return DirSource(Path(rest), spec)
    if scheme == "sbom":
        from customhouse.targets.sbom import SbomSource

        return SbomSource(Path(rest), spec, settings)
    return _registry(rest, settings, spec)


def _registry(ref: str, settings: Settings, spec: str) -> Source:
    from customhouse.targets.registry.source import RegistrySource

    return RegistrySource(ref, settings, spec)
