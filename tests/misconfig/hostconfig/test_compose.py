"""Compose checks (CH-DC-*): a failing and a passing fixture for every check, on a hardened base.

Every fixture is the same hardened service (which must produce no finding at all) with one
change, so a failing fixture fails for exactly that check's reason and the passing one is a near
miss of it (`127.0.0.1:2222:22`, `${DB_PASSWORD}`, a `:ro` mount of a harmless file...). The
fixtures follow the Compose Specification and are loaded by docker-compose itself when it is
installed (Debian's docker-compose 1.29; the few newer keys it predates are listed in SPEC_ONLY).
"""

from __future__ import annotations

import pytest

from customhouse.misconfig.checks._secretvalues import secret_name
from customhouse.misconfig.checks.compose import parse_port, sensitive_host_path
from customhouse.misconfig.engine import Options, all_checks

from .util import Case, apply_fix, compose_oracle, hits, line_of, lines, replacement, scan, snippet, validate_compose

HARDENED: dict[str, str] = {
    "image": "image: registry.example.com/team/app:1.4.2",
    "user": 'user: "10001:10001"',
    "read_only": "read_only: true",
    "cap_drop": "cap_drop: [ALL]",
    "security_opt": "security_opt:\n  - no-new-privileges:true",
    "healthcheck": 'healthcheck:\n  test: ["CMD", "/app/healthcheck"]\n  interval: 30s',
    "restart": 'restart: "on-failure:5"',
    "limits": "mem_limit: 256m\ncpus: 0.5",
    "ports": 'ports:\n  - "8080:8080"',
}


def compose(*extra: str, without: tuple[str, ...] = (), replace: dict[str, str] | None = None, top: str = "") -> str:
    """The hardened `app` service, minus `without`, with `replace`d entries and `extra` keys added;
    `top` is appended as top-level YAML (named volume declarations)."""
    parts = {**HARDENED, **(replace or {})}
    body = [v for k, v in parts.items() if k not in without] + list(extra)
    out = ["services:", "  app:"]
    for block in body:
        out.extend("    " + line for line in block.splitlines())
    return "\n".join(out) + "\n" + (top + "\n" if top else "")


def opts(*items: str) -> str:
    return "security_opt:\n" + "".join(f"  - {i}\n" for i in items)


CASES = [
    Case("CH-DC-001", compose("privileged: true"), "privileged: true", compose("privileged: false")),
    Case("CH-DC-002", compose("network_mode: host"), "network_mode: host", compose("network_mode: bridge")),
    Case("CH-DC-003", compose("pid: host"), "pid: host", compose('pid: "container:abc123"')),
    Case("CH-DC-004", compose("ipc: host"), "ipc: host", compose("ipc: shareable")),
    Case("CH-DC-005", compose("userns_mode: host"), "userns_mode", compose()),
    Case("CH-DC-006", compose("uts: host"), "uts: host", compose()),
    Case(
        "CH-DC-007",
        compose("cap_add:\n  - NET_BIND_SERVICE\n  - SYS_ADMIN"),
        "SYS_ADMIN",
        compose("cap_add:\n  - NET_BIND_SERVICE\n  - CHOWN"),
    ),
    Case("CH-DC-007", compose("cap_add: [ALL]"), "cap_add", compose("cap_add: [cap_setuid]"), "all"),
    Case("CH-DC-007", compose("cap_add: [cap_sys_ptrace]"), "cap_add", compose("cap_add: [NET_RAW]"), "prefixed"),
    Case("CH-DC-008", compose(without=("cap_drop",)), "  app:", compose(replace={"cap_drop": "cap_drop: [all]"})),
    Case(
        "CH-DC-008",
        compose(replace={"cap_drop": "cap_drop: [NET_RAW]"}),
        "cap_drop",
        compose(replace={"cap_drop": "cap_drop:\n  - ALL"}),
        "partial",
    ),
    Case(
        "CH-DC-009",
        compose("volumes:\n  - /var/run/docker.sock:/var/run/docker.sock:ro"),
        "docker.sock",
        compose(
            "volumes:\n  - dockerdata:/var/run/docker\n  - ./docker:/etc/docker-client:ro",
            top="volumes:\n  dockerdata: {}",
        ),
    ),
    Case(
        "CH-DC-009",
        compose(
            "volumes:\n  - type: bind\n    source: /run/containerd/containerd.sock\n    target: /run/containerd.sock"
        ),
        "source: /run/containerd/containerd.sock",
        compose(
            "volumes:\n  - type: volume\n    source: containerd\n    target: /run/containerd",
            top="volumes:\n  containerd: {}",
        ),
        "long",
    ),
    Case(
        "CH-DC-010",
        compose("volumes:\n  - ./data:/data\n  - /etc:/host/etc"),
        "/etc:/host/etc",
        compose("volumes:\n  - /etc/localtime:/etc/localtime:ro\n  - ./config:/etc/app:rw\n  - /srv/app:/data"),
    ),
    Case(
        "CH-DC-010",
        compose("volumes:\n  - type: bind\n    source: /\n    target: /host"),
        "source: /",
        compose("volumes:\n  - type: bind\n    source: /srv/app/uploads\n    target: /uploads"),
        "long",
    ),
    Case(
        "CH-DC-011",
        compose("volumes:\n  - /proc:/host/proc:ro"),
        "/proc:/host/proc:ro",
        compose("volumes:\n  - /srv/app/config:/config:ro\n  - /etc/timezone:/etc/timezone:ro"),
    ),
    Case(
        "CH-DC-011",
        compose("volumes:\n  - type: bind\n    source: ~/.ssh\n    target: /root/.ssh\n    read_only: true"),
        "source: ~/.ssh",
        compose("volumes:\n  - type: bind\n    source: ~/projects/app\n    target: /src\n    read_only: true"),
        "credentials",
    ),
    Case(
        "CH-DC-012",
        compose("volumes:\n  - /srv/data:/data:rshared"),
        "rshared",
        compose("volumes:\n  - /srv/data:/data:rslave"),
    ),
    Case(
        "CH-DC-012",
        compose("volumes:\n  - type: bind\n    source: /srv/x\n    target: /x\n    bind:\n      propagation: shared"),
        "propagation: shared",
        compose("volumes:\n  - type: bind\n    source: /srv/x\n    target: /x\n    bind:\n      propagation: slave"),
        "long",
    ),
    Case(
        "CH-DC-013",
        compose(replace={"security_opt": opts("no-new-privileges:true", "seccomp:unconfined")}),
        "seccomp:unconfined",
        compose(replace={"security_opt": opts("no-new-privileges:true", "seccomp:./app-seccomp.json")}),
    ),
    Case(
        "CH-DC-013",
        compose(replace={"security_opt": opts("no-new-privileges:true", "seccomp=unconfined")}),
        "seccomp=unconfined",
        compose(),
        "equals",
    ),
    Case(
        "CH-DC-014",
        compose(replace={"security_opt": opts("no-new-privileges:true", "apparmor:unconfined")}),
        "apparmor:unconfined",
        compose(replace={"security_opt": opts("no-new-privileges:true", "apparmor:docker-default")}),
    ),
    Case(
        "CH-DC-015",
        compose(replace={"security_opt": opts("no-new-privileges:true", "label:disable")}),
        "label:disable",
        compose(replace={"security_opt": opts("no-new-privileges:true", "label:type:svirt_apache_t")}),
    ),
    Case(
        "CH-DC-016",
        compose(without=("security_opt",)),
        "  app:",
        compose(replace={"security_opt": opts("no-new-privileges")}),
    ),
    Case(
        "CH-DC-016",
        compose(replace={"security_opt": opts("no-new-privileges:false")}),
        "no-new-privileges:false",
        compose(replace={"security_opt": opts("no-new-privileges=true")}),
        "false",
    ),
    Case("CH-DC-017", compose(without=("read_only",)), "  app:", compose()),
    Case("CH-DC-017", compose(replace={"read_only": "read_only: false"}), "read_only: false", compose(), "false"),
    Case(
        "CH-DC-018",
        compose(replace={"ports": "ports:\n  - 8080:8080\n  - 22:22"}),
        "22:22",
        compose(replace={"ports": 'ports:\n  - "127.0.0.1:2222:22"\n  - "8022:8080"\n  - "[::1]:5900:5900"'}),
    ),
    Case(
        "CH-DC-018",
        compose(replace={"ports": "ports:\n  - target: 3389\n    published: 13389"}),
        "target: 3389",
        compose(replace={"ports": "ports:\n  - target: 8443\n    published: 3389"}),
        "long",
    ),
    Case(
        "CH-DC-018",
        compose(replace={"ports": 'ports:\n  - "0.0.0.0:2375:2375"\n  - "2376"'}),
        "2375:2375",
        compose(replace={"ports": 'ports:\n  - "127.0.0.1::2376"'}),
        "docker-api",
    ),
    Case(
        "CH-DC-019",
        compose("environment:\n  DB_HOST: db\n  DB_PASSWORD: correct-horse-battery"),
        "DB_PASSWORD",
        compose(
            "environment:\n  DB_PASSWORD: ${DB_PASSWORD}\n  DB_PASSWORD_FILE: /run/secrets/db_password\n"
            "  TOKEN_TTL: 3600\n  PASSWORD_MIN_LENGTH: 12\n  API_KEY: ${API_KEY:?set API_KEY}"
        ),
    ),
    Case(
        "CH-DC-019",
        compose("environment:\n  - LOG_LEVEL=info\n  - STRIPE_API_KEY=sk_live_0123456789abcdefghijklmn"),
        "STRIPE_API_KEY",
        compose("environment:\n  - LOG_LEVEL=info\n  - STRIPE_API_KEY\n  - SESSION_SECRET="),
        "list",
    ),
    Case(
        "CH-DC-019",
        compose("environment:\n  DATABASE_URL: postgres://app:s3cr3tPassw0rd@db:5432/app"),
        "DATABASE_URL",
        compose("environment:\n  DATABASE_URL: postgres://app:${DB_PASSWORD}@db:5432/app"),
        "url",
    ),
    Case(
        "CH-DC-019",
        compose("environment:\n  BACKUP_ID: AKIAIOSFODNN7EXAMPLE"),
        "AKIAIOSFODNN7EXAMPLE",
        compose("environment:\n  BACKUP_ID: backup-2024"),
        "value",
    ),
    Case(
        "CH-DC-019",
        compose("environment:\n  ADMIN_PASSWORD: pa$$w0rd-literal"),
        "ADMIN_PASSWORD",
        compose("environment:\n  ADMIN_PASSWORD: ${ADMIN_PW}$$"),
        "escaped-dollar",
    ),
    Case(
        "CH-DC-019",
        compose("environment:\n  DB_PASSWORD: ${DB_PASSWORD:-changeme}"),
        "DB_PASSWORD",
        compose("environment:\n  DB_PASSWORD: ${DB_PASSWORD:-}"),
        "default",
    ),
    Case(
        "CH-DC-019",
        compose("build:\n  context: .\n  args:\n    NPM_TOKEN: npm_0123456789abcdef0123"),
        "NPM_TOKEN",
        compose("build:\n  context: .\n  args:\n    NPM_TOKEN: ${NPM_TOKEN}"),
        "build-arg",
    ),
    Case("CH-DC-020", compose(without=("user",)), "  app:", compose(replace={"user": "user: app"})),
    Case("CH-DC-020", compose(replace={"user": 'user: "0:0"'}), "user:", compose(), "uid0"),
    Case("CH-DC-020", compose(replace={"user": "user: root"}), "user: root", compose(), "name"),
    Case(
        "CH-DC-021",
        compose('devices:\n  - "/dev/sda:/dev/xvda:rwm"'),
        "/dev/sda",
        compose('device_cgroup_rules:\n  - "c 10:200 rwm"'),
    ),
    Case(
        "CH-DC-021",
        compose('device_cgroup_rules:\n  - "c 10:200 rwm"\n  - "a *:* rwm"'),
        "a *:* rwm",
        compose(),
        "all",
    ),
    Case(
        "CH-DC-022",
        compose("sysctls:\n  net.core.somaxconn: 1024\n  kernel.randomize_va_space: 0"),
        "kernel.randomize_va_space",
        compose(
            "sysctls:\n  - net.core.somaxconn=1024\n  - kernel.shmmax=68719476736\n"
            "  - net.ipv4.ip_unprivileged_port_start=0"
        ),
    ),
    Case(
        "CH-DC-022",
        compose("sysctls:\n  - net.ipv4.conf.all.route_localnet=1"),
        "route_localnet",
        compose("sysctls:\n  - net.ipv4.conf.all.route_localnet=0"),
        "localnet",
    ),
    Case("CH-DC-023", compose(replace={"image": "image: nginx"}), "image: nginx", compose()),
    Case(
        "CH-DC-023",
        compose(replace={"image": "image: localhost:5000/team/app:latest"}),
        "image:",
        compose(replace={"image": "image: nginx@sha256:" + "ab" * 32}),
        "latest",
    ),
    Case(
        "CH-DC-023",
        compose(replace={"image": "image: localhost:5000/team/app"}),
        "image:",
        compose("build: .", replace={"image": "image: team/app"}),
        "registry-port",
    ),
    Case("CH-DC-024", compose(without=("healthcheck",)), "  app:", compose()),
    Case(
        "CH-DC-024",
        compose(replace={"healthcheck": "healthcheck:\n  disable: true"}),
        "healthcheck:",
        compose(replace={"healthcheck": 'healthcheck:\n  test: ["CMD-SHELL", "curl -f http://localhost/ || exit 1"]'}),
        "disabled",
    ),
    Case(
        "CH-DC-024",
        compose(replace={"healthcheck": 'healthcheck:\n  test: ["NONE"]'}),
        "healthcheck:",
        compose(),
        "none",
    ),
    Case(
        "CH-DC-025",
        compose(replace={"restart": "restart: always"}),
        "restart: always",
        compose(replace={"restart": 'restart: "no"'}),
    ),
    Case(
        "CH-DC-025",
        compose(without=("restart",), replace={"limits": "deploy:\n  restart_policy:\n    condition: any"}),
        "restart_policy",
        compose(
            without=("restart",),
            replace={
                "limits": "mem_limit: 1g\ncpus: 1\ndeploy:\n  restart_policy:\n    condition: on-failure\n"
                "    max_attempts: 3"
            },
        ),
        "deploy",
    ),
    Case(
        "CH-DC-026",
        compose(without=("limits",)),
        "  app:",
        compose(replace={"limits": "mem_limit: 1g\ncpu_shares: 512"}),
    ),
    Case(
        "CH-DC-026",
        compose(replace={"limits": "deploy:\n  resources:\n    limits:\n      cpus: '0.50'"}),
        "deploy:",
        compose(replace={"limits": "deploy:\n  resources:\n    limits:\n      cpus: '0.50'\n      memory: 256M"}),
        "deploy",
    ),
]

# Keys newer than docker-compose 1.29 (the oracle installed from Debian); checked against the spec only.
SPEC_ONLY = {"CH-DC-006"}


@pytest.mark.parametrize("case", CASES, ids=str)
def test_failing_fixture_is_reported_on_its_line(case: Case) -> None:
    findings = scan(case.fail, "compose")
    assert case.line in lines(findings, case.check_id), [(f.id, f.location.line, f.message) for f in findings]
    f = hits(findings, case.check_id)[0]
    assert f.location.resource_name == "app" and f.location.json_path.startswith("$.services.app")
    assert f.fix and f.message


@pytest.mark.parametrize("case", CASES, ids=str)
def test_passing_fixture_is_not_reported(case: Case) -> None:
    findings = scan(case.passing, "compose")
    assert hits(findings, case.check_id) == [], [(f.location.line, f.message) for f in findings]


def test_hardened_service_has_no_findings() -> None:
    assert [(f.id, f.message) for f in scan(compose(), "compose")] == []


def test_every_compose_check_has_cases() -> None:
    registered = {c.meta.id for c in all_checks() if "compose" in c.meta.file_types}
    assert registered == {c.check_id for c in CASES}


@pytest.mark.parametrize("case", [c for c in CASES], ids=str)
def test_mechanical_replacement_fixes_the_finding(case: Case) -> None:
    findings = [f for f in hits(scan(case.fail, "compose"), case.check_id) if replacement(f)]
    for f in findings:
        fixed = apply_fix(case.fail, f)
        after = hits(scan(fixed, "compose"), case.check_id)
        assert len(after) < len(hits(scan(case.fail, "compose"), case.check_id)), (
            replacement(f),
            fixed,
        )


def test_fixtures_are_valid_compose_files() -> None:
    python = compose_oracle()
    if python is None:
        pytest.skip("docker-compose (apt-get install docker-compose) is not installed")
    texts = {}
    for i, c in enumerate(CASES):
        if c.check_id in SPEC_ONLY:
            continue
        texts[f"{i}:{c}:fail"] = c.fail
        texts[f"{i}:{c}:pass"] = c.passing
        for j, f in enumerate(hits(scan(c.fail, "compose"), c.check_id)):
            if replacement(f):  # a mechanical fix must leave a valid file
                texts[f"{i}:{c}:fixed{j}"] = apply_fix(c.fail, f)
    texts["hardened"] = compose()
    errors = {k: v for k, v in validate_compose(python, texts).items() if v}
    assert errors == {}
    # and the oracle does reject what Compose rejects, so the check above can fail
    bad = validate_compose(python, {"bad": compose("privileged: sometimes")})
    assert bad["bad"]


def test_replacements_for_inserted_keys() -> None:
    text = compose(without=("read_only", "cap_drop"))
    findings = scan(text, "compose")
    (ro,) = hits(findings, "CH-DC-017")
    assert snippet(ro) == "  app:"
    assert replacement(ro) == "  app:\n    read_only: true"
    (caps,) = hits(findings, "CH-DC-008")
    assert replacement(caps) == "  app:\n    cap_drop: [ALL]"
    (priv,) = hits(scan(compose("privileged: true  # needed for tests"), "compose"), "CH-DC-001")
    assert replacement(priv) == "    privileged: false  # needed for tests"


def test_secret_values_are_masked_and_not_in_messages() -> None:
    secret = "correct-horse-battery"
    text = compose(f"environment:\n  DB_PASSWORD: {secret}")
    (f,) = hits(scan(text, "compose"), "CH-DC-019")
    assert secret not in f.message and secret not in snippet(f)
    assert "DB_PASSWORD" in snippet(f)
    assert replacement(f) == "      DB_PASSWORD: ${DB_PASSWORD}"


def test_sexagesimal_port_is_read_from_the_source() -> None:
    # YAML 1.1 reads unquoted 22:22 as the integer 1342; Compose users mean port 22.
    text = compose(replace={"ports": "ports:\n  - 22:22"})
    (f,) = hits(scan(text, "compose"), "CH-DC-018")
    assert "22" in f.message and "1342" not in f.message


def test_admin_ports_come_from_options() -> None:
    text = compose(replace={"ports": 'ports:\n  - "8080:8080"'})
    assert hits(scan(text, "compose"), "CH-DC-018") == []
    custom = Options(admin_ports=frozenset({8080}))
    assert lines(scan(text, "compose", custom), "CH-DC-018") == [line_of(text, "8080:8080")]


def test_socket_mount_is_reported_once_not_also_as_sensitive_path() -> None:
    text = compose("volumes:\n  - /var/run:/var/run")
    ids = [f.id for f in scan(text, "compose")]
    assert ids.count("CH-DC-009") == 1 and "CH-DC-010" not in ids


def test_multiple_services_and_merge_keys() -> None:
    text = (
        "x-base: &base\n"
        "  image: nginx:1.27\n"
        "  privileged: true\n"
        "services:\n"
        "  web:\n"
        "    <<: *base\n"
        "  worker:\n"
        "    <<: *base\n"
        "    privileged: false\n"
    )
    found = hits(scan(text, "compose"), "CH-DC-001")
    assert [f.location.resource_name for f in found] == ["web"]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("3000", ("", (3000, 3000))),
        ("3000-3005", ("", (3000, 3005))),
        ("9090-9091:8080-8081", ("", (8080, 8081))),
        ("127.0.0.1:8001:8001", ("127.0.0.1", (8001, 8001))),
        ("127.0.0.1::5000", ("127.0.0.1", (5000, 5000))),
        ("[::1]:6001:6001/udp", ("::1", (6001, 6001))),
        ("6060:6060/udp", ("", (6060, 6060))),
        ("not-a-port", None),
    ],
)
def test_parse_port(spec: str, expected: tuple[str, tuple[int, int]] | None) -> None:
    assert parse_port(spec) == expected


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("DB_PASSWORD", True),
        ("dbPassword", True),
        ("API_KEY", True),
        ("AWS_SECRET_ACCESS_KEY", True),
        ("GITHUB_TOKEN", True),
        ("PRIVATE_KEY", True),
        ("AWS_ACCESS_KEY_ID", False),
        ("DB_PASSWORD_FILE", False),
        ("PWD", False),
        ("TOKEN_TTL", False),
        ("CACHE_KEY_PREFIX", False),
        ("MONKEY", False),
        ("LOG_LEVEL", False),
    ],
)
def test_secret_names(name: str, secret: bool) -> None:
    assert secret_name(name) is secret


@pytest.mark.parametrize(
    ("path", "sensitive"),
    [
        ("/", True),
        ("/etc", True),
        ("/etc/shadow", True),
        ("/etc/ssh/sshd_config", True),
        ("/etc/localtime", False),
        ("/etc/nginx", False),
        ("/proc/sys", True),
        ("/home/alice", True),
        ("/home/alice/projects/app", False),
        ("/home/alice/.aws/credentials", True),
        ("/var/log", True),
        ("/var/log/app", False),
        ("/var/lib/docker/volumes", True),
        ("/srv/data", False),
        ("/dev/log", False),
        ("/var/run/docker.sock", False),  # reported as a socket (CH-DC-009), not as a path
    ],
)
def test_sensitive_paths(path: str, sensitive: bool) -> None:
    assert sensitive_host_path(path) is sensitive
