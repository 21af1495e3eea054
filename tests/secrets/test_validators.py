"""Offline format validators, with tokens generated here (never real ones)."""

from __future__ import annotations

import base64
import json
import random
import zlib

import pytest

from customhouse.secrets import validators as v
from customhouse.secrets.entropy import effective_threshold, is_placeholder, meets_entropy, shannon_entropy
from customhouse.secrets.samples import ALPHABETS, age_key, github_token, jwt_token, macaroon

ALNUM = ALPHABETS["alnum"]


def _b62(n: int) -> str:
    """Independent base62 (0-9, A-Z, a-z) for the test, not the module's."""
    digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    s = ""
    while n:
        n, r = divmod(n, 62)
        s = digits[r] + s
    return s.rjust(6, "0")


@pytest.mark.parametrize("seed", range(50))
def test_github_checksum_random_payloads(seed: int) -> None:
    rng = random.Random(seed)
    payload = "".join(rng.choice(ALNUM) for _ in range(30))
    check = _b62(zlib.crc32(payload.encode()))
    for prefix in ("ghp", "gho", "ghu", "ghs", "ghr"):
        assert v.github_token(f"{prefix}_{payload}{check}") is True
    wrong = check[:-1] + ("A" if check[-1] != "A" else "B")
    assert v.github_token(f"ghp_{payload}{wrong}") is False
    swapped = payload[1] + payload[0] + payload[2:]
    if swapped != payload:
        assert v.github_token(f"ghp_{swapped}{check}") is False
    assert v.npm_token(f"npm_{payload}{check}") is True
    assert v.npm_token(f"npm_{payload}{wrong}") is False


def test_github_checksum_known_layouts() -> None:
    assert v.github_token("ghp_" + "A" * 30) is None  # not the 36-character layout
    assert v.github_token("github_pat_" + "A" * 82) is None
    assert v.github_token("ghp_" + "!" * 36) is False
    assert v.npm_token("pypi-x") is None
    assert github_token(random.Random(1), "ghp") == github_token(random.Random(1), "ghp")
    assert v.github_token(github_token(random.Random(2), "ghs", good=False)) is False


def test_base62_round_trip() -> None:
    for n in (0, 1, 61, 62, 2**32 - 1):
        assert v.base62_decode(v.base62_encode(n, 6)) == n
    assert v.base62_decode("ab-") is None


def test_pypi_macaroon() -> None:
    rng = random.Random(3)
    good = "pypi-" + base64.urlsafe_b64encode(macaroon(rng, b"pypi.org")).decode().rstrip("=")
    assert good.startswith("pypi-AgEIcHlwaS5vcmc")
    assert v.pypi_token(good) is True
    test = "pypi-" + base64.urlsafe_b64encode(macaroon(rng, b"test.pypi.org")).decode().rstrip("=")
    assert test.startswith("pypi-AgENdGVzdC5weXBpLm9yZw") and v.pypi_token(test) is True
    other = "pypi-" + base64.urlsafe_b64encode(macaroon(rng, b"evil.example")).decode().rstrip("=")
    assert v.pypi_token(other) is False
    assert v.pypi_token(good[:-10]) is False  # truncated: no 32-byte signature
    assert v.pypi_token("pypi-AgEIcHlwaS5vcmc" + "A" * 80) is False
    assert v.pypi_token("not-pypi") is None
    mac = v.decode_macaroon(macaroon(random.Random(4), b"pypi.org"))
    assert mac is not None and mac["location"] == b"pypi.org" and len(mac["signature"]) == 32  # type: ignore[arg-type]


def test_jwt_structure() -> None:
    tok = jwt_token(random.Random(5), {"sub": "1", "iat": 1})
    assert v.jwt(tok) is True
    header, payload, sig = tok.split(".")
    assert v.jwt(f"{header}.{payload}") is False
    not_json = base64.urlsafe_b64encode(b"{not json").decode().rstrip("=")
    assert v.jwt(f"{header}.{not_json}.{sig}") is False
    no_alg = base64.urlsafe_b64encode(json.dumps({"typ": "JWT"}).encode()).decode().rstrip("=")
    assert v.jwt(f"{no_alg}.{payload}.{sig}") is False


def test_bech32_spec_vectors_and_age_keys() -> None:
    # Valid Bech32 strings from BIP 173.
    for s in (
        "A12UEL5L",
        "a12uel5l",
        "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",
        "split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w",
    ):
        assert v.bech32_decode(s) is not None, s
    for s in ("A12uEL5L", "a12uel5m", "1pzry9x0s0muk", "x1b4n0q5v"):
        assert v.bech32_decode(s) is None, s
    rng = random.Random(6)
    key = age_key(rng)
    assert key.startswith("AGE-SECRET-KEY-1") and len(key) == len("AGE-SECRET-KEY-1") + 58
    assert v.age_secret_key(key) is True
    assert v.age_secret_key(age_key(rng, good=False)) is False


def test_basic_auth_and_sentry() -> None:
    assert v.basic_auth(base64.b64encode(b"ci:s3cret").decode()) is True
    assert v.basic_auth(base64.b64encode(b"no-colon").decode()) is False
    assert v.basic_auth("!!!") is False
    body = (
        base64.b64encode(json.dumps({"iat": 1, "url": "https://sentry.io", "org": "a"}).encode()).decode().rstrip("=")
    )
    assert v.sentry_org_token(f"sntrys_{body}_{'A' * 43}") is True
    assert v.sentry_org_token(f"sntrys_{base64.b64encode(b'[]').decode()}_{'A' * 43}") is False
    assert v.sentry_org_token("sntryu_" + "a" * 64) is None


# ---------------------------------------------------------------------------- entropy


def test_shannon_entropy() -> None:
    assert shannon_entropy("") == 0.0
    assert shannon_entropy("aaaa") == 0.0
    assert shannon_entropy("abab") == pytest.approx(1.0)
    assert shannon_entropy("0123456789abcdef") == pytest.approx(4.0)
    assert shannon_entropy(b"\x00\x01\x02\x03") == pytest.approx(2.0)


def test_charset_and_length_aware_threshold() -> None:
    rng = random.Random(7)
    hex32 = "".join(rng.choice("0123456789abcdef") for _ in range(32))
    b64_40 = "".join(rng.choice(ALPHABETS["b64"]) for _ in range(40))
    assert effective_threshold(hex32, 4.5) == pytest.approx(3.0)  # hex carries at most 4 bits
    assert meets_entropy(hex32, 4.5) and meets_entropy(b64_40, 4.5)
    assert not meets_entropy("passwordpassword", 3.5)
    assert meets_entropy("k8Fj2LqP", 3.5)  # 8 distinct characters: the most 8 characters can carry


@pytest.mark.parametrize(
    ("value", "placeholder"),
    [
        ("${DB_PASSWORD}", True),
        ("${DB_PASSWORD:-x}", True),
        ("$(cat /run/secrets/x)", True),
        ("<password>", True),
        ("{{ .Values.token }}", True),
        ("%(password)s", True),
        ("__TOKEN__", True),
        ("@DB_PASS@", True),
        ("changeme", True),
        ("********", True),
        ("xxxxxxxxxxxxxxxx", True),
        ("sk_live_xxxxxxxxxxxxxxxxxxxxxxxx", True),
        ("''", True),
        ("aaaaaaaa", True),
        ("k8Fj2LqP0zW", False),
        ("ghp_" + "x1Y2z3" * 6, False),
    ],
)
def test_placeholders(value: str, placeholder: bool) -> None:
    assert is_placeholder(value) is placeholder
