"""Fixtures for the vulnerability database: real feed data, served by a real HTTP server.

The live feeds cannot be reached from here, so every download path runs against
`http.server` in a thread serving the real files from ../shared/data, laid out as the live
services lay them out (OSV's bucket, Alpine's secdb, the Debian tracker URL, CISA, FIRST), plus
a small NVD CVE API 2.0 endpoint that pages through the real NVD sample the way the API does.
The server can be told to fail chosen paths (HTTP status, truncated body, broken connection).
"""

from __future__ import annotations

import gzip
import json
import shutil
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from customhouse.vulndb.build import BuildReport, build_database
from tests.conftest import SHARED_DATA

NVD_PATH = "/nvd/rest/json/cves/2.0"


def shared_data() -> Path:
    if not (SHARED_DATA / "osv").is_dir():
        pytest.skip(f"shared data not available: {SHARED_DATA}")
    return SHARED_DATA


@dataclass
class Plan:
    """Faults for paths (exact request paths without query), and what was asked."""

    status: dict[str, int] = field(default_factory=dict)  # path -> HTTP status, every time
    status_times: dict[str, int] = field(default_factory=dict)  # path -> how many times to fail first
    truncate: dict[str, int] = field(default_factory=dict)  # path -> serve only this many bytes
    cut: dict[str, int] = field(default_factory=dict)  # path -> close the connection after N body bytes
    nvd_api_key: str = ""  # when set, the NVD endpoint requires this apiKey header
    nvd_reject_first: int = 0  # answer this many NVD requests with 403 (rate limited)
    log: list[dict[str, Any]] = field(default_factory=list)
    answers: list[tuple[str, int]] = field(default_factory=list)  # (path, HTTP status) of every answer


class FeedServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, root: Path, nvd_items: list[dict[str, Any]]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.root = root
        self.nvd_items = nvd_items
        self.plan = Plan()
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def requests(self, path: str) -> list[dict[str, Any]]:
        return [e for e in self.plan.log if e["path"] == path]


class _Handler(SimpleHTTPRequestHandler):
    server: FeedServer

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, directory=str(args[2].root), **kwargs)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        path = urllib.parse.urlsplit(self.path).path
        with self.server.lock:
            self.server.plan.answers.append((path, int(code) if str(code).isdigit() else 0))

    def do_GET(self) -> None:
        parsed = urllib.parse.urlsplit(self.path)
        path = parsed.path
        plan = self.server.plan
        with self.server.lock:
            plan.log.append(
                {
                    "path": path,
                    "query": dict(urllib.parse.parse_qsl(parsed.query)),
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                }
            )
            fail = plan.status.get(path, 0)
            if not fail and plan.status_times.get(path, 0) > 0:
                plan.status_times[path] -= 1
                fail = 500
        if fail:
            self.send_error(fail)
            return
        if path == NVD_PATH:
            self._nvd(dict(urllib.parse.parse_qsl(parsed.query)))
            return
        if path in plan.truncate or path in plan.cut:
            local = Path(self.translate_path(path))
            data = local.read_bytes()
            self.send_response(200)
            if path in plan.truncate:
                data = data[: plan.truncate[path]]
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            else:
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[: plan.cut[path]])
                self.wfile.flush()
                self.close_connection = True
            return
        super().do_GET()

    def _json(self, code: int, doc: dict[str, Any]) -> None:
        body = json.dumps(doc).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _nvd(self, query: dict[str, str]) -> None:
        plan = self.server.plan
        with self.server.lock:
            reject = plan.nvd_reject_first > 0
            if reject:
                plan.nvd_reject_first -= 1
        if reject or (plan.nvd_api_key and self.headers.get("apiKey") != plan.nvd_api_key):
            self.send_error(403)
            return
        items = self.server.nvd_items
        if "lastModStartDate" in query:
            start = _nvd_time(query["lastModStartDate"])
            end = _nvd_time(query["lastModEndDate"])
            items = [i for i in items if start <= _nvd_time(i["cve"]["lastModified"]) <= end]
        first = int(query.get("startIndex", "0"))
        size = min(int(query.get("resultsPerPage", "2000")), 2000)
        page = items[first : first + size]
        self._json(
            200,
            {
                "resultsPerPage": len(page),
                "startIndex": first,
                "totalResults": len(items),
                "format": "NVD_CVE",
                "version": "2.0",
                "timestamp": "2025-01-01T00:00:00.000",
                "vulnerabilities": page,
            },
        )


def _nvd_time(text: str) -> datetime:
    t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if t.tzinfo is None:
        from datetime import UTC

        t = t.replace(tzinfo=UTC)
    return t


def live_layout(dst: Path, data: Path) -> None:
    """The real files at the paths the live services use (symlinks, plus EPSS gzipped as live)."""
    links = {
        "osv/Go/all.zip": "osv/Go-all.zip",
        "osv/PyPI/all.zip": "osv/PyPI-all.zip",
        "secdb/v3.19/main.json": "alpine/secdb/v3.19/main.json",
        "secdb/v3.19/community.json": "alpine/secdb/v3.19/community.json",
        "secdb/v3.20/main.json": "alpine/secdb/v3.20/main.json",
        "secdb/v3.20/community.json": "alpine/secdb/v3.20/community.json",
        "tracker/data/json": "formats/debian-security-tracker-sample.json",
        "sites/default/files/feeds/known_exploited_vulnerabilities.json": "kev/known_exploited_vulnerabilities.json",
    }
    for rel, src in links.items():
        target = dst / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(data / src)
    epss = dst / "epss_scores-current.csv.gz"
    epss.write_bytes(gzip.compress((data / "formats" / "epss-sample.csv").read_bytes()))


def live_urls(base: str) -> dict[str, str]:
    return {
        "osv": f"{base}/osv/{{ecosystem}}/all.zip",
        "alpine": f"{base}/secdb/{{branch}}/{{repo}}.json",
        "debian": f"{base}/tracker/data/json",
        "nvd": f"{base}{NVD_PATH}",
        "kev": f"{base}/sites/default/files/feeds/known_exploited_vulnerabilities.json",
        "epss": f"{base}/epss_scores-current.csv.gz",
    }


def _serve(root: Path, nvd_items: list[dict[str, Any]]) -> Iterator[FeedServer]:
    server = FeedServer(root, nvd_items)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def nvd_items() -> list[dict[str, Any]]:
    doc = json.loads((shared_data() / "formats" / "nvd-api-2.0-page-sample.json").read_text())
    return list(doc["vulnerabilities"])


@pytest.fixture(scope="session")
def _live_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("live-feeds")
    live_layout(root, shared_data())
    return root


@pytest.fixture
def live_server(_live_root: Path, nvd_items: list[dict[str, Any]]) -> Iterator[FeedServer]:
    """The live services' layout over HTTP, with a fresh fault plan per test."""
    yield from _serve(_live_root, nvd_items)


@pytest.fixture
def mirror_server(nvd_items: list[dict[str, Any]]) -> Iterator[FeedServer]:
    """../shared/data as it is, with directory listings (what `db build --from URL` reads)."""
    yield from _serve(shared_data(), nvd_items)


@dataclass
class SharedDB:
    path: Path
    report: BuildReport


@pytest.fixture(scope="session")
def shared_db(tmp_path_factory: pytest.TempPathFactory) -> SharedDB:
    """A database built once from all of ../shared/data (read-only for tests)."""
    data = shared_data()
    path = tmp_path_factory.mktemp("shared-db") / "db" / "customhouse.db"
    return SharedDB(path, build_database(data, path))


def copy_db(src: Path, dst: Path) -> Path:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
    dst.chmod(0o644)
    return dst
