"""Pieces of the secret targets: .gitignore semantics, scrubbing, the analyzer's cache version."""

from __future__ import annotations

from pathlib import Path

import pytest

from customhouse.analyzers.secrets import SecretsAnalyzer, rules_version, secrets_analyzer
from customhouse.model import FileInfo
from customhouse.secrets import Scanner, SecretConfig, redact
from customhouse.secrets.targets import GitIgnore, get_scanner, parse_gitignore, scan_directory, scrub_text
from tests.secrets.targets.conftest import HS_CACHE, token


def _ignored(text: str, path: str, is_dir: bool = False) -> bool:
    gi = GitIgnore()
    gi._sets[""] = parse_gitignore(text)
    return gi.ignored(path, is_dir)


@pytest.mark.parametrize(
    ("pattern", "path", "is_dir", "expected"),
    [
        ("*.log", "a/b/debug.log", False, True),
        ("*.log", "a/b/debug.txt", False, False),
        ("/build", "build", True, True),
        ("/build", "src/build", True, False),
        ("build/", "src/build", True, True),
        ("build/", "src/build", False, False),  # a file named build is not a directory
        ("docs/*.md", "docs/a.md", False, True),
        ("docs/*.md", "docs/sub/a.md", False, False),
        ("**/cache", "x/y/cache", True, True),
        ("a/**/z", "a/z", False, True),
        ("a/**/z", "a/b/c/z", False, True),
        ("logs/**", "logs/x/y", False, True),
        ("*.log\n!keep.log", "keep.log", False, False),
        ("\\#notes", "#notes", False, True),
        ("# comment\n\n", "comment", False, False),
        ("file[0-9].txt", "file7.txt", False, True),
        ("file[!0-9].txt", "file7.txt", False, False),
    ],
)
def test_gitignore_patterns(pattern: str, path: str, is_dir: bool, expected: bool) -> None:
    assert _ignored(pattern, path, is_dir) is expected


def test_nested_gitignore_is_relative_to_its_directory(tmp_path: Path, scanner: Scanner) -> None:
    (tmp_path / "sub" / "gen").mkdir(parents=True)
    (tmp_path / "sub" / ".gitignore").write_text("/gen\n")
    (tmp_path / "gen").mkdir()
    for d in ("sub/gen", "gen"):
        (tmp_path / d / "k.env").write_text(f"TOKEN={token(31)}\n")
    found = {f.location.path for f in scan_directory(tmp_path, scanner, respect_gitignore=True).findings}
    assert found == {"gen/k.env"}


def test_scrub_text_redacts_every_occurrence() -> None:
    t = token(32)
    assert scrub_text(f"RUN a={t} b={t}", [t]) == f"RUN a={redact(t)} b={redact(t)}"
    assert scrub_text("nothing", [t]) == "nothing"


def test_analyzer_wants_every_file_the_engine_would_scan(scanner: Scanner) -> None:
    a = secrets_analyzer(scanner)
    assert isinstance(a, SecretsAnalyzer) and a.name == "secrets" and a.version == rules_version(scanner)
    assert a.required(FileInfo("srv/app/.env", "file", 100))
    assert not a.required(FileInfo("srv/app/node_modules/x/.env", "file", 100))  # allowlisted path
    assert not a.required(FileInfo("srv/big.txt", "file", scanner.config.max_file_bytes + 1))
    assert not a.required(FileInfo("usr/lib/x86_64-linux-gnu/libssl.so.3", "file", 100))  # binary name
    assert a.required(FileInfo("srv/app/libs.sol", "file", 100))


def test_cache_version_follows_rules_and_config(scanner: Scanner) -> None:
    other = get_scanner(HS_CACHE, SecretConfig(disabled_rules=("jwt",)))
    assert rules_version(other) != rules_version(scanner)
    assert rules_version(get_scanner(HS_CACHE)) == rules_version(scanner)


def test_analyzer_constants_match_the_engine() -> None:
    import customhouse.analyzers.secrets as mod
    from customhouse.secrets import engine, targets

    assert mod.SNIFF_BYTES == engine.SNIFF_BYTES and mod.SECRETS_ANALYZER == targets.SECRETS_ANALYZER


def test_loading_every_analyzer_does_not_load_the_engine() -> None:
    import subprocess
    import sys

    code = (
        "import sys\nfrom customhouse.analyzers import load_all\nload_all()\n"
        "print([m for m in ('yaml', 'customhouse.secrets') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
