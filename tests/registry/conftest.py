"""Real registries for the registry target: distribution's `docker-registry`, pushed with skopeo
(and, for uncompressed layers, which skopeo always compresses, through the upload API).

Three registries run for the session on free localhost ports: one open, one behind htpasswd
basic auth, and one behind token auth whose token service is a small JWT issuer defined here
(RS256, certificate in `x5c`, trusted through the registry's rootcertbundle). A TCP proxy in
front of the open registry can fail, cut or stall chosen responses, to exercise retries and
resumed downloads against a real server rather than a simulation of one.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import shutil
import socket
import socketserver
import subprocess
import threading
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from customhouse.image.writer import ImageBuilder
from customhouse.settings import Settings
from customhouse.targets.base import MT_OCI_INDEX
from tests.conftest import alpine_layer_tar, cached_build

REGISTRY_BIN = shutil.which("docker-registry")
SKOPEO = shutil.which("skopeo")
HTPASSWD = shutil.which("htpasswd")
USER, PASSWORD = "alice", "wonderland"
REFRESH_TOKEN = "refresh-4f1c9a"
SERVICE, ISSUER = "customhouse-test-registry", "customhouse-test-issuer"
LAYOUT_VERSION = "registry-layout-v1"

# tag in the test layout -> (alpine version, compression, architecture)
SINGLE_IMAGES = {
    "gzip": ("3.20.3", "gzip", "amd64"),
    "zstd": ("3.20.3", "zstd", "amd64"),
    "plain": ("3.20.3", "none", "amd64"),
    "tamper-gz": ("3.12.12", "gzip", "amd64"),
    "tamper-raw": ("3.10.3", "none", "amd64"),
}
MULTI_PARTS = {"multi-amd64": ("3.20.3", "gzip", "amd64"), "multi-arm64": ("3.16.9", "gzip", "arm64")}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---------------------------------------------------------------------------- images


def _build_layout(dst: Path) -> None:
    work = dst.parent / (dst.name + ".work")
    shutil.rmtree(work, ignore_errors=True)
    for tag, (version, compression, arch) in {**SINGLE_IMAGES, **MULTI_PARTS}.items():
        b = ImageBuilder(work / tag, architecture=arch)
        b.add_layer_tar(
            alpine_layer_tar(version), created_by=f"alpine {version} {compression}", compression=compression
        )
        b.write_oci_layout(dst, tag=tag)
    index = json.loads((dst / "index.json").read_text())
    parts = [m for m in index["manifests"] if m["annotations"]["org.opencontainers.image.ref.name"] in MULTI_PARTS]
    nested = {
        "schemaVersion": 2,
        "mediaType": MT_OCI_INDEX,
        "manifests": [{k: v for k, v in m.items() if k != "annotations"} for m in parts],
    }
    data = json.dumps(nested, sort_keys=True).encode()
    digest = hashlib.sha256(data).hexdigest()
    (dst / "blobs" / "sha256" / digest).write_bytes(data)
    index["manifests"].append(
        {
            "mediaType": MT_OCI_INDEX,
            "digest": f"sha256:{digest}",
            "size": len(data),
            "annotations": {"org.opencontainers.image.ref.name": "multi"},
        }
    )
    (dst / "index.json").write_text(json.dumps(index, sort_keys=True, indent=1))
    shutil.rmtree(work, ignore_errors=True)


@pytest.fixture(scope="session")
def layout() -> Path:
    """One OCI layout holding every test image under its tag (built once, cached across runs)."""
    return cached_build(LAYOUT_VERSION, _build_layout)


def layout_digest(layout: Path, tag: str) -> str:
    index = json.loads((layout / "index.json").read_text())
    for m in index["manifests"]:
        if m["annotations"]["org.opencontainers.image.ref.name"] == tag:
            return str(m["digest"])
    raise KeyError(tag)


# ---------------------------------------------------------------------------- token service


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class TokenService:
    """A token endpoint like Docker Hub's: basic credentials or a refresh token in, JWT out."""

    key: Any
    cert_der: bytes
    cert_pem: bytes
    port: int = 0
    log: list[dict[str, Any]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def realm(self) -> str:
        return f"http://127.0.0.1:{self.port}/token"

    def issue(self, user: str | None, scopes: list[str]) -> str:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            access.append({"type": kind, "name": name, "actions": actions.split(",") if user else []})
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(self.cert_der).decode()]}
        claims = {
            "iss": ISSUER,
            "sub": user or "",
            "aud": SERVICE,
            "exp": now + 300,
            "nbf": now - 10,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": access,
        }
        signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        sig = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64url(sig)}"


def _make_handler(service: TokenService) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _answer(self, code: int, doc: dict[str, Any]) -> None:
            body = json.dumps(doc).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            query = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
            scopes = [s for value in query.get("scope", []) for s in value.split(" ") if s]
            user: str | None = None
            auth = self.headers.get("Authorization", "")
            entry = {"method": "GET", "scopes": scopes, "basic": auth.startswith("Basic ")}
            service.log.append(entry)
            if auth.startswith("Basic "):
                got = base64.b64decode(auth[6:]).decode()
                if got != f"{USER}:{PASSWORD}":
                    self._answer(401, {"details": "bad credentials"})
                    return
                user = USER
            self._answer(200, {"token": service.issue(user, scopes), "expires_in": 300})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            form = urllib.parse.parse_qs(self.rfile.read(length).decode())
            grant = form.get("grant_type", [""])[0]
            scopes = [s for value in form.get("scope", []) for s in value.split(" ") if s]
            service.log.append({"method": "POST", "grant": grant, "scopes": scopes})
            ok = grant == "refresh_token" and form.get("refresh_token", [""])[0] == REFRESH_TOKEN
            ok = ok or (
                grant == "password"
                and form.get("username", [""])[0] == USER
                and form.get("password", [""])[0] == PASSWORD
            )
            if not ok:
                self._answer(401, {"error": "invalid_grant"})
                return
            self._answer(200, {"access_token": service.issue(USER, scopes), "expires_in": 300})

    return Handler


def _self_signed() -> tuple[Any, bytes, bytes]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "customhouse test token signer")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, cert.public_bytes(serialization.Encoding.DER), cert.public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="session")
def token_service() -> Iterator[TokenService]:
    key, der, pem = _self_signed()
    svc = TokenService(key=key, cert_der=der, cert_pem=pem)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(svc))
    svc.port = int(server.server_address[1])
    svc.server = server
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield svc
    server.shutdown()
    server.server_close()


# ---------------------------------------------------------------------------- registries


@dataclass
class Registry:
    name: str
    port: int
    root: Path
    proc: subprocess.Popen[bytes]

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def blob_path(self, digest: str) -> Path:
        hexpart = digest.split(":", 1)[1]
        return self.root / "docker" / "registry" / "v2" / "blobs" / "sha256" / hexpart[:2] / hexpart / "data"


def _start_registry(name: str, base: Path, auth: dict[str, Any] | None) -> Registry:
    port = free_port()
    root = base / name / "storage"
    root.mkdir(parents=True)
    lines = [
        "version: 0.1",
        "log:",
        "  level: error",
        "  accesslog:",
        "    disabled: true",
        "storage:",
        "  filesystem:",
        f"    rootdirectory: {root}",
        "  delete:",
        "    enabled: true",
        "http:",
        f"  addr: 127.0.0.1:{port}",
        "compatibility:",
        "  schema1:",
        "    enabled: true",
    ]
    if auth:
        lines.append("auth:")
        for kind, params in auth.items():
            lines.append(f"  {kind}:")
            lines.extend(f"    {k}: {v}" for k, v in params.items())
    config = base / name / "config.yml"
    config.write_text("\n".join(lines) + "\n")
    log = open(base / name / "registry.log", "wb")
    assert REGISTRY_BIN is not None
    proc = subprocess.Popen([REGISTRY_BIN, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT)
    reg = Registry(name, port, root, proc)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"registry {name} exited: {(base / name / 'registry.log').read_text()[-2000:]}")
        try:
            if httpx.get(f"http://{reg.host}/v2/", timeout=1).status_code in (200, 401):
                return reg
        except httpx.TransportError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"registry {name} did not start on {reg.host}")


def skopeo_push(layout: Path, tag: str, dest: str, creds: str = "", all_images: bool = False, fmt: str = "") -> None:
    assert SKOPEO is not None
    cmd = [SKOPEO, "copy", "--quiet", "--dest-tls-verify=false"]
    if creds:
        cmd += ["--dest-creds", creds]
    if all_images:
        cmd.append("--all")
    if fmt:
        cmd += ["--format", fmt]
    cmd += [f"oci:{layout}:{tag}", f"docker://{dest}"]
    proc = subprocess.run(cmd, capture_output=True, timeout=120, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {proc.stderr.decode(errors='replace')}")


def api_push(layout: Path, tag: str, host: str, repository: str, dest_tag: str) -> None:
    """Push an image exactly as it is in the layout, through the distribution API.

    skopeo gzips uncompressed layers on the way to any registry, so an uncompressed layer
    (legal, and what some build tools push) can only be stored by uploading it ourselves.
    """
    digest = layout_digest(layout, tag)
    blobs = layout / "blobs" / "sha256"
    manifest = (blobs / digest.split(":", 1)[1]).read_bytes()
    doc = json.loads(manifest)
    with httpx.Client(base_url=f"http://{host}", timeout=60) as http:
        for desc in [doc["config"], *doc["layers"]]:
            start = http.post(f"/v2/{repository}/blobs/uploads/")
            assert start.status_code == 202, start.text
            location = start.headers["location"]
            data = (blobs / desc["digest"].split(":", 1)[1]).read_bytes()
            sep = "&" if "?" in location else "?"
            done = http.put(f"{location}{sep}digest={desc['digest']}", content=data)
            assert done.status_code == 201, done.text
        put = http.put(
            f"/v2/{repository}/manifests/{dest_tag}",
            content=manifest,
            headers={"Content-Type": doc["mediaType"]},
        )
        assert put.status_code == 201, put.text


@dataclass
class Registries:
    open: Registry
    basic: Registry
    token: Registry
    schema1_pushed: bool


@pytest.fixture(scope="session")
def registries(
    tmp_path_factory: pytest.TempPathFactory, layout: Path, token_service: TokenService
) -> Iterator[Registries]:
    missing = [n for n, p in (("docker-registry", REGISTRY_BIN), ("skopeo", SKOPEO), ("htpasswd", HTPASSWD)) if not p]
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)}")
    base = tmp_path_factory.mktemp("registries")
    assert HTPASSWD is not None
    htpasswd = base / "htpasswd"
    htpasswd.write_bytes(subprocess.run([HTPASSWD, "-Bbn", USER, PASSWORD], capture_output=True, check=True).stdout)
    bundle = base / "token-root.pem"
    bundle.write_bytes(token_service.cert_pem)
    started: list[Registry] = []
    try:
        started.append(_start_registry("open", base, None))
        started.append(_start_registry("basic", base, {"htpasswd": {"realm": "basic-realm", "path": str(htpasswd)}}))
        token_auth = {"realm": token_service.realm, "service": SERVICE, "issuer": ISSUER, "rootcertbundle": bundle}
        started.append(_start_registry("token", base, {"token": token_auth}))
        reg_open, reg_basic, reg_token = started
        for tag in ("plain", "tamper-raw"):
            api_push(layout, tag, reg_open.host, f"test/{tag}", "v1")
        jobs: list[tuple[str, str, str, bool, str]] = [
            (tag, f"{reg_open.host}/test/{tag}:v1", "", False, "")
            for tag in SINGLE_IMAGES
            if tag not in ("plain", "tamper-raw")
        ]
        jobs.append(("multi", f"{reg_open.host}/test/multi:v1", "", True, ""))
        jobs.append(("gzip", f"{reg_basic.host}/private/alpine:v1", f"{USER}:{PASSWORD}", False, ""))
        jobs.append(("gzip", f"{reg_token.host}/secure/alpine:v1", f"{USER}:{PASSWORD}", False, ""))
        errors: list[BaseException] = []

        def run(job: tuple[str, str, str, bool, str]) -> None:
            try:
                skopeo_push(layout, job[0], job[1], job[2], job[3], job[4])
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(j,)) for j in jobs]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
        schema1 = True
        try:
            skopeo_push(layout, "plain", f"{reg_open.host}/test/schema1:v1", fmt="v2s1")
        except RuntimeError:
            schema1 = False
        yield Registries(reg_open, reg_basic, reg_token, schema1)
    finally:
        for reg in started:
            reg.proc.terminate()
        for reg in started:
            try:
                reg.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                reg.proc.kill()


# ---------------------------------------------------------------------------- fault proxy


@dataclass
class ProxyPlan:
    """What the proxy does to the next matching requests; each fault fires once."""

    fail_manifest: int = 0  # answer this many manifest GETs with `fail_status`
    fail_status: str = "503 Service Unavailable"
    redirect_blobs: str = ""  # answer blob GETs with a 307 to this origin (as registries do to CDNs)
    cut_blob_after: int = 0  # close the connection after this many response bytes of a blob GET
    strip_range: bool = False  # drop Range headers, as a server without range support would
    stall_blob: tuple[int, float] = (0, 0.0)  # after N response bytes of a blob, pause S seconds
    log: list[dict[str, str]] = field(default_factory=list)


class FaultProxy(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, upstream: tuple[str, int]) -> None:
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.upstream = upstream
        self.plan = ProxyPlan()
        self.lock = threading.Lock()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"


class _ProxyHandler(socketserver.BaseRequestHandler):
    """One request per connection: read the head, apply the plan, relay the answer."""

    @staticmethod
    def _fire(server: FaultProxy, fault: str) -> bool:
        """Use up a one-shot fault; False when another response already used it."""
        with server.lock:
            if fault == "cut" and server.plan.cut_blob_after:
                server.plan.cut_blob_after = 0
                return True
            if fault == "stall" and server.plan.stall_blob[0]:
                server.plan.stall_blob = (0, 0.0)
                return True
            return False

    def handle(self) -> None:
        server = self.server
        assert isinstance(server, FaultProxy)
        client: socket.socket = self.request
        head = b""
        while b"\r\n\r\n" not in head:
            data = client.recv(65536)
            if not data:
                return
            head += data
            if not head[:1].isalpha():  # a TLS hello: refuse it as a plain-HTTP server would
                return
        head, _, _body = head.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers = [ln for ln in lines[1:] if ln]
        range_hdr = next((ln.split(":", 1)[1].strip() for ln in headers if ln.lower().startswith("range:")), "")
        plan = server.plan
        is_blob = method == "GET" and "/blobs/" in path
        with server.lock:
            plan.log.append({"method": method, "path": path, "range": range_hdr})
            fail = plan.fail_manifest > 0 and method == "GET" and "/manifests/" in path
            if fail:
                plan.fail_manifest -= 1
            cut = plan.cut_blob_after if is_blob else 0
            stall_at, stall_for = plan.stall_blob if is_blob else (0, 0.0)
            strip = plan.strip_range
            redirect = plan.redirect_blobs if is_blob else ""
            status = plan.fail_status
        if fail:
            extra = "Retry-After: 0\r\n" if status.startswith("429") else ""
            client.sendall(f"HTTP/1.1 {status}\r\n{extra}Content-Length: 0\r\nConnection: close\r\n\r\n".encode())
            return
        if redirect:
            client.sendall(
                f"HTTP/1.1 307 Temporary Redirect\r\nLocation: {redirect}{path}\r\n"
                "Content-Length: 0\r\nConnection: close\r\n\r\n".encode()
            )
            return
        keep = [ln for ln in headers if not ln.lower().startswith(("connection:", "keep-alive:"))]
        if strip:
            keep = [ln for ln in keep if not ln.lower().startswith("range:")]
        out = "\r\n".join([lines[0], *keep, "Connection: close", "", ""]).encode("latin-1")
        with socket.create_connection(server.upstream) as up:
            up.sendall(out)
            sent = 0
            while True:
                data = up.recv(65536)
                if not data:
                    break
                if cut and sent + len(data) >= cut and self._fire(server, "cut"):
                    client.sendall(data[: cut - sent])
                    client.shutdown(socket.SHUT_RDWR)
                    return
                if stall_at and sent + len(data) >= stall_at and self._fire(server, "stall"):
                    client.sendall(data)
                    sent += len(data)
                    time.sleep(stall_for)
                    stall_at = 0
                    continue
                client.sendall(data)
                sent += len(data)


@pytest.fixture(scope="session")
def _proxy_server(registries: Registries) -> Iterator[FaultProxy]:
    proxy = FaultProxy(("127.0.0.1", registries.open.port))
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    yield proxy
    proxy.shutdown()
    proxy.server_close()


@pytest.fixture
def proxy(_proxy_server: FaultProxy) -> FaultProxy:
    """The fault proxy in front of the open registry, with a fresh plan for this test."""
    _proxy_server.plan = ProxyPlan()
    return _proxy_server


# ---------------------------------------------------------------------------- settings


@pytest.fixture
def docker_config(tmp_path: Path) -> Path:
    """Where this test's Docker config.json goes (absent until a test writes it)."""
    d = tmp_path / "docker"
    d.mkdir()
    return d / "config.json"


@pytest.fixture
def rsettings(tmp_path: Path, docker_config: Path) -> Settings:
    """Registry-test settings: private cache, no layer cache (every layer is really fetched),
    plain HTTP allowed, and a Docker config that is this test's own, never the user's."""
    return Settings(
        cache_dir=tmp_path / "cache",
        strict_analyzers=True,
        insecure=True,
        use_cache=False,
        docker_config=docker_config,
        platform="linux/amd64",
    )


def write_config(path: Path, doc: dict[str, Any]) -> None:
    path.write_text(json.dumps(doc))
    os.chmod(path, 0o600)


def basic_auth_entry(user: str = USER, password: str = PASSWORD) -> dict[str, str]:
    return {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}
