"""An OCI Distribution API client: manifests, small blobs, streamed layer blobs, and pushes.

Mostly what scanning needs: the `/v2/` ping that tells us the scheme and the auth challenge,
`GET /v2/<name>/manifests/<ref>` and `GET /v2/<name>/blobs/<digest>`; plus blob upload and
manifest PUT, which publishing the vulnerability database as an OCI artifact needs. Everything fetched is
checked against the digest that names it before anyone trusts it. Networks and registries
fail in passing (dropped connections, 429, 5xx), so requests retry with exponential backoff
and a layer download that breaks half-way resumes where it stopped instead of starting over.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from customhouse import __version__
from customhouse.errors import InputError, NetworkError, RegistryDigestMismatchError
from customhouse.log import get_logger
from customhouse.settings import Settings
from customhouse.targets.base import MT_DOCKER_LIST, MT_DOCKER_MANIFEST, MT_OCI_INDEX, MT_OCI_MANIFEST
from customhouse.targets.registry.auth import Authenticator
from customhouse.targets.registry.credentials import Credentials, describe
from customhouse.targets.registry.progress import Task

log = get_logger(__name__)

ACCEPT_MANIFESTS = ", ".join((MT_OCI_INDEX, MT_OCI_MANIFEST, MT_DOCKER_LIST, MT_DOCKER_MANIFEST))
SCHEMA1_TYPES = frozenset(
    {
        "application/vnd.docker.distribution.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
    }
)
ATTEMPTS = 5  # per request: the first try and four retries
BACKOFF = 0.5  # seconds before the first retry; doubles each time
MAX_BACKOFF = 8.0
MAX_RETRY_AFTER = 30.0
CHUNK = 1 << 16
ERROR_BODY_LIMIT = 64 << 10
UPLOAD_CHUNK = 32 << 20  # bytes per PATCH of a chunked blob upload
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


@dataclass(frozen=True, slots=True)
class Manifest:
    """A manifest or index as served: its bytes, declared media type and verified digest."""

    data: bytes
    media_type: str
    digest: str


def schema1_error(label: str) -> InputError:
    return InputError(
        f"{label}: the image uses the Docker v2 schema 1 manifest format, which is deprecated and not "
        "supported; re-push it with a current client"
    )


def backoff_delay(attempt: int, base: float = BACKOFF) -> float:
    """Seconds to wait before retry number `attempt` (1-based)."""
    return float(min(base * (2 ** (attempt - 1)), MAX_BACKOFF))


def _retry_after(response: httpx.Response, attempt: int, base: float) -> float:
    value = response.headers.get("retry-after", "")
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER)
    return backoff_delay(attempt, base)


def _is_tls_failure(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    depth = 0
    while seen is not None and depth < 8:
        if isinstance(seen, ssl.SSLError):
            return True
        seen = seen.__cause__ or seen.__context__
        depth += 1
    text = str(exc)
    return "SSL" in text or "CERTIFICATE" in text.upper()


def _why(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def sha256_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def check_content(data: bytes, digest: str, where: str) -> None:
    """Raise RegistryDigestMismatchError unless `data` hashes to `digest`."""
    algo, _, expected = digest.partition(":")
    if algo not in ("sha256", "sha512"):
        raise InputError(f"{where}: unsupported digest {digest!r}")
    actual = hashlib.new(algo, data).hexdigest()
    if actual != expected:
        raise RegistryDigestMismatchError(f"{where}: content has digest {algo}:{actual}, expected {digest}")


class RegistryClient:
    """Talks to one registry host on behalf of one repository's pull.

    `registry` is the name users see (for messages); `host` is where the API lives (they
    differ for Docker Hub). The scheme is settled by `ping()`: HTTPS, or with
    Settings.insecure also plain HTTP, and certificates are then not verified.
    """

    def __init__(
        self,
        registry: str,
        host: str,
        settings: Settings,
        creds: Credentials,
        attempts: int = ATTEMPTS,
        backoff: float = BACKOFF,
    ) -> None:
        self.registry = registry
        self.host = host
        self.settings = settings
        self.creds = creds
        self.attempts = max(1, attempts)
        self.backoff = backoff
        self.base = ""
        self._http = httpx.Client(
            verify=not settings.insecure,
            follow_redirects=True,
            timeout=httpx.Timeout(60.0, connect=15.0),
            headers={"User-Agent": f"customhouse/{__version__}"},
        )
        self.auth = Authenticator(registry, creds, settings, self._send_retrying, self._http)

    def close(self) -> None:
        self._http.close()

    # ------------------------------------------------------------------ transport

    def ping(self) -> None:
        """Settle the scheme and learn the auth challenge from `GET /v2/`."""
        schemes = ("https", "http") if self.settings.insecure else ("https",)
        last: BaseException | None = None
        for i, scheme in enumerate(schemes):
            request = self._http.build_request("GET", f"{scheme}://{self.host}/v2/")
            fall_back = i + 1 < len(schemes)
            try:
                # A plain-HTTP server answers a TLS hello with garbage: no point retrying that.
                response = self._http.send(request) if fall_back else self._send_retrying(request)
            except httpx.TransportError as exc:
                last = exc
                if fall_back:
                    log.debug("%s: HTTPS failed (%s); trying plain HTTP (--insecure)", self.host, _why(exc))
                    continue
                raise self._transport_error(exc) from None
            self.base = f"{scheme}://{self.host}"
            # Any other answer (even 5xx) settles the scheme; the real requests retry and report.
            if response.status_code == 401:
                self.auth.learn(response)
            response.close()
            return
        assert last is not None
        raise self._transport_error(last)  # pragma: no cover - the loop always returns or raises

    def _transport_error(self, exc: BaseException) -> NetworkError:
        if _is_tls_failure(exc) and not self.settings.insecure:
            return NetworkError(
                f"{self.registry}: TLS connection failed ({_why(exc)}); for a registry served over plain HTTP "
                "or with a self-signed certificate, pass --insecure"
            )
        return NetworkError(f"{self.registry}: cannot reach the registry ({_why(exc)})")

    def _send_retrying(self, request: httpx.Request, stream: bool = False) -> httpx.Response:
        """Send with retries on connection errors, 429 and 5xx; the last answer is returned."""
        for attempt in range(1, self.attempts + 1):
            try:
                response = self._http.send(request, stream=stream)
            except (httpx.UnsupportedProtocol, httpx.LocalProtocolError):
                raise
            except httpx.TransportError as exc:
                if attempt == self.attempts or _is_tls_failure(exc):
                    raise
                delay = backoff_delay(attempt, self.backoff)
                log.debug("%s: %s; retrying in %.1f s", request.url, _why(exc), delay)
                time.sleep(delay)
                continue
            if (response.status_code == 429 or response.status_code >= 500) and attempt < self.attempts:
                delay = _retry_after(response, attempt, self.backoff)
                log.debug("%s: HTTP %d; retrying in %.1f s", request.url, response.status_code, delay)
                response.close()
                time.sleep(delay)
                continue
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    def request(
        self,
        path: str,
        scope: str,
        headers: dict[str, str] | None = None,
        stream: bool = False,
        method: str = "GET",
        content: bytes | None = None,
    ) -> httpx.Response:
        """`method` on `path` under the API root, authenticated for `scope` (learning on a 401).

        `path` may also be an absolute URL (an upload `Location`); credentials then go along
        only when it points at the registry itself.
        """
        if not self.base:
            self.ping()
        absolute = path.startswith(("http://", "https://"))
        url = path if absolute else self.base + path
        same_origin = not absolute or httpx.URL(url).netloc == httpx.URL(self.base).netloc
        reauthenticated = False
        while True:
            auth_headers = self.auth.headers(scope) if same_origin else {}
            all_headers = {**(headers or {}), **auth_headers}
            request = self._http.build_request(method, url, headers=all_headers, content=content)
            try:
                response = self._send_retrying(request, stream=stream)
            except httpx.TransportError as exc:
                raise self._transport_error(exc) from None
            if response.status_code == 401 and not reauthenticated and self.auth.learn(response):
                response.close()
                reauthenticated = True
                continue
            return response

    # ------------------------------------------------------------------ errors

    def fail(self, response: httpx.Response, repository: str, what: str) -> NetworkError:
        """The one-line error for an unexpected answer to a request about `what`."""
        code = response.status_code
        detail = _registry_error(response)
        response.close()
        name = f"{self.registry}/{repository}"
        if code in (401, 403):
            tried = describe(self.creds, self.registry, self.settings)
            return NetworkError(f"{name}: access denied (HTTP {code}{detail}) {tried}")
        if code == 404:
            kind, _, ref = what.partition(" ")
            return NetworkError(f"{name}: {kind} unknown: the registry has no {kind} {ref} in this repository")
        return NetworkError(f"{name}: registry answered HTTP {code} for {what}{detail}")

    # ------------------------------------------------------------------ documents

    def manifest(self, repository: str, reference: str, expected_digest: str, limit: int) -> Manifest:
        """Fetch a manifest or index and verify it (against the digest asked for, else the
        registry's Docker-Content-Digest header)."""
        scope = f"repository:{repository}:pull"
        what = f"manifest {reference}"
        response = self.request(
            f"/v2/{repository}/manifests/{reference}", scope, {"Accept": ACCEPT_MANIFESTS}, stream=True
        )
        try:
            if response.status_code != 200:
                raise self.fail(response, repository, what)
            data = self._read_limited(response, limit, f"{self.registry}/{repository}: {what}")
            media_type = response.headers.get("content-type", "").split(";")[0].strip()
            header_digest = response.headers.get("docker-content-digest", "")
        finally:
            response.close()
        where = f"{self.registry}/{repository}: {what}"
        if media_type in SCHEMA1_TYPES:
            # Checked first: a signed schema 1 manifest's digest excludes its signature,
            # so its bytes never match and the real problem would hide behind a mismatch.
            raise schema1_error(f"{self.registry}/{repository}:{reference}")
        if expected_digest:
            check_content(data, expected_digest, where)
            digest = expected_digest
        else:
            digest = sha256_of(data)
            if header_digest.startswith(("sha256:", "sha512:")):
                check_content(data, header_digest, where)
                digest = header_digest
        return Manifest(data=data, media_type=media_type, digest=digest)

    def head_manifest(self, repository: str, reference: str) -> tuple[str, str]:
        """(digest, media type) of a manifest without its body: what a tag points at now."""
        scope = f"repository:{repository}:pull"
        response = self.request(
            f"/v2/{repository}/manifests/{reference}", scope, {"Accept": ACCEPT_MANIFESTS}, method="HEAD"
        )
        if response.status_code != 200:
            raise self.fail(response, repository, f"manifest {reference}")
        media_type = response.headers.get("content-type", "").split(";")[0].strip()
        return response.headers.get("docker-content-digest", ""), media_type

    def blob_bytes(self, repository: str, digest: str, limit: int, what: str) -> bytes:
        """A small blob (an image config), read whole and verified."""
        scope = f"repository:{repository}:pull"
        response = self.request(f"/v2/{repository}/blobs/{digest}", scope, {"Accept-Encoding": "identity"}, stream=True)
        try:
            if response.status_code != 200:
                raise self.fail(response, repository, f"{what} {digest}")
            data = self._read_limited(response, limit, f"{self.registry}/{repository}: {what} {digest}")
        finally:
            response.close()
        check_content(data, digest, f"{self.registry}/{repository}: {what} {digest}")
        return data

    def _read_limited(self, response: httpx.Response, limit: int, where: str) -> bytes:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise InputError(f"{where}: {declared} bytes exceeds the {limit}-byte limit")
        chunks: list[bytes] = []
        total = 0
        try:
            for chunk in response.iter_bytes():
                total += len(chunk)
                if total > limit:
                    raise InputError(f"{where}: more than the {limit}-byte limit")
                chunks.append(chunk)
        except httpx.TransportError as exc:
            raise NetworkError(f"{where}: connection failed while reading ({_why(exc)})") from None
        return b"".join(chunks)

    def open_blob(self, repository: str, digest: str, size: int, where: str, task: Task) -> BlobStream:
        return BlobStream(self, repository, digest, size, where, task)

    # ------------------------------------------------------------------ push

    def blob_exists(self, repository: str, digest: str) -> bool:
        """Whether the repository already has the blob (a push can then skip the upload)."""
        response = self.request(f"/v2/{repository}/blobs/{digest}", push_scope(repository), method="HEAD")
        response.close()
        return response.status_code == 200

    def upload_blob(self, repository: str, path: Path, digest: str, chunk_size: int = UPLOAD_CHUNK) -> None:
        """Upload the file at `path` as blob `digest` (a no-op when the registry has it).

        Files up to `chunk_size` go in one PUT; larger ones in PATCH requests of `chunk_size`
        bytes each (with Content-Range, so a registry can refuse a chunk it did not expect
        instead of silently corrupting the blob), then a closing PUT. Each request carries
        bytes in memory, so the retry policy can resend it; the file is never read whole.
        """
        if self.blob_exists(repository, digest):
            return
        scope = push_scope(repository)
        name = f"{self.registry}/{repository}"
        response = self.request(f"/v2/{repository}/blobs/uploads/", scope, method="POST", content=b"")
        if response.status_code != 202:
            raise self.fail(response, repository, f"blob upload {digest}")
        location = self._location(response, repository)
        size = path.stat().st_size
        octets = {"Content-Type": "application/octet-stream"}
        with open(path, "rb") as fh:
            if size > chunk_size:
                offset = 0
                while chunk := fh.read(chunk_size):
                    end = offset + len(chunk) - 1
                    headers = {**octets, "Content-Range": f"{offset}-{end}"}
                    response = self.request(location, scope, headers, method="PATCH", content=chunk)
                    if response.status_code != 202:
                        raise self.fail(response, repository, f"blob chunk {offset}-{end} of {digest}")
                    location = self._location(response, repository)
                    offset += len(chunk)
                body = b""
            else:
                body = fh.read()
        url = httpx.URL(location).copy_merge_params({"digest": digest})
        response = self.request(str(url), scope, octets, method="PUT", content=body)
        if response.status_code != 201:
            raise self.fail(response, repository, f"blob upload {digest}")
        response.close()
        log.debug("%s: uploaded %s (%d bytes)", name, digest, size)

    def _location(self, response: httpx.Response, repository: str) -> str:
        location = response.headers.get("location", "")
        response.close()
        if not location:
            raise NetworkError(f"{self.registry}/{repository}: registry gave no upload location")
        return str(httpx.URL(self.base + "/").join(location))

    def put_manifest(self, repository: str, reference: str, data: bytes, media_type: str) -> str:
        """Store a manifest under a tag; returns its digest (checked against the registry's)."""
        response = self.request(
            f"/v2/{repository}/manifests/{reference}",
            push_scope(repository),
            {"Content-Type": media_type},
            method="PUT",
            content=data,
        )
        if response.status_code != 201:
            raise self.fail(response, repository, f"manifest {reference}")
        digest = sha256_of(data)
        answered = response.headers.get("docker-content-digest", "")
        response.close()
        if answered and answered != digest:
            raise RegistryDigestMismatchError(
                f"{self.registry}/{repository}: registry stored manifest {reference} as {answered}, expected {digest}"
            )
        return digest


def push_scope(repository: str) -> str:
    return f"repository:{repository}:pull,push"


def _registry_error(response: httpx.Response) -> str:
    """`; CODE: message` from the registry's JSON error body, when it sent one.

    At most 64 KiB of the body is read: an error answer has no business being large.
    """
    body = b""
    try:
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > ERROR_BODY_LIMIT:
                return ""
    except (httpx.HTTPError, httpx.StreamError):
        return ""
    try:
        doc: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return ""
    errors = doc.get("errors") if isinstance(doc, dict) else None
    if not isinstance(errors, list) or not errors or not isinstance(errors[0], dict):
        return ""
    first = errors[0]
    code = str(first.get("code", "")).strip()
    message = " ".join(str(first.get("message", "")).split())[:200]
    text = ": ".join(x for x in (code, message) if x)
    return f"; {text}" if text else ""


class BlobStream(io.RawIOBase):
    """A layer blob as a forward-only stream, fetched lazily and never held whole.

    Hashes what it hands out, refuses bytes beyond the declared size, and checks the digest
    at the end, so corruption surfaces as a registry fault whoever reads the stream. When the
    connection breaks it reconnects with `Range: bytes=N-`; a server that ignores the range
    sends the whole blob again and we skip the N bytes already delivered.
    """

    def __init__(self, client: RegistryClient, repository: str, digest: str, size: int, where: str, task: Task):
        super().__init__()
        self._client = client
        self._repository = repository
        self._digest = digest
        self._size = size
        self.where = where
        self._task = task
        self._hash = hashlib.new(digest.partition(":")[0])
        self.delivered = 0
        self.reconnects = 0
        self._response: httpx.Response | None = None
        self._chunks: Iterator[bytes] | None = None
        self._buf = b""
        self._pos = 0
        self._skip = 0
        self._eof = False
        self._failures = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        view = memoryview(b).cast("B")
        while self._pos >= len(self._buf):
            if self._eof:
                return 0
            self._fill()
        n = min(len(view), len(self._buf) - self._pos)
        piece = self._buf[self._pos : self._pos + n]
        view[:n] = piece
        self._pos += n
        self.delivered += n
        self._hash.update(piece)
        self._task.advance(n)
        if self._pos >= len(self._buf):
            self._buf, self._pos = b"", 0
        return n

    def _fill(self) -> None:
        if self._chunks is None:
            self._connect()
            return
        try:
            chunk = next(self._chunks)
        except StopIteration:
            self._disconnect()
            if self._size >= 0 and self.delivered < self._size:
                self._broken(f"the server ended the body after {self.delivered} of {self._size} bytes")
                return
            self._finish()
            return
        except httpx.TransportError as exc:
            self._disconnect()
            self._broken(_why(exc))
            return
        if self._skip:
            drop = min(self._skip, len(chunk))
            chunk = chunk[drop:]
            self._skip -= drop
        if not chunk:
            return
        if self._size >= 0 and self.delivered + len(chunk) > self._size:
            raise RegistryDigestMismatchError(
                f"{self.where}: registry sent more than the {self._size} bytes the manifest declares"
            )
        self._buf, self._pos = chunk, 0
        self._failures = 0

    def _broken(self, why: str) -> None:
        self._failures += 1
        if self._failures >= self._client.attempts:
            raise NetworkError(
                f"{self.where}: download failed after {self._failures} attempts at byte {self.delivered} ({why})"
            )
        delay = backoff_delay(self._failures, self._client.backoff)
        log.debug("%s: connection broke at byte %d (%s); resuming in %.1f s", self.where, self.delivered, why, delay)
        time.sleep(delay)
        self.reconnects += 1

    def _connect(self) -> None:
        headers = {"Accept-Encoding": "identity"}
        if self.delivered:
            headers["Range"] = f"bytes={self.delivered}-"
        client = self._client
        response = client.request(
            f"/v2/{self._repository}/blobs/{self._digest}",
            f"repository:{self._repository}:pull",
            headers,
            stream=True,
        )
        code = response.status_code
        if code == 416 and self.delivered and self.delivered == self._size:
            response.close()
            self._finish()
            return
        if code not in (200, 206):
            raise client.fail(response, self._repository, f"blob {self._digest}")
        self._skip = 0
        if self.delivered:
            start = -1
            match = _CONTENT_RANGE.fullmatch(response.headers.get("content-range", "").strip())
            if code == 206 and match:
                start = int(match.group(1))
            if code == 200:
                log.debug("%s: server ignored the range request; skipping %d bytes", self.where, self.delivered)
                self._skip = self.delivered
            elif start != self.delivered:
                response.close()
                raise NetworkError(
                    f"{self.where}: asked to resume at byte {self.delivered} but the registry answered "
                    f"{response.headers.get('content-range', 'no Content-Range')}"
                )
        self._response = response
        self._chunks = response.iter_raw(CHUNK)

    def _disconnect(self) -> None:
        if self._response is not None:
            self._response.close()
        self._response = None
        self._chunks = None

    def _finish(self) -> None:
        self._eof = True
        self._task.finish()
        actual = f"{self._digest.partition(':')[0]}:{self._hash.hexdigest()}"
        if actual != self._digest:
            raise RegistryDigestMismatchError(f"{self.where}: blob has digest {actual}, expected {self._digest}")

    def close(self) -> None:
        self._disconnect()
        self._task.finish()
        super().close()
