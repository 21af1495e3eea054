"""How the Dockerfile checks behave around the cases table: options, which stages each kind of
check looks at, silence on unknown values, secrets kept out of reports, suppression, speed."""

from __future__ import annotations

import pytest

from customhouse.misconfig.checks.dockerfile import exec_form, setuid_mode, world_writable_mode
from customhouse.misconfig.engine import Options
from tests.misconfig.hostconfig.util import hits, line_of, lines, replacement, snippet

from .util import dockerfile, ids, scan

PINS = ("CH-DF-030", "CH-DF-031", "CH-DF-032", "CH-DF-033", "CH-DF-034")


def test_pin_checks_follow_the_option() -> None:
    text = dockerfile(
        extra="RUN apk add --no-cache curl && pip install --no-cache-dir requests "
        "&& npm install -g typescript && gem install rake",
        replace={
            "apt": "RUN apt-get update && apt-get install -y --no-install-recommends curl "
            "&& rm -rf /var/lib/apt/lists/*"
        },
    )
    assert {f.id for f in scan(text)} >= set(PINS)
    assert not {f.id for f in scan(text, Options(pin_packages=False))} & set(PINS)


def test_registry_allowlist_is_off_when_empty_and_matches_prefixes() -> None:
    assert hits(scan(dockerfile()), "CH-DF-010") == []
    text = dockerfile(extra="COPY --from=ghcr.io/acme/tools:1.2@sha256:" + "1" * 64 + " /t /t")
    opts = Options(registry_allowlist=("index.docker.io/library", "ghcr.io/acme"))
    assert hits(scan(text, opts), "CH-DF-010") == []
    opts = Options(registry_allowlist=("docker.io/library",))
    assert lines(scan(text, opts), "CH-DF-010") == [line_of(text, "ghcr.io/acme")]


def test_admin_ports_come_from_options() -> None:
    text = dockerfile(replace={"expose": "EXPOSE 8080 9000-9010/tcp"})
    assert hits(scan(text), "CH-DF-038") == []
    (f,) = hits(scan(text, Options(admin_ports=frozenset({9002}))), "CH-DF-038")
    assert "9002" in f.message and not replacement(f)  # a range is not cut mechanically


def test_hygiene_checks_skip_builder_stages_but_trust_checks_do_not() -> None:
    build = (
        "RUN apt-get update && apt-get install -y gcc=4:12.2.0-3 \\\n"
        " && curl -fsSL https://get.example.com/install.sh | sh \\\n"
        " && pip install flask==3.0.3"
    )
    found = {f.id for f in scan(dockerfile(build=build))}
    assert "CH-DF-014" in found  # what a builder runs still ends up in what it builds
    assert not found & {"CH-DF-023", "CH-DF-025", "CH-DF-026"}  # its caches never ship
    shipped = {f.id for f in scan(dockerfile(extra=build))}
    assert {"CH-DF-014", "CH-DF-023", "CH-DF-025", "CH-DF-026"} <= shipped


def test_stages_the_final_stage_is_built_on_count_as_shipped() -> None:
    text = dockerfile(
        build="RUN apt-get update && apt-get install -y --no-install-recommends gcc=4:12.2.0-3",
        replace={"from": "FROM build"},
        without=("wheels", "src"),
    )
    assert line_of(text, "apt-get install -y --no-install-recommends gcc") in lines(scan(text), "CH-DF-023")


@pytest.mark.parametrize(
    "extra",
    [
        "ARG TOOL_URL\nADD ${TOOL_URL} /opt/tool",
        "ARG PORT\nEXPOSE ${PORT}",
        "ARG MODE\nRUN chmod ${MODE} /app",
        "ARG APP_DIR\nWORKDIR ${APP_DIR}",
        "ARG SRC\nCOPY ${SRC} /app/",
        "ARG OPTS\nRUN apt-get update && apt-get install $OPTS curl=7.88.1-10+deb12u5 && rm -rf /var/lib/apt/lists/*",
        "ARG EXTRA\nRUN pip install $EXTRA /wheels/*.whl",
    ],
)
def test_nothing_is_reported_from_unknown_values(extra: str) -> None:
    assert ids(scan(dockerfile(extra=extra))) == []


def test_unknown_base_image_is_not_judged() -> None:
    text = dockerfile(replace={"arg": "ARG PYTHON_IMAGE"}, without=("user",))
    assert not {f.id for f in scan(text)} & {"CH-DF-002", "CH-DF-008", "CH-DF-009", "CH-DF-010"}


def test_secrets_stay_out_of_messages_and_snippets() -> None:
    password = "hunter2-production"
    token = "ghp_" + "Zx9Yw8Vu7T" * 4
    text = dockerfile(
        extra=f"ENV DB_PASSWORD={password}\n"
        f"RUN git clone https://ci:{token}@github.com/acme/lib.git /opt/lib\n"
        f"COPY <<EOF /etc/app/db.ini\npassword={password}\nEOF"
    )
    found = [f for f in scan(text) if f.id in ("CH-DF-017", "CH-DF-020")]
    assert len(found) == 3
    for f in found:
        assert password not in f.message and token not in f.message
        assert password not in snippet(f) and token not in snippet(f)
        assert "redacted" in f.message


def test_public_key_material_is_not_a_secret() -> None:
    text = dockerfile(
        extra="ENV GPG_KEYS=7169605F62C751356D054A26A821E680E5FA6305 \\\n"
        "    NODE_SIGNING_KEY=4ED778F539E3634C779C87C6D7062848A1AB005C\n"
        'ENV DEPLOY_SSH_KEY="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGRlbW8ga2V5IGZvciB0ZXN0cw deploy@ci"\n'
        "COPY nodesource.gpg.key /etc/apt/keyrings/\n"
        "ENV API_KEY_FILE=/run/secrets/api_key API_TOKEN=${API_TOKEN_FROM_ENV}"
    )
    assert ids(scan(text)) == []


def test_inline_suppression_above_a_multiline_instruction() -> None:
    text = dockerfile(
        extra="# customhouse:ignore=CH-DF-014 vendor installer, checksum verified upstream\n"
        "RUN apk add --no-cache bash=5.2.26-r0 \\\n"
        " && curl -fsSL https://get.example.com/install.sh | bash"
    )
    (f,) = hits(scan(text), "CH-DF-014")
    assert f.suppressed is not None and "vendor installer" in f.suppressed.reason


def test_findings_carry_columns_of_the_offending_word() -> None:
    text = dockerfile(extra="RUN mkdir -p /data && chmod 0777 /data")
    (f,) = hits(scan(text), "CH-DF-005")
    assert (f.location.line, f.location.column) == (
        line_of(text, "chmod 0777"),
        len("RUN mkdir -p /data && chmod ") + 1,
    )


@pytest.mark.parametrize(
    ("mode", "writable", "setuid"),
    [
        ("777", True, False),
        ("0775", False, False),
        ("1777", False, False),
        ("4755", False, True),
        ("2755", False, False),
        ("o+w", True, False),
        ("a=rwx", True, False),
        ("ugo+rwx,+t", False, False),
        ("go-w", False, False),
        ("+s", False, True),
        ("g+s", False, False),
        ("u+s", False, True),
        ("rwx", False, False),
    ],
)
def test_modes(mode: str, writable: bool, setuid: bool) -> None:
    assert (world_writable_mode(mode), setuid_mode(mode)) == (writable, setuid)


@pytest.mark.parametrize(
    ("command", "argv"),
    [
        ("python app.py", ["python", "app.py"]),
        ("exec gunicorn -b 0.0.0.0:8000 app:wsgi", ["gunicorn", "-b", "0.0.0.0:8000", "app:wsgi"]),
        ("node $APP", None),
        ('echo "hi there"', None),
        ("cd /app && ./run", None),
        ("FOO=1 ./run", None),
        ("cd /app", None),
    ],
)
def test_exec_form_is_offered_only_when_no_shell_is_needed(command: str, argv: list[str] | None) -> None:
    assert exec_form(command) == argv


def test_a_long_clean_dockerfile_stays_clean() -> None:
    """600 RUN lines of the same clean shape: no finding leaks from one instruction to another
    (the cost is measured in bench/config.py, not here)."""
    body = "\n".join(
        f"RUN echo step {n} && curl -fsSL https://x/{n} -o /tmp/{n} && chmod 0755 /tmp/{n}" for n in range(600)
    )
    text = "FROM alpine:3.20@sha256:" + "a" * 64 + "\n" + body + "\nUSER 10001\nHEALTHCHECK NONE\n"
    assert ids(scan(text)) == []


def test_npm_ci_is_suggested_only_when_the_lockfile_reaches_the_build() -> None:
    text = dockerfile(build="COPY . .\nRUN npm install --omit=dev")
    with_lock = Options(tree_files=frozenset({"Dockerfile", "package.json", "package-lock.json", ".dockerignore"}))
    without = Options(tree_files=frozenset({"Dockerfile", "package.json", ".dockerignore"}))
    assert lines(scan(text, with_lock), "CH-DF-035") == [line_of(text, "npm install")]
    assert hits(scan(text, without), "CH-DF-035") == []
    sub = dockerfile(build="COPY web/ ./\nRUN npm install")
    nested = Options(tree_files=frozenset({"Dockerfile", "web/package-lock.json", ".dockerignore"}))
    assert lines(scan(sub, nested), "CH-DF-035") == [line_of(sub, "npm install")]
