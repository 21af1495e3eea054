"""Reference parsing follows Docker's rules; these cases are the ones people actually type."""

from __future__ import annotations

import pytest

from customhouse.errors import EXIT_INPUT, InputError
from customhouse.targets.registry.reference import parse_reference

D = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag", "digest", "api_host"),
    [
        ("alpine", "docker.io", "library/alpine", "latest", "", "index.docker.io"),
        ("alpine:3.20", "docker.io", "library/alpine", "3.20", "", "index.docker.io"),
        ("user/app:v1", "docker.io", "user/app", "v1", "", "index.docker.io"),
        ("docker.io/alpine", "docker.io", "library/alpine", "latest", "", "index.docker.io"),
        ("index.docker.io/library/alpine", "docker.io", "library/alpine", "latest", "", "index.docker.io"),
        ("localhost/foo", "localhost", "foo", "latest", "", "localhost"),
        ("localhost:5000/foo:bar", "localhost:5000", "foo", "bar", "", "localhost:5000"),
        ("127.0.0.1:5000/a/b/c:t", "127.0.0.1:5000", "a/b/c", "t", "", "127.0.0.1:5000"),
        ("ghcr.io/o/app@" + D, "ghcr.io", "o/app", "", D, "ghcr.io"),
        ("ghcr.io/o/app:v2@" + D, "ghcr.io", "o/app", "v2", D, "ghcr.io"),
        ("alpine@" + D, "docker.io", "library/alpine", "", D, "index.docker.io"),
        ("Registry/app", "Registry", "app", "latest", "", "Registry"),
        ("[::1]:5000/app:x", "[::1]:5000", "app", "x", "", "[::1]:5000"),
        ("my-reg.example.com/a__b/c-d.e:1.0_rc-1", "my-reg.example.com", "a__b/c-d.e", "1.0_rc-1", "", None),
    ],
)
def test_parse(text: str, registry: str, repository: str, tag: str, digest: str, api_host: str | None) -> None:
    ref = parse_reference(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (registry, repository, tag, digest)
    assert ref.api_host == (api_host or registry)
    assert ref.reference == (digest or tag)


def test_familiar_forms() -> None:
    assert parse_reference("alpine").familiar() == "alpine:latest"
    assert str(parse_reference("alpine")) == "docker.io/library/alpine:latest"
    assert parse_reference("user/app@" + D).familiar() == "user/app@" + D
    assert parse_reference("localhost:5000/x:y").familiar_name == "localhost:5000/x"


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "empty"),
        (" alpine", "whitespace"),
        ("Alpine", "lowercase"),
        ("alpine:", "invalid tag"),
        ("alpine:-x", "invalid tag"),
        ("alpine:" + "t" * 129, "invalid tag"),
        ("a/b/", "invalid repository"),
        ("a//b", "invalid repository"),
        ("-a", "invalid repository"),
        ("a..b", "invalid repository"),
        ("alpine@sha256:abc", "invalid digest"),
        ("alpine@md5:" + "a" * 32, "unsupported digest algorithm"),
        ("alpine@sha256:" + "A" * 64, "lowercase hex"),
        ("alpine@sha256:" + "a" * 63 + "=", "lowercase hex"),
        ("a" * 64, "image ID"),
        ("localhost:99999/x", "invalid port"),
        ("exa_mple.com/x", "invalid registry host"),
        ("r.io/" + "a" * 260, "longer than 255"),
    ],
)
def test_rejects(text: str, why: str) -> None:
    with pytest.raises(InputError) as info:
        parse_reference(text)
    assert why in info.value.message
    assert info.value.exit_code == EXIT_INPUT
    assert "\n" not in info.value.message
