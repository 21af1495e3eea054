"""Account and privilege facts from /etc, for the image configuration checks.

The image-config checks need to know which accounts have uid 0 or no password and whether
sudo/doas allow passwordless root; the walker keeps no file content, so this analyzer records
exactly those facts while the layer streams by. Parsed facts only: password hashes and whole
files never reach the layer cache.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any

from customhouse.analyzers.base import Analyzer, Blob, Found, register
from customhouse.image.fs import ImageFS
from customhouse.model import AnalysisResult, FileInfo, Note

FACTS_ANALYZER = "image-facts"


def _parse_passwd(text: str) -> list[list[Any]]:
    out: list[list[Any]] = []
    for raw in text.splitlines():
        if not raw or raw.startswith(("#", "+", "-")):
            continue
        parts = raw.split(":")
        if len(parts) < 4 or not parts[0]:
            continue
        try:
            uid, gid = int(parts[2]), int(parts[3])
        except ValueError:
            continue
        home = parts[5] if len(parts) > 5 else ""
        shell = parts[6] if len(parts) > 6 else ""
        out.append([parts[0], uid, gid, home, shell, parts[1] == ""])
    return out


def _parse_shadow(text: str) -> list[str]:
    """Accounts whose password field is empty: anyone may log in (or `su`) as them."""
    empty = []
    for raw in text.splitlines():
        parts = raw.split(":")
        if len(parts) >= 2 and parts[0] and not raw.startswith("#") and parts[1] == "":
            empty.append(parts[0])
    return empty


def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """sudoers lines with backslash continuations joined, numbered by their first line."""
    buf, start = "", 0
    for n, raw in enumerate(text.splitlines(), 1):
        if not buf:
            start = n
        if raw.endswith("\\"):
            buf += raw[:-1] + " "
            continue
        yield start, buf + raw
        buf = ""
    if buf:
        yield start, buf


def _parse_sudoers(text: str) -> list[list[Any]]:
    rules: list[list[Any]] = []
    for n, line in _logical_lines(text):
        s = line.strip()
        # "#include" and "#includedir" are directives, not comments; neither grants anything.
        if not s or s.startswith("#"):
            continue
        s = s.split(" #", 1)[0].strip()
        if "NOPASSWD" in s or re.search(r"^Defaults\b.*!\s*authenticate\b", s):
            rules.append([n, s[:300]])
    return rules


def _parse_doas(text: str) -> list[list[Any]]:
    rules: list[list[Any]] = []
    for n, line in _logical_lines(text):
        s = line.split("#", 1)[0].strip()
        words = s.split()
        if words[:1] == ["permit"] and "nopass" in words:
            rules.append([n, s[:300]])
    return rules


@register
class ImageFactsAnalyzer(Analyzer):
    """Account and privilege facts from /etc for the image-config checks.

    Records parsed facts, not file content, so the layer cache never holds password hashes.
    """

    name = FACTS_ANALYZER
    version = 1
    paths = frozenset({"etc/passwd", "etc/shadow", "etc/sudoers", "etc/doas.conf", "usr/local/etc/doas.conf"})
    prefixes = ("etc/sudoers.d/",)
    max_size = 1 << 20

    def required(self, info: FileInfo) -> bool:
        # sudo skips sudoers.d files whose names contain "." or end in "~" (editor backups).
        if info.path.startswith("etc/sudoers.d/"):
            base = info.basename
            return "/" not in info.path[len("etc/sudoers.d/") :] and "." not in base and not base.endswith("~")
        return True

    def analyze(self, info: FileInfo, blob: Blob) -> AnalysisResult | None:
        text = blob.read().decode("utf-8", "replace")
        path = info.path
        if path == "etc/passwd":
            note = Note("passwd", {"accounts": _parse_passwd(text)})
        elif path == "etc/shadow":
            note = Note("shadow", {"empty": _parse_shadow(text)})
        elif path.endswith("doas.conf"):
            note = Note("privilege", {"tool": "doas", "rules": _parse_doas(text)})
        else:
            note = Note("privilege", {"tool": "sudo", "rules": _parse_sudoers(text)})
        return AnalysisResult(notes=(note,))

    def finalize(self, found: Sequence[Found], fs: ImageFS | None) -> AnalysisResult:
        return AnalysisResult()  # the facts are read from `ImageAnalysis.found` by image_document
