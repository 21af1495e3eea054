"""The misconfiguration benchmark's plumbing on tiny inputs: no network, no peers, no timings.

The corpus builder must recognise real Dockerfiles and compose files inside package archives,
drop duplicates and templates, record provenance and fill up with marked variants; the overlap
logic must put a finding on the instruction it belongs to and count agreements per place.
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

from bench import config as bc
from bench import corpus as bcorp

DOCKERFILE = """\
# syntax=docker/dockerfile:1
FROM debian:bookworm
RUN apt-get update \\
    # a comment inside the continuation
    && apt-get install -y curl

RUN <<EOF
set -e
echo hi
EOF
USER app
"""

COMPOSE = """\
services:
  web:
    image: nginx:1.25
    privileged: true
"""


def _tar(files: dict[str, str]) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    buf.seek(0)
    return buf


def test_classify_recognises_real_files_and_rejects_templates() -> None:
    assert bcorp.classify("ci/docker/x86_64/Dockerfile", DOCKERFILE) == "dockerfile"
    assert bcorp.classify("examples/Dockerfile.centos", DOCKERFILE) == "dockerfile"
    assert bcorp.classify("app/Dockerfile.j2", DOCKERFILE) is None  # a template, by name
    assert bcorp.classify("Dockerfile", "FROM {{ base }}\nRUN make\n") is None  # a template, by content
    assert bcorp.classify("Dockerfile", "RUN make\nFROM x\n") is None  # docker build rejects it
    assert bcorp.classify("Dockerfile", "FROM x\nFOO bar\n") is None  # not an instruction
    assert bcorp.classify("Dockerfile", "ARG V=1\nFROM x:$V\n") == "dockerfile"
    assert bcorp.classify("tests/fixtures/docker-compose.yml", COMPOSE) == "compose"
    assert bcorp.classify("deploy/stack.yaml", COMPOSE) == "compose"  # by content
    assert bcorp.classify("docker-compose.yml", "web:\n  image: nginx\n") == "compose"  # v1 format
    assert bcorp.classify("config.yaml", "web:\n  image: nginx\n") is None  # v1 only under a compose name
    assert bcorp.classify(".github/workflows/ci.yml", "on: push\njobs:\n  x:\n    runs-on: ubuntu\n") is None


def test_candidates_from_an_archive_keep_provenance() -> None:
    arch = _tar(
        {
            "./usr/share/doc/pkg/examples/Dockerfile": DOCKERFILE,
            "./usr/share/doc/pkg/examples/docker-compose.yml": COMPOSE,
            "./usr/share/doc/pkg/README.md": "# not a candidate\n",
        }
    )
    got = list(bcorp._candidates("debian", "pkg", "1.0-1", bcorp._members(arch)))
    assert [(c.kind, c.source_path) for c in got] == [
        ("dockerfile", "usr/share/doc/pkg/examples/Dockerfile"),
        ("compose", "usr/share/doc/pkg/examples/docker-compose.yml"),
    ]
    assert all((c.origin, c.package, c.version) == ("debian", "pkg", "1.0-1") for c in got)


def test_build_corpus_dedups_records_provenance_and_marks_variants(tmp_path: Path) -> None:
    cands = [
        bcorp.Candidate("dockerfile", "debian", "pkg", "1.0", "a/Dockerfile", DOCKERFILE),
        bcorp.Candidate("dockerfile", "npm", "other", "2.0", "b/Dockerfile", DOCKERFILE.replace("\n", "\r\n")),
        bcorp.Candidate("dockerfile", "pypi", "p", "3.0", "c/Dockerfile", "FROM alpine:3.19\nRUN apk add curl\n"),
        bcorp.Candidate("compose", "pypi", "p", "3.0", "c/docker-compose.yml", COMPOSE),
    ]
    out = tmp_path / "one"
    out.mkdir()
    bcorp.build_corpus(out, cands, [], min_dockerfiles=6, min_compose=2)
    m = json.loads((out / "manifest.json").read_text())
    real = [(f["package"], f["source_path"]) for f in m["files"] if f["origin"] != "generated"]
    # The CRLF copy is the same file as the first: dropped.
    assert real == [("pkg", "a/Dockerfile"), ("p", "c/Dockerfile"), ("p", "c/docker-compose.yml")]
    assert m["summary"]["dockerfile"] == {"debian": 1, "pypi": 1, "generated": 4}
    assert m["summary"]["compose"] == {"pypi": 1, "generated": 1}
    for f in m["files"]:
        assert (out / f["path"]).is_file()
        if f["origin"] == "generated":
            assert f["generated_from"] and f["mutations"]
            assert f["path"].split("/")[1] == "generated"
    texts = [(out / f["path"]).read_text() for f in m["files"]]
    assert len(set(texts)) == len(texts)
    # Deterministic: the same input gives the same tree.
    again = tmp_path / "again"
    again.mkdir()
    bcorp.build_corpus(again, cands, [], min_dockerfiles=6, min_compose=2)
    assert json.loads((again / "manifest.json").read_text())["files"] == m["files"]


def test_instruction_spans_follow_the_builder() -> None:
    assert bc.instruction_spans(DOCKERFILE) == [(2, 2), (3, 5), (7, 10), (11, 11)]
    windows = "# escape=`\nFROM mcr.microsoft.com/windows:ltsc2022\nRUN dir `\n    c:\\\nUSER x\n"
    assert bc.instruction_spans(windows) == [(2, 2), (3, 4), (5, 5)]


def test_compare_counts_places_and_files(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "Dockerfile").write_text(DOCKERFILE)
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "Dockerfile").write_text("FROM x\nRUN apt-get install -y vim\n")
    spans = bc.Spans(tmp_path)
    peer = [
        bc.Hit("DL3008", "a/Dockerfile", 3, 3),  # the instruction's first line
        bc.Hit("DL3008", "b/Dockerfile", 2, 2),
        bc.Hit("DL3059", "a/Dockerfile", 7, 7),  # not mapped
        bc.Hit("CKV_DOCKER_2", "a/Dockerfile", 1, 11),
        bc.Hit("SC2086", "a/Dockerfile", 3, 3),
        bc.Hit("SC2164", "b/Dockerfile", 2, 2),
    ]
    ours = [
        bc.Hit("CH-DF-900", "a/Dockerfile", 5, 5, "apt package curl unpinned"),  # inside the same RUN
        bc.Hit("CH-DF-900", "a/Dockerfile", 8, 8, "pip package x unpinned"),  # filtered out by `only`
        bc.Hit("CH-DF-901", "a/Dockerfile", 0, 0),
        bc.Hit("CH-DF-901", "b/Dockerfile", 0, 0),
    ]
    mapping = {
        "DL3008": bc.Mapped(("CH-DF-900",), only="apt"),
        "CKV_DOCKER_2": bc.Mapped(("CH-DF-901",), scope="file"),
    }
    unmapped = {"DL3059": (bc.NOT_OURS, "style")}
    rows = {r.rule: r for r in bc.compare(ours, peer, mapping, unmapped, spans)}
    dl = rows["DL3008"]
    assert (dl.files, dl.files_both, dl.places, dl.places_both, dl.only_us) == (2, 1, 2, 1, 0)
    assert dl.only_peer_at == [("b/Dockerfile", 2)]
    ck = rows["CKV_DOCKER_2"]
    assert (ck.files, ck.files_both, ck.places_both, ck.only_us, ck.only_us_files) == (1, 1, 1, 1, 1)
    assert ck.only_us_at == [("b/Dockerfile", 0)]
    assert rows["DL3059"].category == bc.NOT_OURS
    assert rows["DL3059"].places == 1
    sc = rows["SCxxxx"]  # ShellCheck codes share one row
    assert (sc.files, sc.places, sc.category) == (2, 2, bc.NOT_OURS)
    assert sc.meaning == "2 ShellCheck codes: SC2086, SC2164"
    md = bc.markdown_table("hadolint", list(rows.values()))
    assert "| DL3008 | 2 / 2 | CH-DF-900 | 1 / 1 | 0 |" in md
    assert "| DL3059 | 1 / 1 | - | - | - | rule we don't have: style |" in md


def test_peer_reports_load(tmp_path: Path) -> None:
    root = tmp_path
    hl = [{"code": "DL3007", "file": str(root / "d/x/Dockerfile"), "line": 1, "message": "latest", "level": "warning"}]
    assert bc.load_hadolint(hl, root) == [bc.Hit("DL3007", "d/x/Dockerfile", 1, 1, "latest")]
    ck = {
        "check_type": "dockerfile",
        "results": {
            "failed_checks": [
                {
                    "check_id": "CKV_DOCKER_7",
                    "check_name": "latest",
                    "file_abs_path": str(root / "d/x/Dockerfile"),
                    "file_line_range": [1, 1],
                }
            ]
        },
    }
    assert bc.load_checkov([ck, {"check_type": "secrets", "results": {}}], root) == [
        bc.Hit("CKV_DOCKER_7", "d/x/Dockerfile", 1, 1, "latest")
    ]
    ignored = {"source": "inline", "reason": "test"}
    ours = {
        "findings": [
            {"id": "CH-DF-001", "message": "m", "location": {"path": "x/Dockerfile", "line": 1}, "suppressed": None},
            {"id": "CH-DF-002", "message": "m", "location": {"path": "x/Dockerfile", "line": 2}, "suppressed": ignored},
        ]
    }
    assert bc.load_ours(ours, "d") == [bc.Hit("CH-DF-001", "d/x/Dockerfile", 1, 1, "m")]
