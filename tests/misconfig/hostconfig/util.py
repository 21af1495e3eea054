"""Helpers for the host-configuration check tests: scan a text, find lines, apply fixes, oracles.

Findings are asserted by check id *and* line, with the expected line looked up from the fixture
text (`line_of`) so a test states which line is wrong rather than a number that silently drifts.
Compose fixtures are additionally validated by a real Compose implementation (Debian's
docker-compose 1.29, through its own config loader) when it is installed, so the failing
fixtures are files Compose accepts, not YAML we merely hope is valid.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from customhouse.misconfig.engine import Options
from customhouse.misconfig.runner import parse_document, run_checks
from customhouse.report.findings import Finding

DATA = Path(__file__).parent / "data"

FILE_NAMES = {
    "compose": "docker-compose.yml",
    "docker-daemon": "daemon.json",
    "containerd": "config.toml",
    "kubelet": "kubelet-config.yaml",
}


def scan(text: str, file_type: str, options: Options | None = None) -> list[Finding]:
    doc = parse_document(text, FILE_NAMES[file_type], file_type)
    return run_checks(doc, options or Options())


def hits(findings: list[Finding], check_id: str) -> list[Finding]:
    return [f for f in findings if f.id == check_id]


def lines(findings: list[Finding], check_id: str) -> list[int]:
    return sorted(f.location.line for f in hits(findings, check_id))


def replacement(f: Finding) -> str:
    return f.misconfiguration.replacement if f.misconfiguration else ""


def snippet(f: Finding) -> str:
    return f.misconfiguration.snippet if f.misconfiguration else ""


def line_of(text: str, needle: str, nth: int = 1) -> int:
    """1-based line of the `nth` line containing `needle` (fails loudly if there is none)."""
    seen = 0
    for i, line in enumerate(text.splitlines(), 1):
        if needle in line:
            seen += 1
            if seen == nth:
                return i
    raise AssertionError(f"{needle!r} not in fixture")


@dataclass(frozen=True)
class Case:
    """One check's failing fixture (with the text marking the line it must point at) and passing one."""

    check_id: str
    fail: str
    fail_at: str  # text on the line the finding must point at
    passing: str
    note: str = ""
    nth: int = 1  # which line containing `fail_at`, when the text repeats

    @property
    def line(self) -> int:
        return line_of(self.fail, self.fail_at, self.nth)

    def __str__(self) -> str:
        return f"{self.check_id}{'-' + self.note if self.note else ''}"


def apply_fix(text: str, finding: Finding) -> str:
    """The text with the finding's mechanical replacement applied (snippet lines -> replacement)."""
    detail = finding.misconfiguration
    assert detail is not None and detail.replacement
    src = text.splitlines()
    start = finding.location.line
    n = len(detail.snippet.splitlines())
    original = "\n".join(src[start - 1 : start - 1 + n])
    # secrets are masked in snippets (CH-DC-019): then only the masked characters may differ
    same = original == detail.snippet or (
        "*" in detail.snippet
        and len(original.splitlines()) == n
        and detail.snippet.split("*", 1)[0] == original[: len(detail.snippet.split("*", 1)[0])]
    )
    assert same, f"snippet {detail.snippet!r} is not the source text {original!r}"
    out = [*src[: start - 1], *detail.replacement.splitlines(), *src[start - 1 + n :]]
    return "\n".join(out) + "\n"


_ORACLE = r"""
import json, os, sys, warnings
warnings.simplefilter("ignore")
import logging
logging.disable(logging.CRITICAL)
from compose.config.config import ConfigDetails, ConfigFile, load
from compose.config.environment import Environment
from compose.config.errors import ConfigurationError
out = {}
for p in sys.argv[1:]:
    d = os.path.dirname(p)
    os.chdir(d)  # as `docker-compose config` run in the project directory
    try:
        load(ConfigDetails(d, [ConfigFile.from_filename(p)], Environment.from_env_file(d)))
        out[p] = ""
    except ConfigurationError as e:
        out[p] = e.msg
print(json.dumps(out))
"""


# What fixtures may reference: compose reads seccomp profiles and requires `${VAR:?}` variables.
ORACLE_FILES = {"app-seccomp.json": '{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": []}\n'}
ORACLE_ENV = {"API_KEY": "from-the-environment"}


def compose_oracle() -> str | None:
    """The interpreter that has docker-compose's own `compose` package, or None if not installed."""
    exe = shutil.which("docker-compose")
    if not exe:
        return None
    with open(exe, "rb") as fh:
        first = fh.readline().decode("utf-8", "replace").strip()
    python = first[2:].strip() if first.startswith("#!") else ""
    if not python or not Path(python).exists():
        return None
    probe = subprocess.run([python, "-c", "import compose.config.config"], capture_output=True, check=False)
    return python if probe.returncode == 0 else None


def validate_compose(python: str, texts: dict[str, str]) -> dict[str, str]:
    """Load every text with docker-compose's config loader; name -> error message ("" if valid)."""
    with tempfile.TemporaryDirectory() as tmp:
        paths = {}
        for i, (name, text) in enumerate(texts.items()):
            d = Path(tmp) / f"f{i}"
            d.mkdir()
            p = d / "docker-compose.yml"
            p.write_text(text)
            for rel, content in ORACLE_FILES.items():
                (d / rel).write_text(content)
            paths[str(p)] = name
        proc = subprocess.run(
            [python, "-c", _ORACLE, *paths],
            capture_output=True,
            text=True,
            check=True,
            timeout=300,
            env={**os.environ, **ORACLE_ENV},
        )
        result: dict[str, str] = json.loads(proc.stdout.strip().splitlines()[-1])
    return {paths[p]: err for p, err in result.items()}
