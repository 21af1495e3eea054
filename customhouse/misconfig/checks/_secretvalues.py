"""Whether a `name=value` setting writes a credential into a file: shared by the compose,
Dockerfile (ENV/ARG/LABEL) and Kubernetes (env, ConfigMap) checks.

Its own module, without the YAML reader, so a scan of Dockerfiles alone does not import
PyYAML and the compose checks before its workers start (about 35 ms of every `config` run).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from customhouse.misconfig.checks._hostconfig import is_interpolated

_SECRET_WORDS = frozenset(
    {"PASSWORD", "PASSWD", "PASS", "PWD", "SECRET", "SECRETS", "TOKEN", "APIKEY", "CREDENTIAL", "CREDENTIALS"}
)
_SECRET_WORDS |= frozenset({"PASSPHRASE", "PRIVATEKEY", "ACCESSKEY", "SECRETKEY", "AUTHTOKEN"})
_KEY_QUALIFIERS = frozenset(
    [
        "API",
        "ACCESS",
        "SECRET",
        "PRIVATE",
        "AUTH",
        "ENCRYPTION",
        "SIGNING",
        "MASTER",
        "CLIENT",
        "APP",
        "SERVICE",
        "ACCOUNT",
        "LICENSE",
        "SESSION",
        "HMAC",
        "JWT",
        "SSH",
        "CRYPT",
        "CRYPTO",
        "ENC",
    ]
)
# a last word that makes the variable describe a secret rather than hold it
_NOT_SECRET_SUFFIX = frozenset(
    [
        "FILE",
        "PATH",
        "DIR",
        "ID",
        "NAME",
        "USER",
        "USERNAME",
        "HOST",
        "PORT",
        "URL",
        "URI",
        "ENDPOINT",
        "LENGTH",
        "LEN",
        "SIZE",
        "TTL",
        "EXPIRY",
        "EXPIRES",
        "EXPIRATION",
        "TIMEOUT",
        "AGE",
        "LIFETIME",
        "ENABLED",
        "ENABLE",
        "DISABLED",
        "REQUIRED",
        "MODE",
        "TYPE",
        "ALGORITHM",
        "ALG",
        "FORMAT",
        "HEADER",
        "FIELD",
        "PARAM",
        "VERSION",
        "POLICY",
        "ROTATION",
        "HASH",
        "COUNT",
        "MIN",
        "MAX",
        "ATTEMPTS",
        "RETRIES",
        "REGEX",
        "PATTERN",
        "ISSUER",
        "AUDIENCE",
        "SCOPE",
        "PREFIX",
        "LOCATION",
        "PROVIDER",
        "BACKEND",
        "STORE",
        "SOURCE",
        "METHOD",
        "STRENGTH",
        "COMPLEXITY",
        "RESET",
        "CMD",
        "COMMAND",
    ]
)
# (what, strings one of which every match contains, pattern): the strings are looked for first,
# because nearly every value has none of them and a substring test costs a tenth of a search
_CREDENTIAL_VALUES: tuple[tuple[str, tuple[str, ...], re.Pattern[str]], ...] = (
    ("an AWS access key", ("AKIA", "ASIA"), re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    (
        "a GitHub token",
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
        re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{60,})\b"),
    ),
    ("a GitLab token", ("glpat-",), re.compile(r"\bglpat-[A-Za-z0-9_\-]{20,}")),
    ("a Slack token", ("xox",), re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    ("a Stripe live key", ("k_live_",), re.compile(r"\b[sr]k_live_[A-Za-z0-9]{16,}")),
    ("a Google API key", ("AIza",), re.compile(r"\bAIza[0-9A-Za-z_\-]{35}\b")),
    ("a private key", ("PRIVATE KEY-----",), re.compile(r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----")),
    ("a JSON Web Token", ("eyJ",), re.compile(r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}")),
)
# every guard string above, in one search: most values hold none of them
_CREDENTIAL_HINT = re.compile("|".join(sorted({re.escape(s) for _, ss, _ in _CREDENTIAL_VALUES for s in ss})))
_URL_PASSWORD = re.compile(r"^[a-z][a-z0-9+.\-]*://[^/:@\s]*:([^/@\s]+)@", re.IGNORECASE)
_PLACEHOLDER = re.compile(r"^(?:<[^>]*>|\*+|x{3,}|\.\.\.|null|none|true|false|yes|no|on|off|-)$", re.IGNORECASE)
_DEFAULTED = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*:?-(.+)\}$")
_CAMEL = re.compile(r"([a-z0-9])([A-Z])")
_NOT_ALNUM = re.compile(r"[^A-Za-z0-9]+")
_REFERENCE = re.compile(r"\$\{?[A-Za-z_]")


def _words(name: str) -> list[str]:
    return [w for w in _NOT_ALNUM.split(_CAMEL.sub(r"\1_\2", name).upper()) if w]


@lru_cache(maxsize=4096)
def secret_name(name: str) -> bool:
    """Whether an environment variable's name says it holds a secret (DB_PASSWORD, apiKey...).

    Remembered: a tree sets the same few names (PATH, DEBIAN_FRONTEND, ...) over and over."""
    words = _words(name)
    if not words or words == ["PWD"] or words[-1] in _NOT_SECRET_SUFFIX:
        return False
    joined = "".join(words)
    if any(w in _SECRET_WORDS for w in words) or joined in _SECRET_WORDS:
        return True
    for i, w in enumerate(words):
        if w == "KEY" and (i == 0 or words[i - 1] in _KEY_QUALIFIERS or len(words) == 1):
            return True
        if w.endswith("KEY") and w[:-3] in _KEY_QUALIFIERS:
            return True
    return False


def secret_reason(name: str, value: Any) -> str:
    """Why `name=value` looks like a credential written into the file, or "" if it does not."""
    if value is None or isinstance(value, bool):
        return ""
    text = str(value).strip()
    if not text or is_interpolated(text):
        return ""
    if _CREDENTIAL_HINT.search(text):
        for what, literals, rx in _CREDENTIAL_VALUES:
            if any(s in text for s in literals) and rx.search(text):
                return f"its value looks like {what}"
    m = _URL_PASSWORD.match(text)
    if m and not m.group(1).startswith("$"):
        return "its value is a URL with an embedded password"
    d = _DEFAULTED.match(text)
    if d:
        default = d.group(1).strip()
        if secret_name(name) and default and not default.startswith("$") and not _PLACEHOLDER.match(default):
            return "its name says it is a secret and the interpolation has a hard-coded default"
        return ""
    if "$" in text and _REFERENCE.search(text.replace("$$", "")):  # `$$` is a literal dollar sign
        return ""  # mixes in interpolated parts: the secret part comes from the environment
    if secret_name(name) and not _PLACEHOLDER.match(text) and not text.startswith(("/", "./")):
        return "its name says it is a secret and it has a literal value"
    return ""
