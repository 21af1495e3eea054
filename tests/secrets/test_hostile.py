"""Bad input completes in bounded time without crashing: a 200 MB single-line file, invalid
UTF-8, and regex-hostile runs of the characters the rules repeat. Each case runs in a
subprocess with a generous timeout (pytest-timeout is not installed); nothing else is timed.
Also: the `re` fallback when `import hyperscan` fails."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import ROOT
from tests.secrets.conftest import HS_CACHE

SCRIPT = """
import base64, json, os, random, sys, time
from customhouse.secrets import Scanner, SecretConfig
backend, case, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
sc = Scanner.create(SecretConfig(backend=backend, allow_paths=(), max_file_bytes=size + 1,
                                 cache_dir=os.environ.get("HS_CACHE") or None))
assert sc.backend == backend, sc.backend
rng = random.Random(1)
def tok():
    from customhouse.secrets.samples import github_token
    return github_token(rng, "ghp").encode()
expected = None
if case == "single-line":
    # minified-bundle-like: base64 noise with a token every 4 MB, no newline anywhere
    chunk = base64.b64encode(rng.randbytes(3 * 1024 * 1024))
    parts, expected = [], 0
    while sum(map(len, parts)) < size - len(chunk) - 64:
        parts += [chunk, b';var t="', tok(), b'";']
        expected += 1
    data = b"".join(parts)
elif case == "invalid-utf8":
    # high bytes that are not valid UTF-8 sequences, no control characters (so: text)
    noise = bytes(0x80 | b for b in rng.randbytes(4096))
    data = b"".join(noise + b" t=" + tok() + b"\\n" for _ in range(size // 4140))
    expected = size // 4140
else:
    unit = {"akia": b"AKIA", "begin": b"-----BEGIN ", "begin-rsa": b"-----BEGIN RSA PRIVATE KEY-----\\n",
            "a": b"a", "A": b"A", "eq": b"=", "password": b"password=", "ghp": b"ghp_", "eyj": b"eyJ",
            "pem-body": b"MIIEpAIBAAKCAQEA", "url": b"https://u:", "digits": b"0123456789",
            "assign": b"password=" + b"a" * 200 + b" ", "jwt": b"eyJhbGciOiJIUzI1NiJ9.",
            "dollar": b"$", "backslash-n": b"\\\\n", "quotes": b"'\\"", "hex": b"deadbeef"}[case]
    data = unit * (size // len(unit))
t = time.time()
ms = sc.scan(data, "hostile.txt")
ghp = sum(1 for m in ms if m.rule_id == "github-pat")
print(json.dumps({"findings": len(ms), "ghp": ghp, "expected": expected, "seconds": round(time.time() - t, 2)}))
"""


def _run(backend: str, case: str, size: int, timeout: float) -> dict[str, int]:
    env = dict(os.environ, HS_CACHE=str(HS_CACHE), PYTHONPATH=str(ROOT))
    env.pop("CUSTOMHOUSE_SECRETS_BACKEND", None)
    p = subprocess.run(
        [sys.executable, "-c", SCRIPT, backend, case, str(size)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=ROOT,
        check=False,
    )
    assert p.returncode == 0, p.stderr[-2000:]
    out: dict[str, int] = json.loads(p.stdout)
    return out


def test_200mb_single_line_file_hyperscan() -> None:
    r = _run("hyperscan", "single-line", 200 * 1024 * 1024, timeout=300)
    assert r["ghp"] == r["expected"] == r["findings"] and r["ghp"] > 40


@pytest.mark.slow
def test_200mb_single_line_file_re() -> None:
    r = _run("re", "single-line", 200 * 1024 * 1024, timeout=1200)
    assert r["ghp"] == r["expected"] == r["findings"] and r["ghp"] > 40


def test_32mb_single_line_file_re() -> None:
    r = _run("re", "single-line", 32 * 1024 * 1024, timeout=300)
    assert r["ghp"] == r["expected"] == r["findings"] and r["ghp"] > 5


@pytest.mark.parametrize("backend", ["hyperscan", "re"])
def test_invalid_utf8(backend: str) -> None:
    r = _run(backend, "invalid-utf8", 4 * 1024 * 1024, timeout=300)
    assert r["ghp"] == r["findings"] == min(1000, r["expected"])


HOSTILE = ["akia", "begin", "begin-rsa", "a", "A", "eq", "password", "ghp", "eyj", "pem-body", "url", "digits",
           "assign", "jwt", "dollar", "backslash-n", "quotes", "hex"]  # fmt: skip


@pytest.mark.parametrize("case", HOSTILE)
@pytest.mark.parametrize("backend", ["hyperscan", "re"])
def test_regex_hostile_runs(backend: str, case: str) -> None:
    """10 MB of one unit repeated: the runs that the rules' quantifiers would backtrack over."""
    _run(backend, case, 10 * 1024 * 1024, timeout=240)


def test_fallback_when_hyperscan_cannot_be_imported(tmp_path: os.PathLike[str]) -> None:
    """A sitecustomize makes `import hyperscan` fail, as on a platform without wheels."""
    site = os.path.join(str(tmp_path), "site")
    os.makedirs(site)
    with open(os.path.join(site, "sitecustomize.py"), "w") as fh:
        fh.write("import sys\nsys.modules['hyperscan'] = None\n")
    code = textwrap.dedent(
        """
        import json, random
        from customhouse.secrets import Scanner, SecretConfig
        from customhouse.secrets.samples import github_token
        try:
            import hyperscan
        except ImportError:
            broken = True
        else:
            broken = False
        sc = Scanner.create(SecretConfig())
        t = github_token(random.Random(1), "ghp")
        ms = sc.scan(f"x\\nGITHUB_TOKEN={t}\\n".encode(), "app/.env")
        try:
            Scanner.create(SecretConfig(backend="hyperscan"))
            explicit = "created"
        except Exception as e:
            explicit = type(e).__name__
        print(json.dumps({"broken": broken, "backend": sc.backend, "rules": [m.rule_id for m in ms],
                          "line": ms[0].line, "validated": ms[0].validated, "explicit": explicit}))
        """
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([site, str(ROOT)]))
    env.pop("CUSTOMHOUSE_SECRETS_BACKEND", None)
    p = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120, check=False
    )
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out == {
        "broken": True,
        "backend": "re",
        "rules": ["github-pat"],
        "line": 2,
        "validated": True,
        "explicit": "UsageError",
    }
