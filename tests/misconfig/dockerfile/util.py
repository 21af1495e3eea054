"""Helpers for the Dockerfile tests: a hardened Dockerfile that yields no finding, one-change
variants of it, and scanning through the same runner path `customhouse config` uses.

Fixtures are built from named parts so a failing fixture states the one thing it changes
(`dockerfile(replace={"user": "USER root"})`) and the line a finding must point at is looked up
in the text, never written as a number.
"""

from __future__ import annotations

from customhouse.misconfig.engine import Options
from customhouse.misconfig.runner import parse_document, run_checks
from customhouse.report.findings import Finding

DIGEST = "sha256:" + "4f" * 32
PYTHON = f"docker.io/library/python:3.12.4-slim-bookworm@{DIGEST}"

# The hardened image: a build stage that makes wheels, a final stage that installs them as root
# and runs as an unprivileged user with a health check, every package pinned, no cache left.
HARDENED: dict[str, str] = {
    "syntax": "# syntax=docker/dockerfile:1.7",
    "arg": f"ARG PYTHON_IMAGE={PYTHON}",
    "build_from": "FROM ${PYTHON_IMAGE} AS build",
    "build_workdir": "WORKDIR /src",
    "build_copy": "COPY requirements.txt ./",
    "build_run": "RUN --mount=type=cache,target=/root/.cache/pip \\\n"
    "    pip wheel --wheel-dir /wheels -r requirements.txt",
    "build_src": "COPY src/ ./src/",
    "build_extra": "",
    "from": "FROM ${PYTHON_IMAGE}",
    "shell": 'SHELL ["/bin/bash", "-o", "pipefail", "-c"]',
    "apt": "RUN apt-get update \\\n"
    " && apt-get install -y --no-install-recommends ca-certificates=20230311 tini=0.19.0-1+b3 \\\n"
    " && rm -rf /var/lib/apt/lists/*",
    "useradd": "RUN useradd --system --uid 10001 --no-create-home app",
    "workdir": "WORKDIR /app",
    "wheels": "COPY --from=build /wheels /wheels",
    "pip": "RUN pip install --no-cache-dir --no-index --find-links=/wheels /wheels/*.whl",
    "src": "COPY --from=build --chown=10001:10001 /src/src ./src",
    "env": "ENV PYTHONUNBUFFERED=1",
    "extra": "",
    "expose": "EXPOSE 8080",
    "user": "USER 10001:10001",
    "health": 'HEALTHCHECK --interval=30s --timeout=3s CMD ["python", "-m", "app.health"]',
    "entrypoint": 'ENTRYPOINT ["tini", "--"]',
    "cmd": 'CMD ["python", "-m", "app"]',
}


def dockerfile(
    extra: str = "",
    build: str = "",
    replace: dict[str, str] | None = None,
    without: tuple[str, ...] = (),
    append: str = "",
) -> str:
    """The hardened Dockerfile with `extra` added to the final stage (before EXPOSE/USER), `build`
    added to the build stage, parts replaced or left out, and `append` after the last line."""
    parts = {**HARDENED, **(replace or {})}
    if extra:
        parts["extra"] = extra
    if build:
        parts["build_extra"] = build
    out = [v for k, v in parts.items() if k not in without and v]
    return "\n".join(out) + "\n" + (append + "\n" if append else "")


def scan(text: str, options: Options | None = None, path: str = "Dockerfile") -> list[Finding]:
    doc = parse_document(text, path, "dockerfile")
    return run_checks(doc, options or Options())


def ids(findings: list[Finding]) -> list[tuple[str, int]]:
    return sorted((f.id, f.location.line) for f in findings)
