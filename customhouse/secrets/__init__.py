"""Secret scanning: provider-specific rules as data, one matching engine, offline validators.

    from customhouse.secrets import Scanner, SecretConfig

    scanner = Scanner.create(SecretConfig(cache_dir=settings.cache_dir))  # once
    for match in scanner.scan(content, "etc/app/config.yaml"):           # per file
        print(match)  # redacted: rule, place, first characters and fingerprint

See docs/secrets.md for the rule format, the backends and what is skipped.
"""

from __future__ import annotations

from customhouse.secrets.engine import (
    DEFAULT_ALLOW_PATHS,
    DEFAULT_MAX_FILE_BYTES,
    DEFAULT_STOPWORDS,
    ENV_BACKEND,
    Scanner,
    SecretConfig,
    SecretMatch,
    fingerprint,
    is_binary,
    redact,
)
from customhouse.secrets.rules import Rule, SecretRulesError, load_rules

__all__ = [
    "DEFAULT_ALLOW_PATHS",
    "DEFAULT_MAX_FILE_BYTES",
    "DEFAULT_STOPWORDS",
    "ENV_BACKEND",
    "Rule",
    "Scanner",
    "SecretConfig",
    "SecretMatch",
    "SecretRulesError",
    "fingerprint",
    "is_binary",
    "load_rules",
    "redact",
]
