"""Container image references (`ubuntu:22.04`, `ghcr.io/o/r@sha256:...`) split as registries read them.

Its own module because both the Dockerfile checks (`FROM`) and the Kubernetes workload checks
(`image:`) need it, and a manifest scan should not load the Dockerfile model and shell parser
for it.
"""

from __future__ import annotations

from dataclasses import dataclass

from customhouse import _native

_HUB_ALIASES = frozenset({"index.docker.io", "registry-1.docker.io", "registry.hub.docker.com", "docker.io"})


@dataclass(frozen=True)
class ImageRef:
    """An image reference split the way registries read it (Docker Hub names normalised)."""

    original: str
    registry: str
    repository: str
    tag: str = ""
    digest: str = ""

    def __init__(self, original: str, registry: str, repository: str, tag: str = "", digest: str = "") -> None:
        object.__setattr__(self, "original", original)  # written out so that mypyc compiles it
        object.__setattr__(self, "registry", registry)
        object.__setattr__(self, "repository", repository)
        object.__setattr__(self, "tag", tag)
        object.__setattr__(self, "digest", digest)

    @property
    def name(self) -> str:
        return f"{self.registry}/{self.repository}"

    @property
    def familiar(self) -> str:
        """The short spelling people write (`ubuntu`, `ghcr.io/o/r`) without tag or digest."""
        if self.registry == "docker.io":
            return self.repository.removeprefix("library/")
        return self.name


def parse_image_ref(ref: str) -> ImageRef | None:
    """`ubuntu:22.04` -> docker.io/library/ubuntu tag 22.04; None when it is not a reference."""
    ref = ref.strip()
    if not ref or any(c.isspace() for c in ref) or ref.startswith(("/", ":", "@", "-")):
        return None
    name, _, digest = ref.partition("@")
    registry = "docker.io"
    rest = name
    first, sep, remainder = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost" or first != first.lower()):
        registry = first.lower()
        rest = remainder
    if registry in _HUB_ALIASES:
        registry = "docker.io"
    tag = ""
    last_slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > last_slash:
        rest, tag = rest[:colon], rest[colon + 1 :]
    if not rest:
        return None
    if registry == "docker.io" and "/" not in rest:
        rest = "library/" + rest
    return ImageRef(original=ref, registry=registry, repository=rest.lower(), tag=tag, digest=digest)


# compiled by mypyc, these cannot be pickled the default way (customhouse/_native.py)
_native.picklable(ImageRef)
