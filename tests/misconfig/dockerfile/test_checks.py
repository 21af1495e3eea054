"""Dockerfile checks (CH-DF-*): a failing and a passing fixture for every check, on a hardened base.

Every fixture is the hardened Dockerfile of util.py (which must produce no finding at all) with
one change, so a failing fixture fails for exactly that check's reason, and the passing fixture is
a near miss of it (`chmod 1777`, `.env.example`, `HEALTHCHECK NONE`, `ADD vendor.tar.gz`...).
Findings are asserted by check id and by the line, looked up in the fixture text. Mechanical
replacements are applied to the text and the result scanned again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from customhouse.misconfig.engine import Options, all_checks
from customhouse.report.findings import Finding
from tests.misconfig.hostconfig.util import apply_fix, hits, line_of, lines, replacement

from .util import DIGEST, dockerfile, scan

SHA = "ab" * 32
COMMIT = "3f" * 20
TREE = frozenset({"Dockerfile", "requirements.txt", "src/app/__init__.py", "package-lock.json"})


@dataclass(frozen=True)
class Case:
    check_id: str
    fail: str
    fail_at: str  # text on the line the finding must point at
    passing: str
    note: str = ""
    nth: int = 1
    options: Options = field(default_factory=Options)
    pass_options: Options | None = None  # for the passing fixture, when the near miss is a setting

    @property
    def line(self) -> int:
        return line_of(self.fail, self.fail_at, self.nth)

    def __str__(self) -> str:
        return f"{self.check_id}{'-' + self.note if self.note else ''}"


HARDENED_APT = (
    "RUN apt-get update \\\n"
    " && apt-get install -y --no-install-recommends ca-certificates=20230311 tini=0.19.0-1+b3 \\\n"
    " && rm -rf /var/lib/apt/lists/*"
)


def apt(install: str, cleanup: str = " \\\n && rm -rf /var/lib/apt/lists/*", update: str = "apt-get update") -> str:
    return f"RUN {update} \\\n && {install}{cleanup}"


CASES: list[Case] = [
    # -- users and privileges
    Case("CH-DF-001", dockerfile(replace={"user": "USER root"}), "USER root", dockerfile(extra="USER root\nRUN true")),
    Case(
        "CH-DF-001",
        dockerfile(replace={"user": "USER 0"}),
        "USER 0",
        dockerfile(replace={"user": "USER 10001:0"}),
        "uid0",
    ),
    Case("CH-DF-001", dockerfile(replace={"user": "USER root:root"}), "USER root:root", dockerfile(), "root-group"),
    Case(
        "CH-DF-001",
        dockerfile(build="USER 0", replace={"from": "FROM build"}, without=("user", "wheels", "src")),
        "USER 0",
        dockerfile(build="USER 0", replace={"from": "FROM build", "user": "USER 10001"}, without=("wheels", "src")),
        "inherited",
    ),
    Case(
        "CH-DF-001",
        dockerfile(replace={"user": "ARG RUN_AS=root\nUSER ${RUN_AS}"}),
        "USER ${RUN_AS}",
        dockerfile(replace={"user": "ARG RUN_AS\nUSER ${RUN_AS}"}),
        "variable",
    ),
    Case(
        "CH-DF-002",
        dockerfile(without=("user",)),
        "FROM ${PYTHON_IMAGE}",
        dockerfile(
            replace={"from": f"FROM gcr.io/distroless/python3-debian12:nonroot@{DIGEST}"},
            without=("user", "shell", "apt", "useradd", "pip", "wheels"),
        ),
        nth=2,
    ),
    Case(
        "CH-DF-002",
        dockerfile(without=("user",)),
        "FROM ${PYTHON_IMAGE}",
        dockerfile(without=("user",), replace={"entrypoint": 'ENTRYPOINT ["tini", "--", "gosu", "app"]'}),
        "privilege-drop",
        nth=2,
    ),
    Case(
        "CH-DF-003", dockerfile(extra="RUN sudo chown -R app /app"), "sudo", dockerfile(extra="RUN chown -R app /app")
    ),
    Case(
        "CH-DF-004",
        dockerfile(extra="RUN chmod 4755 /usr/local/bin/helper"),
        "chmod",
        dockerfile(extra="RUN chmod 0755 /usr/local/bin/helper"),
    ),
    Case(
        "CH-DF-004",
        dockerfile(extra="RUN chmod u+s,o-w /usr/local/bin/helper"),
        "chmod",
        dockerfile(extra="RUN chmod g+s /srv/shared && chmod u-s /usr/bin/newgrp"),
        "symbolic",
    ),
    Case(
        "CH-DF-004",
        dockerfile(extra="COPY --chmod=4755 helper /usr/local/bin/helper"),
        "COPY --chmod",
        dockerfile(extra="COPY --chmod=0755 helper /usr/local/bin/helper"),
        "copy-chmod",
    ),
    Case(
        "CH-DF-005",
        dockerfile(extra="RUN mkdir -p /app/data \\\n && chmod -R 777 /app/data"),
        "chmod -R 777",
        dockerfile(extra="RUN mkdir -p /app/tmp \\\n && chmod 1777 /app/tmp"),
    ),
    Case(
        "CH-DF-005",
        dockerfile(extra="RUN chmod a+rwX /app/data"),
        "chmod",
        dockerfile(extra="RUN chmod go-w,u+rwX /app/data"),
        "symbolic",
    ),
    Case(
        "CH-DF-005",
        dockerfile(extra="RUN install -d -m 0777 /app/uploads"),
        "install -d",
        dockerfile(extra="RUN install -d -m 0775 -o app /app/uploads"),
        "install",
    ),
    Case(
        "CH-DF-005",
        dockerfile(extra="COPY --chmod=666 settings.ini /app/"),
        "COPY --chmod",
        dockerfile(extra="COPY --chmod=644 settings.ini /app/"),
        "copy-chmod",
    ),
    Case(
        "CH-DF-006",
        dockerfile(extra="RUN --security=insecure python -m compileall /app"),
        "--security=insecure",
        dockerfile(extra="RUN --security=sandbox python -m compileall /app"),
    ),
    Case(
        "CH-DF-007",
        dockerfile(build="RUN --network=host python -m compileall /src"),
        "--network=host",
        dockerfile(build="RUN --network=none python -m compileall /src"),
    ),
    # -- base images
    Case(
        "CH-DF-008",
        dockerfile(replace={"arg": "ARG PYTHON_IMAGE=python"}),
        "FROM ${PYTHON_IMAGE} AS build",
        dockerfile(replace={"arg": f"ARG PYTHON_IMAGE=python:3.12.4-slim-bookworm@{DIGEST}"}),
    ),
    Case(
        "CH-DF-008",
        dockerfile(replace={"from": "FROM python:latest"}),
        "FROM python:latest",
        dockerfile(replace={"from": f"FROM python:latest@{DIGEST}"}),
        "latest",
    ),
    Case(
        "CH-DF-008",
        dockerfile(extra="COPY --from=busybox:latest /bin/busybox /bin/busybox"),
        "COPY --from=busybox",
        dockerfile(extra=f"COPY --from=busybox:1.36.1@{DIGEST} /bin/busybox /bin/busybox"),
        "copy-from",
    ),
    Case(
        "CH-DF-009",
        dockerfile(replace={"arg": "ARG PYTHON_IMAGE=python:3.12.4-slim-bookworm"}),
        "FROM ${PYTHON_IMAGE} AS build",
        dockerfile(),
    ),
    Case(
        "CH-DF-009",
        dockerfile(extra="RUN --mount=type=bind,from=ghcr.io/acme/tools:1.2,target=/t /t/check"),
        "--mount=type=bind",
        dockerfile(extra=f"RUN --mount=type=bind,from=ghcr.io/acme/tools:1.2@{DIGEST},target=/t /t/check"),
        "mount",
    ),
    Case(
        "CH-DF-010",
        dockerfile(),
        "FROM ${PYTHON_IMAGE} AS build",
        dockerfile(),
        options=Options(registry_allowlist=("registry.example.com", "ghcr.io/acme")),
        pass_options=Options(registry_allowlist=("docker.io/library",)),
    ),
    Case(
        "CH-DF-011",
        dockerfile(replace={"build_from": "FROM --platform=linux/amd64 ${PYTHON_IMAGE} AS build"}),
        "--platform=linux/amd64",
        dockerfile(replace={"build_from": "FROM --platform=$BUILDPLATFORM ${PYTHON_IMAGE} AS build"}),
    ),
    # -- downloads and trust
    Case(
        "CH-DF-012",
        dockerfile(extra="ADD https://example.com/tool-1.2.tar.gz /opt/"),
        "ADD https",
        dockerfile(extra=f"ADD --checksum=sha256:{SHA} https://example.com/tool-1.2.tar.gz /opt/"),
    ),
    Case(
        "CH-DF-012",
        dockerfile(build="ADD https://github.com/acme/tool.git#main /src/tool"),
        "ADD https",
        dockerfile(build=f"ADD https://github.com/acme/tool.git#{COMMIT} /src/tool"),
        "git",
    ),
    Case(
        "CH-DF-013",
        dockerfile(extra="ADD config/ /etc/app/"),
        "ADD config/",
        dockerfile(extra="ADD vendor.tar.gz /opt/vendor/"),
    ),
    Case(
        "CH-DF-013",
        dockerfile(extra="add --chown=app:app settings.ini \\\n    /etc/app/"),
        "add --chown",
        dockerfile(extra="ADD rootfs.tar.xz /"),
        "continued",
    ),
    Case(
        "CH-DF-014",
        dockerfile(extra="RUN curl -fsSL https://get.example.com/install.sh | sh"),
        "curl -fsSL",
        dockerfile(
            extra="RUN curl -fsSL -o /tmp/install.sh https://get.example.com/install.sh \\\n"
            f" && echo '{SHA}  /tmp/install.sh' | sha256sum -c - \\\n"
            " && sh /tmp/install.sh"
        ),
    ),
    Case(
        "CH-DF-014",
        dockerfile(extra='RUN sh -c "$(curl -fsSL https://get.example.com/install.sh)"'),
        "RUN sh -c",
        dockerfile(extra='RUN echo "curl -fsSL https://get.example.com/install.sh | sh" > /etc/motd'),
        "substitution",
    ),
    Case(
        "CH-DF-014",
        dockerfile(extra="RUN bash <(wget -qO- https://get.example.com/install.sh) --prefix /opt"),
        "RUN bash",
        dockerfile(extra='RUN bash /opt/install.sh --version "$(cat /opt/VERSION)"'),
        "process-substitution",
    ),
    Case(
        "CH-DF-014",
        dockerfile(extra="RUN <<EOF\nset -e\nwget -O- https://get.example.com/i.sh \\\n  | bash -s -- --yes\nEOF"),
        "wget -O-",
        dockerfile(extra="RUN <<EOF\nset -e\nwget -O- https://get.example.com/data.tgz | tar -xz -C /opt\nEOF"),
        "heredoc",
    ),
    Case(
        "CH-DF-015",
        dockerfile(replace={"apt": HARDENED_APT.replace("-y ", "-y --allow-unauthenticated ")}),
        "--allow-unauthenticated",
        dockerfile(),
    ),
    Case(
        "CH-DF-015",
        dockerfile(extra="RUN apk add --no-cache --allow-untrusted /tmp/local-1.0-r0.apk"),
        "apk add",
        dockerfile(extra="RUN apk add --no-cache /tmp/local-1.0-r0.apk"),
        "apk",
    ),
    Case(
        "CH-DF-015",
        dockerfile(extra="RUN dnf install -y --setopt=gpgcheck=0 nginx-1.24.0 && dnf clean all"),
        "dnf install",
        dockerfile(extra="RUN dnf install -y --setopt=install_weak_deps=0 nginx-1.24.0 && dnf clean all"),
        "dnf",
    ),
    Case(
        "CH-DF-015",
        dockerfile(
            extra="RUN echo 'deb [trusted=yes] http://repo.example.com/apt stable main' "
            "> /etc/apt/sources.list.d/example.list"
        ),
        "trusted=yes",
        dockerfile(
            extra="RUN echo 'deb [signed-by=/etc/apt/keyrings/example.gpg] http://repo.example.com/apt stable main' "
            "> /etc/apt/sources.list.d/example.list"
        ),
        "trusted-source",
    ),
    Case(
        "CH-DF-015",
        dockerfile(
            extra="COPY <<EOF /etc/yum.repos.d/example.repo\n[example]\nbaseurl=https://repo.example.com\ngpgcheck=0\nEOF"
        ),
        "gpgcheck=0",
        dockerfile(
            extra="COPY <<EOF /etc/yum.repos.d/example.repo\n[example]\nbaseurl=https://repo.example.com\ngpgcheck=1\nEOF"
        ),
        "repo-heredoc",
    ),
    Case(
        "CH-DF-016",
        dockerfile(extra="RUN curl -fsSLko /tmp/tool https://example.com/tool"),
        "curl",
        dockerfile(extra="RUN curl -fsSLo /tmp/tool https://example.com/tool"),
    ),
    Case(
        "CH-DF-016",
        dockerfile(extra="RUN wget -q --no-check-certificate -O /tmp/tool https://example.com/tool"),
        "wget",
        dockerfile(extra="RUN wget -q --ca-certificate=/etc/ssl/corp.pem -O /tmp/tool https://example.com/tool"),
        "wget",
    ),
    Case(
        "CH-DF-016",
        dockerfile(
            replace={"pip": "RUN pip install --no-cache-dir --trusted-host pypi.example.com -r requirements.txt"}
        ),
        "--trusted-host",
        dockerfile(replace={"pip": "RUN pip install --no-cache-dir --cert /etc/ssl/corp.pem -r requirements.txt"}),
        "pip",
    ),
    Case(
        "CH-DF-016",
        dockerfile(replace={"env": "ENV PYTHONUNBUFFERED=1 NODE_TLS_REJECT_UNAUTHORIZED=0"}),
        "NODE_TLS_REJECT_UNAUTHORIZED",
        dockerfile(replace={"env": "ENV PYTHONUNBUFFERED=1 NODE_TLS_REJECT_UNAUTHORIZED=1"}),
        "env",
    ),
    Case(
        "CH-DF-016",
        dockerfile(build="RUN git config --global http.sslVerify false"),
        "git config",
        dockerfile(build="RUN git config --global http.sslCAInfo /etc/ssl/corp.pem"),
        "git",
    ),
    # -- secrets
    Case(
        "CH-DF-017",
        dockerfile(extra="ENV DB_PASSWORD=hunter2-production"),
        "DB_PASSWORD",
        dockerfile(extra="ENV DB_PASSWORD_FILE=/run/secrets/db_password"),
    ),
    Case(
        "CH-DF-017",
        dockerfile(build="ARG GITHUB_TOKEN=ghp_" + "a1B2c3D4e5" * 4),
        "ARG GITHUB_TOKEN",
        dockerfile(build="ARG GITHUB_TOKEN_URL=https://github.com/settings/tokens"),
        "token-shape",
    ),
    Case(
        "CH-DF-017",
        dockerfile(extra="ENV http_proxy=http://build:Pr0xyPass@proxy.example.com:3128"),
        "http_proxy",
        dockerfile(extra="ENV http_proxy=http://proxy.example.com:3128"),
        "proxy",
    ),
    Case(
        "CH-DF-017",
        dockerfile(extra='LABEL com.example.api-key="k-9f8e7d6c5b4a"'),
        "LABEL",
        dockerfile(
            extra="ENV NODE_SIGNING_KEY=C4F0DFFF4E8C1A8236409D08E73BC641CC11F4C8 \\\n"
            "    GPG_KEY=A035C8C19219BA821ECEA86B64E628F8D684696D"
        ),
        "label",
    ),
    Case(
        "CH-DF-018",
        dockerfile(build="ARG NPM_TOKEN"),
        "ARG NPM_TOKEN",
        dockerfile(build="ARG NPM_REGISTRY_URL"),
    ),
    Case(
        "CH-DF-018",
        dockerfile(build="ARG GITHUB_TOKEN\nENV GITHUB_TOKEN=${GITHUB_TOKEN}", without=()),
        "ENV GITHUB_TOKEN",
        dockerfile(build="ARG GITHUB_REPOSITORY\nENV GITHUB_REPOSITORY=${GITHUB_REPOSITORY}"),
        "env",
    ),
    Case(
        "CH-DF-019",
        dockerfile(build="COPY id_rsa /root/.ssh/id_rsa"),
        "COPY id_rsa",
        dockerfile(build="COPY known_hosts /root/.ssh/known_hosts"),
    ),
    Case(
        "CH-DF-019", dockerfile(extra="COPY .env ./"), "COPY .env", dockerfile(extra="COPY .env.example ./"), "dotenv"
    ),
    Case(
        "CH-DF-019",
        dockerfile(build="COPY config/npmrc /root/.npmrc"),
        "COPY config/npmrc",
        dockerfile(build="COPY config/npmrc.example /root/.npmrc"),
        "destination",
    ),
    Case(
        "CH-DF-019",
        dockerfile(extra="COPY certs/server.key certs/server.crt /etc/app/tls/"),
        "server.key",
        dockerfile(extra="COPY certs/ca-bundle.pem certs/server.crt /etc/app/tls/"),
        "key",
    ),
    Case(
        "CH-DF-020",
        dockerfile(build="RUN git clone https://deploy:s3cr3tT0kenValue@github.com/acme/lib.git /src/lib"),
        "git clone",
        dockerfile(
            build="RUN --mount=type=secret,id=gh,env=GH_TOKEN \\\n"
            "    git clone https://x-access-token:${GH_TOKEN}@github.com/acme/lib.git /src/lib"
        ),
    ),
    Case(
        "CH-DF-020",
        dockerfile(build="RUN curl -fsSL -u ci:Sup3rS3cretPw -o /tmp/a.tgz https://repo.example.com/a.tgz"),
        "curl",
        dockerfile(
            build="RUN --mount=type=secret,id=netrc,target=/root/.netrc \\\n"
            "    curl -fsSL --netrc -o /tmp/a.tgz https://repo.example.com/a.tgz"
        ),
        "curl-user",
    ),
    Case(
        "CH-DF-020",
        dockerfile(extra="COPY <<EOF /etc/app/db.ini\n[db]\nhost=db\npassword=Sup3rS3cretPw\nEOF"),
        "password=",
        dockerfile(extra="COPY <<EOF /etc/app/db.ini\n[db]\nhost=db\npassword_file=/run/secrets/db\nEOF"),
        "heredoc",
    ),
    Case(
        "CH-DF-021",
        dockerfile(replace={"build_src": "COPY . ."}),
        "COPY . .",
        dockerfile(replace={"build_src": "COPY . ."}),
        options=Options(tree_files=TREE),
        pass_options=Options(tree_files=TREE | {".dockerignore"}),
    ),
    # -- package managers
    Case("CH-DF-022", dockerfile(extra="RUN apt-get -q update"), "apt-get -q update", dockerfile()),
    Case(
        "CH-DF-022",
        dockerfile(extra="RUN apk update"),
        "apk update",
        dockerfile(extra="RUN apk update && apk add --no-cache curl=8.9.1-r1 && rm -rf /var/cache/apk/*"),
        "apk",
    ),
    Case(
        "CH-DF-023",
        dockerfile(replace={"apt": apt("apt-get install -y --no-install-recommends tini=0.19.0-1+b3", cleanup="")}),
        "apt-get install",
        dockerfile(
            replace={
                "apt": "RUN --mount=type=cache,target=/var/cache/apt,sharing=locked \\\n"
                "    --mount=type=cache,target=/var/lib/apt,sharing=locked \\\n"
                "    apt-get update && apt-get install -y --no-install-recommends tini=0.19.0-1+b3"
            }
        ),
    ),
    Case(
        "CH-DF-023",
        dockerfile(extra="RUN dnf install -y nginx-1.24.0"),
        "dnf install",
        dockerfile(extra="RUN dnf install -y nginx-1.24.0 && dnf clean all"),
        "dnf",
    ),
    Case(
        "CH-DF-024",
        dockerfile(extra="RUN apk add curl=8.9.1-r1"),
        "apk add",
        dockerfile(extra="RUN apk add --no-cache curl=8.9.1-r1"),
    ),
    Case(
        "CH-DF-024",
        dockerfile(extra="RUN apk update && apk add --no-cache curl=8.9.1-r1"),
        "apk update",
        dockerfile(extra="RUN --mount=type=cache,target=/var/cache/apk apk update && apk add curl=8.9.1-r1"),
        "update",
    ),
    Case(
        "CH-DF-025",
        dockerfile(replace={"apt": HARDENED_APT.replace(" --no-install-recommends", "")}),
        "apt-get install",
        dockerfile(
            replace={"apt": HARDENED_APT.replace("--no-install-recommends", "-o APT::Install-Recommends=false")}
        ),
    ),
    Case(
        "CH-DF-025",
        dockerfile(replace={"apt": HARDENED_APT.replace(" --no-install-recommends", "")}),
        "apt-get install",
        dockerfile(
            replace={
                "apt": "RUN echo 'APT::Install-Recommends \"false\";' > /etc/apt/apt.conf.d/99norecommends\n"
                + HARDENED_APT.replace(" --no-install-recommends", "")
            }
        ),
        "configured",
    ),
    Case(
        "CH-DF-026",
        dockerfile(replace={"pip": "RUN pip install --no-index --find-links=/wheels /wheels/*.whl"}),
        "pip install",
        dockerfile(
            replace={
                "pip": "RUN pip install --no-index --find-links=/wheels /wheels/*.whl",
                "workdir": "WORKDIR /app\nENV PIP_NO_CACHE_DIR=1",
            }
        ),
    ),
    Case(
        "CH-DF-026",
        dockerfile(replace={"pip": "RUN python3 -m pip install --no-index --find-links=/wheels /wheels/*.whl"}),
        "pip install",
        dockerfile(
            replace={
                "pip": "RUN --mount=type=cache,target=/root/.cache/pip \\\n"
                "    python3 -m pip install --no-index --find-links=/wheels /wheels/*.whl"
            }
        ),
        "python-m",
    ),
    Case(
        "CH-DF-027",
        dockerfile(extra=apt("apt-get -y upgrade")),
        "apt-get -y upgrade",
        dockerfile(extra=apt("apt-get install -y --only-upgrade --no-install-recommends openssl=3.0.14-1~deb12u1")),
    ),
    Case(
        "CH-DF-027",
        dockerfile(extra="RUN apk upgrade --no-cache"),
        "apk upgrade",
        dockerfile(extra="RUN apk upgrade --no-cache openssl"),
        "apk",
    ),
    Case(
        "CH-DF-028",
        dockerfile(replace={"apt": HARDENED_APT.replace("install -y", "install")}),
        "apt-get install",
        dockerfile(replace={"apt": HARDENED_APT.replace("install -y", "-qq install")}),
    ),
    Case(
        "CH-DF-028",
        dockerfile(extra="RUN zypper install nginx && zypper clean --all"),
        "zypper install",
        dockerfile(extra="RUN zypper --non-interactive install nginx && zypper clean --all"),
        "zypper",
    ),
    Case(
        "CH-DF-029",
        dockerfile(replace={"apt": HARDENED_APT.replace("apt-get install", "apt install")}),
        "apt install",
        dockerfile(),
    ),
    Case(
        "CH-DF-030",
        dockerfile(replace={"apt": apt("apt-get install -y --no-install-recommends ca-certificates tini")}),
        "apt-get install",
        dockerfile(replace={"apt": apt("apt-get install -y --no-install-recommends tini/bookworm-backports")}),
    ),
    Case(
        "CH-DF-031",
        dockerfile(extra="RUN apk add --no-cache --virtual .deps curl"),
        "apk add",
        dockerfile(extra="RUN apk add --no-cache --virtual .deps curl~8.9"),
    ),
    Case(
        "CH-DF-032",
        dockerfile(extra="RUN pip install --no-cache-dir requests"),
        "requests",
        dockerfile(extra="RUN pip install --no-cache-dir requests==2.32.3 ./plugins/local-plugin"),
    ),
    Case(
        "CH-DF-032",
        dockerfile(extra="RUN pip install --no-cache-dir 'django>=4.2'"),
        "django",
        dockerfile(extra="RUN pip install --no-cache-dir -c constraints.txt django"),
        "lower-bound",
    ),
    Case(
        "CH-DF-033",
        dockerfile(extra="RUN npm install -g typescript"),
        "npm install",
        dockerfile(extra="RUN npm install -g typescript@5.5.4"),
    ),
    Case(
        "CH-DF-033",
        dockerfile(build="RUN yarn global add @angular/cli"),
        "yarn global",
        dockerfile(build="RUN yarn global add @angular/cli@18.1.0"),
        "scoped",
    ),
    Case(
        "CH-DF-034",
        dockerfile(extra="RUN gem install bundler"),
        "gem install",
        dockerfile(extra="RUN gem install bundler -v 2.5.16"),
    ),
    Case(
        "CH-DF-035",
        dockerfile(build="COPY package.json package-lock.json ./\nRUN npm install"),
        "npm install",
        dockerfile(build="COPY package.json ./\nRUN npm install"),
    ),
    Case(
        "CH-DF-035",
        dockerfile(build="COPY package*.json ./\nRUN npm i --omit=dev"),
        "npm i",
        dockerfile(build="COPY package*.json ./\nRUN npm ci --omit=dev"),
        "glob",
    ),
    Case(
        "CH-DF-036",
        dockerfile(extra=apt("apt-get install -y --no-install-recommends openssh-server=1:9.2p1-2+deb12u3")),
        "openssh-server",
        dockerfile(extra=apt("apt-get install -y --no-install-recommends openssh-client=1:9.2p1-2+deb12u3")),
    ),
    Case(
        "CH-DF-036",
        dockerfile(replace={"cmd": 'CMD ["/usr/sbin/sshd", "-D"]'}),
        "sshd",
        dockerfile(replace={"cmd": 'CMD ["python", "-m", "app", "--ssh-keys", "/etc/keys"]'}),
        "cmd",
    ),
    # -- runtime configuration
    Case(
        "CH-DF-037",
        dockerfile(without=("health",)),
        "FROM ${PYTHON_IMAGE}",
        dockerfile(replace={"health": "HEALTHCHECK NONE"}),
        nth=2,
    ),
    Case(
        "CH-DF-038",
        dockerfile(replace={"expose": "EXPOSE 8080 22"}),
        "EXPOSE",
        dockerfile(replace={"expose": "EXPOSE 8080 2222"}),
    ),
    Case(
        "CH-DF-038",
        dockerfile(replace={"expose": "ARG DOCKER_PORT=2375\nEXPOSE ${DOCKER_PORT}/tcp"}),
        "EXPOSE",
        dockerfile(replace={"expose": "ARG DOCKER_PORT\nEXPOSE ${DOCKER_PORT}/tcp"}),
        "variable",
    ),
    Case(
        "CH-DF-039",
        dockerfile(replace={"expose": "EXPOSE 8080:80"}),
        "EXPOSE",
        dockerfile(replace={"expose": "EXPOSE 8080/tcp 8081/udp"}),
    ),
    Case(
        "CH-DF-039",
        dockerfile(replace={"expose": "EXPOSE 80800"}),
        "EXPOSE",
        dockerfile(replace={"expose": "EXPOSE 8000-8010/tcp"}),
        "range",
    ),
    Case(
        "CH-DF-040",
        dockerfile(replace={"cmd": "CMD python -m app"}),
        "CMD python",
        dockerfile(replace={"cmd": 'CMD ["python", "-m", "app"]'}),
    ),
    Case(
        "CH-DF-040",
        dockerfile(replace={"entrypoint": "ENTRYPOINT exec tini --"}),
        "ENTRYPOINT",
        dockerfile(build="CMD python -m build_helper"),
        "entrypoint",
    ),
    Case(
        "CH-DF-041",
        dockerfile(replace={"cmd": 'CMD ["python", "-m", "old_app"]\nCMD ["python", "-m", "app"]'}),
        "old_app",
        dockerfile(build='CMD ["python", "-m", "build_helper"]'),
    ),
    # -- structure
    Case(
        "CH-DF-042",
        dockerfile(replace={"workdir": "WORKDIR app"}),
        "WORKDIR app",
        dockerfile(replace={"workdir": "WORKDIR /app"}),
    ),
    Case(
        "CH-DF-042",
        dockerfile(build="WORKDIR wheels"),
        "WORKDIR wheels",
        dockerfile(build="WORKDIR /src/wheels"),
        "known-parent",
    ),
    Case(
        "CH-DF-043",
        dockerfile(extra="MAINTAINER Jane Doe <jane@example.com>"),
        "MAINTAINER",
        dockerfile(extra='LABEL org.opencontainers.image.authors="Jane Doe <jane@example.com>"'),
    ),
    Case(
        "CH-DF-044",
        dockerfile(replace={"wheels": "COPY --from=biuld /wheels /wheels"}),
        "--from=biuld",
        dockerfile(replace={"wheels": "COPY --from=0 /wheels /wheels"}),
    ),
    Case(
        "CH-DF-044",
        dockerfile(replace={"wheels": "COPY --from=1 /wheels /wheels"}),
        "--from=1",
        dockerfile(replace={"wheels": "COPY --from=BUILD /wheels /wheels"}),
        "self-index",
    ),
    Case(
        "CH-DF-044",
        dockerfile(
            build="COPY --from=runtime /etc/os-release /tmp/", replace={"from": "FROM ${PYTHON_IMAGE} AS runtime"}
        ),
        "--from=runtime",
        dockerfile(replace={"from": "FROM ${PYTHON_IMAGE} AS runtime"}),
        "forward",
    ),
    Case(
        "CH-DF-045",
        dockerfile(replace={"from": "FROM ${PYTHON_IMAGE} AS build"}),
        "FROM ${PYTHON_IMAGE} AS build",
        dockerfile(replace={"from": "FROM ${PYTHON_IMAGE} AS Runtime"}),
        nth=2,
    ),
    Case("CH-DF-046", dockerfile(extra="ONBUILD COPY . /app/src"), "ONBUILD", dockerfile()),
    Case(
        "CH-DF-047",
        dockerfile(replace={"useradd": "RUN useradd --system --uid 1000000 --no-create-home app"}),
        "useradd",
        dockerfile(replace={"useradd": "RUN useradd -l --system --uid 1000000 --no-create-home app"}),
    ),
    Case(
        "CH-DF-048",
        dockerfile(
            without=("shell",),
            extra="RUN curl -fsSL https://example.com/key.asc | gpg --dearmor -o /usr/share/keyrings/example.gpg",
        ),
        "curl -fsSL",
        dockerfile(
            without=("shell",),
            extra="RUN set -o pipefail \\\n"
            " && curl -fsSL https://example.com/key.asc | gpg --dearmor -o /usr/share/keyrings/example.gpg",
        ),
    ),
]


def _where(findings: list[Finding]) -> list[tuple[str, int, str]]:
    return [(f.id, f.location.line, f.message) for f in findings]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_failing_fixture_is_reported_on_its_line(case: Case) -> None:
    findings = scan(case.fail, case.options)
    assert case.line in lines(findings, case.check_id), _where(findings)
    f = hits(findings, case.check_id)[0]
    assert f.fix and f.message and f.location.path == "Dockerfile"


@pytest.mark.parametrize("case", CASES, ids=str)
def test_passing_fixture_is_not_reported(case: Case) -> None:
    findings = scan(case.passing, case.pass_options or case.options)
    assert hits(findings, case.check_id) == [], _where(hits(findings, case.check_id))


def test_hardened_dockerfile_has_no_findings() -> None:
    everything = Options(registry_allowlist=("docker.io/library",), tree_files=TREE | {".dockerignore"})
    assert _where(scan(dockerfile(), everything)) == []


def test_every_dockerfile_check_has_cases() -> None:
    registered = {c.meta.id for c in all_checks() if "dockerfile" in c.meta.file_types}
    assert registered == {c.check_id for c in CASES}
    assert len(registered) >= 35


@pytest.mark.parametrize("case", CASES, ids=str)
def test_mechanical_replacement_fixes_the_finding(case: Case) -> None:
    before = hits(scan(case.fail, case.options), case.check_id)
    for f in before:
        if not replacement(f):
            continue
        fixed = apply_fix(case.fail, f)
        after = hits(scan(fixed, case.options), case.check_id)
        assert len(after) < len(before), (replacement(f), fixed)
