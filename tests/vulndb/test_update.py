"""`db update` and `db build --from URL` against a real HTTP server serving the real feed files."""

from __future__ import annotations

import gzip
import hashlib
import json
import socket
import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from customhouse.errors import EXIT_NETWORK, EXIT_OK, NetworkError
from customhouse.settings import Settings
from customhouse.vulndb import update as up
from customhouse.vulndb.build import build_database
from customhouse.vulndb.cli import run
from customhouse.vulndb.db import VulnDB, default_db_path
from tests.vulndb.conftest import NVD_PATH, FeedServer, SharedDB, copy_db, live_urls, shared_data


def _opts(server: FeedServer, **kw: Any) -> up.UpdateOptions:
    base: dict[str, Any] = {
        "urls": live_urls(server.url),
        "osv_ecosystems": ("Go", "PyPI"),
        "alpine_branches": ("v3.19", "v3.20", "v3.99"),
        "nvd_page_size": 10,
        "nvd_delay": 0.0,
        "attempts": 3,
        "backoff": 0.01,
    }
    base.update(kw)
    return up.UpdateOptions(**base)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _cli_args(server: FeedServer, cache: Path, *extra: str) -> list[str]:
    urls = live_urls(server.url)
    return [
        "db",
        "update",
        "--cache-dir",
        str(cache),
        "--osv-ecosystems",
        "Go,PyPI",
        "--alpine-branches",
        "v3.20",
        "--nvd-page-size",
        "20",
        "--nvd-request-delay",
        "0",
        "--retries",
        "0",
        "-q",
        *(f"--{k}-url={v}" for k, v in urls.items()),
        *extra,
    ]


def test_update_downloads_every_feed_and_builds(live_server: FeedServer, tmp_path: Path) -> None:
    settings = Settings(cache_dir=tmp_path / "cache")
    live_server.plan.nvd_api_key = "k-123"
    db_path = default_db_path(settings.cache_dir)
    report = up.update(settings, db_path, _opts(live_server, nvd_api_key="k-123"))
    by_name = {s.name: s for s in report.sources}
    assert by_name["osv:Go"].records == 4274 and by_name["osv:PyPI"].records == 2651
    assert by_name["kev"].records == 1404 and by_name["nvd"].records == 38 and by_name["epss"].records == 5
    assert by_name["debian-tracker"].records == 7
    assert by_name["osv:Go"].url == f"{live_server.url}/osv/Go/all.zip"
    assert by_name["alpine-secdb"].url == f"{live_server.url}/secdb/"
    # NVD: 38 CVEs in pages of 10 -> 4 requests, each with the API key header and the page offsets.
    nvd = live_server.requests(NVD_PATH)
    assert [r["query"]["startIndex"] for r in nvd] == ["0", "10", "20", "30"]
    assert all(r["headers"].get("apikey") == "k-123" for r in nvd)
    assert all(r["query"]["resultsPerPage"] == "10" for r in nvd)
    # The mirror has the documented layout, with sidecars.
    feeds = up.feed_dir(settings)
    assert (feeds / "osv" / "Go" / "all.zip").is_file()
    assert (feeds / "alpine" / "secdb" / "v3.20" / "community.json").is_file()
    assert not (feeds / "alpine" / "secdb" / "v3.99").exists()  # 404: branch not published, not an error
    meta = json.loads((feeds / "kev" / "known_exploited_vulnerabilities.json.meta.json").read_text())
    assert meta["sha256"] == _sha(shared_data() / "kev" / "known_exploited_vulnerabilities.json")
    assert len(list((feeds / "nvd").glob("full-*.json.gz"))) == 4
    with VulnDB(db_path) as db:
        assert db.kev(["CVE-2021-44228"])
        assert db.cvss(["CVE-2023-27314"])
        assert [r for r in db.affected("alpine:3.20", ["aom"]) if r.vuln_id == "CVE-2024-5171"]
        assert db.epss(["CVE-1999-0005"]) == {"CVE-1999-0005": (0.91963, 0.99214)}
    # Nothing was written outside the cache directory given.
    assert {p.name for p in (tmp_path).iterdir()} == {"cache"}


def test_second_update_is_conditional_and_nvd_incremental(live_server: FeedServer, tmp_path: Path) -> None:
    settings = Settings(cache_dir=tmp_path / "cache")
    db_path = default_db_path(settings.cache_dir)
    up.update(settings, db_path, _opts(live_server))
    state = json.loads((up.feed_dir(settings) / "nvd" / "state.json").read_text())
    live_server.plan.log.clear()
    live_server.plan.answers.clear()
    report = up.update(settings, db_path, _opts(live_server))
    kev_path = "/sites/default/files/feeds/known_exploited_vulnerabilities.json"
    kev = live_server.requests(kev_path)
    assert len(kev) == 1 and "if-modified-since" in kev[0]["headers"]
    answers = dict(live_server.plan.answers)
    assert answers[kev_path] == 304 and answers["/osv/Go/all.zip"] == 304  # nothing downloaded again
    nvd = live_server.requests(NVD_PATH)
    assert nvd and nvd[0]["query"]["lastModStartDate"].startswith(state["last_end"][:19])
    assert "lastModEndDate" in nvd[0]["query"]
    # The sample's CVEs were all modified in 2023: the delta is empty, the full pages stay.
    assert {s.name: s.records for s in report.sources}["nvd"] == 38
    assert not list((up.feed_dir(settings) / "nvd").glob("delta-*"))
    assert len(list((up.feed_dir(settings) / "nvd").glob("full-*.json.gz"))) == 4


def test_nvd_newest_page_wins(live_server: FeedServer, tmp_path: Path, nvd_items: list[dict[str, Any]]) -> None:
    """A CVE changed after the full download is taken from the incremental page."""
    settings = Settings(cache_dir=tmp_path / "cache")
    db_path = default_db_path(settings.cache_dir)
    up.update(settings, db_path, _opts(live_server, sources=("nvd",)))
    later = up._now() + timedelta(seconds=5)
    changed = json.loads(json.dumps(nvd_items[0]))
    changed["cve"]["lastModified"] = (later - timedelta(seconds=2)).strftime("%Y-%m-%dT%H:%M:%S.000")
    changed["cve"]["descriptions"][0]["value"] = "rewritten by a later NVD analysis"
    live_server.nvd_items = [changed, *nvd_items[1:]]
    state_path = up.feed_dir(settings) / "nvd" / "state.json"
    up.fetch_nvd(
        up.Downloader(settings, attempts=1),
        up.feed_dir(settings) / "nvd",
        up.NVDOptions(live_urls(live_server.url)["nvd"], delay=0.0),
        now=later,
    )
    assert len(list(state_path.parent.glob("delta-*.json.gz"))) == 1
    build_database(up.feed_dir(settings), db_path)
    cve = changed["cve"]["id"]
    with VulnDB(db_path) as db:
        assert db.vulnerabilities([cve])[cve].details == "rewritten by a later NVD analysis"


def test_retries_transient_failures(live_server: FeedServer, tmp_path: Path) -> None:
    settings = Settings(cache_dir=tmp_path / "cache")
    plan = live_server.plan
    plan.status_times["/osv/Go/all.zip"] = 2  # 500 twice, then the file
    plan.nvd_reject_first = 1  # NVD's rate limiting answer
    plan.cut["/tracker/data/json"] = 100  # connection closed after 100 bytes: every time
    with pytest.raises(NetworkError, match="tracker/data/json"):
        up.update(settings, default_db_path(settings.cache_dir), _opts(live_server))
    assert len(live_server.requests("/osv/Go/all.zip")) == 3
    del plan.cut["/tracker/data/json"]
    up.update(settings, default_db_path(settings.cache_dir), _opts(live_server))
    assert len([r for r in live_server.requests(NVD_PATH) if r["query"].get("startIndex") == "0"]) == 2


@pytest.fixture
def old_db(shared_db: SharedDB, tmp_path: Path) -> Path:
    """The database in use, which failed updates must leave alone."""
    return copy_db(shared_db.path, default_db_path(tmp_path / "cache"))


def _assert_untouched(db_path: Path, digest: str) -> None:
    assert _sha(db_path) == digest
    with VulnDB(db_path) as db:
        assert db.affected("golang", ["stdlib"])
    assert not list(db_path.parent.glob(".*.tmp"))


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ({"status": {"/sites/default/files/feeds/known_exploited_vulnerabilities.json": 500}}, "HTTP 500"),
        ({"truncate": {"/osv/PyPI/all.zip": 1_000_000}}, "not a complete zip archive"),
        ({"truncate": {"/epss_scores-current.csv.gz": 100}}, "not a complete gzip stream"),
        ({"status": {NVD_PATH: 503}}, "HTTP 503"),
    ],
)
def test_failed_download_keeps_the_old_database(
    live_server: FeedServer, old_db: Path, capsys: pytest.CaptureFixture[str], fault: dict[str, Any], message: str
) -> None:
    digest = _sha(old_db)
    for kind, value in fault.items():
        getattr(live_server.plan, kind).update(value)
    capsys.readouterr()
    assert run(_cli_args(live_server, old_db.parent.parent)) == EXIT_NETWORK
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("customhouse: error: http://127.0.0.1:") and message in err[0]
    assert "Traceback" not in err[0]
    _assert_untouched(old_db, digest)


def test_unreachable_feed_keeps_the_old_database(
    live_server: FeedServer, old_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}/feeds/kev.json"
    digest = _sha(old_db)
    capsys.readouterr()
    assert run([*_cli_args(live_server, old_db.parent.parent), f"--kev-url={closed}"]) == EXIT_NETWORK
    err = capsys.readouterr().err
    assert closed in err and "download failed" in err
    _assert_untouched(old_db, digest)


def test_unknown_source_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["db", "update", "--cache-dir", str(tmp_path), "--sources", "osv,ghsa"]) == 2
    assert "unknown feed 'ghsa'" in capsys.readouterr().err


def test_build_from_url_with_directory_listing(mirror_server: FeedServer, shared_db: SharedDB, tmp_path: Path) -> None:
    """../shared/data served as it is builds the same database as the directory itself."""
    cache = tmp_path / "cache"
    assert run(["db", "build", "--from", mirror_server.url + "/", "--cache-dir", str(cache), "-q"]) == EXIT_OK
    db_path = default_db_path(cache)
    counts = {}
    with sqlite3.connect(db_path) as con:
        for table in ("vulnerabilities", "affected", "aliases", "cvss", "kev", "epss"):
            counts[table] = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        urls = dict(con.execute("SELECT name, url FROM sources"))
    assert counts == shared_db.report.counts
    assert urls["osv:Go"] == f"{mirror_server.url}/osv/Go-all.zip"
    fetched = {e["path"] for e in mirror_server.plan.log}
    assert "/images/alpine-3.10-docker-archive.tar.gz" not in fetched  # only feed files are downloaded


def test_build_from_url_with_index(live_server: FeedServer, tmp_path: Path) -> None:
    root = Path(live_server.root)
    index = root / "index.json"
    files = ["osv/Go-all.zip", "kev/known_exploited_vulnerabilities.json"]
    (root / "osv" / "Go-all.zip").symlink_to(shared_data() / "osv" / "Go-all.zip")
    (root / "kev").mkdir()
    (root / "kev" / "known_exploited_vulnerabilities.json").symlink_to(
        shared_data() / "kev" / "known_exploited_vulnerabilities.json"
    )
    index.write_text(json.dumps({"files": files}))
    try:
        report = up.build_from(live_server.url, tmp_path / "db.sqlite", Settings(cache_dir=tmp_path / "cache"))
    finally:
        index.unlink()
        (root / "osv" / "Go-all.zip").unlink()
        (root / "kev" / "known_exploited_vulnerabilities.json").unlink()
        (root / "kev").rmdir()
    assert {s.name: s.records for s in report.sources} == {"osv:Go": 4274, "kev": 1404}


def test_build_from_url_without_listing_fails_clearly(live_server: FeedServer, tmp_path: Path) -> None:
    (Path(live_server.root) / "nolist").mkdir(exist_ok=True)
    (Path(live_server.root) / "nolist" / "index.html").write_text("<html>nothing here</html>")
    with pytest.raises(NetworkError, match="cannot list the mirror"):
        up.build_from(live_server.url + "/nolist", tmp_path / "db.sqlite", Settings(cache_dir=tmp_path / "cache"))


def test_checkers_reject_truncation(tmp_path: Path) -> None:
    good = shared_data() / "osv" / "Go-all.zip"
    cut = tmp_path / "cut.zip"
    cut.write_bytes(good.read_bytes()[:-100])
    up.check_zip(good)
    with pytest.raises(ValueError, match="zip"):
        up.check_zip(cut)
    gz = tmp_path / "x.csv.gz"
    gz.write_bytes(gzip.compress(b"cve,epss,percentile\n" * 1000)[:-10])
    with pytest.raises(ValueError, match="gzip"):
        up.check_gzip(gz)
    js = tmp_path / "x.json"
    js.write_text('{"vulnerabilities": [')
    with pytest.raises(ValueError, match="JSON"):
        up.check_json(js)


def test_url_resolution_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUSTOMHOUSE_KEV_URL", "http://mirror.example/kev.json")
    monkeypatch.delenv("CUSTOMHOUSE_EPSS_URL", raising=False)
    urls = up.resolve_urls({"kev": None, "osv": "http://flag.example/{ecosystem}.zip"})
    assert urls["kev"] == "http://mirror.example/kev.json"
    assert urls["osv"] == "http://flag.example/{ecosystem}.zip"
    assert urls["epss"] == "https://epss.cyentia.com/epss_scores-current.csv.gz"
    assert up._template("http://m.example/osv/", "/{ecosystem}/all.zip", ecosystem="Rocky%20Linux") == (
        "http://m.example/osv/Rocky%20Linux/all.zip"
    )
    monkeypatch.setenv("NVD_API_KEY", "from-env")
    assert up.nvd_api_key(None) == "from-env" and up.nvd_api_key("flag") == "flag"


def test_unwritable_cache_is_a_database_error(
    live_server: FeedServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the cache directory should be")
    assert run(_cli_args(live_server, blocker)) == 4
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot write the feed cache" in err and str(blocker) in err
