"""The pattern-based secret heuristics shared by the Env, label and history checks."""

from __future__ import annotations

import pytest

from customhouse.misconfig.checks._secrettext import (
    _secret_name,
    assignment_hits,
    redact,
    secret_file_name,
    text_hits,
)
from customhouse.misconfig.checks.imageconfig import _tag


@pytest.mark.parametrize(
    "name",
    [
        "DB_PASSWORD",
        "MYSQL_ROOT_PASSWORD",
        "AWS_SECRET_ACCESS_KEY",
        "NPM_TOKEN",
        "_authToken",
        "githubToken",
        "API_KEY",
        "STRIPE_KEY",
        "SECRET_KEY_BASE",
        "com.example.api-key",
        "REDIS_PASS",
        "CLIENT_SECRET",
    ],
)
def test_secret_names(name: str) -> None:
    assert _secret_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "GPG_KEY",
        "PWD",
        "PATH",
        "POSTGRES_PASSWORD_FILE",
        "TOKEN_URL",
        "PASSWORD_MIN_LENGTH",
        "API_KEY_HEADER",
        "AWS_ACCESS_KEY_ID",  # an identifier; the AKIA value pattern catches real ones
        "KEYBOARD_LAYOUT",
        "MONKEY_MODE",
        "PYTHON_SHA256",
    ],
)
def test_not_secret_names(name: str) -> None:
    assert not _secret_name(name)


@pytest.mark.parametrize(
    "value", ["", "true", "${TOKEN}", "$TOKEN", "/run/secrets/token", "xxxxxxxx", "***", "<token>"]
)
def test_placeholders_are_not_secrets(value: str) -> None:
    assert assignment_hits("API_TOKEN", value) == []


def test_token_shapes_are_found_under_any_name() -> None:
    (hit,) = assignment_hits("NOTES", "ghp_" + "A" * 36)
    assert hit.kind == "GitHub token"
    (pem,) = assignment_hits("CERT", "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE")
    assert pem.kind == "private key"


def test_history_text_forms() -> None:
    text = (
        "RUN |2 NPM_TOKEN=abc123secret VERSION=1.0 /bin/sh -c "
        "export API_KEY='k3y-value-1' && docker build --build-arg DB_PASS=pw0rd-99 . && "
        "mysql --password=Sup3rS3cret && curl -H 'Authorization: Bearer eyJhbGciOi.abc.def123456' "
        "https://bot:tok3n-value@git.example.com/r.git"
    )
    found = {(h.name, h.value) for h in text_hits(text)}
    assert found == {
        ("NPM_TOKEN", "abc123secret"),
        ("API_KEY", "k3y-value-1"),
        ("DB_PASS", "pw0rd-99"),
        ("--password", "Sup3rS3cret"),
        ("Authorization", "eyJhbGciOi.abc.def123456"),
        ("bot", "tok3n-value"),
    }
    known = frozenset({("NPM_TOKEN", "abc123secret")})
    assert ("NPM_TOKEN", "abc123secret") not in {(h.name, h.value) for h in text_hits(text, known)}


def test_redaction_hides_most_of_short_values_and_correlates() -> None:
    long = redact("abcdefghijklmnopqrstuvwxyz")
    assert long.startswith("abcd…[redacted sha256:") and "efgh" not in long
    short = redact("hunter22")
    assert short.startswith("hu…") and "hunter" not in short
    assert redact("hunter22") == short and redact("hunter23") != short


@pytest.mark.parametrize(
    ("path", "secret"),
    [
        ("root/.ssh/id_ed25519", True),
        ("app/.env", True),
        ("app/.env.production", True),
        ("app/.env.example", False),
        ("home/u/.docker/config.json", True),
        ("srv/tls/server.key", True),
        ("srv/tls/privkey.pem", True),
        ("srv/tls/fullchain.pem", False),
        ("etc/ssl/certs/ssl-cert-snakeoil.pem", False),
        ("usr/lib/python3/dist-packages/certifi/cacert.pem", False),
        ("usr/lib/node_modules/x/test/fixtures/key.pem", False),
        ("app/README.md", False),
    ],
)
def test_secret_file_names(path: str, secret: bool) -> None:
    assert secret_file_name(path) is secret


@pytest.mark.parametrize(
    ("ref", "tag"),
    [
        ("alpine:latest", "latest"),
        ("registry.local:5000/team/app:latest", "latest"),
        ("registry.local:5000/team/app", ""),
        ("latest", "latest"),
        ("app:1.2@sha256:" + "0" * 64, "1.2"),
    ],
)
def test_tags(ref: str, tag: str) -> None:
    assert _tag(ref) == tag
