"""Every image-config check against a real image that fails it and one that passes it."""

from __future__ import annotations

from pathlib import Path

import pytest

from customhouse.misconfig.engine import Options, all_checks
from customhouse.report.findings import Finding
from tests.misconfig.imageconfig.images import (
    CLEAN_CONFIG,
    NOW,
    Empty,
    Image,
    Layer,
    build,
    directory,
    entry,
    whiteout,
)


def _config(**changes: object) -> dict[str, object]:
    cfg = dict(CLEAN_CONFIG)
    for key, value in changes.items():
        if value is None:
            cfg.pop(key, None)
        else:
            cfg[key] = value
    return cfg


def _paths(findings: list[Finding]) -> list[str]:
    return sorted(f.location.json_path for f in findings)


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Image:
    return build(tmp_path_factory.mktemp("clean"))


def test_clean_image_passes_every_check(clean: Image) -> None:
    """The shared passing image: a non-root, health-checked, versioned Alpine image."""
    assert clean.findings() == []
    ids = {c.meta.id for c in all_checks() if "image-config" in c.meta.file_types}
    assert ids == {f"CH-IC-{n:03d}" for n in range(1, 21)}


# ---------------------------------------------------------------------------- CH-IC-001 / 002


@pytest.mark.parametrize("user", [None, "", "root", "0", "0:0", "root:root"])
def test_root_user(tmp_path: Path, user: str | None) -> None:
    img = build(tmp_path, config=_config(User=user) if user is not None else _config(User=None))
    (f,) = img.of("CH-IC-001")
    assert f.location.json_path == "$.config.User"
    assert f.severity == "medium" and f.location.line == 0
    assert ("CIS Docker Benchmark", "4.1") in f.frameworks
    assert "root" in f.message


def test_named_user_mapped_to_uid0_is_root_and_a_second_root_account(tmp_path: Path) -> None:
    passwd = b"root:x:0:0:root:/root:/bin/sh\ntoor:x:0:0::/home/toor:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n"
    img = build(tmp_path, [Layer([entry("etc/passwd", passwd)], "RUN adduser toor")], _config(User="toor"))
    (root,) = img.of("CH-IC-001")
    assert "'toor' has uid 0" in root.message
    (extra,) = img.of("CH-IC-002")
    assert extra.location.json_path == '$.rootfs["/etc/passwd"]["toor"]'
    assert extra.location.path == "etc/passwd" and extra.location.layer_index == 1
    assert extra.location.created_by == "RUN adduser toor"
    assert extra.location.layer_digest == img.analysis.layer_infos[1].diff_id
    assert "configured user" in extra.message


def test_named_non_root_user_passes(tmp_path: Path) -> None:
    passwd = b"root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n"
    img = build(tmp_path, [Layer([entry("etc/passwd", passwd)])], _config(User="app"))
    assert img.of("CH-IC-001") == [] and img.of("CH-IC-002") == []


def test_account_checks_need_the_facts_analyzer(tmp_path: Path) -> None:
    """Without the analyzer the accounts are unknown, which must not be mistaken for safe."""
    passwd = b"root:x:0:0:root:/root:/bin/sh\ntoor:x:0:0::/:/bin/sh\n"
    img = build(tmp_path, [Layer([entry("etc/passwd", passwd)])], _config(User="toor"), facts=False)
    assert img.of("CH-IC-002") == [] and img.of("CH-IC-001") == []
    from customhouse.misconfig.imageconfig import image_document

    assert image_document(img.analysis).data.accounts is None


# ---------------------------------------------------------------------------- secrets

AWS_KEY = "AKIAIOSFODNN7EXAMPLE"
NPM_TOKEN = "npm_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
DB_PASSWORD = "hunter2-correct-horse"


def _no_leak(findings: list[Finding], *secrets: str) -> None:
    for f in findings:
        text = " ".join([f.message, f.misconfiguration.snippet if f.misconfiguration else "", f.fix])
        for s in secrets:
            assert s not in text, (f.id, text)


def test_env_secrets(tmp_path: Path) -> None:
    env = [
        "PATH=/usr/local/bin:/usr/bin:/bin",
        f"AWS_ACCESS_KEY_ID={AWS_KEY}",
        f"DB_PASSWORD={DB_PASSWORD}",
        "GPG_KEY=A035C8C19219BA821ECEA86B64E628F8D684696D",
        "POSTGRES_PASSWORD_FILE=/run/secrets/db",
        "API_TOKEN=${API_TOKEN}",
        "SESSION_SECRET=changeme",
        "DATABASE_URL=postgres://app:s3cr3t-pw@db:5432/app",
    ]
    img = build(tmp_path, config=_config(Env=env))
    found = img.of("CH-IC-003")
    assert _paths(found) == ["$.config.Env[1]", "$.config.Env[2]", "$.config.Env[6]", "$.config.Env[7]"]
    assert all(f.severity == "high" and ("CIS Docker Benchmark", "4.10") in f.frameworks for f in found)
    by_path = {f.location.json_path: f for f in found}
    assert "AWS access key id" in by_path["$.config.Env[1]"].message
    assert "credentials in URL" in by_path["$.config.Env[7]"].message
    assert by_path["$.config.Env[2]"].misconfiguration.snippet.startswith("DB_PASSWORD=hunt…[redacted sha256:")  # type: ignore[union-attr]
    _no_leak(found, AWS_KEY, DB_PASSWORD, "s3cr3t-pw", "changeme")


def test_env_without_secrets_passes(clean: Image) -> None:
    assert clean.of("CH-IC-003") == []


def test_label_secrets(tmp_path: Path) -> None:
    labels = {
        "org.opencontainers.image.source": "https://github.com/example/app",
        "com.example.deploy-token": "glpat-" + "x1Y2z3A4b5C6d7E8f9G0",
        "maintainer": "ops@example.com",
    }
    img = build(tmp_path, config=_config(Labels=labels))
    (f,) = img.of("CH-IC-004")
    assert f.location.json_path == '$.config.Labels["com.example.deploy-token"]'
    assert "GitLab token" in f.message
    _no_leak([f], labels["com.example.deploy-token"])
    assert build(tmp_path / "ok", config=_config(Labels={"maintainer": "ops@example.com"})).of("CH-IC-004") == []


def test_history_secrets_with_empty_layer_steps(tmp_path: Path) -> None:
    steps = [
        Empty(f"ARG NPM_TOKEN={NPM_TOKEN}"),  # history[1]
        Layer([entry("app/package.json", b"{}")], f"RUN |1 NPM_TOKEN={NPM_TOKEN} /bin/sh -c npm ci # buildkit"),
        Empty("ENV DB_PASSWORD=" + DB_PASSWORD),  # history[3]: still in Env, so reported there
        Layer(
            [entry("app/x", b"1")], "RUN /bin/sh -c curl -fsS https://deploy:pa55w0rd-xyz@repo.example.com/x"
        ),  # history[4]
        Empty("ENV TEMP_SECRET=first-value-123"),  # history[5]: overwritten later, so only history shows it
        Empty("ARG NPM_TOKEN"),  # no value: fine
        Layer([entry("app/y", b"2")], 'RUN /bin/sh -c npm publish --token "$NPM_TOKEN"'),  # reference: fine
    ]
    env = [*CLEAN_CONFIG["Env"], f"DB_PASSWORD={DB_PASSWORD}", "TEMP_SECRET="]
    img = build(tmp_path, steps, _config(Env=env))
    found = img.of("CH-IC-005")
    assert _paths(found) == [
        "$.history[1].created_by",
        "$.history[2].created_by",
        "$.history[4].created_by",
        "$.history[5].created_by",
    ]
    by_path = {f.location.json_path: f for f in found}
    run = by_path["$.history[2].created_by"]
    assert run.location.layer_index == 1 and run.location.layer_digest == img.analysis.layer_infos[1].diff_id
    arg = by_path["$.history[1].created_by"]
    assert arg.location.layer_index == -1 and "without a layer" in arg.message
    assert "credentials in URL" in by_path["$.history[4].created_by"].message
    _no_leak(found, NPM_TOKEN, "pa55w0rd-xyz", "first-value-123")
    # The Env copy of DB_PASSWORD is reported once, by the Env check.
    assert [f.location.json_path for f in img.of("CH-IC-003")] == ["$.config.Env[1]"]


def test_history_without_secrets_passes(tmp_path: Path) -> None:
    steps = [Empty("ARG VERSION=1.2.3"), Layer([entry("app/a", b"1")], "RUN |1 VERSION=1.2.3 /bin/sh -c make")]
    assert build(tmp_path, steps).of("CH-IC-005") == []


# ---------------------------------------------------------------------------- filesystem


def test_setuid_and_setgid_files(tmp_path: Path) -> None:
    layer = Layer(
        [
            entry("usr/local/bin/helper", b"#!/bin/sh\n", 0o4755),
            entry("usr/local/bin/grouped", b"#!/bin/sh\n", 0o2711, gid=42),
            entry("usr/local/bin/plain", b"#!/bin/sh\n", 0o755),
        ],
        "COPY bin/ /usr/local/bin/",
    )
    img = build(tmp_path, [layer])
    found = img.of("CH-IC-006")
    assert _paths(found) == ['$.rootfs["/usr/local/bin/grouped"]', '$.rootfs["/usr/local/bin/helper"]']
    helper = next(f for f in found if f.location.path == "usr/local/bin/helper")
    assert "setuid" in helper.message and "uid 0 (root)" in helper.message
    assert helper.misconfiguration.snippet.startswith("-rwsr-xr-x 0:0")  # type: ignore[union-attr]
    assert helper.location.layer_index == 1 and helper.location.created_by == "COPY bin/ /usr/local/bin/"
    grouped = next(f for f in found if f.location.path == "usr/local/bin/grouped")
    assert "setgid" in grouped.message and "gid 42" in grouped.message
    assert ("CIS Docker Benchmark", "4.8") in helper.frameworks


def test_no_setuid_in_alpine(clean: Image) -> None:
    assert clean.of("CH-IC-006") == []


def test_world_writable(tmp_path: Path) -> None:
    layer = Layer(
        [
            directory("app", 0o777),
            entry("app/data.db", b"x", 0o666),
            directory("app/sub", 0o777),
            entry("app/sub/run.sh", b"#!/bin/sh", 0o777),
            entry("etc/app.conf", b"a=1", 0o666),
            directory("srv/shared", 0o1777),  # sticky: fine
            entry("srv/shared/drop", b"x", 0o644),
            entry("tmp/scratch", b"x", 0o666),  # /tmp: fine
            directory("var/tmp/cache", 0o777),
        ]
    )
    img = build(tmp_path, [layer])
    found = img.of("CH-IC-007")
    assert _paths(found) == ['$.rootfs["/app"]', '$.rootfs["/etc/app.conf"]']
    app = next(f for f in found if f.location.path == "app")
    assert "3 world-writable entries below it" in app.message
    assert app.misconfiguration.snippet.startswith("drwxrwxrwx")  # type: ignore[union-attr]


def test_sticky_and_private_directories_pass(clean: Image) -> None:
    assert clean.of("CH-IC-007") == []  # Alpine's /tmp and /var/tmp are 1777


def test_package_caches(tmp_path: Path) -> None:
    layer = Layer(
        [
            entry("var/cache/apk/APKINDEX.1a2b.tar.gz", b"a" * 3000),
            entry("var/cache/apk/APKINDEX.3c4d.tar.gz", b"a" * 1000),
            entry("var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages", b"p" * 5000),
            entry("var/lib/apt/lists/lock", b""),
            entry("root/.cache/pip/http/0/1/abc", b"w" * 700),
            entry("home/app/.npm/_cacache/index-v5/aa", b"n" * 10),
        ],
        "RUN apk add curl",
    )
    img = build(tmp_path, [layer])
    found = {f.location.json_path: f for f in img.of("CH-IC-008")}
    assert sorted(found) == [
        '$.rootfs["/home/app/.npm/_cacache"]',
        '$.rootfs["/root/.cache/pip"]',
        '$.rootfs["/var/cache/apk"]',
        '$.rootfs["/var/lib/apt/lists"]',
    ]
    apk = found['$.rootfs["/var/cache/apk"]']
    assert "2 files, 3.9 KiB" in apk.message and ("bytes", "4000") in apk.misconfiguration.extra  # type: ignore[union-attr]
    assert apk.location.layer_index == 1 and "--no-cache" in apk.fix
    assert ("files", "1") in found['$.rootfs["/var/lib/apt/lists"]'].misconfiguration.extra  # type: ignore[union-attr]


def test_empty_cache_directories_pass(clean: Image) -> None:
    assert clean.of("CH-IC-008") == []  # Alpine ships an empty /var/cache/apk


# ---------------------------------------------------------------------------- configuration


def test_healthcheck_missing_or_disabled(tmp_path: Path) -> None:
    (missing,) = build(tmp_path / "a", config=_config(Healthcheck=None)).of("CH-IC-009")
    assert missing.location.json_path == "$.config.Healthcheck" and missing.severity == "low"
    assert ("CIS Docker Benchmark", "4.6") in missing.frameworks
    (disabled,) = build(tmp_path / "b", config=_config(Healthcheck={"Test": ["NONE"]})).of("CH-IC-009")
    assert disabled.location.json_path == "$.config.Healthcheck.Test" and "disabled" in disabled.message


def test_healthcheck_present_passes(clean: Image) -> None:
    assert clean.of("CH-IC-009") == []


def test_admin_ports(tmp_path: Path) -> None:
    ports = {"22/tcp": {}, "8080/tcp": {}, "2375/tcp": {}, "53/udp": {}}
    img = build(tmp_path, config=_config(ExposedPorts=ports))
    found = img.of("CH-IC-010")
    assert _paths(found) == ['$.config.ExposedPorts["22/tcp"]', '$.config.ExposedPorts["2375/tcp"]']
    assert any("Docker API without TLS" in f.message for f in found)
    # The list is an option: a site that treats 8080 as an admin port gets it reported.
    custom = img.of("CH-IC-010", options=Options(admin_ports=frozenset({8080}), extra={"now": NOW}))
    assert _paths(custom) == ['$.config.ExposedPorts["8080/tcp"]']


def test_application_ports_pass(clean: Image) -> None:
    assert clean.of("CH-IC-010") == []


def test_latest_tag(tmp_path: Path) -> None:
    (f,) = build(tmp_path / "a", tag="example.com/app:latest").of("CH-IC-011")
    assert f.location.json_path == "$.repo_tags[0]" and "example.com/app:latest" in f.message
    (oci,) = build(tmp_path / "b", tag="latest", oci=True).of("CH-IC-011")
    assert oci.misconfiguration.snippet == "latest"  # type: ignore[union-attr]


def test_versioned_tag_passes(clean: Image, tmp_path: Path) -> None:
    assert clean.of("CH-IC-011") == []
    assert build(tmp_path, tag="registry.local:5000/app:2.1", oci=True).of("CH-IC-011") == []


def test_sensitive_volumes(tmp_path: Path) -> None:
    volumes = {"/var/run/docker.sock": {}, "/data": {}, "/etc/": {}}
    found = build(tmp_path, config=_config(Volumes=volumes)).of("CH-IC-014")
    assert _paths(found) == ['$.config.Volumes["/etc/"]', '$.config.Volumes["/var/run/docker.sock"]']
    assert any("Docker API socket" in f.message for f in found)
    assert build(tmp_path / "ok", config=_config(Volumes={"/data": {}})).of("CH-IC-014") == []


@pytest.mark.parametrize(
    ("key", "argv"),
    [
        ("Entrypoint", ["/bin/sh", "-c", 'eval "$STARTUP_COMMAND"']),
        ("Entrypoint", ["sh", "-ec", "$CMD"]),
        ("Entrypoint", ["/bin/bash", "-c", 'prepare && bash -c "$HOOK"']),
    ],
)
def test_entrypoint_evaluates_environment(tmp_path: Path, key: str, argv: list[str]) -> None:
    (f,) = build(tmp_path, config=_config(**{key: argv})).of("CH-IC-015")
    assert f.location.json_path == f"$.config.{key}"


def test_cmd_evaluating_environment_without_entrypoint(tmp_path: Path) -> None:
    (f,) = build(tmp_path, config=_config(Entrypoint=None, Cmd=["/bin/sh", "-c", "${RUN}"])).of("CH-IC-015")
    assert f.location.json_path == "$.config.Cmd"


@pytest.mark.parametrize(
    "argv",
    [
        ["/bin/sh", "-c", 'exec /app --port "$PORT"'],
        ["/usr/local/bin/app", "eval", "$X"],  # not a shell
        ["/bin/sh", "/entrypoint.sh"],
    ],
)
def test_entrypoint_using_environment_as_data_passes(tmp_path: Path, argv: list[str]) -> None:
    assert build(tmp_path, config=_config(Entrypoint=argv)).of("CH-IC-015") == []


def test_old_image(tmp_path: Path) -> None:
    (f,) = build(tmp_path, created="2022-01-15T08:00:00.123456789Z").of("CH-IC-017")
    assert f.location.json_path == "$.created" and "868 days ago" in f.message
    assert ("CIS Docker Benchmark", "4.4") in f.frameworks
    shorter = Options(extra={"now": NOW, "max_image_age_days": 7})
    (recent,) = build(tmp_path / "b", created="2024-05-20T00:00:00Z").of("CH-IC-017", options=shorter)
    assert "12 days ago (limit 7)" in recent.message


def test_recent_and_epoch_images_pass(clean: Image, tmp_path: Path) -> None:
    assert clean.of("CH-IC-017") == []
    assert build(tmp_path, created="1970-01-01T00:00:00Z").of("CH-IC-017") == []  # reproducible-build stamp


def test_unsafe_path(tmp_path: Path) -> None:
    env = ["PATH=/usr/local/bin:.:/opt/tools/bin::/usr/bin"]
    layer = Layer([directory("opt/tools/bin", 0o777), directory("opt/safe", 0o1777)])
    (f,) = build(tmp_path, [layer], _config(Env=env)).of("CH-IC-020")
    assert f.location.json_path == "$.config.Env[0]"
    assert ". is relative" in f.message and "(empty) is relative" in f.message
    assert "/opt/tools/bin is world-writable" in f.message
    assert build(tmp_path / "ok", [layer], _config(Env=["PATH=/opt/safe:/usr/bin"])).of("CH-IC-020") == []


# ---------------------------------------------------------------------------- layers


MIB = 1 << 20


def test_wasted_layers(tmp_path: Path) -> None:
    steps = [
        Layer([entry("opt/sdk/big.tar", b"\0" * (2 * MIB)), entry("opt/sdk/small", b"s" * 100)], "ADD sdk.tar /opt"),
        Layer([whiteout("opt/sdk")], "RUN /bin/sh -c rm -rf /opt/sdk"),
        Layer([entry("etc/motd", b"hello")], "RUN /bin/sh -c echo hello > /etc/motd"),  # tiny overwrite
    ]
    img = build(tmp_path, steps)
    (f,) = img.of("CH-IC-012")
    assert f.location.json_path == "$.layers[1].removed_by[2]"
    assert f.location.layer_index == 1 and f.location.created_by == "ADD sdk.tar /opt"
    extra = dict(f.misconfiguration.extra)  # type: ignore[union-attr]
    assert extra["bytes"] == str(2 * MIB + 100) and extra["files"] == "2"
    assert extra["removed_in_layer_index"] == "2"
    assert "/opt/sdk/big.tar (2.0 MiB)" in f.message and "still ship in layer 2" in f.message
    # The threshold is an option: with it lowered, the /etc/motd rewrite counts too.
    low = img.of("CH-IC-012", options=Options(extra={"now": NOW, "wasted_bytes_min": 1}))
    assert _paths(low) == ["$.layers[0].removed_by[3]", "$.layers[1].removed_by[2]"]


def test_no_removals_pass(clean: Image) -> None:
    assert clean.of("CH-IC-012") == [] and clean.of("CH-IC-013") == []


def test_deleted_secrets_still_in_earlier_layers(tmp_path: Path) -> None:
    key = b"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n"
    steps = [
        Layer(
            [
                directory("root/.ssh", 0o700),
                entry("root/.ssh/id_rsa", key, 0o600),
                entry("app/.env", b"DB_PASSWORD=x\n"),
                entry("app/build.log", b"log" * 100),
                entry("etc/ssl/certs/company-ca.pem", b"-----BEGIN CERTIFICATE-----"),
                entry("usr/lib/python3/site-packages/tornado/test/test.key", b"k" * 10),
                directory("build", 0o755),
                entry("build/deploy.pem", b"-----BEGIN RSA PRIVATE KEY-----"),
            ],
            "COPY . /",
        ),
        Layer(
            [
                whiteout("root/.ssh/id_rsa"),
                entry("app/.env", b""),  # replaced with an empty file: the old one is still in layer 2
                whiteout("app/build.log"),
                entry("etc/ssl/certs/company-ca.pem", b"-----BEGIN CERTIFICATE-----2"),
                whiteout("usr/lib/python3/site-packages/tornado/test/test.key"),
                whiteout("build"),
            ],
            "RUN /bin/sh -c rm -rf /root/.ssh/id_rsa /build && : > /app/.env",
        ),
    ]
    img = build(tmp_path, steps)
    found = img.of("CH-IC-013")
    assert _paths(found) == [
        '$.layers[1].files["/app/.env"]',
        '$.layers[1].files["/build/deploy.pem"]',
        '$.layers[1].files["/root/.ssh/id_rsa"]',
    ]
    key_finding = next(f for f in found if f.location.path == "root/.ssh/id_rsa")
    assert key_finding.severity == "high"
    assert "deleted in layer 3" in key_finding.message and "still extractable from layer 2" in key_finding.message
    assert key_finding.location.layer_digest == img.analysis.layer_infos[1].diff_id
    env = next(f for f in found if f.location.path == "app/.env")
    assert "was replaced in layer 3" in env.message
    assert all(f.location.layer_index == 1 for f in found)


def test_deleted_ordinary_files_are_not_secrets(tmp_path: Path) -> None:
    steps = [Layer([entry("app/build.log", b"x" * 10)]), Layer([whiteout("app/build.log")])]
    assert build(tmp_path, steps).of("CH-IC-013") == []


# ---------------------------------------------------------------------------- privilege facts


SUDOERS = b"""# %wheel ALL=(ALL) NOPASSWD: ALL
Defaults env_reset
root ALL=(ALL:ALL) ALL
#includedir /etc/sudoers.d
"""


def test_passwordless_sudo(tmp_path: Path) -> None:
    layer = Layer(
        [
            entry("usr/bin/sudo", b"#!/bin/sh\n", 0o4755),
            entry("etc/sudoers", SUDOERS, 0o440),
            entry("etc/sudoers.d/app", b"Defaults:app !requiretty\napp ALL=(ALL) \\\n    NOPASSWD: ALL\n", 0o440),
            entry("etc/sudoers.d/old.bak", b"app ALL=(ALL) NOPASSWD: ALL\n", 0o440),  # sudo skips names with '.'
        ],
        "RUN apk add sudo",
    )
    img = build(tmp_path, [layer], _config(User="10001"))
    (f,) = img.of("CH-IC-016")
    assert f.location.json_path == '$.rootfs["/etc/sudoers.d/app"][2]'
    assert f.misconfiguration.snippet == "app ALL=(ALL)      NOPASSWD: ALL"  # type: ignore[union-attr]
    assert f.location.layer_index == 1 and ("MITRE ATT&CK", "T1548.003") in f.frameworks


def test_doas_nopass(tmp_path: Path) -> None:
    layer = Layer([entry("usr/bin/doas", b"#!/bin/sh\n", 0o4755), entry("etc/doas.conf", b"permit nopass :wheel\n")])
    (f,) = build(tmp_path, [layer]).of("CH-IC-016")
    assert f.location.path == "etc/doas.conf" and "doas" in f.message


def test_sudo_rules_without_sudo_or_with_passwords_pass(tmp_path: Path) -> None:
    no_binary = Layer([entry("etc/sudoers.d/app", b"app ALL=(ALL) NOPASSWD: ALL\n")])
    assert build(tmp_path / "a", [no_binary]).of("CH-IC-016") == []
    with_password = Layer([entry("usr/bin/sudo", b"#!/bin/sh\n", 0o4755), entry("etc/sudoers", SUDOERS)])
    assert build(tmp_path / "b", [with_password]).of("CH-IC-016") == []


def test_empty_passwords(tmp_path: Path) -> None:
    shadow = b"root::19000:0:::::\nbin:!::0:::::\napp:*:19000:0:99999:7:::\n"
    passwd = b"root:x:0:0:root:/root:/bin/sh\nguest::405:100::/dev/null:/sbin/nologin\n"
    img = build(tmp_path, [Layer([entry("etc/shadow", shadow, 0o640), entry("etc/passwd", passwd)])])
    found = img.of("CH-IC-018")
    assert _paths(found) == ['$.rootfs["/etc/passwd"]["guest"]', '$.rootfs["/etc/shadow"]["root"]']
    assert all(f.severity == "high" and f.location.layer_index == 1 for f in found)
    # Hashes never reach the report, nor the facts the analyzer caches.
    assert all("19000" not in (f.misconfiguration.snippet if f.misconfiguration else "") for f in found)


def test_locked_accounts_pass(clean: Image) -> None:
    assert clean.of("CH-IC-018") == []  # Alpine 3.20: root:*:..., others '!'


def test_ssh_server(tmp_path: Path) -> None:
    img = build(tmp_path, [Layer([entry("usr/sbin/sshd", b"#!/bin/sh\n", 0o755)], "RUN apk add openssh-server")])
    (f,) = img.of("CH-IC-019")
    assert f.location.json_path == '$.rootfs["/usr/sbin/sshd"]' and f.location.layer_index == 1
    assert ("CIS Docker Benchmark", "5.6") in f.frameworks


def test_no_ssh_server_passes(clean: Image, tmp_path: Path) -> None:
    assert clean.of("CH-IC-019") == []
    client_only = Layer([entry("usr/bin/ssh", b"#!/bin/sh\n", 0o755)])
    assert build(tmp_path, [client_only]).of("CH-IC-019") == []
