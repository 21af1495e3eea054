"""Real images for the image-config tests: the Alpine minirootfs plus crafted layers.

Each image is written as a docker-archive (or OCI layout) with `ImageBuilder` and cataloged
through `catalog()` exactly as the CLI does.
"""

from __future__ import annotations

import json
import tarfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from customhouse.analyzers.base import Dispatcher, select
from customhouse.analyzers.imagefacts import FACTS_ANALYZER
from customhouse.catalog import catalog
from customhouse.image.scan import ImageAnalysis
from customhouse.image.writer import ImageBuilder, dir_entry, file_entry
from customhouse.misconfig.engine import Options
from customhouse.misconfig.imageconfig import scan_image_config
from customhouse.report.findings import Finding
from customhouse.settings import Settings
from tests.conftest import alpine_layer_tar

Entry = tuple[tarfile.TarInfo, bytes | None]
NOW = "2024-06-01"  # the reference date for age checks, so results do not depend on today
# A configuration that passes every config-based check; tests change one thing at a time.
CLEAN_CONFIG: dict[str, Any] = {
    "User": "10001:10001",
    "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
    "Healthcheck": {"Test": ["CMD", "/bin/true"], "Interval": 30_000_000_000},
    "Entrypoint": ["/usr/local/bin/app"],
    "ExposedPorts": {"8080/tcp": {}},
    "Labels": {"org.opencontainers.image.source": "https://example.com/app.git"},
}


def entry(name: str, data: bytes = b"x", mode: int = 0o644, uid: int = 0, gid: int = 0) -> Entry:
    ti, content = file_entry(name, data, mode)
    ti.uid, ti.gid = uid, gid
    return ti, content


def directory(name: str, mode: int = 0o755) -> Entry:
    return dir_entry(name, mode)


def whiteout(path: str) -> Entry:
    """Deletes `path` from the layers below (OCI whiteout file)."""
    parent, _, base = path.rpartition("/")
    return file_entry(f"{parent}/.wh.{base}" if parent else f".wh.{base}", b"")


@dataclass
class Layer:
    entries: Sequence[Entry]
    created_by: str = ""


@dataclass
class Empty:
    """A history step that made no layer (ARG, ENV, USER, LABEL ...)."""

    created_by: str


class _Builder(ImageBuilder):
    created: str = "1970-01-01T00:00:00Z"

    def config_json(self) -> bytes:
        doc = json.loads(super().config_json())
        doc["created"] = self.created
        return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


@dataclass
class Image:
    analysis: ImageAnalysis
    options: Options = field(default_factory=lambda: Options(extra={"now": NOW}))

    def findings(self, skip: Iterable[str] = (), options: Options | None = None) -> list[Finding]:
        return scan_image_config(self.analysis, options or self.options, skip)

    def ids(self, options: Options | None = None) -> list[str]:
        return sorted({f.id for f in self.findings(options=options)})

    def of(self, check_id: str, options: Options | None = None) -> list[Finding]:
        return [f for f in self.findings(options=options) if f.id == check_id]


def build(
    tmp: Path,
    steps: Sequence[Layer | Empty] = (),
    config: dict[str, Any] | None = None,
    tag: str = "example.com/app:1.0",
    created: str = "2024-05-20T10:00:00Z",
    base: bool = True,
    oci: bool = False,
    facts: bool = True,
    cache: Path | None = None,
) -> Image:
    """Alpine (unless `base` is False), then `steps` in order; cataloged and ready to scan."""
    b = _Builder(tmp / "work")
    b.created = created
    b.config = dict(CLEAN_CONFIG if config is None else config)
    if base:
        b.add_layer_tar(alpine_layer_tar("3.20.3"), "ADD alpine-minirootfs-3.20.3-x86_64.tar.gz / # buildkit", "none")
    for step in steps:
        if isinstance(step, Empty):
            b.history.append({"created": "2024-05-20T10:00:00Z", "created_by": step.created_by, "empty_layer": True})
        else:
            b.add_layer_entries(step.entries, step.created_by or f"RUN step {len(b.layers)}", "none")
    if oci:
        b.write_oci_layout(tmp / "oci", tag)
        spec = f"oci-layout:{tmp / 'oci'}"
    else:
        b.write_docker_archive(tmp / "image.tar", tag)
        spec = f"docker-archive:{tmp / 'image.tar'}"
    settings = Settings(cache_dir=cache or tmp / "cache", strict_analyzers=True)
    # facts=False: catalog without the image-facts analyzer, as an inventory-only scan would.
    dispatcher = select() if facts else Dispatcher(a for a in select().analyzers if a.name != FACTS_ANALYZER)
    return Image(catalog(spec, settings, dispatcher=dispatcher))
