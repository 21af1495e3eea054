"""Options shared by every stage: where we may write, and how much hostile input may cost.

Everything we write goes below `cache_dir` (layer cache, spooled archives, temporary blobs,
databases, debug logs), so one directory is all a user must allow and all a test must watch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from customhouse.cachedir import default_cache_dir

if TYPE_CHECKING:
    import tempfile


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on what one input may make us do; all configurable from the CLI.

    The ratio check only starts after `ratio_floor` decompressed bytes, so small layers of
    zero-filled files (which legitimately compress 1000:1) are never refused.
    """

    max_layer_bytes: int = 32 << 30  # uncompressed bytes per layer
    max_ratio: int = 1000  # uncompressed / compressed
    ratio_floor: int = 512 << 20
    max_entries: int = 4_000_000  # tar entries per layer
    max_path_len: int = 4096
    max_json_bytes: int = 16 << 20  # manifests, configs, indexes
    max_nested_archive_depth: int = 4  # jars inside wars inside ears
    max_member_spool: int = 16 << 20  # bytes of one file kept in memory before spooling to disk


@dataclass(frozen=True, slots=True)
class Settings:
    cache_dir: Path = field(default_factory=default_cache_dir)
    limits: Limits = field(default_factory=Limits)
    platform: str = ""  # os/arch[/variant]; "" = this machine's
    insecure: bool = False  # plain HTTP / unverified TLS for registries (localhost testing)
    offline: bool = False
    use_cache: bool = True
    progress: bool = False  # set by the CLI when stderr is a terminal
    strict_analyzers: bool = False  # re-raise analyzer bugs instead of warning (tests)
    docker_config: Path | None = None  # defaults to $DOCKER_CONFIG/config.json or ~/.docker/config.json

    @property
    def tmp_dir(self) -> Path:
        d = self.cache_dir / "tmp"
        d.mkdir(parents=True, exist_ok=True)
        return d

    def spool_file(self, suffix: str = "") -> tempfile._TemporaryFileWrapper[bytes]:
        """A temporary file inside the cache directory, deleted when closed."""
        import tempfile

        return tempfile.NamedTemporaryFile(dir=self.tmp_dir, suffix=suffix, delete=True)

    def spooled(self) -> tempfile.SpooledTemporaryFile[bytes]:
        """Memory up to `max_member_spool`, then a file in the cache directory."""
        import tempfile

        return tempfile.SpooledTemporaryFile(max_size=self.limits.max_member_spool, dir=str(self.tmp_dir))


def host_platform() -> str:
    machine = os.uname().machine
    arch = {
        "x86_64": "amd64",
        "aarch64": "arm64",
        "armv7l": "arm",
        "i686": "386",
        "ppc64le": "ppc64le",
        "s390x": "s390x",
    }
    return f"linux/{arch.get(machine, machine)}"
