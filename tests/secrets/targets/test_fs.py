"""`customhouse fs PATH`: a directory tree, .gitignore, formats, exit codes, hostile files."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from customhouse.secrets import Scanner
from customhouse.secrets.targets import READ_WHOLE_BELOW, TreeResult, scan_directory
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


def _big_tree(root: Path, n: int) -> int:
    """`n` text files over nested directories, every 7th with a token; returns the token count."""
    planted = 0
    for i in range(n):
        d = root / f"d{i % 13}" / f"e{i % 5}"
        d.mkdir(parents=True, exist_ok=True)
        body = f"line one {i}\n" + "filler text\n" * (i % 40)
        if i % 7 == 0:
            body += f"GITHUB_TOKEN={token(100 + i)}\n"
            planted += 1
        (d / f"f{i:04d}.env").write_text(body)
    return planted


def test_parallel_scan_is_the_one_process_scan(tmp_path: Path, scanner: Scanner) -> None:
    root = tmp_path / "tree"
    planted = _big_tree(root, 300)
    (root / "blob.dat").write_bytes(b"\x00\x01" * 50 + f" {token(7)}".encode())  # binary: skipped
    big = root / "big.txt"  # larger than one read: sniffed first, then read to the end
    big.write_bytes(b"x" * (READ_WHOLE_BELOW * 3) + f"\nTOKEN={token(8)}\n".encode())
    (root / "node_modules" / "pkg").mkdir(parents=True)  # allowlisted: never entered
    (root / "node_modules" / "pkg" / "index.js").write_text(f'const t = "{token(9)}"\n')
    one = scan_directory(root, scanner, jobs=1)
    two = scan_directory(root, scanner, jobs=2, parallel_min_files=100)

    def key(res: TreeResult) -> list[tuple[str, int, int, str, str]]:
        return [(f.location.path, f.location.line, f.location.column, f.id, f.fingerprint) for f in res.findings]

    assert key(two) == key(one)
    assert len(one.findings) == planted + 1 and key(one)[0][0] == "big.txt"
    assert (two.scanned, two.bytes_scanned, two.skipped, two.warnings) == (
        one.scanned,
        one.bytes_scanned,
        one.skipped,
        one.warnings,
    )
    assert one.skipped == {"binary": 1, "allowlisted-path": 1}
    assert one.scanned == 300 + 1


def test_allowlisted_directories_are_not_entered(scanner: Scanner) -> None:
    """A directory is pruned only when the allowlist matches every path below it."""
    assert scanner.dir_allowed("usr/share/doc") and scanner.dir_allowed("srv/app/node_modules")
    assert scanner.dir_allowed("usr/lib/python3/dist-packages/yaml/tests")
    assert not scanner.dir_allowed("usr/share") and not scanner.dir_allowed("usr/share/docs")
    assert not scanner.dir_allowed("src/pkg")  # `**/*_test.go` skips files, not the directory
    for d in ("usr/share/doc", "a/node_modules", "x/site-packages/y/tests"):
        for below in ("f", "deep/er/f.txt", "g_test.go"):
            assert scanner.path_allowed(f"{d}/{below}")


def test_fs_loads_only_what_a_plain_tree_needs(tmp_path: Path, cli_cache: Path) -> None:
    """`customhouse fs` is timed against trivy on a root filesystem (bench/secrets.py), where
    imports were half the run: without an ignore file, archives or manifests in the tree, the
    scan does not import the ignore file's reader, the vulnerability stage, the SBOM tables,
    the misconfiguration runner, PyYAML or zipfile."""
    import subprocess
    import sys

    root = tmp_path / "tree"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "app.env").write_text(f"TOKEN={A}\n")
    # A warm cache, as in the benchmark: the first run parses the rules file (with PyYAML).
    assert cli("fs", str(root), "-f", "json", cache=cli_cache).code == 0
    code = (
        "import sys\n"
        "from customhouse.cli import run\n"
        f"rc = run(['fs', {str(root)!r}, '-f', 'json', '--cache-dir', {str(cli_cache)!r}, '-o', '/dev/null'])\n"
        "heavy = ('customhouse.match.ignore', 'customhouse.vulnscan', 'customhouse.report.sbom_common',\n"
        "         'customhouse.misconfig.runner', 'customhouse.misconfig.engine', 'yaml', 'zipfile')\n"
        "print(rc, sorted(m for m in sys.modules if m.startswith(heavy)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=True)
    assert out.stdout.split() == ["0", "[]"], out.stdout + out.stderr
    # The same tree with an ignore file does load its reader (and applies it).
    (tmp_path / ".customhouseignore.yaml").write_text("- id: github-pat\n  reason: test token\n")
    run = cli("fs", str(root), "-f", "json", "--fail-on", "low", cache=cli_cache, cwd=tmp_path)
    assert run.code == 0, run.err
    (f,) = json.loads(run.out)["findings"]
    assert f["suppressed"]["reason"] == "test token"


def test_binary_names_are_counted_not_scanned(tmp_path: Path, scanner: Scanner) -> None:
    root = tmp_path / "root"
    (root / "usr" / "lib").mkdir(parents=True)
    (root / "usr" / "lib" / "libx.so.1").write_text(f"TOKEN={A}\n")  # text, but named as a library
    (root / "usr" / "lib" / "x.conf").write_text(f"TOKEN={A}\n")
    res = scan_directory(root, scanner)
    assert [f.location.path for f in res.findings] == ["usr/lib/x.conf"]
    assert res.skipped == {"binary": 1} and res.scanned == 1
    # Given as the one file to scan, it is scanned: the content decides.
    assert [f.location.path for f in scan_directory(root / "usr" / "lib" / "libx.so.1", scanner).findings] == [
        "libx.so.1"
    ]


def test_fs_with_stdout_closed_writes_its_report_and_exits_cleanly(tmp_path: Path, cli_cache: Path) -> None:
    """`customhouse fs DIR -o FILE >&-`: the report is written, the exit code is the command's,
    no traceback (the scanning commands end by flushing their streams, which may not exist)."""
    import subprocess
    import sys

    root = tmp_path / "tree"
    root.mkdir()
    (root / "app.env").write_text(f"TOKEN={A}\n")
    out = tmp_path / "report.json"
    cmd = [sys.executable, "-m", "customhouse", "fs", str(root), "-f", "json", "-o", str(out), "--fail-on", "low"]
    env = {**os.environ, "CUSTOMHOUSE_CACHE_DIR": str(cli_cache)}
    p = subprocess.run(["sh", "-c", '"$@" >&-', "sh", *cmd], capture_output=True, text=True, env=env, check=False)
    assert p.returncode == 1 and "Traceback" not in p.stderr, p.stderr
    assert [f["id"] for f in json.loads(out.read_text())["findings"]] == ["github-pat"]
