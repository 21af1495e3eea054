"""`db update` and `db build --from URL`: download feeds into a mirror, then build from it.

Downloads land in the same directory layout `db build --from DIR` reads (see build.py), under
`<cache>/vulndb/feeds`, so an update is "refresh the mirror, then build the mirror" and the
build code has one input format. Each file is downloaded to a `.part` file next to its place,
checked (a zip must open, JSON must parse, gzip must decompress to the end: truncation is the
common failure of big downloads) and only then renamed into place, with a `.meta.json` sidecar
recording URL, ETag, fetch time and SHA-256. The next update sends the ETag back, so unchanged
feeds cost one request. Any feed that cannot be downloaded aborts the update with a network
error (exit 5) before the build starts, so the database in use is never replaced by one that
silently lacks a feed.

Default sources (each overridable by flag or environment variable; see `URL_ENV`):

    osv     https://osv-vulnerabilities.storage.googleapis.com/{ecosystem}/all.zip
    alpine  https://secdb.alpinelinux.org/{branch}/{repo}.json   (v3.10 .. v3.22, edge; main, community)
    debian  https://security-tracker.debian.org/tracker/data/json
    nvd     https://services.nvd.nist.gov/rest/json/cves/2.0       (API key: NVD_API_KEY)
    kev     https://www.cisa.gov/sites/default/files/feeds/known_exploited_vulnerabilities.json
    epss    https://epss.cyentia.com/epss_scores-current.csv.gz

NVD is paged (`startIndex`/`resultsPerPage`, up to 2,000 per page) and rate limited (NVD asks
for about 6 s between requests without an API key, 0.6 s with one; 403, 429 and 503 mean
"slow down" and are retried with backoff). After one full download, later updates ask only
for what changed since the last one (`lastModStartDate`/`lastModEndDate`, at most 120 days
apart: older mirrors are downloaded again in full).
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import re
import shutil
import time
import urllib.parse
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from customhouse import __version__
from customhouse.errors import DatabaseError, NetworkError
from customhouse.log import get_logger
from customhouse.settings import Settings
from customhouse.targets.registry.progress import Downloads
from customhouse.vulndb.build import SIDECAR, BuildReport, Progress, build_database, classify
from customhouse.vulndb.feeds.osv import DEFAULT_ECOSYSTEMS

log = get_logger(__name__)

SOURCES = ("osv", "alpine", "debian", "nvd", "kev", "epss")
DEFAULT_URLS = {
    "osv": "https://osv-vulnerabilities.storage.googleapis.com/{ecosystem}/all.zip",
    "alpine": "https://secdb.alpinelinux.org/{branch}/{repo}.json",
    "debian": "https://security-tracker.debian.org/tracker/data/json",
    "nvd": "https://services.nvd.nist.gov/rest/json/cves/2.0",
    "kev": "https://www.cisa.gov/sites/default/files/feeds/known_exploited_vulnerabilities.json",
    "epss": "https://epss.cyentia.com/epss_scores-current.csv.gz",
}
URL_ENV = {
    "osv": "CUSTOMHOUSE_OSV_URL",
    "alpine": "CUSTOMHOUSE_ALPINE_URL",
    "debian": "CUSTOMHOUSE_DEBIAN_URL",
    "nvd": "CUSTOMHOUSE_NVD_URL",
    "kev": "CUSTOMHOUSE_KEV_URL",
    "epss": "CUSTOMHOUSE_EPSS_URL",
}
API_KEY_ENV = ("CUSTOMHOUSE_NVD_API_KEY", "NVD_API_KEY")
DEFAULT_ALPINE_BRANCHES = (*(f"v3.{n}" for n in range(10, 23)), "edge")
ALPINE_REPOS = ("main", "community")
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
NVD_RETRY_STATUSES = RETRY_STATUSES | {403}
NVD_MAX_WINDOW = timedelta(days=119)  # the API allows 120 days between the two dates
NVD_PAGE_MAX = 2000
MAX_BACKOFF = 60.0
MAX_DOCUMENT = 1 << 30
MAX_LISTING = 16 << 20
MAX_LISTED_FILES = 20_000
MAX_LISTING_DEPTH = 6
CHUNK = 1 << 20


def feed_dir(settings: Settings) -> Path:
    return settings.cache_dir / "vulndb" / "feeds"


def resolve_urls(overrides: dict[str, str | None] | None = None) -> dict[str, str]:
    """Flag, else environment variable, else default, per source."""
    out = {}
    for name, default in DEFAULT_URLS.items():
        flag = (overrides or {}).get(name)
        out[name] = flag or os.environ.get(URL_ENV[name]) or default
    return out


def nvd_api_key(flag: str | None = None) -> str:
    if flag:
        return flag
    for env in API_KEY_ENV:
        if os.environ.get(env):
            return os.environ[env]
    return ""


def _why(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


# ------------------------------------------------------------------ validation


def check_zip(path: Path) -> None:
    """A truncated zip has no central directory (it is at the end), so opening it fails."""
    try:
        with zipfile.ZipFile(path) as zf:
            zf.infolist()
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise ValueError(f"not a complete zip archive ({_why(exc)})") from None


def check_json(path: Path) -> None:
    try:
        raw = path.read_bytes()
        if path.name.endswith(".gz"):
            raw = gzip.decompress(raw)
        json.loads(raw)
    except (OSError, EOFError, ValueError, RecursionError) as exc:
        raise ValueError(f"not complete JSON ({_why(exc)[:120]})") from None


def check_gzip(path: Path) -> None:
    try:
        with gzip.open(path, "rb") as fh:
            while fh.read(CHUNK):
                pass
    except (OSError, EOFError) as exc:
        raise ValueError(f"not a complete gzip stream ({_why(exc)})") from None


def check_nothing(path: Path) -> None:
    return None


def checker_for(rel: str) -> Callable[[Path], None]:
    name = rel.lower()
    if name.endswith(".zip"):
        return check_zip
    if name.endswith(".json") or name.endswith(".json.gz"):
        return check_json
    if name.endswith(".gz"):
        return check_gzip
    return check_nothing


# ------------------------------------------------------------------ downloader


@dataclass
class Downloader:
    """HTTP GETs with retries, conditional requests, validation and atomic placement.

    `attempts` counts tries per request (1 = no retry); the wait before retry n is
    `backoff * 2**(n-1)` seconds, or what the server's Retry-After asks, capped at a minute.
    """

    settings: Settings
    attempts: int = 5
    backoff: float = 2.0
    timeout: float = 120.0

    def __post_init__(self) -> None:
        self.attempts = max(1, self.attempts)
        self._http = httpx.Client(
            follow_redirects=True,
            timeout=httpx.Timeout(self.timeout, connect=20.0),
            headers={"User-Agent": f"customhouse/{__version__}"},
        )
        self._bars = Downloads(self.settings.progress)

    def close(self) -> None:
        self._bars.close()
        self._http.close()

    def __enter__(self) -> Downloader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _delay(self, attempt: int, response: httpx.Response | None) -> float:
        if response is not None:
            value = response.headers.get("retry-after", "")
            if value.isdigit():
                return min(float(value), MAX_BACKOFF)
        return float(min(self.backoff * (2 ** (attempt - 1)), MAX_BACKOFF))

    @contextlib.contextmanager
    def _open(
        self,
        url: str,
        *,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        retry: frozenset[int] = RETRY_STATUSES,
        label: str = "",
    ) -> Iterator[httpx.Response]:
        """A streamed answer that is not a retryable failure (the caller checks the status)."""
        where = label or url
        for attempt in range(1, self.attempts + 1):
            try:
                request = self._http.build_request("GET", url, params=params, headers=headers)
                response = self._http.send(request, stream=True)
            except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
                raise NetworkError(f"{where}: invalid URL ({_why(exc)})") from None
            except httpx.TransportError as exc:
                if attempt == self.attempts:
                    raise NetworkError(f"{where}: download failed after {attempt} attempts ({_why(exc)})") from None
                delay = self._delay(attempt, None)
                log.debug("%s: %s; retrying in %.1f s", where, _why(exc), delay)
                time.sleep(delay)
                continue
            if response.status_code in retry and attempt < self.attempts:
                delay = self._delay(attempt, response)
                response.close()
                log.debug("%s: HTTP %d; retrying in %.1f s", where, response.status_code, delay)
                time.sleep(delay)
                continue
            try:
                yield response
            finally:
                response.close()
            return
        raise AssertionError("unreachable")  # pragma: no cover

    def fetch(
        self,
        url: str,
        dest: Path,
        check: Callable[[Path], None],
        *,
        optional: bool = False,
        label: str = "",
        conditional: bool = True,
    ) -> bool:
        """Download `url` to `dest`; False when `optional` and the server has no such file.

        The file in place is replaced only by a complete, valid download; a download that
        keeps failing (or arrives broken on every attempt) raises NetworkError.
        """
        side_path = dest.with_name(dest.name + SIDECAR)
        side = _load_json(side_path)
        headers: dict[str, str] = {}
        if conditional and dest.is_file() and side.get("url") == url:
            if side.get("etag"):
                headers["If-None-Match"] = str(side["etag"])
            if side.get("last_modified"):
                headers["If-Modified-Since"] = str(side["last_modified"])
        part = dest.with_name(dest.name + ".part")
        last_problem = ""
        for attempt in range(1, self.attempts + 1):
            with self._open(url, headers=headers, label=url) as response:
                code = response.status_code
                if code == 304 and dest.is_file():
                    side["fetched_at"] = _iso(_now())
                    _write_json(side_path, side)
                    log.debug("%s: not modified", url)
                    return True
                if code in (404, 410) and optional:
                    return False
                if code != 200:
                    raise NetworkError(f"{url}: server answered HTTP {code}")
                dest.parent.mkdir(parents=True, exist_ok=True)
                try:
                    digest, size = self._save(response, part, label or dest.name)
                except httpx.TransportError as exc:
                    last_problem = f"connection broke ({_why(exc)})"
                    part.unlink(missing_ok=True)
                    if attempt < self.attempts:
                        time.sleep(self._delay(attempt, None))
                        continue
                    break
                etag = response.headers.get("etag", "")
                modified = response.headers.get("last-modified", "")
            try:
                check(part)
            except ValueError as exc:
                last_problem = str(exc)
                part.unlink(missing_ok=True)
                if attempt < self.attempts:
                    time.sleep(self._delay(attempt, None))
                    continue
                break
            os.replace(part, dest)
            _write_json(
                side_path,
                {
                    "url": url,
                    "etag": etag,
                    "last_modified": modified,
                    "fetched_at": _iso(_now()),
                    "sha256": digest,
                    "size": size,
                },
            )
            return True
        raise NetworkError(f"{url}: download failed after {self.attempts} attempts: {last_problem}")

    def _save(self, response: httpx.Response, part: Path, label: str) -> tuple[str, int]:
        total = response.headers.get("content-length", "")
        task = self._bars.task(label, int(total) if total.isdigit() else 0)
        h = hashlib.sha256()
        size = 0
        try:
            with open(part, "wb") as out:
                for chunk in response.iter_bytes(CHUNK):
                    out.write(chunk)
                    h.update(chunk)
                    size += len(chunk)
                    task.advance(len(chunk))
        finally:
            task.finish()
        return h.hexdigest(), size

    def get_bytes(
        self,
        url: str,
        *,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        retry: frozenset[int] = RETRY_STATUSES,
        optional: bool = False,
        limit: int = MAX_DOCUMENT,
        label: str = "",
    ) -> bytes | None:
        """A whole (bounded) response body; None when `optional` and 404."""
        where = label or url
        for attempt in range(1, self.attempts + 1):
            with self._open(url, params=params, headers=headers, retry=retry, label=where) as response:
                code = response.status_code
                if code in (404, 410) and optional:
                    return None
                if code != 200:
                    raise NetworkError(f"{where}: server answered HTTP {code}")
                chunks: list[bytes] = []
                total = 0
                try:
                    for chunk in response.iter_bytes(CHUNK):
                        total += len(chunk)
                        if total > limit:
                            raise NetworkError(f"{where}: answer larger than {limit} bytes")
                        chunks.append(chunk)
                except httpx.TransportError as exc:
                    if attempt < self.attempts:
                        time.sleep(self._delay(attempt, None))
                        continue
                    raise NetworkError(f"{where}: connection broke while reading ({_why(exc)})") from None
                return b"".join(chunks)
        raise NetworkError(f"{where}: download failed after {self.attempts} attempts")


def _load_json(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _write_json(path: Path, doc: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=1, sort_keys=True))
    os.replace(tmp, path)


# ------------------------------------------------------------------ NVD


@dataclass
class NVDOptions:
    url: str = DEFAULT_URLS["nvd"]
    api_key: str = ""
    page_size: int = NVD_PAGE_MAX
    delay: float | None = None  # seconds between requests; None: NVD's advice for with/without a key


def _nvd_date(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.000+00:00")


def fetch_nvd(dl: Downloader, dest: Path, opts: NVDOptions, now: datetime | None = None) -> int:
    """Refresh the NVD pages under `dest`: incrementally when the last fetch is recent.

    Returns the number of CVE records received.
    """
    now = now or _now()
    state = _load_json(dest / "state.json")
    last_end = _parse_time(state.get("last_end"))
    has_pages = dest.is_dir() and any(
        p.name.endswith((".json", ".json.gz")) and p.name != "state.json" for p in dest.iterdir()
    )
    incremental = (
        has_pages and state.get("url") == opts.url and last_end is not None and now - last_end <= NVD_MAX_WINDOW
    )
    delay = opts.delay if opts.delay is not None else (0.6 if opts.api_key else 6.0)
    page_size = max(1, min(opts.page_size, NVD_PAGE_MAX))
    params: dict[str, Any] = {"resultsPerPage": page_size}
    headers = {"apiKey": opts.api_key} if opts.api_key else {}
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    if incremental:
        assert last_end is not None
        params["lastModStartDate"] = _nvd_date(last_end)
        params["lastModEndDate"] = _nvd_date(now)
        out_dir, kind = dest, "delta"
    else:
        out_dir, kind = dest.with_name(dest.name + ".partial"), "full"
        shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    start, total, received, requests = 0, None, 0, 0
    while total is None or start < total:
        if requests:
            time.sleep(delay)
        requests += 1
        query = {**params, "startIndex": start}
        label = f"{opts.url} (NVD {kind} download, startIndex {start})"
        raw = dl.get_bytes(opts.url, params=query, headers=headers, retry=NVD_RETRY_STATUSES, label=label)
        assert raw is not None
        try:
            doc = json.loads(raw)
            items = doc["vulnerabilities"]
            total = int(doc["totalResults"])
            if not isinstance(items, list):
                raise TypeError("vulnerabilities is not a list")
        except (ValueError, KeyError, TypeError) as exc:
            raise NetworkError(
                f"{opts.url}: not an NVD CVE API 2.0 answer at startIndex {start} ({_why(exc)})"
            ) from None
        if items:  # an incremental window with no changes leaves no empty page behind
            page = out_dir / f"{kind}-{stamp}-{start:07d}.json.gz"
            tmp = page.with_name(page.name + ".part")
            tmp.write_bytes(gzip.compress(raw, 6))
            os.replace(tmp, page)
            url = f"{opts.url}?{urllib.parse.urlencode(query)}"
            _write_json(
                page.with_name(page.name + SIDECAR),
                {"url": url, "fetched_at": _iso(_now()), "sha256": hashlib.sha256(raw).hexdigest(), "size": len(raw)},
            )
        received += len(items)
        if not items:
            break
        start += len(items)
    if not incremental:
        old = dest.with_name(dest.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if dest.exists():
            os.replace(dest, old)
        os.replace(out_dir, dest)
        shutil.rmtree(old, ignore_errors=True)
    full_at = state.get("full_at") if incremental else _iso(now)
    _write_json(dest / "state.json", {"url": opts.url, "last_end": _iso(now), "full_at": full_at})
    log.debug("NVD: %s download, %d records in %d requests", kind, received, requests)
    return received


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


# ------------------------------------------------------------------ update


@dataclass
class UpdateOptions:
    sources: tuple[str, ...] = SOURCES
    urls: dict[str, str] = field(default_factory=resolve_urls)
    osv_ecosystems: tuple[str, ...] = DEFAULT_ECOSYSTEMS
    alpine_branches: tuple[str, ...] = DEFAULT_ALPINE_BRANCHES
    nvd_api_key: str = ""
    nvd_page_size: int = NVD_PAGE_MAX
    nvd_delay: float | None = None
    attempts: int = 5
    backoff: float = 2.0


def _template(url: str, default_tail: str, **values: str) -> str:
    if not any("{" + k + "}" in url for k in values):
        url = url.rstrip("/") + default_tail
    for k, v in values.items():
        url = url.replace("{" + k + "}", v)
    return url


def download_feeds(settings: Settings, opts: UpdateOptions) -> Path:
    """Refresh every selected feed in the mirror; raises NetworkError on the first failure."""
    root = feed_dir(settings)
    root.mkdir(parents=True, exist_ok=True)
    urls = opts.urls
    with Downloader(settings, attempts=opts.attempts, backoff=opts.backoff) as dl:
        if "osv" in opts.sources:
            for eco in opts.osv_ecosystems:
                url = _template(urls["osv"], "/{ecosystem}/all.zip", ecosystem=urllib.parse.quote(eco))
                dl.fetch(url, root / "osv" / eco / "all.zip", check_zip, label=f"OSV {eco}")
        if "alpine" in opts.sources:
            found = 0
            for branch in opts.alpine_branches:
                for repo in ALPINE_REPOS:
                    url = _template(urls["alpine"], "/{branch}/{repo}.json", branch=branch, repo=repo)
                    dest = root / "alpine" / "secdb" / branch / f"{repo}.json"
                    # Branches come and go (3.22 appears, old ones may be pruned): 404 is not an error.
                    if dl.fetch(url, dest, check_json, optional=True, label=f"Alpine {branch}/{repo}"):
                        found += 1
                    else:
                        log.debug("%s: not published", url)
            if opts.alpine_branches and not found:
                raise NetworkError(f"{urls['alpine']}: no Alpine secdb document found for any branch")
        if "debian" in opts.sources:
            dl.fetch(urls["debian"], root / "debian" / "tracker.json", check_json, label="Debian tracker")
        if "nvd" in opts.sources:
            nvd = NVDOptions(urls["nvd"], opts.nvd_api_key, opts.nvd_page_size, opts.nvd_delay)
            fetch_nvd(dl, root / "nvd", nvd)
        if "kev" in opts.sources:
            dl.fetch(urls["kev"], root / "kev" / "known_exploited_vulnerabilities.json", check_json, label="CISA KEV")
        if "epss" in opts.sources:
            name = "epss_scores-current.csv.gz" if urls["epss"].endswith(".gz") else "epss_scores-current.csv"
            dl.fetch(urls["epss"], root / "epss" / name, checker_for(name), label="FIRST EPSS")
    return root


def _cache_error(exc: OSError, where: Path) -> DatabaseError:
    return DatabaseError(f"{exc.filename or where}: cannot write the feed cache ({exc.strerror or exc})")


def update(settings: Settings, db_path: Path, opts: UpdateOptions, progress: Progress | None = None) -> BuildReport:
    """Download, then build; a failed download leaves the current database untouched."""
    try:
        root = download_feeds(settings, opts)
    except OSError as exc:  # the cache is not writable, or the disk is full
        raise _cache_error(exc, feed_dir(settings)) from None
    return build_database(root, db_path, progress)


# ------------------------------------------------------------------ build --from URL

_HREF = re.compile(r"""href\s*=\s*["']([^"'#?]+)["']""", re.IGNORECASE)


def list_remote(base: str, dl: Downloader) -> list[str]:
    """Relative paths of the files under `base`: from `index.json`, else directory listings."""
    raw = dl.get_bytes(base + "index.json", optional=True, limit=MAX_LISTING)
    if raw is not None:
        try:
            doc = json.loads(raw)
            files = doc["files"] if isinstance(doc, dict) else doc
            if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
                raise TypeError("files is not a list of strings")
        except (ValueError, KeyError, TypeError) as exc:
            raise NetworkError(f"{base}index.json: not a file index ({_why(exc)})") from None
        return [f.lstrip("/") for f in files if ".." not in f.split("/")][:MAX_LISTED_FILES]
    found: list[str] = []
    queue: list[tuple[str, int]] = [("", 0)]
    seen = {""}
    while queue:
        prefix, depth = queue.pop(0)
        page = dl.get_bytes(base + prefix, limit=MAX_LISTING, label=f"{base}{prefix}")
        assert page is not None
        links = _HREF.findall(page.decode("utf-8", errors="replace"))
        if not links and not prefix:
            raise NetworkError(
                f'{base}: cannot list the mirror: serve index.json ({{"files": [...]}}) or a directory listing'
            )
        for href in links:
            if "://" in href or href.startswith(("/", "..", "./", "mailto:")):
                continue
            rel = prefix + urllib.parse.unquote(href)
            if href.endswith("/"):
                if depth + 1 <= MAX_LISTING_DEPTH and rel not in seen:
                    seen.add(rel)
                    queue.append((rel, depth + 1))
            elif rel not in found:
                found.append(rel)
                if len(found) >= MAX_LISTED_FILES:
                    return found
    return found


def mirror_from_url(base_url: str, settings: Settings, attempts: int = 5, backoff: float = 2.0) -> Path:
    """Copy the feed files under `base_url` (same layout as a local mirror) into the cache."""
    base = base_url if base_url.endswith("/") else base_url + "/"
    dest = settings.cache_dir / "vulndb" / "mirrors" / hashlib.sha256(base.encode()).hexdigest()[:16]
    with Downloader(settings, attempts=attempts, backoff=backoff) as dl:
        wanted = [rel for rel in list_remote(base, dl) if classify(rel) is not None]
        if not wanted:
            raise NetworkError(f"{base}: no feed files found (see `customhouse db build --help` for the layout)")
        for rel in wanted:
            target = (dest / rel).resolve()
            if not target.is_relative_to(dest.resolve()):
                continue
            dl.fetch(base + urllib.parse.quote(rel), target, checker_for(rel), label=rel)
    keep = {(dest / rel).resolve() for rel in wanted}
    for path in sorted(dest.rglob("*")):
        rel = path.relative_to(dest).as_posix()
        if path.is_file() and classify(rel) is not None and path.resolve() not in keep:
            path.unlink()  # dropped from the remote mirror since the last build
    return dest


def build_from(spec: str, db_path: Path, settings: Settings, progress: Progress | None = None) -> BuildReport:
    """`db build --from DIR|URL`."""
    remote = spec.startswith(("http://", "https://"))
    try:
        root = mirror_from_url(spec, settings) if remote else Path(spec)
    except OSError as exc:
        raise _cache_error(exc, settings.cache_dir) from None
    return build_database(root, db_path, progress)
