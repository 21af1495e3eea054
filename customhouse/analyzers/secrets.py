"""Secrets in every file of every layer (issue 6).

Unlike the package analyzers this one wants every regular file, so it is not registered by
default (an SBOM or a vulnerability scan must not read every file of an image): the image
command adds it to its dispatcher when `--scanners` includes `secret` (`secrets_analyzer`).

Each layer is scanned on its own, so a file deleted or overwritten in a later layer is still
scanned in the layer that holds it; `customhouse.secrets.targets.layer_findings` later names
that layer and the one that removed the file. Results are cached with the layer like any
analyzer's, keyed by the layer's diff_id and this analyzer's `version`, which folds in the
rules (built-in and extra) and the scanner configuration. The cache holds only redacted
matches (`SecretMatch.to_dict()`): never a raw secret.

Java archives (jar, war, ear, ...) are binary, but the credentials in their text members
(`application.properties`, nested jars' configuration) ship with the image all the same:
they are scanned (customhouse.secrets.archives) and reported as `ARCHIVE!/MEMBER`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

from customhouse.analyzers.base import Analyzer, Blob, Found
from customhouse.model import AnalysisResult, FileInfo, Note

if TYPE_CHECKING:  # the engine (and PyYAML) load only when a secret scan builds this analyzer
    from customhouse.image.fs import ImageFS
    from customhouse.secrets.engine import Scanner

SECRETS_ANALYZER = "secrets"  # = customhouse.secrets.targets.SECRETS_ANALYZER
SNIFF_BYTES = 8192  # = customhouse.secrets.engine.SNIFF_BYTES: what binary sniffing looks at

#: Bump when what the analyzer records for the same file and rules changes.
REVISION = 3  # 2: text members of Java archives; 3: files with binary names (BINARY_NAME) not read


def rules_version(scanner: Scanner) -> int:
    """A number that changes with the analyzer revision, the loaded rules and the config."""
    h = hashlib.sha256(f"{REVISION}\x00".encode())
    for r in scanner.rules:
        h.update(repr(r.fingerprint_fields()).encode("utf-8", "surrogateescape"))
    cfg = scanner.config
    h.update(
        repr(
            (cfg.max_file_bytes, cfg.allow_paths, cfg.stopwords, cfg.disabled_rules, cfg.max_matches_per_file)
        ).encode()
    )
    # Positive and below 2**62: SQLite stores it as an integer.
    return REVISION * 10**15 + int(h.hexdigest()[:12], 16) % 10**15


class SecretsAnalyzer(Analyzer):
    """Hands every regular file the engine would scan to it; records redacted matches."""

    name = SECRETS_ANALYZER
    version: ClassVar[int] = REVISION
    prefixes = ("",)  # every path
    max_size = 32 << 20

    def __init__(self, scanner: Scanner) -> None:
        self.scanner = scanner

    def required(self, info: FileInfo) -> bool:
        # Path allowlist, binary names and size limit, before any content is read.
        return not self.scanner.binary_name(info.path) and self.scanner.skip_reason(info.path, info.size) is None

    def analyze(self, info: FileInfo, blob: Blob) -> AnalysisResult | None:
        from customhouse.secrets.archives import archive_members, is_archive

        head = blob.head(SNIFF_BYTES)
        if is_archive(info.path, head):  # a jar, war, ...: binary, but its text members are scanned
            limit = self.scanner.config.max_file_bytes
            found = [
                m
                for member, text in archive_members(blob.read(), info.path, limit)
                for m in self.scanner.scan(text, member)
            ]
            return AnalysisResult(notes=tuple(Note("secret", m.to_dict()) for m in found)) if found else None
        if self.scanner.skip_reason(info.path, info.size, head) is not None:
            return None  # binary
        matches = self.scanner.scan_unchecked(blob.read(), info.path)
        if not matches:
            return None
        return AnalysisResult(notes=tuple(Note("secret", m.to_dict()) for m in matches))

    def finalize(self, found: Sequence[Found], fs: ImageFS | None) -> AnalysisResult:
        return AnalysisResult()  # findings come from every layer's results (layer_findings)


def secrets_analyzer(scanner: Scanner) -> Analyzer:
    """The analyzer for `scanner`, its cache version derived from the scanner's rules and config."""
    cls = type(
        "SecretsAnalyzer",
        (SecretsAnalyzer,),
        {"version": rules_version(scanner), "max_size": scanner.config.max_file_bytes},
    )
    inst: Analyzer = cls(scanner)
    return inst
