"""The substring tests put before the secret patterns never change an answer.

Every pattern of the Dockerfile, compose, image-configuration and Kubernetes secret checks is
guarded by strings one of which each of its matches must contain. The oracle is the same
function with every guard emptied (the empty string is in every text), so each pattern runs
on every input as it did before the guards; the inputs are secrets of every shape, names
spelled with separators inside their words, and seeded mutations of both.
"""

from __future__ import annotations

import random
import re

import pytest

from customhouse.misconfig.checks import _secrettext, _secretvalues

SEEDS = [
    "API_K_E_Y=abcdefgh1234",
    "aPi.KeY=zzzz1234",
    "p_w_d=abcdef",
    "MY.SECRET=val123",
    "DB-PASS=hunter22",
    "passWORD=abcd",
    "X=1 TOKEN=abcdefg npm publish",
    "--password hunter2",
    "--token='abcd efgh'",
    "--api-key=abcd1234",
    "key=abcdef",
    "PATH=/usr/bin DEBIAN_FRONTEND=noninteractive apt-get install -y curl",
    "git clone https://user:p4ssw0rd@example.com/x.git",
    "curl -H 'Authorization: Bearer abcdefghijk' https://example.com",
    "AKIA" + "B" * 16,
    "A3TX" + "C" * 16,
    "ghp_" + "a" * 36,
    "ghs_" + "z" * 40,
    "github_pat_" + "a" * 70,
    "glpat-" + "a" * 20,
    "xoxb-1234567890abc",
    "npm_" + "a" * 36,
    "pypi-AgEIcHlwaS5vcmc" + "a" * 40,
    "sk_live_" + "a" * 24,
    "rk_live_" + "b" * 30,
    "AIza" + "a" * 35,
    "eyJabcdefghij.eyJabcdefghij.abcdefghij",
    "-----BEGIN RSA PRIVATE KEY-----",
    "-----BEGIN PRIVATE KEY BLOCK-----",
    "${DB_PASSWORD:-s3cr3tvalue}",
    "echo $$SECRET_TOKEN=abc",
]
ALPHABET = "aAkKeEyYpPsSwWdDtToOnN_-.=:/@ $\"'{}xX0123456789-BEGIN"


def _texts(n: int) -> list[str]:
    rnd = random.Random(20261124)
    out = list(SEEDS)
    for _ in range(n):
        s = list(rnd.choice(SEEDS))
        for _ in range(rnd.randint(0, 4)):
            i = rnd.randint(0, len(s))
            op = rnd.random()
            if op < 0.4:
                s.insert(i, rnd.choice(ALPHABET))
            elif s and op < 0.7:
                del s[min(i, len(s) - 1)]
            elif s:
                s[min(i, len(s) - 1)] = rnd.choice(ALPHABET)
        out.append("".join(s))
    return out


def _answers(texts: list[str]) -> list[tuple[object, ...]]:
    out: list[tuple[object, ...]] = []
    for t in texts:
        name, _, value = t.partition("=")
        out.append(
            (
                _secrettext.text_hits(t),
                _secrettext.assignment_hits(name, value),
                _secretvalues.secret_reason(name, value),
                _secretvalues.secret_reason("", t),
            )
        )
    return out


def test_guards_change_no_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    texts = _texts(6000)
    guarded = _answers(texts)
    assert sum(1 for a in guarded if a[0] or a[2] or a[3]) > 1000  # the inputs do hold secrets
    monkeypatch.setattr(_secrettext, "_TOKEN_PATTERNS", tuple((k, ("",), p) for k, _, p in _secrettext._TOKEN_PATTERNS))
    monkeypatch.setattr(_secrettext, "_TOKEN_HINT", re.compile(""))
    monkeypatch.setattr(_secrettext, "_URL_MARK", "")
    monkeypatch.setattr(_secrettext, "_AUTH_MARK", "")
    monkeypatch.setattr(_secrettext, "_NAME_MARKS", re.compile(""))
    monkeypatch.setattr(_secretvalues, "_CREDENTIAL_HINT", re.compile(""))
    monkeypatch.setattr(
        _secretvalues, "_CREDENTIAL_VALUES", tuple((w, ("",), p) for w, _, p in _secretvalues._CREDENTIAL_VALUES)
    )
    assert _answers(texts) == guarded


@pytest.mark.parametrize("name", ["API_K_E_Y", "aPi.KeY", "P-A-S-S-W-O-R-D", "S.E.C.R.E.T"])
def test_names_with_separators_inside_words_still_found(name: str) -> None:
    # the guard looks for "key", "pass", "secret" with `_`, `-` and `.` taken out first
    assert _secrettext.text_hits(f"{name}=abcdefgh1234")


def test_every_privilege_dropping_tool_is_guarded() -> None:
    """CH-DF-002 runs its pattern only on text holding one of the hints: each name the pattern
    knows must contain one, or an image dropping privileges with it would be reported."""
    from customhouse.misconfig.checks import dockerfile as df

    inner = re.fullmatch(r"\\b\((.*)\)\\b", df._PRIVILEGE_DROP.pattern)
    assert inner is not None
    names = inner.group(1).split("|")
    assert len(names) >= 7
    for name in names:
        assert any(h in name for h in df._PRIVILEGE_DROP_HINTS), name
        assert df._PRIVILEGE_DROP.search(f'entrypoint ["{name}", "app"]')


def test_the_ssh_command_guard_changes_no_answer() -> None:
    """CH-DF-036 splits a CMD/ENTRYPOINT shell-style only when the text, less quotes and
    backslashes, names sshd or dropbear; on quoted, escaped and split spellings the guarded
    answer is the unguarded one."""
    import shlex

    from customhouse.misconfig.checks import dockerfile as df
    from customhouse.misconfig.dockerfile import Instruction

    def unguarded(text: str) -> bool:
        try:
            argv = shlex.split(text)
        except ValueError:
            argv = text.split()
        return any(a.rsplit("/", 1)[-1] in ("sshd", "dropbear") for a in argv[:3])

    rng = random.Random(7)
    pieces = ["ss", "hd", "sshd", "s", "h", "d", "drop", "bear", "'", '"', "\\", " ", "/usr/sbin/", "-D", "exec", "x"]
    found = 0
    for _ in range(20000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 9)))
        ins = Instruction(cmd="CMD", line=1, end_line=1, column=0, original="CMD " + text, args=(text,))
        assert df._starts_ssh(ins) == unguarded(text), text
        found += unguarded(text)
    assert found > 300


def test_a_run_without_secret_hints_holds_none_in_any_command() -> None:
    """CH-DF-020 tests a RUN's command texts once, joined: whatever `text_hits` finds in one
    command, the joined text must pass the test (the guards are plain strings, and the secret-name
    test runs on the text with separators taken out, which joining cannot undo)."""
    rng = random.Random(11)
    texts = _texts(3000)
    found = 0
    for _ in range(3000):
        parts = [rng.choice(texts) for _ in range(rng.randint(1, 5))]
        joined = "\n".join(parts)
        if any(_secrettext.text_hits(p) for p in parts):
            found += 1
            assert _secrettext.could_hold_secrets(joined), parts
        if _secrettext.text_hits(joined):
            assert _secrettext.could_hold_secrets(joined)
    assert found > 500
