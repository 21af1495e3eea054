"""The Dockerfile model the checks reason about (customhouse/misconfig/dockerfile.py).

Each test pins one thing BuildKit does that a naive reading gets wrong: where global ARGs are
visible, that ENV beats ARG, what `${VAR:-default}` gives, which user a stage built on another
stage runs as, where heredoc bodies and continued lines are in the file, and how the escape
directive changes line continuation. Broken input must fail with the file and line.
"""

from __future__ import annotations

import pytest

from customhouse.errors import InputError
from customhouse.misconfig.dockerfile import Instruction, expand, parse
from customhouse.misconfig.imageref import parse_image_ref

from .util import scan


def only(m_instructions: list[Instruction], cmd: str) -> list[Instruction]:
    return [i for i in m_instructions if i.cmd == cmd]


def test_user_is_inherited_through_stages() -> None:
    m = parse(
        'FROM debian:12 AS base\nUSER 10001\nFROM base AS tools\nRUN id\nFROM tools\nCMD ["id"]\n',
        "Dockerfile",
    )
    assert [s.user for s in m.stages] == ["10001", "10001", "10001"]
    assert m.final.base_stage == 1 and m.base_chain(m.final)[-1].name == "base"
    assert m.final.user_instruction is not None and m.final.user_instruction.line == 2
    run = only(m.instructions, "RUN")[0]
    assert run.user == "10001"
    # the image reference of a stage built on a stage is the stage, not an image
    assert m.final.image is None and m.stages[0].image is not None


def test_user_of_an_unrelated_stage_does_not_leak() -> None:
    m = parse("FROM debian:12 AS build\nUSER 10001\nFROM debian:12\nCOPY --from=build /x /x\n", "Dockerfile")
    assert m.final.user is None
    ids = [f.id for f in scan("FROM debian:12 AS build\nUSER 10001\nFROM debian:12\nCOPY --from=build /x /x\n")]
    assert "CH-DF-002" in ids


def test_global_args_are_visible_to_from_only_unless_redeclared() -> None:
    text = (
        "ARG TAG=3.20\n"
        "ARG REGISTRY=docker.io\n"
        "FROM ${REGISTRY}/library/alpine:${TAG} AS a\n"
        "RUN echo $TAG\n"
        "ENV SEEN=${TAG}\n"
        "ARG TAG\n"
        "ENV AFTER=${TAG}\n"
    )
    m = parse(text, "Dockerfile")
    st = m.stages[0]
    assert st.base == "docker.io/library/alpine:3.20"
    assert st.image is not None and st.image.tag == "3.20" and st.image.repository == "library/alpine"
    env = only(m.instructions, "ENV")
    assert env[0].pairs[0].value == "" and env[0].pairs[0].unresolved == ("TAG",)  # not visible yet
    assert env[1].pairs[0].value == "3.20"  # `ARG TAG` without value takes the global default
    assert m.global_vars == {"TAG": "3.20", "REGISTRY": "docker.io"}


def test_env_beats_arg_and_one_env_sees_only_earlier_values() -> None:
    text = (
        "FROM alpine:3.20\n"
        "ARG MODE=from-arg\n"
        "ENV MODE=from-env\n"
        "ARG MODE=arg-again\n"
        "ENV A=1 B=${A} C=${MODE}\n"
        "ENV D=${A}\n"
    )
    m = parse(text, "Dockerfile")
    env = only(m.instructions, "ENV")
    b, c = env[1].pairs[1], env[1].pairs[2]
    assert b.value == "" and b.unresolved == ("A",)  # A is set by the same instruction: not yet visible
    assert c.value == "from-env"
    assert env[2].pairs[0].value == "1"


@pytest.mark.parametrize(
    ("word", "variables", "value", "unresolved"),
    [
        ("${V:-fallback}", {}, "fallback", ()),
        ("${V:-fallback}", {"V": ""}, "fallback", ()),
        ("${V-fallback}", {"V": ""}, "", ()),
        ("${V:-fallback}", {"V": "set"}, "set", ()),
        ("${V:+alt}", {"V": "set"}, "alt", ()),
        ("${V:+alt}", {}, "", ()),
        ("${V:?required}", {}, "", ("V",)),
        ("${V#*/}", {"V": "a/b/c"}, "b/c", ()),
        ("${V##*/}", {"V": "a/b/c"}, "c", ()),
        ("${V%/*}", {"V": "a/b/c"}, "a/b", ()),
        ("$V/x", {"V": None}, "/x", ("V",)),
        ("'$V'", {"V": "x"}, "$V", ()),
        ('"$V"', {"V": "x"}, "x", ()),
        ("\\$V", {"V": "x"}, "$V", ()),
    ],
)
def test_substitution(word: str, variables: dict[str, str | None], value: str, unresolved: tuple[str, ...]) -> None:
    got = expand(word, variables)
    assert (got.value, got.unresolved) == (value, unresolved)


def test_unresolved_variables_are_reported_not_guessed() -> None:
    m = parse("ARG BASE\nFROM ${BASE}\nARG APP_USER\nUSER ${APP_USER}\n", "Dockerfile")
    assert m.final.base_unresolved == ("BASE",) and m.final.image is None
    user = only(m.instructions, "USER")[0]
    assert user.unresolved == ("APP_USER",)
    # and the checks stay silent about what depends on them
    assert [f.id for f in scan("ARG BASE\nFROM ${BASE}\nARG APP_USER\nUSER ${APP_USER}\n")] == ["CH-DF-037"]


def test_heredoc_run_body_lines() -> None:
    text = (
        "FROM alpine:3.20\n"  # 1
        "RUN <<EOF\n"  # 2
        "set -e\n"  # 3
        "apk add --no-cache curl=8.9.1-r1\n"  # 4
        "curl -fsSL https://example.com/i.sh | sh\n"  # 5
        "EOF\n"  # 6
        "RUN <<-EOT sh -e\n"  # 7
        "\tapk add --no-cache git=2.45.2-r0\n"  # 8
        "\t\twget -qO- https://example.com/j.sh | bash\n"  # 9
        "\tEOT\n"  # 10
    )
    m = parse(text, "Dockerfile")
    first, second = only(m.instructions, "RUN")
    assert (first.line, first.end_line, first.header_end) == (2, 6, 2)
    assert [(h.name, h.line, h.end_line, h.chomp) for h in first.heredocs] == [("EOF", 3, 6, False)]
    where = {c.argv[0]: rs.position(c.words[0].start) for rs, _i, c in first.commands()}
    assert where["apk"] == (4, 1) and where["curl"] == (5, 1) and where["sh"] == (5, 39)
    # `<<-` strips leading tabs; columns still point at the words in the file
    where = {c.argv[0]: rs.position(c.words[0].start) for rs, _i, c in second.commands() if rs.origin == "heredoc"}
    assert where["apk"] == (8, 2) and where["wget"] == (9, 3)
    found = {(f.id, f.location.line) for f in scan(text)}
    assert {("CH-DF-014", 5), ("CH-DF-014", 9)} <= found


def test_heredoc_fed_to_a_shell_with_a_quoted_delimiter() -> None:
    text = (
        "FROM debian:12\n"
        "RUN cat <<'CONF' > /etc/app.conf && bash <<'SCRIPT'\n"
        "curl x | sh\n"  # data: written to a file
        "CONF\n"
        "curl -fsSL https://example.com/k.asc | gpg --dearmor -o /usr/share/keyrings/k.gpg\n"
        "SCRIPT\n"
    )
    m = parse(text, "Dockerfile")
    run = only(m.instructions, "RUN")[0]
    origins = [(rs.origin, c.argv[0], rs.line_of(c)) for rs, _i, c in run.commands()]
    assert ("heredoc", "curl", 5) in origins and ("heredoc", "gpg", 5) in origins
    assert not any(line == 3 for _o, _a, line in origins)
    assert ("CH-DF-014", 3) not in {(f.id, f.location.line) for f in scan(text)}


def test_escape_directive_and_windows_paths() -> None:
    text = (
        "# escape=`\n"
        "FROM mcr.microsoft.com/windows/servercore:ltsc2022\n"
        "COPY app C:\\app\\\n"  # a trailing backslash is not a continuation with escape=`
        "RUN powershell -Command `\n"
        "    Invoke-WebRequest https://example.com/x.zip -OutFile x.zip\n"
        "WORKDIR C:\\app\n"
    )
    m = parse(text, "Dockerfile")
    assert m.escape == "`" and m.directives == {"escape": "`"}
    assert [(i.cmd, i.line, i.end_line) for i in m.instructions] == [
        ("FROM", 2, 2),
        ("COPY", 3, 3),
        ("RUN", 4, 5),
        ("WORKDIR", 6, 6),
    ]
    assert m.final.windows and only(m.instructions, "RUN")[0].scripts[0].script.parser == "none"
    assert only(m.instructions, "COPY")[0].args == ("app", "C:\\app\\")


def test_line_continuations_with_comments_map_words_to_their_lines() -> None:
    text = (
        "FROM debian:12\n"  # 1
        "RUN apt-get update \\\n"  # 2
        "# a comment inside the instruction\n"  # 3
        "\n"  # 4
        "  && apt-get install -y \\\n"  # 5
        '     curl "git" \\\n'  # 6
        "  && rm -rf /var/lib/apt/lists/*\n"  # 7
    )
    run = only(parse(text, "Dockerfile").instructions, "RUN")[0]
    assert (run.line, run.end_line) == (2, 7)
    pos = {w.text: rs.position(w.start) for rs, _i, c in run.commands() for w in c.words}
    assert pos["install"] == (5, 14) and pos["curl"] == (6, 6) and pos["/var/lib/apt/lists/*"] == (7, 13)
    assert pos["git"] == (6, 11)  # the quoted word starts at its quote


def test_json_and_shell_forms() -> None:
    text = (
        "FROM python:3.12\n"
        'RUN ["sh", "-c", "curl -fsSL https://example.com/i.sh | sh"]\n'
        "RUN echo 'curl -fsSL https://example.com/i.sh | sh'\n"
        'CMD ["python", "app.py"]\n'
        "ENTRYPOINT python app.py\n"
    )
    m = parse(text, "Dockerfile")
    json_run, shell_run = only(m.instructions, "RUN")
    assert json_run.json and json_run.scripts[0].origin == "exec"
    assert [c.argv for _rs, _i, c in json_run.commands()] == [
        ("sh", "-c", "curl -fsSL https://example.com/i.sh | sh"),
        ("curl", "-fsSL", "https://example.com/i.sh"),
        ("sh",),
    ]
    assert [c.argv for _rs, _i, c in shell_run.commands()] == [("echo", "curl -fsSL https://example.com/i.sh | sh")]
    cmd, entry = only(m.instructions, "CMD")[0], only(m.instructions, "ENTRYPOINT")[0]
    assert cmd.json and cmd.args == ("python", "app.py") and not entry.json
    found = {(f.id, f.location.line) for f in scan(text)}
    assert ("CH-DF-014", 2) in found and ("CH-DF-014", 3) not in found


def test_copy_from_resolution() -> None:
    text = (
        "FROM golang:1.22 AS Build\n"
        "FROM alpine:3.20\n"
        "COPY --from=build /go/bin/app /app\n"
        "COPY --from=0 /etc/passwd /tmp/\n"
        "COPY --from=nginx:1.27 /etc/nginx /etc/nginx\n"
    )
    copies = only(parse(text, "Dockerfile").instructions, "COPY")
    assert [c.copy_from.stage if c.copy_from else None for c in copies] == [0, 0, None]
    image = copies[2].copy_from.image if copies[2].copy_from else None
    assert image is not None and image.familiar == "nginx" and image.tag == "1.27"


@pytest.mark.parametrize(
    ("ref", "registry", "repository", "tag", "digest"),
    [
        ("ubuntu", "docker.io", "library/ubuntu", "", ""),
        ("ubuntu:22.04", "docker.io", "library/ubuntu", "22.04", ""),
        ("index.docker.io/bitnami/redis:7", "docker.io", "bitnami/redis", "7", ""),
        ("localhost:5000/team/app", "localhost:5000", "team/app", "", ""),
        ("ghcr.io/o/r:v1@sha256:" + "0" * 64, "ghcr.io", "o/r", "v1", "sha256:" + "0" * 64),
    ],
)
def test_image_references(ref: str, registry: str, repository: str, tag: str, digest: str) -> None:
    r = parse_image_ref(ref)
    assert r is not None and (r.registry, r.repository, r.tag, r.digest) == (registry, repository, tag, digest)


def test_onbuild_triggers_are_parsed() -> None:
    m = parse("FROM alpine:3.20\nONBUILD RUN curl -fsSL https://example.com/i.sh | sh\n", "Dockerfile")
    trig = m.instructions[-1].trigger
    assert trig is not None and trig.cmd == "RUN"
    assert [c.argv[0] for _rs, _i, c in trig.commands()] == ["curl", "sh"]
    assert ("CH-DF-014", 2) in {
        (f.id, f.location.line)
        for f in scan("FROM alpine:3.20\nONBUILD RUN curl -fsSL https://example.com/i.sh | sh\n")
    }


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("FROM alpine:3.20\nRUN <<EOF\necho hi\n", 2, "heredoc"),
        ("FROM alpine:3.20\nRUNN echo hi\n", 2, "unknown instruction"),
        ("FROM alpine:3.20\nRUN echo \x00\x01\n", 2, "binary"),
        ("RUN echo hi\nFROM alpine:3.20\n", 1, "before the first FROM"),
        ("FROM alpine:3.20\nRUN true\n\nENV A=1 \\\n  B\n", 4, "name=value"),
        ("FROM alpine:3.20\nENV LONELY\n", 2, "two arguments"),
        ("# only a comment\n", 0, "no instructions"),
    ],
)
def test_broken_dockerfiles_name_file_and_line(text: str, line: int, reason: str) -> None:
    with pytest.raises(InputError) as err:
        parse(text, "svc/Dockerfile")
    message = str(err.value)
    assert message.startswith(f"svc/Dockerfile:{line}:" if line else "svc/Dockerfile:"), message
    assert reason in message
    assert getattr(err.value, "line", None) == line


def test_policy_view_is_plain_data() -> None:
    import json

    m = parse("FROM alpine:3.20 AS a\nUSER app\nRUN apk add --no-cache curl | tee x\n", "Dockerfile")
    view = m.to_input()
    json.dumps(view)  # plain JSON
    assert view["stages"][0]["user"] == "app" and view["final_stage"] == 0
    run = view["instructions"][-1]
    assert [c["argv"][0] for c in run["commands"]] == ["apk", "tee"] and run["commands"][1]["pipe_pos"] == 1
