"""`customhouse fs PATH`: a directory tree, .gitignore, formats, exit codes, hostile files."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from customhouse.secrets import Scanner
from customhouse.secrets.targets import scan_directory
from tests.helpers import assert_one_line_error
from tests.secrets.targets.conftest import cli, token

A, B, C = token(11), token(12), token(13, "gho")


def _tree(root: Path) -> Path:
    (root / "src").mkdir(parents=True)
    (root / "src" / "settings.py").write_text(f'import os\n\nGITHUB = "{A}"\n')
    (root / "build").mkdir()
    (root / "build" / "out.env").write_text(f"TOKEN={B}\n")
    (root / ".gitignore").write_text("# build output\nbuild/\n*.log\n!keep.log\n")
    (root / "debug.log").write_text(f"auth {C}\n")
    (root / "keep.log").write_text(f"auth {C}\n")
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text(f"[remote]\nurl = https://x:{A}@github.com/o/r\n")
    return root


def test_fs_finds_redacts_and_exits(tmp_path: Path, cli_cache: Path) -> None:
    root = _tree(tmp_path / "tree")
    run = cli("fs", str(root), "-f", "json", cache=cli_cache)
    assert run.code == 0, run.err
    doc = json.loads(run.out)
    where = sorted((f["location"]["path"], f["location"]["line"]) for f in doc["findings"])
    assert where == [("build/out.env", 1), ("debug.log", 1), ("keep.log", 1), ("src/settings.py", 3)]
    assert doc["target"]["kind"] == "fs"
    settings = next(f for f in doc["findings"] if f["location"]["path"] == "src/settings.py")
    assert settings["id"] == "github-pat" and settings["location"]["column"] == 11
    assert settings["secret"]["origin"] == "file" and settings["location"]["layer_index"] == -1
    for raw in (A, B, C):
        assert raw not in run.out
    assert cli("fs", str(root), "--fail-on", "high", "-f", "json", cache=cli_cache).code == 1
    assert cli("fs", str(root), "--fail-on", "high", "--severity", "low", cache=cli_cache).code == 0


def test_fs_respects_gitignore_on_request(tmp_path: Path, cli_cache: Path) -> None:
    root = _tree(tmp_path / "tree")
    run = cli("fs", str(root), "-f", "json", "--respect-gitignore", cache=cli_cache)
    assert run.code == 0, run.err
    paths = sorted(f["location"]["path"] for f in json.loads(run.out)["findings"])
    assert paths == ["keep.log", "src/settings.py"]


@pytest.mark.parametrize("fmt", ["table", "sarif", "junit"])
def test_fs_formats_never_show_the_secret(tmp_path: Path, cli_cache: Path, fmt: str) -> None:
    root = _tree(tmp_path / "tree")
    run = cli("fs", str(root), "-f", fmt, cache=cli_cache)
    assert run.code == 0, run.err
    assert "settings.py" in run.out
    for raw in (A, B, C):
        assert raw not in run.out
    if fmt == "sarif":
        results = json.loads(run.out)["runs"][0]["results"]
        assert {r["ruleId"] for r in results} >= {"github-pat"}


def test_fs_ignore_file_by_fingerprint(tmp_path: Path, cli_cache: Path) -> None:
    root = _tree(tmp_path / "tree")
    doc = json.loads(cli("fs", str(root), "-f", "json", cache=cli_cache).out)
    fp = next(f["fingerprint"] for f in doc["findings"] if f["location"]["path"] == "debug.log")
    ignore = tmp_path / "ignore.yaml"
    ignore.write_text(f"- fingerprint: {fp}\n  path: debug.log\n  reason: rotated\n")
    run = cli("fs", str(root), "-f", "json", "--ignore-file", str(ignore), "--fail-on", "info", cache=cli_cache)
    by_path = {f["location"]["path"]: f for f in json.loads(run.out)["findings"]}
    assert by_path["debug.log"]["suppressed"]["source"].startswith("ignore-file:")
    assert by_path["keep.log"]["suppressed"] is None  # the same secret elsewhere: `path` narrows the entry
    assert by_path["keep.log"]["fingerprint"] == fp
    assert run.code == 1


def test_fs_usage_and_input_errors(tmp_path: Path, cli_cache: Path) -> None:
    assert_one_line_error(cli("fs", str(tmp_path / "missing"), cache=cli_cache), 3, "missing")
    assert cli("fs", str(tmp_path), "--fail-on", "severe", cache=cli_cache).code == 2
    assert cli("fs", str(tmp_path), "--scanners", "vuln", cache=cli_cache).code == 2
    assert cli("fs", str(tmp_path), "-f", "cyclonedx-json", cache=cli_cache).code == 2


def test_hostile_files_are_bounded(tmp_path: Path, scanner: Scanner) -> None:
    root = tmp_path / "tree"
    root.mkdir()
    # 200 MB on one line: over the size limit, skipped before it is read.
    with open(root / "huge.txt", "wb") as fh:
        chunk = b"A" * (1 << 20)
        for _ in range(200):
            fh.write(chunk)
    # 20 MB on one line, under the limit, made of what patterns repeat: scanned in bounded time.
    (root / "long.txt").write_bytes(b"password=" + b"a1" * (10 << 20) + f" {A}".encode())
    (root / "bad-utf8.conf").write_bytes(b"\xff\xfe\xc3(\x80 token=" + B.encode() + b"\n\xed\xa0\x80\n")
    os.mkfifo(root / "fifo")  # opening it would block forever
    (root / "link").symlink_to("/etc/passwd")
    start = time.monotonic()
    res = scan_directory(root, scanner)
    assert time.monotonic() - start < 60
    assert res.skipped.get("too-large") == 1 and any("huge.txt" in w for w in res.warnings)
    paths = {f.location.path for f in res.findings}
    assert "bad-utf8.conf" in paths and "long.txt" in paths
    assert res.scanned == 2  # the FIFO and the symlink are never opened
