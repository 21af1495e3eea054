"""Registry authentication: the `WWW-Authenticate` challenge and the token dance behind it.

A registry says how it wants to be addressed only when it refuses a request, so the client
learns the scheme from the first 401 (usually the `/v2/` ping) and then authenticates every
request up front. Bearer tokens are scoped to one repository and action set; we keep one per
scope until shortly before it expires so a multi-layer pull costs one token request, not one
per blob.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx

from customhouse.errors import NetworkError
from customhouse.log import get_logger
from customhouse.settings import Settings
from customhouse.targets.registry.credentials import Credentials, describe

log = get_logger(__name__)

DEFAULT_TOKEN_LIFETIME = 60  # seconds, what the token specification says to assume
TOKEN_MARGIN = 10  # refresh this long before expiry, so a token does not lapse mid-request
MAX_TOKEN_RESPONSE = 1 << 20
CLIENT_ID = "customhouse"


@dataclass(frozen=True, slots=True)
class Challenge:
    """One challenge from a `WWW-Authenticate` header; `scheme` is lower-case."""

    scheme: str
    params: dict[str, str] = field(default_factory=dict)


def parse_challenges(values: Iterable[str]) -> list[Challenge]:
    """Parse `WWW-Authenticate` header values (RFC 7235: scheme, then auth-params).

    One header may carry several challenges (`Bearer realm=..., Basic realm=...`); a token
    that is not followed by `=` starts the next challenge. Quoted strings may contain commas
    and backslash escapes, which is why this is a small scanner and not a `split(",")`.
    """
    out: list[Challenge] = []
    for value in values:
        pos, n = 0, len(value)
        current: Challenge | None = None
        while pos < n:
            while pos < n and value[pos] in " \t,":
                pos += 1
            start = pos
            while pos < n and value[pos] not in " \t,=":
                pos += 1
            token = value[start:pos]
            if not token:
                pos += 1
                continue
            look = pos
            while look < n and value[look] in " \t":
                look += 1
            if look < n and value[look] == "=" and current is not None:
                pos = look + 1
                while pos < n and value[pos] in " \t":
                    pos += 1
                val, pos = _param_value(value, pos)
                current.params[token.lower()] = val
            else:
                current = Challenge(scheme=token.lower())
                out.append(current)
    return out


def _param_value(s: str, pos: int) -> tuple[str, int]:
    if pos < len(s) and s[pos] == '"':
        pos += 1
        buf: list[str] = []
        while pos < len(s) and s[pos] != '"':
            if s[pos] == "\\" and pos + 1 < len(s):
                pos += 1
            buf.append(s[pos])
            pos += 1
        return "".join(buf), pos + 1
    start = pos
    while pos < len(s) and s[pos] not in " \t,":
        pos += 1
    return s[start:pos], pos


@dataclass
class _Token:
    value: str
    expires: float


class Authenticator:
    """Authorization headers for one registry, learned from its challenges.

    `send` performs an HTTP request with the client's retry policy; it is how the token
    endpoint is reached (it may be another host, such as auth.docker.io).
    """

    def __init__(
        self,
        registry: str,
        creds: Credentials,
        settings: Settings,
        send: Callable[[httpx.Request], httpx.Response],
        http: httpx.Client,
    ) -> None:
        self.registry = registry
        self.creds = creds
        self.settings = settings
        self._send = send
        self._http = http
        self.challenge: Challenge | None = None
        self._tokens: dict[str, _Token] = {}
        self.token_requests = 0  # how many times the token endpoint was asked (tests and --debug)

    # ------------------------------------------------------------------ learning

    def learn(self, response: httpx.Response) -> bool:
        """Take the challenge from a 401; True when retrying with (new) auth could succeed."""
        challenges = parse_challenges(response.headers.get_list("www-authenticate"))
        by_scheme = {c.scheme: c for c in challenges}
        chosen = by_scheme.get("bearer") or by_scheme.get("basic")
        if chosen is None:
            return False
        first_time = self.challenge != chosen
        self.challenge = chosen
        if chosen.scheme == "bearer":
            # The refused token (if any) is useless now: expired, revoked or too narrow.
            self._tokens.clear()
            return True
        return first_time and bool(self.creds.username and self.creds.password)

    # ------------------------------------------------------------------ headers

    def headers(self, scope: str) -> dict[str, str]:
        """Authorization header for a request needing `scope` (`repository:NAME:pull`)."""
        ch = self.challenge
        if ch is None:
            return {}
        if ch.scheme == "basic":
            if self.creds.username and self.creds.password:
                return {"Authorization": _basic(self.creds.username, self.creds.password)}
            return {}
        if ch.scheme == "bearer":
            token = self._token(scope, ch)
            return {"Authorization": f"Bearer {token}"} if token else {}
        return {}

    def _token(self, scope: str, ch: Challenge) -> str:
        cached = self._tokens.get(scope)
        now = time.monotonic()
        if cached is not None and cached.expires - TOKEN_MARGIN > now:
            return cached.value
        realm = ch.params.get("realm", "")
        if not realm.startswith(("https://", "http://")):
            raise NetworkError(f"{self.registry}: registry asks for a token from an unusable realm {realm!r}")
        value, lifetime = self._fetch_token(realm, ch.params.get("service", ""), scope)
        self._tokens[scope] = _Token(value, now + max(lifetime, TOKEN_MARGIN + 1))
        return value

    def _fetch_token(self, realm: str, service: str, scope: str) -> tuple[str, int]:
        self.token_requests += 1
        creds = self.creds
        # Secrets travel to a plain-HTTP realm only when the user allowed plain HTTP.
        may_send = bool(creds) and (realm.startswith("https://") or self.settings.insecure)
        if creds and not may_send:
            log.warning("%s: not sending credentials to the plain-HTTP token service %s", self.registry, realm)
        params: dict[str, str] = {}
        if service:
            params["service"] = service
        if scope:
            params["scope"] = scope
        if may_send and creds.identity_token:
            form = {**params, "grant_type": "refresh_token", "refresh_token": creds.identity_token}
            form["client_id"] = CLIENT_ID
            request = self._http.build_request("POST", realm, data=form)
        else:
            headers = {}
            if may_send and creds.username and creds.password:
                headers["Authorization"] = _basic(creds.username, creds.password)
            request = self._http.build_request("GET", realm, params=params, headers=headers)
        response = self._send(request)
        try:
            body = _read_small(response, MAX_TOKEN_RESPONSE)
        finally:
            response.close()
        repo = scope.split(":")[1] if scope.count(":") >= 2 else ""
        what = f"{self.registry}/{repo}" if repo else self.registry
        if response.status_code in (401, 403):
            tried = describe(creds if may_send else Credentials(), self.registry, self.settings)
            raise NetworkError(
                f"{what}: access denied by the token service {realm} (HTTP {response.status_code}) {tried}"
            )
        if response.status_code != 200:
            raise NetworkError(f"{what}: token service {realm} answered HTTP {response.status_code}")
        try:
            doc: Any = json.loads(body)
        except ValueError:
            raise NetworkError(f"{what}: token service {realm} answered something that is not JSON") from None
        token = doc.get("token") or doc.get("access_token") if isinstance(doc, dict) else None
        if not isinstance(token, str) or not token:
            raise NetworkError(f"{what}: token service {realm} answered without a token")
        lifetime = doc.get("expires_in", DEFAULT_TOKEN_LIFETIME)
        if not isinstance(lifetime, int) or lifetime <= 0:
            lifetime = DEFAULT_TOKEN_LIFETIME
        return token, lifetime


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _read_small(response: httpx.Response, limit: int) -> bytes:
    """Read at most `limit` bytes of a streamed response; more is refused, not buffered."""
    chunks: list[bytes] = []
    total = 0
    for chunk in response.iter_bytes():
        total += len(chunk)
        if total > limit:
            raise NetworkError(f"{response.request.url}: response larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
