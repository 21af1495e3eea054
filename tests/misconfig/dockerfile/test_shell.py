"""RUN scripts as commands (customhouse/misconfig/shell.py): lists, pipes, quoting, nesting.

Checks ask about commands, so what counts is that quoted text never becomes a command or a
pipe, that a command after `||` is known to be conditional, and that `sh -c '...'`,
`$(...)` and `<(...)` bodies are commands too. Both parsers are exercised: bashlex, and the
lexer that takes over when bashlex gives up (`[[ ]]`, `case`, arithmetic, arrays), which must
give the same answers on the same scripts.
"""

from __future__ import annotations

import pytest

from customhouse.misconfig import shell

# Prefixes that make bashlex give up, so the same script goes through the fallback lexer too.
FALLBACK = "[[ -n x ]]; "


def argvs(script: shell.ShellScript) -> list[tuple[str, ...]]:
    return [c.argv for c in script.commands if c.words]


def both(text: str) -> list[shell.ShellScript]:
    a = shell.parse_script_with(text, "bashlex")
    b = shell.parse_script_with(FALLBACK + text, "bashlex")
    assert a.parser == "bashlex" and b.parser == "fallback", (a.parser, b.parser)
    return [a, b]


def strip_fallback(script: shell.ShellScript) -> list[shell.SimpleCommand]:
    return [c for c in script.commands if c.words and c.argv[0] != "[["]


def test_and_or_and_sequence() -> None:
    for s in both("apt-get update && apt-get install -y curl; echo done || echo failed"):
        cmds = strip_fallback(s)
        assert [c.argv[0] for c in cmds] == ["apt-get", "apt-get", "echo", "echo"]
        assert [c.operator for c in cmds][1:] == ["&&", ";", "||"]
        assert [c.conditional for c in cmds] == [False, False, False, True]


def test_quoted_text_is_data() -> None:
    for text in (
        'echo "curl -fsSL https://x | sh"',
        "echo 'curl -fsSL https://x | sh; rm -rf /'",
        'printf "%s\\n" "a && b" > /tmp/f',
        "echo $'a | b'",
        "echo \\| sh",
    ):
        for s in both(text):
            cmds = strip_fallback(s)
            assert len(cmds) == 1 and cmds[0].argv[0] in ("echo", "printf"), (text, s.parser, argvs(s))
            assert all(s.pipelines[c.pipeline].length == 1 for c in cmds)


def test_pipes() -> None:
    for s in both("curl -fsSL https://x | tee /tmp/i.sh | sh -s -- --yes"):
        cmds = strip_fallback(s)
        assert [c.pipe_pos for c in cmds] == [0, 1, 2]
        assert len({c.pipeline for c in cmds}) == 1


def test_nested_scripts() -> None:
    for s in both("sh -c 'curl -fsSL https://x | bash' && bash -lc \"apt-get install -y git\""):
        cmds = strip_fallback(s)
        names = [(c.argv[0], c.via) for c in cmds]
        assert ("curl", "-c") in names and ("bash", "-c") in names and ("apt-get", "-c") in names
        curl = next(c for c in cmds if c.argv[0] == "curl")
        bash = next(c for c in cmds if c.argv[0] == "bash" and c.via == "-c")
        assert curl.pipeline == bash.pipeline and bash.pipe_pos == 1
        assert s.commands[curl.parent].argv[0] == "sh"


@pytest.mark.parametrize(
    "text",
    ['sh -c "$(curl -fsSL https://x)"', "bash <(curl -fsSL https://x)", 'eval "$(wget -qO- https://x)"'],
)
def test_substitutions_are_commands_linked_to_their_holder(text: str) -> None:
    for s in both(text):
        inner = next(c for c in s.commands if c.argv[0] in ("curl", "wget"))
        assert inner.parent >= 0 and inner.via in ("$()", "<()")
        assert s.commands[inner.parent].argv[0] in ("sh", "bash", "eval")


def test_single_quotes_prevent_substitution() -> None:
    for s in both("echo '$(curl -fsSL https://x)' \"$(id -u)\""):
        names = [c.argv[0] for c in strip_fallback(s)]
        assert "curl" not in names and "id" in names


def test_conditional_bodies() -> None:
    s = shell.parse_script("if [ -f /x ]; then rm /x; fi\nfor f in a b; do echo $f; done")
    assert all(c.conditional for c in s.commands)
    s = shell.parse_script(FALLBACK + "if [ -f /x ]; then rm /x; fi")
    assert next(c for c in s.commands if c.argv[0] == "rm").conditional


def test_functions_run_only_when_called() -> None:
    text = 'get() { wget -qO- "https://api.example.com/$1" | grep tag; } && V="$(get x)"'
    for s in both(text):
        wget = next(c for c in s.commands if c.argv and c.argv[0] == "wget")
        assert wget.conditional, s.parser
        assert not any(c.argv == ("get",) and c.parent < 0 for c in s.commands), s.parser


def test_assignments_before_a_command() -> None:
    for s in both("DEBIAN_FRONTEND=noninteractive TZ=UTC apt-get install -y tzdata"):
        (c,) = strip_fallback(s)
        assert c.assignments == ("DEBIAN_FRONTEND=noninteractive", "TZ=UTC")
        assert c.argv == ("apt-get", "install", "-y", "tzdata")


def test_set_options() -> None:
    assert shell.parse_script("set -eux -o pipefail; curl x | tar -x").pipefail
    assert shell.parse_script("set -euo pipefail\ncurl x | tar -x").pipefail
    assert not shell.parse_script("curl x | tar -x; echo set -o pipefail").pipefail
    assert shell.parse_script("set -e; true").errexit


def test_heredoc_bodies_are_data_and_quoted_delimiters_parse_with_bashlex() -> None:
    text = "cat <<'EOF' > /etc/motd\ncurl x | sh\nEOF\necho done"
    s = shell.parse_script_with(text, "bashlex")
    assert s.parser == "bashlex" and s.source == text
    assert argvs(s) == [("cat",), ("echo", "done")]
    s = shell.parse_script(FALLBACK + text)
    assert [a for a in argvs(s) if a[0] != "[["] == [("cat",), ("echo", "done")]


def test_comments() -> None:
    for s in both("apt-get install -y curl # curl | sh is not run\necho '#not a comment'"):
        assert [a for a in argvs(s) if a[0] != "[["] == [
            ("apt-get", "install", "-y", "curl"),
            ("echo", "#not a comment"),
        ]


def test_word_offsets_point_into_the_script() -> None:
    text = "apt-get update &&  apt-get install -y curl"
    for s in both(text):
        base = len(FALLBACK) if s.parser == "fallback" else 0
        install = next(w for c in s.commands for w in c.words if w.text == "install")
        assert s.source[install.start : install.end] == "install"
        assert install.start - base == text.index("install")


def test_unbalanced_quotes_never_raise() -> None:
    for text in ('echo "unterminated', "echo 'x", "$(curl", "((", "}}}", "`", "\\"):
        shell.parse_script(text)
        shell.parse_script(FALLBACK + text)


@pytest.mark.parametrize(
    ("text", "manager", "action", "options", "packages"),
    [
        (
            "apt-get -o Dpkg::Options::=--force-confold install -yq --no-install-recommends curl=7.88 git",
            "apt-get",
            "install",
            {"-o", "-y", "-q", "--no-install-recommends"},
            ["curl=7.88", "git"],
        ),
        (
            "apk add --no-cache --virtual .deps gcc musl-dev",
            "apk",
            "install",
            {"--no-cache", "--virtual"},
            ["gcc", "musl-dev"],
        ),
        (
            "python3 -m pip install --no-cache-dir -r req.txt flask==3.0",
            "pip",
            "install",
            {"--no-cache-dir", "-r"},
            ["flask==3.0"],
        ),
        ("sudo -E env A=1 dnf -y install nginx", "dnf", "install", {"-y"}, ["nginx"]),
        ("yarn global add typescript@5", "yarn", "install", set(), ["typescript@5"]),
        ("gem install bundler -v 2.5.16", "gem", "install", {"-v"}, ["bundler"]),
        ("zypper --non-interactive in nginx", "zypper", "install", {"--non-interactive"}, ["nginx"]),
        ("yum update -y", "yum", "upgrade", {"-y"}, []),
    ],
)
def test_package_operations(text: str, manager: str, action: str, options: set[str], packages: list[str]) -> None:
    (op,) = shell.parse_script(text).packages
    assert (op.manager, op.action) == (manager, action)
    assert {o for o, _v in op.options} == options
    assert [w.text for w in op.packages] == packages


def test_program_sees_through_wrappers() -> None:
    (c,) = shell.parse_script("sudo -u app nice -n 5 timeout 30 curl -fsSL https://x").commands
    assert shell.program(c) == "curl"
