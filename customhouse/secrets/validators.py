"""Offline checks of token formats that carry their own integrity data.

A validator takes the secret a rule matched and answers:

- `True`: the structure or checksum the issuer builds into the format is right, so the value
  is almost certainly a real token of that kind (findings are marked `validated`);
- `False`: the value has the shape but not the checksum (a made-up or mangled token; the
  finding is still reported, marked `validated: false`);
- `None`: nothing to check.

Nothing here talks to the network: these are format checks, not "is this token live".

Formats:

- GitHub (`ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_`) and npm (`npm_`) tokens: 30 random base62
  characters followed by 6 characters that are the CRC32 of those 30 characters, written in
  base62 (alphabet 0-9, A-Z, a-z) and left-padded with `0`;
- PyPI API tokens: `pypi-` and a base64url macaroon (libmacaroons v2 binary format) whose
  location is `pypi.org` or `test.pypi.org`;
- JWTs: three base64url segments, the first two JSON objects, the header naming an `alg`;
- age secret keys: Bech32 (BIP 173) with human-readable part `age-secret-key-`, 32 bytes;
- Docker `auth` / HTTP basic values: base64 of `user:password`;
- Sentry organization tokens: `sntrys_`, base64 JSON naming the issuing Sentry, `_`, secret.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from collections.abc import Callable

Validator = Callable[[str], "bool | None"]

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_BASE62_INDEX = {c: i for i, c in enumerate(BASE62)}


def base62_encode(n: int, width: int = 0) -> str:
    out = ""
    while n:
        n, r = divmod(n, 62)
        out = BASE62[r] + out
    return out.rjust(width, "0")


def base62_decode(s: str) -> int | None:
    n = 0
    for c in s:
        i = _BASE62_INDEX.get(c)
        if i is None:
            return None
        n = n * 62 + i
    return n


def crc32_base62(payload: str) -> str:
    """The 6-character checksum GitHub and npm append to a token's random part."""
    return base62_encode(zlib.crc32(payload.encode("ascii")), 6)


def _crc32_token(token: str, prefix_len: int) -> bool | None:
    body = token[prefix_len:]
    if len(body) != 36:
        return None  # not the checksummed layout (e.g. an older or longer token)
    if base62_decode(body) is None:
        return False
    return crc32_base62(body[:30]) == body[30:]


def github_token(token: str) -> bool | None:
    """`ghp_` / `gho_` / `ghu_` / `ghs_` / `ghr_` tokens: CRC32 of the 30 random characters."""
    if len(token) < 4 or token[3] != "_" or not token.startswith("gh"):
        return None
    return _crc32_token(token, 4)


def npm_token(token: str) -> bool | None:
    """`npm_` tokens use the same layout and checksum as GitHub's."""
    if not token.startswith("npm_"):
        return None
    return _crc32_token(token, 4)


def _b64decode(s: str, urlsafe: bool) -> bytes | None:
    s = s.strip()
    pad = "=" * (-len(s) % 4)
    try:
        if urlsafe:
            return base64.urlsafe_b64decode(s + pad)
        return base64.b64decode(s + pad, validate=True)
    except (binascii.Error, ValueError):
        return None


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    """LEB128 unsigned integer at `pos`; raises IndexError/ValueError on truncation or overflow."""
    n = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        n |= (b & 0x7F) << shift
        if not b & 0x80:
            return n, pos
        shift += 7
        if shift > 35:
            raise ValueError("varint too long")


def _macaroon_fields(buf: bytes, pos: int) -> tuple[list[tuple[int, bytes]], int]:
    """One section of a v2 macaroon: fields up to and including the end-of-section marker."""
    out: list[tuple[int, bytes]] = []
    while True:
        ftype, pos = _varint(buf, pos)
        if ftype == 0:
            return out, pos
        length, pos = _varint(buf, pos)
        data = buf[pos : pos + length]
        if len(data) != length:
            raise ValueError("truncated field")
        pos += length
        out.append((ftype, data))


PYPI_LOCATIONS = (b"pypi.org", b"test.pypi.org")


def decode_macaroon(raw: bytes) -> dict[str, object] | None:
    """Parse a libmacaroons v2 binary macaroon: location, identifier, caveats, signature."""
    try:
        if not raw or raw[0] != 2:
            return None
        head, pos = _macaroon_fields(raw, 1)
        caveats: list[bytes] = []
        while True:
            fields, pos = _macaroon_fields(raw, pos)
            if not fields:
                break
            caveats += [d for t, d in fields if t == 2]
        sig_type, pos = _varint(raw, pos)
        sig_len, pos = _varint(raw, pos)
        signature = raw[pos : pos + sig_len]
    except (IndexError, ValueError):
        return None
    kinds = dict(head)
    if sig_type != 6 or sig_len != 32 or len(signature) != 32 or 2 not in kinds:
        return None
    return {"location": kinds.get(1, b""), "identifier": kinds[2], "caveats": caveats, "signature": signature}


def pypi_token(token: str) -> bool | None:
    if not token.startswith("pypi-"):
        return None
    raw = _b64decode(token[5:], urlsafe=True)
    if raw is None:
        return False
    mac = decode_macaroon(raw)
    return mac is not None and mac["location"] in PYPI_LOCATIONS


def jwt(token: str) -> bool | None:
    """Structure only: signatures cannot be checked without the key."""
    parts = token.split(".")
    if len(parts) != 3:
        return False
    try:
        header = json.loads(_b64decode(parts[0], urlsafe=True) or b"")
        payload = json.loads(_b64decode(parts[1], urlsafe=True) or b"")
    except ValueError:
        return False
    return isinstance(header, dict) and isinstance(header.get("alg"), str) and isinstance(payload, dict)


# Bech32, BIP 173: the checksum is a BCH code over the expanded human-readable part and data.
BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_GEN = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)


def _polymod(values: list[int]) -> int:
    chk = 1
    for v in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            if (top >> i) & 1:
                chk ^= _GEN[i]
    return chk


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def bech32_checksum(hrp: str, data: list[int]) -> list[int]:
    poly = _polymod([*_hrp_expand(hrp), *data, 0, 0, 0, 0, 0, 0]) ^ 1
    return [(poly >> 5 * (5 - i)) & 31 for i in range(6)]


def bech32_decode(text: str) -> tuple[str, list[int]] | None:
    """(hrp, data without checksum) of a valid Bech32 string, else None."""
    s = text.lower()
    if text != s and text != text.upper():
        return None
    sep = s.rfind("1")
    if sep < 1 or sep + 7 > len(s):
        return None
    hrp, rest = s[:sep], s[sep + 1 :]
    try:
        data = [BECH32.index(c) for c in rest]
    except ValueError:
        return None
    if _polymod([*_hrp_expand(hrp), *data]) != 1:
        return None
    return hrp, data[:-6]


def age_secret_key(key: str) -> bool | None:
    decoded = bech32_decode(key)
    if decoded is None:
        return False
    hrp, data = decoded
    return hrp == "age-secret-key-" and len(data) * 5 // 8 == 32


def basic_auth(value: str) -> bool | None:
    """Base64 of `user:password` with printable text on both sides."""
    raw = _b64decode(value, urlsafe=False)
    if raw is None:
        return False
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    user, sep, password = text.partition(":")
    return bool(sep and user and password and text.isprintable())


def sentry_org_token(token: str) -> bool | None:
    if not token.startswith("sntrys_"):
        return None
    body, _, _secret = token[7:].rpartition("_")
    raw = _b64decode(body, urlsafe=False) or _b64decode(body, urlsafe=True)
    try:
        claims = json.loads(raw or b"")
    except ValueError:
        return False
    return isinstance(claims, dict) and "iat" in claims and ("url" in claims or "region_url" in claims)


VALIDATORS: dict[str, Validator] = {
    "github": github_token,
    "npm": npm_token,
    "pypi": pypi_token,
    "jwt": jwt,
    "age": age_secret_key,
    "basic-auth": basic_auth,
    "sentry-org-token": sentry_org_token,
}
