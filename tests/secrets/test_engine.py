"""The engine: locations, redaction, fingerprints, skips, allowlists, overlaps, configuration."""

from __future__ import annotations

import json
import random
import re
import threading
from pathlib import Path

import pytest

from customhouse.errors import UsageError
from customhouse.secrets import DEFAULT_ALLOW_PATHS, Scanner, SecretMatch, fingerprint, is_binary, redact
from customhouse.secrets import engine as engine_mod
from customhouse.secrets.engine import compile_globs, glob_to_regex
from customhouse.secrets.samples import ALPHABETS, github_token
from tests.secrets.conftest import BACKENDS, config, scanner


def token(seed: int = 1) -> str:
    return github_token(random.Random(seed), "ghp")


def aws_key(seed: int = 1) -> str:
    rng = random.Random(seed)
    return "AKIA" + "".join(rng.choice(ALPHABETS["ualnum"]) for _ in range(16))


def only(ms: list[SecretMatch], rule_id: str) -> list[SecretMatch]:
    return [m for m in ms if m.rule_id == rule_id]


# ---------------------------------------------------------------------------- locations


def test_line_and_column_of_a_token(any_scanner: Scanner) -> None:
    t = token()
    text = f"first line\n\n  export GITHUB_TOKEN={t}  # ci\nlast\n"
    (m,) = only(any_scanner.scan(text.encode(), "a/.env"), "github-pat")
    col = text.splitlines()[2].index(t) + 1
    assert (m.line, m.column, m.end_line, m.end_column) == (3, col, 3, col + len(t))
    assert text.encode()[m.start : m.end].decode() == t == m.secret
    assert m.match_start <= m.start < m.end <= m.match_end
    assert m.path == "a/.env"


def test_columns_count_characters_not_bytes(any_scanner: Scanner) -> None:
    t = token(2)
    text = f"ünïcødé → {t}"
    (m,) = only(any_scanner.scan(text.encode(), "x"), "github-pat")
    assert m.column == text.index(t) + 1
    assert m.start == len(text[: text.index(t)].encode())
    assert m.end_column == len(text) + 1


def test_crlf_and_several_findings_on_one_line(any_scanner: Scanner) -> None:
    a, b, c = token(3), token(4), token(5)
    text = f"x\r\nA={a} B={b}\r\n\r\nC={c}\r\n"
    ms = only(any_scanner.scan(text.encode(), "x"), "github-pat")
    assert [(m.line, m.column) for m in ms] == [(2, 3), (2, 6 + len(a)), (4, 3)]
    assert [m.secret for m in ms] == [a, b, c]


def test_multi_line_secret_has_end_line(any_scanner: Scanner) -> None:
    from customhouse.secrets.samples import expand

    key = expand("{{pem:RSA PRIVATE KEY}}", "k")
    text = "config:\n  key: |\n" + key + "\nrest\n"
    (m,) = only(any_scanner.scan(text.encode(), "x"), "private-key-rsa")
    assert m.line == 3 and m.column == 1
    assert m.end_line == 3 + key.count("\n")
    assert m.end_column == len(key.splitlines()[-1]) + 1


def test_finding_in_the_middle_of_a_huge_line(any_scanner: Scanner) -> None:
    t = token(6)
    data = b"x" * 3_000_000 + b" " + t.encode() + b" " + b"y" * 100
    (m,) = only(any_scanner.scan(data, "min.js"), "github-pat")
    assert (m.line, m.column) == (1, 3_000_002)


# ---------------------------------------------------------------------------- redaction


def test_redact_shows_at_most_four_characters() -> None:
    assert redact("ghp_abcdefghijklmnop").startswith("ghp_…")
    assert len(redact("ghp_abcdefghijklmnop")) == 4 + 1 + 8
    assert redact("abcdefgh").startswith("ab…")  # a quarter of a short secret
    assert redact("abc").startswith("…")
    assert redact("same") == redact("same") != redact("Same")


def _leaks(text: str, secret: str) -> bool:
    return any(secret[i : i + 5] in text for i in range(len(secret) - 4))


@pytest.mark.parametrize("backend", BACKENDS)
def test_repr_str_and_dict_never_show_more_than_four_characters(backend: str) -> None:
    from customhouse.secrets.samples import expand

    texts = [
        f"GITHUB_TOKEN={token(7)}",
        "DATABASE_URL=postgres://app:" + expand("{{alnum:24}}", "p") + "@db:5432/app",
        expand("{{pem:PRIVATE KEY}}", "k2"),
        "client_secret = " + expand("{{b64url:40}}", "g"),
        "aws_secret_access_key = " + expand("{{b64:40}}", "a"),
    ]
    seen = 0
    for text in texts:
        for m in scanner(backend).scan(text.encode(), "x"):
            seen += 1
            for shown in (repr(m), str(m), json.dumps(m.to_dict()), m.redacted, m.redacted_match, f"{m}", f"{[m]}"):
                assert not _leaks(shown, m.secret), (m.rule_id, shown)
            assert m.redacted in m.redacted_match
    assert seen >= len(texts)


def test_redacted_match_keeps_the_context() -> None:
    t = token(8)
    (m,) = only(scanner("re").scan(f'token = "{t}";'.encode(), "x"), "github-pat")
    assert m.redacted_match == m.redacted
    url = "postgres://app:S3cr3tPassw0rdXyz@db:5432/app"
    (m,) = only(scanner("re").scan(url.encode(), "x"), "postgres-connection-string")
    assert m.redacted_match.startswith("postgres://app:S3cr…") and m.redacted_match.endswith("@db:5432")


# ---------------------------------------------------------------------------- fingerprints


def test_fingerprint_is_stable_and_names_rule_and_secret(any_scanner: Scanner) -> None:
    t = token(9)
    a = only(any_scanner.scan(f"A={t}\n".encode(), "one/file"), "github-pat")[0]
    b = only(any_scanner.scan(f"\n\n   B = '{t}'".encode(), "other/file"), "github-pat")[0]
    assert a.fingerprint == b.fingerprint == fingerprint("github-pat", t) == fingerprint("github-pat", t.encode())
    assert a.fingerprint.startswith("sha256:") and len(a.fingerprint) == 7 + 32
    assert fingerprint("github-oauth-token", t) != a.fingerprint
    assert fingerprint("github-pat", token(10)) != a.fingerprint


# ---------------------------------------------------------------------------- what is skipped


def test_binary_content_is_skipped(any_scanner: Scanner) -> None:
    t = token(11).encode()
    assert only(any_scanner.scan(b"text " + t, "x"), "github-pat")
    assert any_scanner.scan(b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 64 + t, "usr/bin/tool") == []
    assert is_binary(bytes(range(1, 32)) * 100) and not is_binary("ünïcødé\tok\r\n".encode() * 100)
    assert any_scanner.skip_reason("x", 10, b"\x00\x01") == "binary"


def test_invalid_utf8_is_scanned_as_text(any_scanner: Scanner) -> None:
    t = token(12).encode()
    data = b"\xff\xfe\xc3(\xa0\xa1 bad bytes \xe2\x82 then " + t + b" \xf0\x28\x8c\xbc"
    (m,) = only(any_scanner.scan(data, "x"), "github-pat")
    assert m.secret == t.decode() and m.line == 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_size_limit(backend: str) -> None:
    sc = Scanner.create(config(backend, max_file_bytes=1000))
    t = token(13).encode()
    assert only(sc.scan(t.ljust(1000), "x"), "github-pat")
    assert sc.scan(t.ljust(1001), "x") == []
    assert sc.skip_reason("x", 1001) == "too-large"


def test_scan_file_checks_size_before_reading(tmp_path: Path) -> None:
    t = token(14)
    f = tmp_path / "creds"
    f.write_text(f"token={t}\n")
    sc = scanner("hyperscan")
    (m,) = only(sc.scan_file(f, "etc/creds"), "github-pat")
    assert m.path == "etc/creds"
    small = Scanner.create(config("hyperscan", max_file_bytes=10))
    assert small.scan_file(f) == []


@pytest.mark.parametrize(
    "path",
    [
        "srv/app/node_modules/left-pad/test/keys.js",
        "/usr/lib/python3/dist-packages/requests/tests/conftest.py",
        "go/pkg/mod/github.com/x/y@v1/testdata/key.pem",
        "./usr/share/doc/openssl/README",
        "app/vendor/github.com/acme/lib/token.go",
        "src/__tests__/auth.spec.ts",
        "usr/share/terminfo/x/xterm-256color",
        "lib/terminfo/v/vt100",
        "usr/share/zoneinfo/Europe/Berlin",
    ],
)
def test_default_path_allowlist(path: str) -> None:
    sc = Scanner.create(config("re", allow_paths=DEFAULT_ALLOW_PATHS))
    assert sc.path_allowed(path)
    assert sc.scan(f"t={token(15)}".encode(), path) == []
    assert not sc.path_allowed("srv/app/config/settings.py")
    assert only(sc.scan(f"t={token(15)}".encode(), "srv/app/config/settings.py"), "github-pat")


def test_custom_path_allowlist_and_globs() -> None:
    sc = Scanner.create(config("re", allow_paths=("**/fixtures/*.json", "etc/ssl/**", "*.md")))
    assert sc.path_allowed("a/b/fixtures/x.json") and sc.path_allowed("fixtures/x.json")
    assert not sc.path_allowed("a/b/fixtures/sub/x.json")  # `*` stays within a directory
    assert sc.path_allowed("/etc/ssl/private/key.pem") and sc.path_allowed("etc/ssl")
    assert sc.path_allowed("README.md") and not sc.path_allowed("docs/README.md")
    assert not Scanner.create(config("re", allow_paths=())).path_allowed("node_modules/x")


@pytest.mark.parametrize("backend", BACKENDS)
def test_stopwords_default_and_configured(backend: str) -> None:
    example = b"aws_access_key_id = AKIAIOSFODNN7EXAMPLE"
    assert only(scanner(backend).scan(example, "x"), "aws-access-key-id") == []
    key = aws_key(16)
    data = f"aws_access_key_id = {key}".encode()
    assert only(scanner(backend).scan(data, "x"), "aws-access-key-id")
    sc = Scanner.create(config(backend, stopwords=(key[8:12].lower(),)))
    assert only(sc.scan(data, "x"), "aws-access-key-id") == []
    assert only(Scanner.create(config(backend, stopwords=())).scan(example, "x"), "aws-access-key-id")


@pytest.mark.parametrize(
    "value",
    ["${GITHUB_TOKEN}", "<your-token>", "{{ .Values.token }}", "changeme", "xxxxxxxxxxxxxxxx", "$TOKEN", "%TOKEN%"],
)
def test_placeholders_are_not_secrets(value: str, any_scanner: Scanner) -> None:
    assert any_scanner.scan(f"api_token = {value}\npassword: {value}\n".encode(), "x") == []


def test_disabled_rules() -> None:
    data = f"t={token(17)}".encode()
    sc = Scanner.create(config("hyperscan", disabled_rules=("github-pat",)))
    assert "github-pat" not in {r.id for r in sc.rules}
    assert only(sc.scan(data, "x"), "github-pat") == []
    with pytest.raises(UsageError, match="no-such-rule"):
        Scanner.create(config("re", disabled_rules=("no-such-rule",)))


def test_max_matches_per_file(any_scanner: Scanner) -> None:
    data = "\n".join(f"t{i}={token(100 + i)}" for i in range(50)).encode()
    assert len(only(any_scanner.scan(data, "x"), "github-pat")) == 50
    sc = Scanner.create(config(any_scanner.backend, max_matches_per_file=7))
    ms = sc.scan(data, "x")
    assert len(ms) == 7 and [m.line for m in ms] == list(range(1, 8))


# ---------------------------------------------------------------------------- overlaps


def test_specific_rule_wins_over_generic(any_scanner: Scanner) -> None:
    ms = any_scanner.scan(f"API_TOKEN={token(18)}".encode(), "x")
    assert [m.rule_id for m in ms] == ["github-pat"]
    url = b"DATABASE_URL=postgres://app:S3cr3tPassw0rdXyz@db:5432/app"
    assert [m.rule_id for m in any_scanner.scan(url, "x")] == ["postgres-connection-string"]


def test_supersedes(any_scanner: Scanner) -> None:
    from customhouse.secrets.samples import expand

    jwt = expand("{{jwt:k8s}}", "k")
    ms = any_scanner.scan(f"token: {jwt}".encode(), "x")
    assert [m.rule_id for m in ms] == ["kubernetes-service-account-token-legacy"]
    ms = any_scanner.scan(jwt.encode(), "var/run/secrets/kubernetes.io/serviceaccount/token")
    assert {m.rule_id for m in ms} == {
        "kubernetes-service-account-token-file",
        "kubernetes-service-account-token-legacy",
    }


# ---------------------------------------------------------------------------- configuration


def test_backend_selection(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Scanner.create(config("auto")).backend == "hyperscan"
    monkeypatch.setenv(engine_mod.ENV_BACKEND, "re")
    assert Scanner.create(config("auto")).backend == "re"
    assert Scanner.create(config("hyperscan")).backend == "hyperscan"  # explicit config wins
    monkeypatch.setenv(engine_mod.ENV_BACKEND, "pcre")
    with pytest.raises(UsageError, match=engine_mod.ENV_BACKEND):
        Scanner.create(config("auto"))
    with pytest.raises(UsageError, match="unknown secret scanning backend"):
        Scanner.create(config("fast"))


def test_hyperscan_unavailable_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine_mod, "_hyperscan", lambda: None)
    sc = Scanner.create(config("auto"))
    assert sc.backend == "re" and sc.hyperscan_modes == {}
    assert only(sc.scan(f"t={token(19)}".encode(), "x"), "github-pat")
    with pytest.raises(UsageError, match="hyperscan cannot be loaded"):
        Scanner.create(config("hyperscan"))


def test_compiled_database_is_cached_on_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine_mod, "_HS_CACHE", {})
    Scanner.create(config("hyperscan", cache_dir=tmp_path))
    (db,) = (tmp_path / "secrets").glob("hyperscan-*.db")
    monkeypatch.setattr(engine_mod, "_HS_CACHE", {})
    compiled: list[int] = []
    real = engine_mod._compile

    def spy(hs: object, exprs: list[bytes], flags: list[int], cache_dir: Path | None) -> object:
        compiled.append(len(exprs))
        return real(hs, exprs, flags, cache_dir)

    monkeypatch.setattr(engine_mod, "_compile", spy)
    sc = Scanner.create(config("hyperscan", cache_dir=tmp_path))
    assert only(sc.scan(f"t={token(20)}".encode(), "x"), "github-pat")
    assert compiled and db.exists()
    db.write_bytes(b"garbage")  # a corrupt cache file is rebuilt, not fatal
    monkeypatch.setattr(engine_mod, "_HS_CACHE", {})
    assert only(
        Scanner.create(config("hyperscan", cache_dir=tmp_path)).scan(f"t={token(20)}".encode(), "x"), "github-pat"
    )


def test_plan_is_cached_and_a_damaged_one_replanned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Hyperscan plan (which rule goes in how) is kept beside the database: the next process
    reads it instead of rewriting every regex, and gets the same plan; a damaged or edited plan
    file is planned again, never trusted."""
    monkeypatch.setattr(engine_mod, "_HS_CACHE", {})
    first = Scanner.create(config("hyperscan", cache_dir=tmp_path))
    (plan_file,) = (tmp_path / "secrets").glob("hsplan-*.json")
    planned: list[int] = []
    real = engine_mod._plan

    def spy(hs: object, rules: list[object], check: bool) -> object:
        planned.append(len(rules))
        return real(hs, rules, check)  # type: ignore[arg-type]

    monkeypatch.setattr(engine_mod, "_plan", spy)
    monkeypatch.setattr(engine_mod, "_HS_CACHE", {})
    again = Scanner.create(config("hyperscan", cache_dir=tmp_path))
    assert planned == [] and again._hs is not None and first._hs is not None
    assert vars(again._hs.plan) == vars(first._hs.plan)
    assert only(again.scan(f"t={token(20)}".encode(), "x"), "github-pat")
    good = json.loads(plan_file.read_text())
    for bad in ({**good, "rule": good["rule"][:-1]}, {**good, "rule": [10**6] * len(good["rule"])},
                {**good, "modes": {**good["modes"], "github-pat": "magic"}}, "garbage"):  # fmt: skip
        plan_file.write_text(bad if isinstance(bad, str) else json.dumps(bad))
        monkeypatch.setattr(engine_mod, "_HS_CACHE", {})
        planned.clear()
        sc = Scanner.create(config("hyperscan", cache_dir=tmp_path))
        assert planned == [len(sc.rules)]
        assert only(sc.scan(f"t={token(20)}".encode(), "x"), "github-pat")


def test_every_rule_reaches_hyperscan() -> None:
    modes = scanner("hyperscan").hyperscan_modes
    rules = scanner("hyperscan").rules
    assert set(modes) == {r.id for r in rules}
    assert {modes[r.id] for r in rules if r.paths} == {"re"}
    assert sum(1 for m in modes.values() if m == "exact") > 250


def test_scan_from_several_threads(any_scanner: Scanner) -> None:
    tokens = [token(200 + i) for i in range(8)]
    results: dict[int, list[str]] = {}

    def work(i: int) -> None:
        data = f"pad {'x' * 5000}\nT={tokens[i]}\n".encode() * 20
        results[i] = [m.secret for m in only(any_scanner.scan(data, "x"), "github-pat")]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(results[i] == [tokens[i]] * 20 for i in range(8))


def test_hit_overflow_uses_the_single_match_database(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past MAX_HITS candidates the buffer goes to `re` for the rules that match at all."""
    monkeypatch.setattr(engine_mod, "MAX_HITS", 50)
    sc = scanner("hyperscan")
    t = token(21)
    data = (b"AKIAAKIA " * 100) + ("\n".join(f"k={token(300 + i)}" for i in range(100)) + f"\nlast={t}\n").encode()
    ms = only(sc.scan(data, "x"), "github-pat")
    assert len(ms) == 101 and ms[-1].secret == t
    assert [m.start for m in ms] == [m.start for m in only(scanner("re").scan(data, "x"), "github-pat")]


def test_glob_union_matches_what_each_glob_matches() -> None:
    """`compile_globs` shares the `**/` prefix between globs: the same paths must match."""
    globs = (*DEFAULT_ALLOW_PATHS, "etc/shadow", "**/.pgpass", "**/config/credentials/*.key", "a/**/b")
    paths = [
        "node_modules",
        "srv/node_modules/x/y.js",
        "usr/share/doc/bash/README",
        "usr/share/docs/x",
        "usr/share/doc",
        "x/y_test.go",
        "x/y_test.go/z",
        "lib/python3.11/test/test_os.py",
        "usr/lib/python3.11/site-packages/pkg/tests/t.py",
        "gems/rake/test/a.rb",
        "gems/rake/lib/test/a.rb",
        "etc/shadow",
        "x/etc/shadow",
        "home/u/.pgpass",
        ".pgpass",
        "app/config/credentials/production.key",
        "app/config/credentials/a/production.key",
        "a/b",
        "a/x/y/b",
        "b/a/b",
        "pkg.dist-info/METADATA",
    ]
    union = compile_globs(globs)
    assert union is not None
    for p in paths:
        want = any(re.fullmatch(glob_to_regex(g), p, re.DOTALL) for g in globs)
        assert bool(union.fullmatch(p)) == want, p


def test_binary_names_are_judged_by_name_only_for_files() -> None:
    """Tree walks and the image analyzer skip files named as binary formats unopened
    (`binary_name`); content handed to `scan` is judged by its bytes, whatever it is called."""
    sc = Scanner.create(config("re"))
    for name in ("usr/lib/x86_64-linux-gnu/libc.so.6", "libstdc++.so.6.0.30", "x.so", "m.o", "libz.a",
                 "__pycache__/m.cpython-311.pyc", "Main.class", "de/LC_MESSAGES/x.mo", "logo.PNG", "f.woff2",
                 "backup.tar.gz", "rootfs.zst"):  # fmt: skip
        assert sc.binary_name(name), name
        assert sc.skip_reason(name, 10) is None, name
        assert only(sc.scan(f"t={token(15)}".encode(), name), "github-pat"), name
    for name in ("x.sol", "x.socket", "a.txt", "notes.a.txt", "so", "config.json", "app.jar", "x.gzip"):
        assert not sc.binary_name(name), name
