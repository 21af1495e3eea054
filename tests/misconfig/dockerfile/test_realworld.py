"""Realistic multi-stage Dockerfiles (Go, Node, Python) with the exact findings they must give,
and a tree scan that meets broken Dockerfiles next to good ones.

The three files in data/ are written the way such services usually are: the Go one follows
current practice (cache mounts, distroless nonroot) and is held to its few remaining nits, the
Node one has the usual mistakes of a decent Dockerfile, the Python one the usual mistakes of a
hasty one. Any new finding on them, or a lost one, is a change of behaviour to look at.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from customhouse.misconfig.engine import Options
from customhouse.misconfig.runner import scan_tree
from tests.misconfig.hostconfig.util import apply_fix, replacement

from .util import ids, scan

DATA = Path(__file__).parent / "data"

EXPECTED: dict[str, list[tuple[str, int]]] = {
    "go.Dockerfile": [
        ("CH-DF-009", 3),  # golang:1.22.5-bookworm by tag only
        ("CH-DF-009", 16),  # distroless by tag only
        ("CH-DF-037", 16),  # no HEALTHCHECK (distroless :nonroot is not reported for USER)
    ],
    "node.Dockerfile": [
        ("CH-DF-009", 1),
        ("CH-DF-009", 6),
        ("CH-DF-009", 12),
        ("CH-DF-031", 15),  # apk add tini without a version
        ("CH-DF-035", 4),  # npm install although package-lock.json is copied
        ("CH-DF-040", 22),  # CMD in shell form
    ],
    "python.Dockerfile": [
        ("CH-DF-002", 1),  # no USER
        ("CH-DF-005", 11),  # chmod -R 777
        ("CH-DF-009", 1),
        ("CH-DF-012", 10),  # ADD of a URL without checksum
        ("CH-DF-023", 5),  # apt lists left behind
        ("CH-DF-025", 5),  # recommends
        ("CH-DF-026", 8),  # pip cache
        ("CH-DF-030", 5),  # unpinned apt packages
        ("CH-DF-037", 1),  # no HEALTHCHECK
        ("CH-DF-038", 12),  # EXPOSE 22
        ("CH-DF-040", 13),  # CMD in shell form
        ("CH-DF-043", 2),  # MAINTAINER
    ],
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_exact_findings(name: str) -> None:
    text = (DATA / name).read_text()
    assert ids(scan(text, path=name)) == sorted(EXPECTED[name])


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_applying_every_replacement_leaves_a_valid_file_with_fewer_findings(name: str) -> None:
    text = (DATA / name).read_text()
    before = scan(text, path=name)
    for _ in range(len(before)):  # one at a time: lines may move
        fixable = [f for f in scan(text, path=name) if replacement(f)]
        if not fixable:
            break
        text = apply_fix(text, fixable[0])
    after = scan(text, path=name)
    fixed = {f.id for f in before if replacement(f)}
    assert not any(f.id in fixed and replacement(f) for f in after)
    assert len(after) < len(before) or not fixed


def test_python_replacements_are_the_expected_text() -> None:
    text = (DATA / "python.Dockerfile").read_text()
    got = {f.id: replacement(f) for f in scan(text) if replacement(f)}
    assert got == {
        "CH-DF-005": "RUN chmod -R 775 /srv/app/data",
        "CH-DF-025": "RUN apt-get update && apt-get install --no-install-recommends -y build-essential libpq-dev",
        "CH-DF-026": "RUN pip install --no-cache-dir -r requirements.txt",
        "CH-DF-038": "EXPOSE 8000",
        "CH-DF-040": 'CMD ["gunicorn", "-b", "0.0.0.0:8000", "app:wsgi"]',
        "CH-DF-043": 'LABEL org.opencontainers.image.authors="Data Team <data@example.com>"',
    }


def test_tree_scan_reports_broken_dockerfiles_and_goes_on(tmp_path: Path) -> None:
    (tmp_path / "good").mkdir()
    (tmp_path / "good" / "Dockerfile").write_text((DATA / "python.Dockerfile").read_text())
    (tmp_path / "heredoc").mkdir()
    (tmp_path / "heredoc" / "Dockerfile").write_text("FROM alpine:3.20\nRUN <<EOF\napk add --no-cache curl\n")
    (tmp_path / "typo").mkdir()
    (tmp_path / "typo" / "Containerfile").write_text("FROM alpine:3.20\nWORKDIR /app\nCOPPY . .\n")
    (tmp_path / "binary").mkdir()
    (tmp_path / "binary" / "Dockerfile").write_bytes(b"FROM alpine\n\x00\x01\x02\xff")
    (tmp_path / "args").mkdir()
    (tmp_path / "args" / "app.Dockerfile").write_text("FROM alpine:3.20\n\nENV ONLY_A_NAME\n")
    result = scan_tree(tmp_path)
    assert result.scanned == {"dockerfile": 1}
    assert result.skipped == 4
    warnings = sorted(result.warnings)
    assert any(w.startswith("args/app.Dockerfile:3:") for w in warnings), warnings
    assert any(w.startswith("heredoc/Dockerfile:2:") and "heredoc" in w for w in warnings), warnings
    assert any(w.startswith("typo/Containerfile:3:") and "COPPY" in w for w in warnings), warnings
    assert any(w.startswith("binary/Dockerfile") and "binary" in w for w in warnings), warnings
    good = sorted((f.id, f.location.line) for f in result.findings if f.location.path == "good/Dockerfile")
    # the tree has no .dockerignore, so `COPY . .` is reported as well
    assert good == sorted([*EXPECTED["python.Dockerfile"], ("CH-DF-021", 9)])


def test_tree_scan_sees_the_dockerignore(tmp_path: Path) -> None:
    (tmp_path / "svc").mkdir()
    (tmp_path / "svc" / "Dockerfile").write_text((DATA / "python.Dockerfile").read_text())
    (tmp_path / "svc" / "app.py").write_text("print('hi')\n")
    assert "CH-DF-021" in {f.id for f in scan_tree(tmp_path).findings}
    (tmp_path / ".dockerignore").write_text(".git\n.env\n")  # a context above the Dockerfile
    assert "CH-DF-021" not in {f.id for f in scan_tree(tmp_path).findings}


def test_single_dockerfile_scan_does_not_guess_about_dockerignore(tmp_path: Path) -> None:
    path = tmp_path / "Dockerfile"
    path.write_text((DATA / "python.Dockerfile").read_text())
    assert "CH-DF-021" not in {f.id for f in scan_tree(path).findings}
    assert "CH-DF-021" not in {f.id for f in scan((DATA / "python.Dockerfile").read_text(), Options())}
