"""Docker config and credential-helper lookup, and WWW-Authenticate parsing, against real files
and a real helper executable on PATH."""

from __future__ import annotations

import base64
import logging
from pathlib import Path

import pytest

from customhouse.settings import Settings
from customhouse.targets.registry.auth import Challenge, parse_challenges
from customhouse.targets.registry.credentials import docker_config_path, lookup_credentials
from tests.registry.conftest import write_config


def _b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


def make_helper(bin_dir: Path, name: str, server: str, user: str, secret: str, log: Path) -> None:
    """A real `docker-credential-<name>` that knows one server and logs what it was asked."""
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / f"docker-credential-{name}"
    script.write_text(
        "#!/bin/sh\n"
        "read -r url\n"
        f'echo "$1 $url" >> "{log}"\n'
        f'if [ "$1" = get ] && [ "$url" = "{server}" ]; then\n'
        f'  printf \'{{"ServerURL":"%s","Username":"{user}","Secret":"{secret}"}}\' "$url"\n'
        "else\n"
        "  echo 'credentials not found in native keychain'; exit 1\n"
        "fi\n"
    )
    script.chmod(0o755)


def test_challenges() -> None:
    got = parse_challenges(
        [
            'Bearer realm="https://auth.example.com/token",service="registry.example.com",'
            'scope="repository:a/b:pull,push"',
            'Basic realm="Registry \\"Realm\\", inc", Bearer realm=https://x/t , error=invalid_token',
        ]
    )
    assert got == [
        Challenge(
            "bearer",
            {
                "realm": "https://auth.example.com/token",
                "service": "registry.example.com",
                "scope": "repository:a/b:pull,push",
            },
        ),
        Challenge("basic", {"realm": 'Registry "Realm", inc'}),
        Challenge("bearer", {"realm": "https://x/t", "error": "invalid_token"}),
    ]
    assert parse_challenges([""]) == []


def test_auths_entries(tmp_path: Path) -> None:
    cfg = tmp_path / "config.json"
    write_config(
        cfg,
        {
            "auths": {
                "https://index.docker.io/v1/": {"auth": _b64("hubuser:hub:pass")},
                "http://reg.example.com:5000/v2/": {"username": "u2", "password": "p2"},
                "tok.example.com": {"identitytoken": "refresh-abc"},
                "bad.example.com": {"auth": "!!not base64"},
            }
        },
    )
    s = Settings(cache_dir=tmp_path / "c", docker_config=cfg)
    hub = lookup_credentials("docker.io", s)
    assert (hub.username, hub.password, hub.origin) == ("hubuser", "hub:pass", str(cfg))
    other = lookup_credentials("reg.example.com:5000", s)
    assert (other.username, other.password) == ("u2", "p2")
    tok = lookup_credentials("tok.example.com", s)
    assert tok.identity_token == "refresh-abc" and bool(tok)
    assert not lookup_credentials("bad.example.com", s)
    assert not lookup_credentials("reg.example.com", s)  # the port is part of the name


def test_config_location(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "dc"))
    assert docker_config_path(Settings(cache_dir=tmp_path)) == tmp_path / "dc" / "config.json"
    monkeypatch.delenv("DOCKER_CONFIG")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert docker_config_path(Settings(cache_dir=tmp_path)) == tmp_path / "home" / ".docker" / "config.json"


def test_broken_config_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cfg = tmp_path / "config.json"
    cfg.write_text("{not json")
    with caplog.at_level(logging.WARNING):
        assert not lookup_credentials("r.example.com", Settings(cache_dir=tmp_path, docker_config=cfg))
    assert "not valid JSON" in caplog.text
    assert not lookup_credentials("r.example.com", Settings(cache_dir=tmp_path, docker_config=tmp_path / "none"))


def test_helpers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    log = tmp_path / "helper.log"
    make_helper(tmp_path / "bin", "per", "r1.example.com", "helperuser", "helpersecret", log)
    make_helper(tmp_path / "bin", "store", "https://index.docker.io/v1/", "<token>", "idtok", log)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{Path('/usr/bin')}:{Path('/bin')}")
    cfg = tmp_path / "config.json"
    write_config(
        cfg,
        {
            "credsStore": "store",
            "credHelpers": {"r1.example.com": "per", "r2.example.com": "absent"},
            "auths": {"r3.example.com": {"auth": _b64("fileuser:filepass")}},
        },
    )
    s = Settings(cache_dir=tmp_path / "c", docker_config=cfg)
    per = lookup_credentials("r1.example.com", s)
    assert (per.username, per.password, per.origin) == (
        "helperuser",
        "helpersecret",
        "credential helper docker-credential-per",
    )
    hub = lookup_credentials("docker.io", s)
    assert (hub.identity_token, hub.username) == ("idtok", "")
    # The store has nothing for r3: the file's own entry is the fallback.
    r3 = lookup_credentials("r3.example.com", s)
    assert (r3.username, r3.password) == ("fileuser", "filepass")
    with caplog.at_level(logging.WARNING):
        assert not lookup_credentials("r2.example.com", s)
    assert "docker-credential-absent is not on PATH" in caplog.text
    assert log.read_text().splitlines() == [
        "get r1.example.com",
        "get https://index.docker.io/v1/",
        "get r3.example.com",
    ]
