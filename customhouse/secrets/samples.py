"""Synthetic secrets for the rules' test strings.

Test strings in the rules file never contain a literal token: a literal would be flagged by
every secret scanner that reads this repository (GitHub push protection included) and, for
checksummed formats, would have to be computed by hand. Instead they contain macros that are
expanded, deterministically from a seed, when the tests run:

| macro | expands to |
|---|---|
| `{{alnum:N}}`, `{{hex:N}}`, ... | N random characters of a named alphabet (see `ALPHABETS`) |
| `{{rep:C:N}}` | the text C repeated N times |
| `{{uuid}}`, `{{UUID}}` | a random UUID, lower or upper case |
| `{{github:ghp}}`, `{{github-bad:ghp}}` | a GitHub token with a right / wrong CRC32 checksum |
| `{{npm}}`, `{{npm-bad}}` | the same for npm |
| `{{pypi}}`, `{{pypi-test}}`, `{{pypi-bad}}` | a PyPI / TestPyPI macaroon token, or one that does not decode |
| `{{jwt}}`, `{{jwt:k8s}}` | a JWT (HS256), optionally with Kubernetes service-account claims |
| `{{pem:LABEL}}` | a PEM block `-----BEGIN LABEL-----` with a random body |
| `{{pem-enc:LABEL}}` | the same with legacy `Proc-Type: 4,ENCRYPTED` headers |
| `{{pem-json:LABEL}}` | the same with `\\n` escapes, as in a JSON string |
| `{{pem-b64:LABEL}}` | base64 of the PEM block (kubeconfig `client-key-data`) |
| `{{openssh}}`, `{{openssh-enc}}` | an OpenSSH private key, unencrypted / encrypted |
| `{{pgp}}`, `{{putty}}` | a PGP private key block, a PuTTY key file |
| `{{age}}`, `{{age-bad}}` | an age secret key with a right / wrong Bech32 checksum |
| `{{basic:USER}}` | base64 of `USER:` and a random password |
| `{{sentry-org}}` | a Sentry organization auth token |
| `{{b64bytes:N}}` | base64 of N random bytes |

In a positive test string, `«` and `»` around a part say "this is the secret the rule must
report" (see `split_expected`).
"""

from __future__ import annotations

import base64
import json
import random
import re
import struct
import zlib

from customhouse.secrets import validators as v

ALPHABETS = {
    "alnum": "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
    "lalnum": "abcdefghijklmnopqrstuvwxyz0123456789",
    "ualnum": "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
    "alpha": "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
    "lower": "abcdefghijklmnopqrstuvwxyz",
    "upper": "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "digits": "0123456789",
    "hex": "0123456789abcdef",
    "HEX": "0123456789ABCDEF",
    "b64": "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
    "b64url": "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
    "base32": "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567",
    "lbase32": "abcdefghijklmnopqrstuvwxyz234567",
}
_MACRO = re.compile(r"\{\{([A-Za-z0-9-]+)(?::([^{}]*))?\}\}")
OPEN, CLOSE = "«", "»"


class SampleError(ValueError):
    """A test string uses a macro that does not exist or has bad arguments."""


def _rand(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def github_token(rng: random.Random, prefix: str, good: bool = True) -> str:
    payload = _rand(rng, ALPHABETS["alnum"], 30)
    check = v.crc32_base62(payload)
    if not good:
        check = check[:-1] + ("0" if check[-1] != "0" else "1")
    return f"{prefix}_{payload}{check}"


def _varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field(kind: int, data: bytes) -> bytes:
    return _varint(kind) + _varint(len(data)) + data


def macaroon(rng: random.Random, location: bytes) -> bytes:
    ident = json.dumps({"nonce": _rand(rng, ALPHABETS["hex"], 32), "version": 1}).encode()
    caveat = json.dumps({"permissions": "user", "version": 1}).encode()
    sig = bytes(rng.getrandbits(8) for _ in range(32))
    return (
        b"\x02"
        + _field(1, location)
        + _field(2, ident)
        + b"\x00"
        + _field(2, caveat)
        + b"\x00"
        + b"\x00"
        + _field(6, sig)
    )


def jwt_token(rng: random.Random, claims: dict[str, object]) -> str:
    header = {"alg": "HS256", "typ": "JWT"}
    sig = bytes(rng.getrandbits(8) for _ in range(32))
    return (
        ".".join(_b64url(json.dumps(x, separators=(",", ":")).encode()) for x in (header, claims)) + "." + _b64url(sig)
    )


def _lines(body: str, width: int = 64) -> list[str]:
    return [body[i : i + width] for i in range(0, len(body), width)]


def pem(rng: random.Random, label: str, nbytes: int = 600, headers: tuple[str, ...] = (), raw: bytes = b"") -> str:
    body = _b64(raw or bytes(rng.getrandbits(8) for _ in range(nbytes)))
    head = [*headers, ""] if headers else []
    return "\n".join([f"-----BEGIN {label}-----", *head, *_lines(body, 64), f"-----END {label}-----"])


def _ssh_string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def openssh_key(rng: random.Random, encrypted: bool) -> str:
    cipher, kdf = (b"aes256-ctr", b"bcrypt") if encrypted else (b"none", b"none")
    kdf_opts = _ssh_string(bytes(rng.getrandbits(8) for _ in range(16))) + struct.pack(">I", 16) if encrypted else b""
    pub = _ssh_string(b"ssh-ed25519") + _ssh_string(bytes(rng.getrandbits(8) for _ in range(32)))
    private = bytes(rng.getrandbits(8) for _ in range(136))
    raw = (
        b"openssh-key-v1\x00"
        + _ssh_string(cipher)
        + _ssh_string(kdf)
        + _ssh_string(kdf_opts)
        + struct.pack(">I", 1)
        + _ssh_string(pub)
        + _ssh_string(private)
    )
    body = _b64(raw)
    return "\n".join(["-----BEGIN OPENSSH PRIVATE KEY-----", *_lines(body, 70), "-----END OPENSSH PRIVATE KEY-----"])


def pgp_key(rng: random.Random) -> str:
    raw = bytes(rng.getrandbits(8) for _ in range(900))
    crc = _b64(struct.pack(">I", zlib.crc32(raw))[1:])
    return "\n".join(
        [
            "-----BEGIN PGP PRIVATE KEY BLOCK-----",
            "Comment: synthetic key for tests",
            "",
            *_lines(_b64(raw), 64),
            f"={crc}",
            "-----END PGP PRIVATE KEY BLOCK-----",
        ]
    )


def putty_key(rng: random.Random) -> str:
    pub = _lines(_b64(bytes(rng.getrandbits(8) for _ in range(51))), 64)
    priv = _lines(_b64(bytes(rng.getrandbits(8) for _ in range(48))), 64)
    return "\n".join(
        [
            "PuTTY-User-Key-File-3: ssh-ed25519",
            "Encryption: none",
            "Comment: synthetic",
            f"Public-Lines: {len(pub)}",
            *pub,
            f"Private-Lines: {len(priv)}",
            *priv,
            f"Private-MAC: {_rand(rng, ALPHABETS['hex'], 64)}",
        ]
    )


def age_key(rng: random.Random, good: bool = True) -> str:
    raw = bytes(rng.getrandbits(8) for _ in range(32))
    bits = int.from_bytes(raw, "big") << 4  # 256 bits padded to 52 five-bit groups
    data = [(bits >> (5 * (51 - i))) & 31 for i in range(52)]
    check = v.bech32_checksum("age-secret-key-", data)
    if not good:
        check[-1] ^= 1
    return ("age-secret-key-1" + "".join(v.BECH32[d] for d in data + check)).upper()


def sentry_org_token(rng: random.Random) -> str:
    claims = {"iat": 1700000000.0, "url": "https://sentry.io", "region_url": "https://us.sentry.io", "org": "acme"}
    body = _b64(json.dumps(claims, separators=(",", ":")).encode()).rstrip("=")
    return f"sntrys_{body}_{_rand(rng, ALPHABETS['b64'].replace('/', '').replace('+', ''), 43)}"


def _expand_one(rng: random.Random, name: str, arg: str | None) -> str:
    args = arg.split(":") if arg is not None else []
    if name in ALPHABETS:
        if len(args) != 1 or not args[0].isdigit():
            raise SampleError(f"{{{{{name}:N}}}} needs a length")
        return _rand(rng, ALPHABETS[name], int(args[0]))
    if name == "rep":
        if len(args) != 2 or not args[1].isdigit():
            raise SampleError("{{rep:TEXT:N}} needs a text and a count")
        return args[0] * int(args[1])
    if name in ("uuid", "UUID"):
        h = _rand(rng, ALPHABETS["hex"], 32)
        u = f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"
        return u.upper() if name == "UUID" else u
    if name in ("github", "github-bad"):
        if len(args) != 1:
            raise SampleError("{{github:PREFIX}} needs a prefix")
        return github_token(rng, args[0], good=name == "github")
    if name in ("npm", "npm-bad"):
        return github_token(rng, "npm", good=name == "npm")
    if name == "pypi":
        return "pypi-" + _b64url(macaroon(rng, b"pypi.org"))
    if name == "pypi-test":
        return "pypi-" + _b64url(macaroon(rng, b"test.pypi.org"))
    if name == "pypi-bad":
        return "pypi-AgEIcHlwaS5vcmc" + _rand(rng, ALPHABETS["alnum"], 70)
    if name == "jwt":
        claims: dict[str, object] = {"sub": _rand(rng, ALPHABETS["digits"], 10), "iat": 1700000000}
        if args == ["k8s"]:
            claims = {
                "iss": "kubernetes/serviceaccount",
                "kubernetes.io/serviceaccount/namespace": "default",
                "kubernetes.io/serviceaccount/secret.name": "builder-token-" + _rand(rng, ALPHABETS["lower"], 5),
                "sub": "system:serviceaccount:default:builder",
            }
        return jwt_token(rng, claims)
    if name in ("pem", "pem-enc", "pem-json", "pem-b64"):
        if len(args) != 1:
            raise SampleError(f"{{{{{name}:LABEL}}}} needs a label")
        headers: tuple[str, ...] = ()
        if name == "pem-enc":
            headers = ("Proc-Type: 4,ENCRYPTED", f"DEK-Info: AES-128-CBC,{_rand(rng, ALPHABETS['HEX'], 32)}")
        block = pem(rng, args[0], headers=headers)
        if name == "pem-json":
            return block.replace("\n", "\\n")
        if name == "pem-b64":
            return _b64(block.encode())
        return block
    if name in ("openssh", "openssh-enc"):
        return openssh_key(rng, encrypted=name == "openssh-enc")
    if name == "pgp":
        return pgp_key(rng)
    if name == "putty":
        return putty_key(rng)
    if name in ("age", "age-bad"):
        return age_key(rng, good=name == "age")
    if name == "basic":
        if len(args) != 1:
            raise SampleError("{{basic:USER}} needs a user")
        return _b64(f"{args[0]}:{_rand(rng, ALPHABETS['alnum'], 18)}".encode())
    if name == "sentry-org":
        return sentry_org_token(rng)
    if name == "b64bytes":
        if len(args) != 1 or not args[0].isdigit():
            raise SampleError("{{b64bytes:N}} needs a byte count")
        return _b64(bytes(rng.getrandbits(8) for _ in range(int(args[0]))))
    raise SampleError(f"unknown macro {{{{{name}}}}}")


def expand(template: str, seed: str) -> str:
    """Replace every macro in `template`; the same seed always gives the same text."""
    rng = random.Random(seed)
    return _MACRO.sub(lambda m: _expand_one(rng, m.group(1), m.group(2)), template)


def split_expected(text: str) -> tuple[str, str | None]:
    """Remove the «» markers: (text without them, the marked secret or None)."""
    start = text.find(OPEN)
    if start < 0:
        return text, None
    end = text.find(CLOSE, start)
    if end < 0:
        raise SampleError("« without »")
    secret = text[start + 1 : end]
    return text[:start] + secret + text[end + 1 :], secret
