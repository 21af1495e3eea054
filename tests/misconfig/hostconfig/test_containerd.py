"""containerd config.toml checks (CH-CD-*) on the real default config and the documented layouts.

The version 2 fixture is the verbatim output of `containerd config default` from Debian 12's
containerd 1.6.20 (data/containerd-1.6.20-default.toml); when containerd is installed the test
also runs the binary and checks its current output the same way. The version 3 fixture follows
the containerd 2.x layout of docs/cri/config.md, including its single-quoted table names.
Each check gets a failing variant (one setting changed) and a passing near miss.
"""

from __future__ import annotations

import shutil
import subprocess
import tomllib

import pytest

from customhouse.misconfig.engine import Options, all_checks, get_check
from customhouse.misconfig.runner import parse_document, to_finding
from customhouse.report.findings import Finding

from .util import DATA, Case, apply_fix, hits, line_of, lines, replacement, scan

V2 = (DATA / "containerd-1.6.20-default.toml").read_text()

V3 = """version = 3

[grpc]
  address = '/run/containerd/containerd.sock'

[debug]
  level = 'info'

[plugins]
  [plugins.'io.containerd.cri.v1.images']
    snapshotter = 'overlayfs'

    [plugins.'io.containerd.cri.v1.images'.registry]
      config_path = '/etc/containerd/certs.d'

  [plugins.'io.containerd.cri.v1.runtime']
    enable_selinux = true
    disable_apparmor = false

    [plugins.'io.containerd.cri.v1.runtime'.containerd]
      default_runtime_name = 'runc'

      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
        runtime_type = 'io.containerd.runc.v2'

        [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
          SystemdCgroup = true

  [plugins.'io.containerd.grpc.v1.cri']
    disable_tcp_service = true
    stream_server_address = '127.0.0.1'
    stream_server_port = '0'
    enable_tls_streaming = false
"""

V2_HARDENED = V2.replace("SystemdCgroup = false", "SystemdCgroup = true")
V2_CONFIGS = '    [plugins."io.containerd.grpc.v1.cri".registry.configs]\n'
V2_MIRRORS = '    [plugins."io.containerd.grpc.v1.cri".registry.mirrors]\n'


def v2(old: str, new: str) -> str:
    assert old in V2_HARDENED
    return V2_HARDENED.replace(old, new, 1)


def v3(old: str, new: str) -> str:
    assert old in V3
    return V3.replace(old, new, 1)


def skip_verify(value: str) -> str:
    return v2(
        V2_CONFIGS,
        V2_CONFIGS
        + '\n      [plugins."io.containerd.grpc.v1.cri".registry.configs."registry.example.com".tls]\n'
        + f"        insecure_skip_verify = {value}\n"
        + '        ca_file = "/etc/containerd/certs/example-ca.pem"\n',
    )


def mirror(*endpoints: str) -> str:
    eps = ", ".join(f'"{e}"' for e in endpoints)
    return v2(
        V2_MIRRORS,
        V2_MIRRORS
        + f'\n      [plugins."io.containerd.grpc.v1.cri".registry.mirrors."docker.io"]\n        endpoint = [{eps}]\n',
    )


CASES = [
    Case("CH-CD-001", v2("disable_apparmor = false", "disable_apparmor = true"), "disable_apparmor", V2_HARDENED),
    Case("CH-CD-001", v3("disable_apparmor = false", "disable_apparmor = true"), "disable_apparmor", V3, "v3"),
    Case(
        "CH-CD-001",
        "[plugins.cri]\n  disable_apparmor = true\n",
        "disable_apparmor",
        'disabled_plugins = ["cri"]\n\n[plugins.cri]\n  disable_apparmor = true\n',
        "v1",
    ),
    Case("CH-CD-002", v3("enable_selinux = true", "enable_selinux = false"), "enable_selinux", V3),
    Case("CH-CD-003", skip_verify("true"), "insecure_skip_verify", skip_verify("false")),
    Case(
        "CH-CD-003",
        v3(
            "      config_path = '/etc/containerd/certs.d'\n",
            "      config_path = ''\n\n"
            "      [plugins.'io.containerd.cri.v1.images'.registry.configs.'registry.example.com:5000'.tls]\n"
            "        insecure_skip_verify = true\n",
        ),
        "insecure_skip_verify",
        V3,
        "v3",
    ),
    Case(
        "CH-CD-004",
        mirror("http://mirror.corp.example:5000", "https://registry-1.docker.io"),
        "endpoint",
        mirror("https://mirror.corp.example", "http://localhost:5000", "http://127.0.0.1:5001"),
    ),
    Case("CH-CD-005", V2, "SystemdCgroup", V2_HARDENED),
    Case("CH-CD-005", v3("          SystemdCgroup = true\n", ""), "containerd.runtimes.runc]", V3, "v3-unset"),
    Case(
        "CH-CD-005",
        v3("          SystemdCgroup = true", "          SystemdCgroup = false"),
        "SystemdCgroup",
        v3("runtime_type = 'io.containerd.runc.v2'", "runtime_type = 'io.containerd.runsc.v1'").replace(
            "SystemdCgroup = true", "SystemdCgroup = false"
        ),
        "v3-false",
    ),
    Case("CH-CD-006", v2('  level = ""', '  level = "debug"'), "level", v2('  level = ""', '  level = "info"')),
    Case("CH-CD-006", v3("level = 'info'", "level = 'trace'"), "level", V3, "v3"),
    Case(
        "CH-CD-007",
        v2('stream_server_address = "127.0.0.1"', 'stream_server_address = "0.0.0.0"'),
        "stream_server_address",
        v2('stream_server_address = "127.0.0.1"', 'stream_server_address = "::1"'),
    ),
    Case(
        "CH-CD-007",
        v3("stream_server_address = '127.0.0.1'", "stream_server_address = ''"),
        "stream_server_address",
        v3("stream_server_address = '127.0.0.1'", "stream_server_address = 'localhost'"),
        "v3-empty",
    ),
    Case(
        "CH-CD-008",
        v2('  tcp_address = ""', '  tcp_address = "0.0.0.0:2376"'),
        "tcp_address",
        v2('  tcp_address = ""', '  tcp_address = "0.0.0.0:2376"')
        .replace('tcp_tls_ca = ""', 'tcp_tls_ca = "/etc/containerd/tls/ca.pem"')
        .replace('tcp_tls_cert = ""', 'tcp_tls_cert = "/etc/containerd/tls/server.pem"')
        .replace('tcp_tls_key = ""', 'tcp_tls_key = "/etc/containerd/tls/server-key.pem"'),
    ),
    Case(
        "CH-CD-008",
        v2('  tcp_address = ""', '  tcp_address = "10.0.0.5:2376"')
        .replace('tcp_tls_cert = ""', 'tcp_tls_cert = "/etc/containerd/tls/server.pem"')
        .replace('tcp_tls_key = ""', 'tcp_tls_key = "/etc/containerd/tls/server-key.pem"'),
        "tcp_address",
        V2_HARDENED,
        "no-client-ca",
    ),
]


def run_all(text: str) -> list[Finding]:
    """Every containerd check including those off by default (CH-CD-002)."""
    doc = parse_document(text, "config.toml", "containerd")
    out: list[Finding] = []
    for c in all_checks():
        if "containerd" in c.meta.file_types:
            out.extend(to_finding(doc, c, v) for v in c.run(doc, Options()))
    return out


@pytest.mark.parametrize("case", CASES, ids=str)
def test_failing_fixture_is_reported_on_its_line(case: Case) -> None:
    tomllib.loads(case.fail)
    findings = run_all(case.fail)
    assert case.line in lines(findings, case.check_id), [(f.id, f.location.line) for f in findings]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_passing_fixture_is_not_reported(case: Case) -> None:
    tomllib.loads(case.passing)
    assert hits(run_all(case.passing), case.check_id) == []


def test_every_containerd_check_has_cases() -> None:
    registered = {c.meta.id for c in all_checks() if "containerd" in c.meta.file_types}
    assert registered == {c.check_id for c in CASES}


@pytest.mark.parametrize("case", CASES, ids=str)
def test_mechanical_replacement_leaves_valid_toml_without_the_finding(case: Case) -> None:
    before = hits(run_all(case.fail), case.check_id)
    for f in before:
        if replacement(f):
            fixed = apply_fix(case.fail, f)
            tomllib.loads(fixed)
            assert len(hits(run_all(fixed), case.check_id)) < len(before)


def test_real_default_config_only_reports_the_cgroup_driver() -> None:
    findings = scan(V2, "containerd")
    assert [(f.id, f.location.line) for f in findings] == [("CH-CD-005", line_of(V2, "SystemdCgroup"))]
    (f,) = findings
    assert f.location.json_path.endswith(".containerd.runtimes.runc.options.SystemdCgroup")
    assert replacement(f).strip() == "SystemdCgroup = true"


def test_selinux_check_is_opt_in() -> None:
    meta = get_check("CH-CD-002")
    assert meta is not None and not meta.meta.enabled_by_default
    assert hits(scan(v3("enable_selinux = true", "enable_selinux = false"), "containerd"), "CH-CD-002") == []


def test_hardened_v3_config_has_no_findings() -> None:
    assert [(f.id, f.location.line) for f in run_all(V3)] == []


def test_live_containerd_config_default() -> None:
    exe = shutil.which("containerd")
    if exe is None:
        pytest.skip("containerd is not installed (apt-get install containerd)")
    text = subprocess.run([exe, "config", "default"], capture_output=True, text=True, check=True, timeout=60).stdout
    findings = scan(text, "containerd")
    # containerd 1.x writes SystemdCgroup = false (cgroupfs); nothing else in its defaults is unsafe
    assert {f.id for f in findings} <= {"CH-CD-005"}
    if "SystemdCgroup = false" in text:
        assert lines(findings, "CH-CD-005") == [line_of(text, "SystemdCgroup")]
