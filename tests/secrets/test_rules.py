"""The rules data file: every rule's own test strings through both backends, coverage of the
providers issue 6 names, equivalence of the optimised regexes, and the generated doc table."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from customhouse.secrets import load_rules
from customhouse.secrets.engine import hyperscan_expression
from customhouse.secrets.rules import CATEGORIES, markdown_table, update_doc
from customhouse.secrets.samples import expand
from tests.conftest import ROOT
from tests.secrets.conftest import BACKENDS, BUILTIN_RULES, RULE_IDS, cases, rule_by_id, scanner


@pytest.mark.parametrize("rid", RULE_IDS)
def test_rule_has_positive_and_negative_tests(rid: str) -> None:
    r = rule_by_id(rid)
    assert len(r.positives) >= 1, f"{rid}: no positive test string"
    assert len(r.negatives) >= 1, f"{rid}: no negative test string"
    assert r.title and r.provider and r.category in CATEGORIES


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("rid", RULE_IDS)
def test_rule_test_strings(rid: str, backend: str) -> None:
    """Positives are found with the marked secret (and `validated` when stated); negatives not."""
    r = rule_by_id(rid)
    sc = scanner(backend)
    for c in cases(r, "positive"):
        found = [m for m in sc.scan(c.text.encode(), c.path) if m.rule_id == rid]
        assert found, f"{rid} positive[{c.index}] not found"
        if c.expected_secret is not None:
            assert c.expected_secret in [m.secret for m in found], f"{rid} positive[{c.index}]: wrong secret"
        if c.validated is not None:
            assert c.validated in [m.validated for m in found], f"{rid} positive[{c.index}]: validated"
        for m in found:
            assert any(k in m.match.lower() for k in r.keywords) or not r.keywords
    for c in cases(r, "negative"):
        found = [m for m in sc.scan(c.text.encode(), c.path) if m.rule_id == rid]
        assert not found, f"{rid} negative[{c.index}] matched: {found}"


def test_backends_agree_on_a_corpus_of_every_test_string() -> None:
    """All test strings in one buffer (and in reverse order): identical findings, offsets included."""
    texts = [c.text for r in BUILTIN_RULES if not r.paths for kind in ("positive", "negative") for c in cases(r, kind)]
    for corpus in ("\n".join(texts), "\n\n".join(reversed(texts)), " ".join(texts)):
        data = corpus.encode()
        got = {
            b: [(m.rule_id, m.start, m.end, m.line, m.column, m.validated) for m in scanner(b).scan(data, "c.txt")]
            for b in BACKENDS
        }
        assert got["hyperscan"] == got["re"]
        assert len(got["re"]) > 200


def test_literal_first_rewrite_finds_the_same_matches() -> None:
    """`rule.pattern` (rewritten for speed) and the rule's regex as written agree everywhere."""
    texts = [c.text for r in BUILTIN_RULES for kind in ("positive", "negative") for c in cases(r, kind)]
    corpus = "\n".join(texts).encode()
    rewritten = 0
    for r in BUILTIN_RULES:
        original = re.compile(r.regex.encode())
        if original.pattern == r.pattern.pattern:
            continue
        rewritten += 1
        assert [m.span() for m in original.finditer(corpus)] == [m.span() for m in r.pattern.finditer(corpus)], r.id
        for c in cases(r, "positive"):
            assert original.search(c.text.encode()) is not None, r.id
    assert rewritten > 100


def test_hyperscan_expressions_are_supersets_on_the_test_strings() -> None:
    """What Hyperscan gets must match wherever the rule does (checked with `re` itself)."""
    for r in BUILTIN_RULES:
        expr, prefilter = hyperscan_expression(r.regex)
        if prefilter:
            continue  # lookarounds left for Hyperscan's prefilter mode; `re` cannot read them so
        loose = re.compile(expr)
        for c in cases(r, "positive"):
            assert loose.search(c.text.encode()) is not None, r.id


def test_at_least_150_provider_specific_rules() -> None:
    specific = [r for r in BUILTIN_RULES if r.category != "generic"]
    assert len(specific) >= 150
    assert len({r.provider for r in specific}) >= 100


# The credential families issue 6 names, each with at least one rule.
REQUIRED = {
    "aws-access-key-id",
    "aws-secret-access-key",
    "aws-session-token",
    "gcp-service-account-key",
    "gcp-api-key",
    "azure-storage-account-key",
    "azure-storage-sas-token",
    "github-pat",
    "github-oauth-token",
    "github-user-to-server-token",
    "github-server-to-server-token",
    "github-refresh-token",
    "github-fine-grained-pat",
    "gitlab-pat",
    "gitlab-deploy-token",
    "gitlab-runner-token",
    "bitbucket-app-password",
    "slack-bot-token",
    "slack-webhook-url",
    "stripe-secret-key",
    "stripe-restricted-key",
    "twilio-api-key",
    "twilio-auth-token",
    "sendgrid-api-key",
    "mailgun-api-key",
    "shopify-access-token",
    "shopify-shared-secret",
    "shopify-custom-app-token",
    "shopify-private-app-token",
    "npm-access-token",
    "pypi-upload-token",
    "rubygems-api-key",
    "nuget-api-key",
    "docker-hub-pat",
    "hashicorp-vault-service-token",
    "hashicorp-vault-batch-token",
    "hashicorp-vault-recovery-token",
    "terraform-cloud-token",
    "datadog-api-key",
    "newrelic-user-api-key",
    "sentry-org-token",
    "sentry-user-token",
    "openai-api-key",
    "anthropic-api-key",
    "huggingface-token",
    "heroku-api-key",
    "digitalocean-pat",
    "digitalocean-oauth-token",
    "digitalocean-refresh-token",
    "linear-api-key",
    "atlassian-api-token",
    "private-key-rsa",
    "private-key-ec",
    "private-key-dsa",
    "private-key-openssh",
    "private-key-openssh-encrypted",
    "private-key-pgp",
    "private-key-pkcs8",
    "private-key-pkcs8-encrypted",
    "private-key-encrypted-pem",
    "jwt",
    "postgres-connection-string",
    "mysql-connection-string",
    "mongodb-connection-string",
    "url-credentials",
    "kubernetes-service-account-token-file",
    "kubeconfig-client-key-data",
    "npmrc-auth-token",
    "pypirc-password",
    "netrc-credentials",
    "git-credentials",
    "docker-config-auth",
    "htpasswd-hash",
    "jenkins-encrypted-secret",
    "ansible-vault-encrypted",
    "generic-secret-assignment",
}


def test_required_credential_families_are_covered() -> None:
    assert set(RULE_IDS) >= REQUIRED, sorted(REQUIRED - set(RULE_IDS))


def test_checksum_validators_are_wired() -> None:
    by_validator = Counter(r.validator for r in BUILTIN_RULES if r.validator)
    assert by_validator["github"] == 5 and by_validator["npm"] == 1 and by_validator["pypi"] == 1
    for rid in ("github-pat", "npm-access-token", "pypi-upload-token"):
        assert any(c.validated is True for c in cases(rule_by_id(rid), "positive"))
        assert any(c.validated is False for c in cases(rule_by_id(rid), "positive"))


def test_test_strings_are_deterministic_and_hold_no_literal_tokens() -> None:
    r = rule_by_id("github-pat")
    assert expand(r.positives[0].text, "s") == expand(r.positives[0].text, "s")
    raw = (ROOT / "customhouse" / "secrets" / "data" / "rules.yaml").read_text()
    assert not re.search(r"gh[pousr]_[A-Za-z0-9]{36}", raw)
    assert not re.search(r"AKIA[A-Z0-9]{16}(?!EXAMPLE)", raw.replace("AKIAIOSFODNN7EXAMPLE", ""))
    assert "-----BEGIN RSA PRIVATE KEY-----\nMII" not in raw


DOC = ROOT / "docs" / "secrets.md"


def test_docs_rule_table_is_current() -> None:
    text = DOC.read_text()
    assert update_doc(text, markdown_table(load_rules())) == text, (
        "docs/secrets.md is out of date; regenerate with `python -m customhouse.secrets --update-doc docs/secrets.md`"
    )
    for r in BUILTIN_RULES:
        assert f"| `{r.id}` |" in text


def test_literal_first_only_rewrites_the_safe_shape() -> None:
    from customhouse.secrets.rules import literal_first

    assert literal_first(r"(?<![a-z])(?P<secret>ghp_[a-z]{3})") == r"(?P<secret>ghp_(?<![a-z]ghp_)[a-z]{3})"
    assert literal_first(r"(?<![a-z])ab{2}c") == r"a(?<![a-z]a)b{2}c"  # a quantified literal stays outside
    for unchanged in (r"(?<!a|bc)xyz", r"(?<![a-z])(?P<secret>a|b)", r"(?<![a-z])key-|other", r"(?i)(?<![a-z])abc"):
        assert literal_first(unchanged) == unchanged
    for regex, text in (
        (r"(?<![a-z])ab{2}c", b"xabbc abbc"),
        (r"(?<![a-z])(?P<secret>ghp_[a-z]{3})", b"aghp_abc ghp_xyz"),
    ):
        assert [m.span() for m in re.finditer(regex.encode(), text)] == [
            m.span() for m in re.finditer(literal_first(regex).encode(), text)
        ]
