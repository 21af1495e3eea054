"""Image references as Docker reads them: `[registry/]repository[:tag][@digest]`.

Users type references the way `docker pull` accepts them, so we parse them the same way:
the first path component is a registry only when it looks like a host (has a dot or a port,
or is `localhost`, or has upper-case letters, which repository names may not), Docker Hub is
the default, its single-component names live under `library/`, and the tag defaults to
`latest` unless a digest pins the image.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from customhouse.errors import InputError

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "index.docker.io"
# The key `docker login` writes for Docker Hub, and the server URL credential helpers expect.
DOCKER_HUB_AUTH_KEY = "https://index.docker.io/v1/"
DEFAULT_TAG = "latest"
MAX_NAME = 255

_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPOSITORY_RE = re.compile(rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*")
_DOMAIN_LABEL = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN_RE = re.compile(rf"(?:{_DOMAIN_LABEL}(?:\.{_DOMAIN_LABEL})*|\[[0-9a-fA-F:.]+\])(?::[0-9]{{1,5}})?")
_TAG_RE = re.compile(r"[\w][\w.-]{0,127}")
_DIGEST_RE = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}")
_HEX_LEN = {"sha256": 64, "sha512": 128}
_HEX_RE = re.compile(r"[a-f0-9]+")


@dataclass(frozen=True, slots=True)
class Reference:
    """A parsed reference; `registry` is `docker.io` for Docker Hub, as Docker prints it."""

    registry: str
    repository: str
    tag: str = ""
    digest: str = ""

    @property
    def api_host(self) -> str:
        """Host (and port) that serves the distribution API for this registry."""
        return DOCKER_HUB_API if self.registry == DOCKER_HUB else self.registry

    @property
    def reference(self) -> str:
        """What goes after `/manifests/` in the API: the digest when pinned, else the tag."""
        return self.digest or self.tag or DEFAULT_TAG

    @property
    def name(self) -> str:
        """Full repository name with its registry: `docker.io/library/alpine`."""
        return f"{self.registry}/{self.repository}"

    @property
    def familiar_name(self) -> str:
        """The short form Docker shows (`alpine`, `user/app`, `ghcr.io/o/app`)."""
        if self.registry != DOCKER_HUB:
            return self.name
        return self.repository.removeprefix("library/")

    def familiar(self) -> str:
        """The short, user-facing form of the whole reference, as `docker images` shows it."""
        return self.familiar_name + (f":{self.tag}" if self.tag else "") + (f"@{self.digest}" if self.digest else "")

    def __str__(self) -> str:
        return self.name + (f":{self.tag}" if self.tag else "") + (f"@{self.digest}" if self.digest else "")


def parse_reference(text: str) -> Reference:
    """Parse `text` like `docker pull` does; bad references raise InputError (exit 3)."""
    where = f"image reference {text!r}"
    if not text or text != text.strip():
        raise InputError(f"{where}: empty or surrounded by whitespace")
    rest, at, digest = text.partition("@")
    if at:
        check_digest(digest, where)
    tag = ""
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > slash:
        rest, tag = rest[:colon], rest[colon + 1 :]
        if not _TAG_RE.fullmatch(tag):
            raise InputError(f"{where}: invalid tag {tag!r} (letters, digits, '_', '.', '-'; at most 128)")
    registry, repository = _split_registry(rest, where)
    if not repository or not _REPOSITORY_RE.fullmatch(repository):
        if repository.lower() != repository and _REPOSITORY_RE.fullmatch(repository.lower()):
            raise InputError(f"{where}: repository names must be lowercase")
        raise InputError(f"{where}: invalid repository name {repository!r}")
    if registry == DOCKER_HUB and "/" not in repository:
        if re.fullmatch(r"[a-f0-9]{64}", repository):
            raise InputError(f"{where}: a 64-character hexadecimal string is an image ID, not a repository name")
        repository = f"library/{repository}"
    if len(f"{registry}/{repository}") > MAX_NAME:
        raise InputError(f"{where}: name longer than {MAX_NAME} characters")
    if not tag and not digest:
        tag = DEFAULT_TAG
    return Reference(registry=registry, repository=repository, tag=tag, digest=digest)


def _split_registry(name: str, where: str) -> tuple[str, str]:
    first, slash, remainder = name.partition("/")
    looks_like_host = slash and ("." in first or ":" in first or first == "localhost" or first.lower() != first)
    if not looks_like_host:
        return DOCKER_HUB, name
    if not _DOMAIN_RE.fullmatch(first):
        raise InputError(f"{where}: invalid registry host {first!r}")
    port = first.rpartition(":")[2] if ":" in first and not first.endswith("]") else ""
    if port and not 0 < int(port) < 65536:
        raise InputError(f"{where}: invalid port {port}")
    if first in (DOCKER_HUB_API, "registry-1.docker.io"):
        first = DOCKER_HUB
    return first, remainder


def check_digest(digest: str, where: str) -> None:
    """Digests name blobs in URLs and hashes, so accept only the well-formed, supported kinds."""
    if not _DIGEST_RE.fullmatch(digest):
        raise InputError(f"{where}: invalid digest {digest!r}")
    algo, _, hexpart = digest.partition(":")
    if algo not in _HEX_LEN:
        raise InputError(f"{where}: unsupported digest algorithm {algo!r} (sha256 and sha512 are)")
    if len(hexpart) != _HEX_LEN[algo] or not _HEX_RE.fullmatch(hexpart):
        raise InputError(f"{where}: digest {digest!r} is not {_HEX_LEN[algo]} lowercase hex digits")
