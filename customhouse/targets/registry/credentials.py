"""Registry credentials from Docker's client configuration, looked up the way `docker` does.

People log in once with `docker login` (or a cloud CLI that installs a credential helper) and
expect every tool to reuse that, so we read the same file with the same precedence: a
per-registry `credHelpers` entry, then the global `credsStore`, then the `auths` entries the
file holds itself. A broken or missing helper must not stop a scan of a public image, so it
costs a warning and we continue anonymously.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from customhouse.log import get_logger
from customhouse.settings import Settings
from customhouse.targets.registry.reference import DOCKER_HUB, DOCKER_HUB_AUTH_KEY

log = get_logger(__name__)

MAX_CONFIG_BYTES = 4 << 20
HELPER_TIMEOUT = 60.0
# What a helper sets as Username when Secret is an identity (refresh) token, not a password.
IDENTITY_TOKEN_USER = "<token>"
_HUB_ALIASES = ("docker.io", "index.docker.io", "registry-1.docker.io")


@dataclass(frozen=True, slots=True)
class Credentials:
    """What we may present to a registry; `origin` names where it came from, for messages."""

    username: str = ""
    password: str = ""
    identity_token: str = ""
    origin: str = ""

    def __bool__(self) -> bool:
        return bool((self.username and self.password) or self.identity_token)


def docker_config_path(settings: Settings) -> Path:
    """Settings.docker_config, else `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`."""
    if settings.docker_config is not None:
        return settings.docker_config
    env = os.environ.get("DOCKER_CONFIG")
    if env:
        return Path(env) / "config.json"
    return Path.home() / ".docker" / "config.json"


def server_url(registry: str) -> str:
    """The server address Docker uses as key and passes to helpers for `registry`."""
    return DOCKER_HUB_AUTH_KEY if registry in _HUB_ALIASES else registry


def lookup_credentials(registry: str, settings: Settings) -> Credentials:
    """Credentials for `registry` (as in the reference, e.g. `docker.io`, `localhost:5000`).

    Returns empty credentials when there are none; never raises for configuration trouble,
    because an anonymous attempt may still succeed and the auth error names what was tried.
    """
    path = docker_config_path(settings)
    config = _load_config(path)
    if config is None:
        return Credentials()
    helpers = config.get("credHelpers")
    helper = _lookup_key(helpers, registry) if isinstance(helpers, dict) else None
    store = config.get("credsStore")
    if isinstance(helper, str) and helper:
        creds = run_helper(helper, registry)
        if creds:
            return creds
    elif isinstance(store, str) and store:
        creds = run_helper(store, registry)
        if creds:
            return creds
    auths = config.get("auths")
    entry = _lookup_key(auths, registry) if isinstance(auths, dict) else None
    if isinstance(entry, dict):
        return _from_auth_entry(entry, str(path), registry)
    return Credentials()


def _load_config(path: Path) -> dict[str, Any] | None:
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        log.warning("cannot read Docker config %s (%s); continuing without registry credentials", path, exc.strerror)
        return None
    if len(data) > MAX_CONFIG_BYTES:
        log.warning("Docker config %s is larger than %d bytes; ignoring it", path, MAX_CONFIG_BYTES)
        return None
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        log.warning("Docker config %s is not valid JSON (%s); continuing without registry credentials", path, exc)
        return None
    if not isinstance(doc, dict):
        log.warning("Docker config %s is not a JSON object; continuing without registry credentials", path)
        return None
    return doc


def _hostname(key: str) -> str:
    """`https://host:port/v1/` -> `host:port`, the normalisation Docker applies to `auths` keys."""
    for prefix in ("https://", "http://"):
        if key.startswith(prefix):
            key = key[len(prefix) :]
            break
    return key.split("/", 1)[0]


def _lookup_key(table: dict[str, Any], registry: str) -> Any:
    wanted = set(_HUB_ALIASES) if registry in _HUB_ALIASES else {registry}
    exact = server_url(registry)
    if exact in table:
        return table[exact]
    for key, value in table.items():
        if isinstance(key, str) and _hostname(key) in wanted:
            return value
    return None


def _from_auth_entry(entry: dict[str, Any], origin: str, registry: str) -> Credentials:
    username = str(entry.get("username") or "")
    password = str(entry.get("password") or "")
    token = str(entry.get("identitytoken") or "")
    auth = entry.get("auth")
    if isinstance(auth, str) and auth:
        try:
            decoded = base64.b64decode(auth, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            log.warning("%s: the `auth` entry for %s is not base64 of user:password; ignoring it", origin, registry)
            decoded = ""
        user, sep, secret = decoded.partition(":")
        if sep:
            username, password = user, secret
        elif decoded:
            log.warning("%s: the `auth` entry for %s has no ':' separator; ignoring it", origin, registry)
    return Credentials(username=username, password=password, identity_token=token, origin=origin)


def run_helper(name: str, registry: str) -> Credentials:
    """Ask `docker-credential-<name>` for the credentials of `registry` (the helper protocol).

    The helper gets the server URL on stdin and answers JSON with Username and Secret; a
    non-zero exit means "no credentials" (or a locked keychain), which is not fatal to us.
    """
    program = f"docker-credential-{name}"
    exe = shutil.which(program)
    origin = f"credential helper {program}"
    if exe is None:
        log.warning("%s is not on PATH; continuing without credentials for %s", program, registry)
        return Credentials()
    try:
        proc = subprocess.run(
            [exe, "get"],
            input=server_url(registry).encode(),
            capture_output=True,
            timeout=HELPER_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        log.warning("%s did not answer within %.0f s; continuing without credentials", program, HELPER_TIMEOUT)
        return Credentials()
    except OSError as exc:
        log.warning("cannot run %s (%s); continuing without credentials", program, exc.strerror)
        return Credentials()
    if proc.returncode != 0:
        said = " ".join((proc.stdout or proc.stderr).decode(errors="replace").split())[:200]
        if "not found" in said.lower():
            log.debug("%s has no credentials for %s", program, registry)
        else:
            log.warning("%s failed for %s (%s); continuing without credentials", program, registry, said)
        return Credentials()
    try:
        answer = json.loads(proc.stdout)
    except (ValueError, UnicodeDecodeError):
        log.warning("%s answered something that is not JSON; continuing without credentials", program)
        return Credentials()
    if not isinstance(answer, dict):
        log.warning("%s answered something that is not a JSON object; continuing without credentials", program)
        return Credentials()
    user = str(answer.get("Username") or "")
    secret = str(answer.get("Secret") or "")
    if user == IDENTITY_TOKEN_USER:
        return Credentials(identity_token=secret, origin=origin)
    return Credentials(username=user, password=secret, origin=origin)


def describe(creds: Credentials, registry: str, settings: Settings) -> str:
    """Half a sentence for auth errors: whether (and whence) credentials were presented."""
    if creds:
        return f"with credentials from {creds.origin}"
    where = docker_config_path(settings)
    shown = DOCKER_HUB if registry in _HUB_ALIASES else registry
    return f"without credentials (none for {shown} in {where}; run `docker login {shown}`)"
