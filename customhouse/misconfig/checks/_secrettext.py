"""Secrets in free text and in file names: command lines, image history, Env and label values,
files an image or a Dockerfile copies.

Shared by the image-configuration and the Dockerfile checks. A module of its own so that a scan
of Dockerfiles does not import the image-configuration checks, the image model and the layered
filesystem before its workers start.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from customhouse import _native


def redact(secret: str) -> str:
    """A form that lets people recognise and correlate a secret without being able to use it.

    Short values show proportionally fewer leading characters: four characters of a
    six-character password would give most of it away.
    """
    shown = secret[:4] if len(secret) >= 16 else secret[: len(secret) // 4]
    digest = hashlib.sha256(secret.encode()).hexdigest()[:8]
    return f"{shown}…[redacted sha256:{digest}]"


@dataclass(frozen=True)
class SecretHit:
    kind: str  # what made it look secret: "name" (the variable's name) or a token type
    name: str  # variable / label / flag the value was assigned to, "" for bare tokens
    value: str


# Token shapes that are secrets wherever they appear (public formats of the issuers).
# Each with strings one of which every match contains: looked for first, since nearly no text
# has any of them and a substring test costs a tenth of a regex search.
_TOKEN_PATTERNS: tuple[tuple[str, tuple[str, ...], re.Pattern[str]], ...] = (
    ("private key", ("PRIVATE KEY",), re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----")),
    (
        "AWS access key id",
        ("AKIA", "ASIA", "ABIA", "ACCA", "A3T"),
        re.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z2-7]{16}\b"),
    ),
    (
        "GitHub token",
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
        re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,})"),
    ),
    ("GitLab token", ("glpat-",), re.compile(r"\bglpat-[A-Za-z0-9_\-]{20,}")),
    ("Slack token", ("xox",), re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    ("npm token", ("npm_",), re.compile(r"\bnpm_[A-Za-z0-9]{36}\b")),
    ("PyPI token", ("pypi-AgEIcHlwaS5vcmc",), re.compile(r"\bpypi-AgEIcHlwaS5vcmc[A-Za-z0-9_\-]{40,}")),
    ("Stripe secret key", ("k_live_",), re.compile(r"\b[sr]k_live_[A-Za-z0-9]{20,}")),
    ("Google API key", ("AIza",), re.compile(r"\bAIza[A-Za-z0-9_\-]{35}\b")),
    ("JSON web token", ("eyJ",), re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")),
)
_URL_CREDENTIALS = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.\-]{1,20}://([^\s/:@\"'$]+):([^\s/@\"']+)@[^\s/\"']")
_URL_MARK, _AUTH_MARK = "://", "Authorization:"  # in every match of the patterns above and below
_AUTH_HEADER = re.compile(r"Authorization:\s*(?:Bearer|Basic|Token|token)\s+([A-Za-z0-9._~+/=\-]{8,})")
# every string the token patterns above need (their guards), in one search
_TOKEN_HINT = re.compile(
    "|".join(re.escape(s) for s in sorted({s for _, ss, _ in _TOKEN_PATTERNS for s in ss} | {_URL_MARK, _AUTH_MARK}))
)
_SECRET_FLAG = re.compile(
    r"(?<![\w-])--(password|passwd|token|secret|api-key|apikey|access-key|secret-key|auth-token)"
    r"(?:=|\s+)(\"[^\"]*\"|'[^']*'|[^\s\"']+)"
)
# NAME=value assignments: ENV/ARG/LABEL steps, BuildKit's "|2 A=1 B=2" build-arg prefix,
# `export`, `--build-arg`, `-e`, inline environment before a command.
_ASSIGNMENT = re.compile(r"(?<![\w$.\-/])([A-Za-z_][A-Za-z0-9_.\-]*)=(\"[^\"]*\"|'[^']*'|[^\s;&|\"']*)")

_SECRET_WORDS = (
    "password",
    "passwd",
    "secret",
    "token",
    "apikey",
    "api_key",
    "access_key",
    "accesskey",
    "private_key",
    "privatekey",
    "credential",
    "auth_key",
    "authkey",
    "signing_key",
    "encryption_key",
    "master_key",
    "license_key",
    "session_key",
)
_SECRET_SUFFIXES = ("_pwd", "_pass", "_key")  # checked on whole words only
_NOT_SECRET_SUFFIXES = (
    "_file",
    "_path",
    "_dir",
    "_url",
    "_uri",
    "_endpoint",
    "_host",
    "_port",
    "_user",
    "_username",
    "_name",
    "_id",
    "_length",
    "_len",
    "_size",
    "_version",
    "_sha",
    "_sha1",
    "_sha256",
    "_sha512",
    "_md5",
    "_checksum",
    "_fingerprint",
    "_type",
    "_algorithm",
    "_alg",
    "_header",
    "_enabled",
    "_enable",
    "_disabled",
    "_required",
    "_timeout",
    "_ttl",
    "_expiry",
    "_expires",
    "_expiration",
    "_lifetime",
    "_mode",
    "_policy",
    "_format",
    "_prefix",
    "_field",
    "_keyring",
    "_keyserver",
    "_command",
    "_cmd",
    "_provider",
    "_source",
    "_location",
    "_region",
    "_min",
    "_max",
)
# Public key material and conventional non-secrets that happen to match a word above.
_NOT_SECRET_NAMES = frozenset(
    {"gpg_key", "gpg_keys", "public_key", "pub_key", "pubkey", "pwd", "oldpwd", "ssh_host_key", "apt_key"}
)
_PLACEHOLDERS = frozenset(
    {
        "",
        "true",
        "false",
        "yes",
        "no",
        "on",
        "off",
        "none",
        "null",
        "nil",
        "undefined",
        "empty",
        "unset",
        "redacted",
        "secret",
        "password",
        "token",
        "changeme_in_production",
    }
)


# Words one of which is in every name `_secret_name` accepts, lower-cased and without the
# `_`, `-` and `.` a name may have (each of _SECRET_WORDS holds one; the suffixes and bare
# names are "pwd", "pass" and "key").
_NAME_MARKS = re.compile("pass|pwd|secret|token|key|credential")


@lru_cache(maxsize=4096)
def _secret_name(name: str) -> bool:
    n = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)  # camelCase -> camel_Case (npm's _authToken)
    n = re.sub(r"[^a-z0-9]+", "_", n.lower()).strip("_")
    if not n or n in _NOT_SECRET_NAMES or n.endswith(_NOT_SECRET_SUFFIXES):
        return False
    flat = n.replace("_", "")
    if any(w in n or w.replace("_", "") in flat for w in _SECRET_WORDS):
        return True
    return n.endswith(_SECRET_SUFFIXES) or n in ("pass", "key")


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def _real_value(value: str) -> bool:
    """False for values that are obviously not a secret: references, placeholders, paths."""
    v = value.strip()
    if v.lower() in _PLACEHOLDERS or len(v) < 4:
        return False
    if re.search(r"\$[{(A-Za-z_]", v) or v.startswith(("/", "./", "~/", "<", "{{")):  # reference, path, template
        return False
    return not re.fullmatch(r"[x*.#\-_]+", v, re.IGNORECASE)


def token_hits(text: str) -> list[SecretHit]:
    """Secrets recognisable by their shape alone, anywhere in `text`."""
    hits: list[SecretHit] = []
    if _TOKEN_HINT.search(text) is None:  # none of the strings below: one search, not twelve
        return hits
    for kind, literals, pattern in _TOKEN_PATTERNS:
        if any(s in text for s in literals):
            for m in pattern.finditer(text):
                hits.append(SecretHit(kind, "", m.group(0)))
    if _URL_MARK in text:
        for m in _URL_CREDENTIALS.finditer(text):
            if _real_value(m.group(2)):
                hits.append(SecretHit("credentials in URL", m.group(1), m.group(2)))
    if _AUTH_MARK in text:
        for m in _AUTH_HEADER.finditer(text):
            if _real_value(m.group(1)):
                hits.append(SecretHit("Authorization header", "Authorization", m.group(1)))
    return hits


def assignment_hits(name: str, value: str) -> list[SecretHit]:
    """Secrets in one `name=value` (an Env entry, a label, a build argument)."""
    hits = token_hits(value)
    if not hits and _secret_name(name) and _real_value(value):
        hits.append(SecretHit("name", name, value))
    return hits


def could_hold_secrets(text: str) -> bool:
    """False when `text_hits` finds nothing in `text` nor in any part of it: both of its guards
    (the token hints, the secret-name words once separators are taken out) are plain strings,
    so one that misses the whole misses every part. A Dockerfile check asks once per RUN instead
    of once per command."""
    if _TOKEN_HINT.search(text) is not None:
        return True
    return _NAME_MARKS.search(text.lower().replace("_", "").replace("-", "").replace(".", "")) is not None


def text_hits(text: str, known: frozenset[tuple[str, str]] = frozenset()) -> list[SecretHit]:
    """Secrets in free text such as a history step; `known` (name, value) pairs are skipped."""
    hits = [h for h in token_hits(text) if (h.name, h.value) not in known]
    # every secret name (`_secret_name`) and secret flag holds one of these words, once the
    # separators a name may have inside it are taken out
    squeezed = text.lower().replace("_", "").replace("-", "").replace(".", "")
    if _NAME_MARKS.search(squeezed):
        if "=" in text:
            for m in _ASSIGNMENT.finditer(text):
                name, value = m.group(1), _unquote(m.group(2))
                if (name, value) in known or not _secret_name(name) or not _real_value(value):
                    continue
                hits.append(SecretHit("name", name, value))
        if "--" in text:
            for m in _SECRET_FLAG.finditer(text):
                value = _unquote(m.group(2))
                if _real_value(value):
                    hits.append(SecretHit("name", "--" + m.group(1), value))
    if not hits:
        return hits
    seen: set[str] = set()
    out = []
    for h in hits:
        if h.value not in seen and not any(h.value in other.value and h.value != other.value for other in hits):
            seen.add(h.value)
            out.append(h)
    return out


def redact_text(text: str, hits: Iterable[SecretHit]) -> str:
    for h in sorted(hits, key=lambda h: -len(h.value)):
        text = text.replace(h.value, redact(h.value))
    return text


# ---------------------------------------------------------------------------- file names

_SECRET_FILE_NAMES = frozenset(
    {
        "id_rsa",
        "id_dsa",
        "id_ecdsa",
        "id_ed25519",
        "id_ecdsa_sk",
        "id_ed25519_sk",
        "identity",
        ".env",
        ".netrc",
        "_netrc",
        ".npmrc",
        ".pypirc",
        ".git-credentials",
        ".pgpass",
        ".my.cnf",
        ".dockercfg",
        ".vault-token",
        ".s3cfg",
        ".boto",
        "credentials",
        "credentials.json",
        "credentials.db",
        "htpasswd",
        ".htpasswd",
        "kubeconfig",
        "terraform.tfstate",
        "secrets.json",
        "secrets.yaml",
        "secrets.yml",
        "service-account.json",
    }
)
_SECRET_FILE_PATHS = (".docker/config.json", ".kube/config", ".aws/credentials", ".config/gh/hosts.yml")
_SECRET_SUFFIXES_FILES = (".key", ".p12", ".pfx", ".jks", ".keystore", ".kdbx", ".ppk")
_PUBLIC_PEM_HINTS = ("cert", "cacert", "bundle", "chain", "pub", "ca.", "ca-", "trust")
# Certificate stores and vendored package trees: their .pem/.key files are public or test data.
_NOT_SECRET_DIRS = re.compile(
    r"(^|/)(etc/ssl/certs|etc/pki/ca-trust|etc/ca-certificates|usr/share/ca-certificates|"
    r"usr/local/share/ca-certificates|site-packages|dist-packages|node_modules|vendor|testdata|"
    r"tests?|usr/share/doc)(/|$)"
)
_ENV_SAMPLES = (".example", ".sample", ".template", ".dist", ".defaults")


def secret_file_name(path: str) -> bool:
    """Whether a path's name says it probably holds credentials (content is not inspected)."""
    if _NOT_SECRET_DIRS.search(path.rpartition("/")[0]):
        return False
    base = path.rpartition("/")[2]
    if base in _SECRET_FILE_NAMES or path.endswith(_SECRET_FILE_PATHS):
        return True
    if base.startswith(".env.") and not base.endswith(_ENV_SAMPLES):
        return True
    if base.endswith(_SECRET_SUFFIXES_FILES):
        return True
    if base.endswith(".pem"):
        return not any(h in base.lower() for h in _PUBLIC_PEM_HINTS)
    return False


# compiled by mypyc, these cannot be pickled the default way (customhouse/_native.py)
_native.picklable(SecretHit)
