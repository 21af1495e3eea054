"""Our Dockerfile syntax pass against BuildKit's parser, the oracle it must never contradict.

`customhouse.misconfig.dfsyntax.parse` either gives exactly the instructions BuildKit's parser
(the `dockerfile` package) gives, attribute for attribute, or None (the caller then asks
BuildKit). Held here on every Dockerfile the checks' tests use, on the real-world files, on
the benchmark corpus when this machine has built it, and on thousands of generated files that
mix the awkward cases: directives, CRLF, continuations with comments and blank lines, escaped
escapes, quotes, JSON forms with trailing text, flags, non-ASCII blanks, heredocs, ONBUILD.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dockerfile
import pytest

from customhouse.misconfig import dfsyntax

DATA = Path(__file__).parent / "data"

# Lines as people write them, and as they go wrong. `\\` is the escape character and is
# swapped for a backtick in the files that set `# escape=``.
FRAGMENTS = [
    "RUN apt-get update && apt-get install -y curl",
    "RUN apt-get update \\",
    "    && apt-get install -y --no-install-recommends \\",
    "    ca-certificates curl \\  ",
    "\t  rm -rf /var/lib/apt/lists/*",
    "  # a comment inside a continuation",
    "",
    "   ",
    "\\",
    "RUN echo \\\\",
    "RUN echo a\\\\\\",
    "run echo lower case",
    'RUN ["sh", "-c", "echo hi"]',
    'RUN ["sh", "-c"] && echo trailing text',
    'RUN ["a", 1]',
    'RUN ["a\\u00e9"]',
    'RUN [ "spaced" ,"json" ]',
    "RUN [not json",
    "RUN --mount=type=cache,target=/root/.cache pip install -r requirements.txt",
    "RUN --mount=type=secret,id=tok --network=none make",
    'RUN --mount="type=bind,source=a b" ls',
    "RUN -- --not-a-flag",
    "RUN --flag\\",
    "RUN --fl'ag x' y",
    "RUN --é=1 x",
    "RUN <<EOF",
    "echo in a heredoc",
    "EOF",
    "RUN cat <<-'END' > /f",
    "\tbody",
    "\tEND",
    "RUN echo 'a << b'",
    "COPY --from=build /out /app",
    'COPY --chown=app:app ["a b", "/dst/"]',
    "COPY a b c/",
    "COPY <<EOF /etc/x",
    "ADD https://example.com/x.tgz /tmp/",
    'ADD ["x"',
    "ENV A=1 B=\"two words\" C='x y' D=a\\ b",
    "ENV PATH /usr/local/bin:$PATH",
    "ENV ONLYONE",
    "ENV A=1 B",
    "ENV",
    'ENV A="unterminated',
    'LABEL org.opencontainers.image.title="x y" version=1.0',
    "LABEL a=b \\",
    "  c=d",
    "ARG VERSION",
    'ARG A=1 B C="x y"',
    "ARG",
    "EXPOSE 80 443/tcp\t8080",
    "EXPOSE",
    "VOLUME /data /logs",
    'VOLUME ["/data"]',
    "WORKDIR /app ",
    "USER app:app",
    "USER",
    "STOPSIGNAL SIGTERM",
    "MAINTAINER someone <a@b.c>",
    'SHELL ["/bin/bash", "-o", "pipefail", "-c"]',
    'CMD ["python", "app.py"]',
    "CMD python app.py",
    'CMD ["x"] tail',
    "CMD",
    'ENTRYPOINT ["/entry.sh"]',
    "ENTRYPOINT exec /entry.sh",
    "HEALTHCHECK --interval=30s --timeout=3s CMD curl -f http://localhost/ || exit 1",
    "HEALTHCHECK NONE",
    'HEALTHCHECK CMD ["curl", "-f", "http://x"]',
    "HEALTHCHECK\tCMD\t\tcheck",
    "HEALTHCHECK",
    "ONBUILD RUN make",
    "ONBUILD COPY --from=x a b",
    "FOO bar",
    "FROM alpine:3.19 AS build",
    "FROM --platform=$BUILDPLATFORM golang:1.22 AS builder",
    "from scratch",
    "FROM",
    "# just a comment",
    "#",
    "# escape=`",
    "RUN echo\u00a0nbsp\u00a0words",
    "ENV X=\u00e9t\u00e9 Y=\u3000wide",
    "ARG A\u2028B",
    "RUN echo \x85 next-line",
    "ENV A=\x1cB",
    'LABEL a="b\\"c" d=e\\',
    "RUN echo `backtick`",
    "COPY --chmod=755 ./a ./b",
    "\ufeffRUN bom in the middle",
    "RUN a\r",
    "  RUN indented",
    "RUN trailing blanks \\ \t",
    "RUN x \\\r",
    'RUN [["nested"]]',
    'RUN ["a"]]',
    "CMD [ ]",
    'CMD ["tab",\t"sep"]',
    "ARG a\\",
    "ENV =x",
    "ENV a==b c=",
    "ENV a\u00a0b c",
    "EXPOSE 80\u00a090",
    "FROM\tx",
    "FROM\x0bx AS y",
    "COPY --from=a\\",
    'COPY --"quoted"=1 x',
    "COPY --x='' y",
    "COPY --x= y",
    "COPY ----x y",
    "COPY --x",
    "RUN --mount=a\tb c",
    "HEALTHCHECK --interval=1s",
    "HEALTHCHECK CMD",
    "HEALTHCHECK  CMD  x ",
    "HEALTHCHECK\x0bCMD x",
    'HEALTHCHECK CMD ["a"] tail',
    "RUN a \\ # not a comment",
    "RUN a\\\\",
    "  \\  ",
    'LABEL "quoted key"=v',
    "ENV A='it''s' B=\"x\"\"y\"",
    "USER \u00e9",
    "WORKDIR  /a  /b  ",
]

HEADERS = [
    "",
    "# syntax=docker/dockerfile:1\n",
    "# escape=`\n",
    "# syntax=x\n# escape=`\n",
    "# escape=\\\n",
    "\n# escape=`\n",
    "# escape=x\n",
    "# escape=`\n# escape=`\n",
    "#escape = `  \n",
    "# Escape=`\n# note\n",
]


def _generated(count: int, seed: int) -> Iterator[str]:
    rng = random.Random(seed)
    for _ in range(count):
        header = rng.choice(HEADERS)
        lines = [rng.choice(FRAGMENTS) for _ in range(rng.randint(1, 10))]
        if "`" in header and rng.random() < 0.7:
            lines = [ln.replace("\\", "`") for ln in lines]
        body = [rng.choice(["FROM debian:bookworm", "FROM alpine", "ARG X"]), *lines]
        newline = "\r\n" if rng.random() < 0.15 else "\n"
        text = header + newline.join(body)
        if rng.random() < 0.8:
            text += newline
        yield text


def _key(c: Any) -> tuple[object, ...]:
    heredocs = tuple((h.name, h.content) for h in c.heredocs)
    return (
        c.cmd,
        c.sub_cmd,
        bool(c.json),
        c.original,
        c.start_line,
        c.end_line,
        tuple(c.flags),
        tuple(c.value),
        heredocs,
    )


def _buildkit(text: str) -> tuple[tuple[object, ...], ...] | None:
    try:
        return tuple(_key(c) for c in dockerfile.parse_string(text))
    except Exception:
        return None


def _check(text: str) -> bool:
    """Whether we answered (True) or left it to BuildKit (False); fails on any difference."""
    ours = dfsyntax.parse(text)
    if ours is None:
        return False
    theirs = _buildkit(text)
    assert theirs is not None, f"BuildKit rejects what we accepted:\n{text!r}"
    assert tuple(_key(c) for c in ours) == theirs, f"differs from BuildKit:\n{text!r}"
    return True


def _fixtures() -> list[str]:
    from tests.misconfig.dockerfile.test_checks import CASES

    return [t for c in CASES for t in (c.fail, c.passing)] + [p.read_text() for p in sorted(DATA.iterdir())]


def test_same_as_buildkit_on_every_checks_fixture() -> None:
    texts = _fixtures()
    answered = sum(_check(t) for t in texts)
    # most are answered here, not handed to BuildKit: the fast path is really taken
    assert answered >= 0.9 * len(texts), (answered, len(texts))
    assert all(dfsyntax.parse(p.read_text()) is not None for p in DATA.iterdir())


@pytest.mark.parametrize("seed", range(4))
def test_same_as_buildkit_on_generated_files(seed: int) -> None:
    answered = left = 0
    for text in _generated(1500, seed):
        if _check(text):
            answered += 1
        else:
            left += 1
    assert answered > 300 and left > 100, (answered, left)  # both ways are exercised


def test_same_as_buildkit_on_the_benchmark_corpus() -> None:
    """The benchmark's real Dockerfiles (bench/corpus.py), where this machine has them; else the
    real-world Dockerfiles of the model's tests."""
    from tests.conftest import TEST_CACHE

    roots = sorted(p / "dockerfiles" for p in TEST_CACHE.glob("config-corpus-*") if (p / "dockerfiles").is_dir())
    files = [f for r in roots[-1:] for f in sorted(r.rglob("*")) if f.is_file()] or sorted(DATA.iterdir())
    texts = [f.read_bytes().decode("utf-8", "replace").removeprefix("\ufeff") for f in files]
    answered = sum(_check(t) for t in texts)
    assert answered >= 0.95 * len(texts), (answered, len(texts))


@pytest.mark.parametrize(
    "text",
    [
        "FROM x\nRUN <<EOF\necho\nEOF\n",  # a heredoc
        "FROM x\nONBUILD RUN make\n",  # an instruction inside an instruction
        "FROM x\nFOO bar\n",  # unknown to BuildKit
        "FROM x\nENV ONLYONE\n",  # rejected by BuildKit: its message is kept
        "# escape=x\nFROM x\n",  # an escape character BuildKit refuses
        "FROM x\nRUN --\u00e9=1 a\n",  # a non-ASCII flag: BuildKit reads bytes
        'FROM x\nCMD ["\\ud800"]\n',  # an escaped lone surrogate
        "FROM x\nRUN " + "a" * 20000 + "\n",  # near the Go scanner's line limit
        "# only a comment\n",
        "FROM x\nRUN a\x00b\n",  # BuildKit gets the text as a C string, cut at the NUL
    ],
)
def test_left_to_buildkit(text: str) -> None:
    assert dfsyntax.parse(text) is None


def test_model_is_the_same_either_way() -> None:
    """The model built from our instructions and from BuildKit's is the same model."""
    from customhouse.misconfig import dockerfile as model

    compared = 0
    for text in _fixtures():
        ours = dfsyntax.parse(text)
        if ours is None:
            continue
        fast = model._Builder(text, "Dockerfile").build(ours).to_input()
        slow = model._Builder(text, "Dockerfile").build(tuple(dockerfile.parse_string(text))).to_input()
        assert fast == slow
        compared += 1
    assert compared > 100


def test_buildkit_only_switch_gives_the_same_report() -> None:
    """`CUSTOMHOUSE_BUILDKIT_ONLY=1` has BuildKit's parser read every file (its Go library is
    then loaded, which our pass never needs for these files) and changes nothing in the report."""
    probe = (
        "import sys, json; from customhouse.misconfig import dockerfile as m; "
        "from pathlib import Path; "
        "out = [m.parse(p.read_text(), p.name).to_input() for p in sorted(Path(sys.argv[1]).iterdir())]; "
        "print(json.dumps({'buildkit_loaded': 'dockerfile' in sys.modules, 'models': out}, default=str))"
    )
    runs = {}
    for value in ("", "1"):
        env = {**os.environ, "CUSTOMHOUSE_BUILDKIT_ONLY": value}
        cmd = [sys.executable, "-c", probe, str(DATA)]
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
        runs[value] = json.loads(r.stdout)
    assert runs[""]["buildkit_loaded"] is False
    assert runs["1"]["buildkit_loaded"] is True
    assert runs[""]["models"] == runs["1"]["models"] and len(runs["1"]["models"]) == 3
