"""daemon.json checks (CH-DD-*): a failing and a passing fixture for every check.

Fixtures are a hardened daemon.json (which must produce no finding) with one key changed or
removed, written with the key names and value types of the dockerd reference ("Daemon
configuration file"). A removed key is reported on the opening brace, where dockerd's default
applies; mechanical fixes must leave valid JSON that no longer triggers the check.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from customhouse.misconfig.engine import all_checks

from .util import Case, apply_fix, hits, lines, replacement, scan

HARDENED: dict[str, Any] = {
    "icc": False,
    "userns-remap": "default",
    "live-restore": True,
    "no-new-privileges": True,
    "userland-proxy": False,
    "hosts": ["unix:///var/run/docker.sock"],
    "log-driver": "json-file",
    "log-opts": {"max-size": "10m", "max-file": "3"},
    "log-level": "info",
    "default-ulimits": {"nofile": {"Name": "nofile", "Hard": 64000, "Soft": 64000}},
    "authorization-plugins": ["authz-broker"],
    "storage-driver": "overlay2",
}


def daemon(*, without: tuple[str, ...] = (), **changes: Any) -> str:
    """The hardened daemon.json with `changes` (Python names: icc, userns_remap...) and keys removed."""
    data = {k: v for k, v in HARDENED.items() if k not in without}
    data.update({k.replace("_", "-"): v for k, v in changes.items()})
    return json.dumps(data, indent=2) + "\n"


CASES = [
    Case("CH-DD-001", daemon(icc=True), '"icc"', daemon()),
    Case("CH-DD-001", daemon(without=("icc",)), "{", daemon(), "missing"),
    Case("CH-DD-002", daemon(without=("userns-remap",)), "{", daemon(userns_remap="dockremap")),
    Case("CH-DD-002", daemon(userns_remap=""), '"userns-remap"', daemon(), "empty"),
    Case("CH-DD-003", daemon(live_restore=False), '"live-restore"', daemon()),
    Case("CH-DD-004", daemon(without=("no-new-privileges",)), "{", daemon()),
    Case("CH-DD-004", daemon(no_new_privileges=False), '"no-new-privileges"', daemon(), "false"),
    Case("CH-DD-005", daemon(userland_proxy=True), '"userland-proxy"', daemon()),
    Case(
        "CH-DD-006",
        daemon(insecure_registries=["localhost:5000", "registry.internal:5000"]),
        "registry.internal:5000",
        daemon(insecure_registries=["localhost:5000", "127.0.0.0/8", "[::1]:5000"]),
    ),
    Case("CH-DD-006", daemon(insecure_registries=["10.0.0.0/8"]), "10.0.0.0/8", daemon(insecure_registries=[]), "cidr"),
    Case(
        "CH-DD-007",
        daemon(hosts=["unix:///var/run/docker.sock", "tcp://0.0.0.0:2375"]),
        "tcp://0.0.0.0:2375",
        daemon(
            hosts=["unix:///var/run/docker.sock", "tcp://0.0.0.0:2376"],
            tlsverify=True,
            tlscacert="/etc/docker/ca.pem",
            tlscert="/etc/docker/server-cert.pem",
            tlskey="/etc/docker/server-key.pem",
        ),
    ),
    Case(
        "CH-DD-007",
        daemon(hosts=["tcp://0.0.0.0:2376"], tls=True, tlscert="/etc/docker/cert.pem", tlskey="/etc/docker/key.pem"),
        "tcp://0.0.0.0:2376",
        daemon(hosts=["fd://"]),
        "tls-no-verify",
    ),
    Case(
        "CH-DD-007",
        daemon(hosts=["127.0.0.1:2375"]),
        "127.0.0.1:2375",
        daemon(hosts=["unix:///run/docker.sock"]),
        "bare",
    ),
    Case("CH-DD-008", daemon(log_driver="none"), '"log-driver"', daemon(log_driver="local")),
    Case(
        "CH-DD-009", daemon(without=("log-opts",)), '"log-driver"', daemon(log_driver="journald", without=("log-opts",))
    ),
    Case("CH-DD-009", daemon(without=("log-opts", "log-driver")), "{", daemon(), "default-driver"),
    Case("CH-DD-010", daemon(without=("default-ulimits",)), "{", daemon()),
    Case("CH-DD-011", daemon(experimental=True), '"experimental"', daemon(experimental=False)),
    Case("CH-DD-012", daemon(without=("authorization-plugins",)), "{", daemon()),
    Case("CH-DD-012", daemon(authorization_plugins=[]), '"authorization-plugins"', daemon(), "empty"),
    Case(
        "CH-DD-013",
        daemon(seccomp_profile="unconfined"),
        '"seccomp-profile"',
        daemon(seccomp_profile="/etc/docker/seccomp/default.json"),
    ),
    Case("CH-DD-014", daemon(iptables=False), '"iptables"', daemon(iptables=True)),
    Case("CH-DD-015", daemon(debug=True), '"debug"', daemon(debug=False)),
    Case("CH-DD-015", daemon(log_level="debug"), '"log-level"', daemon(log_level="warn"), "level"),
    Case("CH-DD-016", daemon(storage_driver="aufs"), '"storage-driver"', daemon(storage_driver="overlay2")),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_failing_fixture_is_reported_on_its_line(case: Case) -> None:
    findings = scan(case.fail, "docker-daemon")
    assert case.line in lines(findings, case.check_id), [(f.id, f.location.line) for f in findings]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_passing_fixture_is_not_reported(case: Case) -> None:
    assert hits(scan(case.passing, "docker-daemon"), case.check_id) == []


def test_hardened_daemon_json_has_no_findings() -> None:
    assert [(f.id, f.message) for f in scan(daemon(), "docker-daemon")] == []


def test_every_daemon_check_has_cases() -> None:
    registered = {c.meta.id for c in all_checks() if "docker-daemon" in c.meta.file_types}
    assert registered == {c.check_id for c in CASES}


@pytest.mark.parametrize("case", CASES, ids=str)
def test_mechanical_replacement_leaves_valid_json_without_the_finding(case: Case) -> None:
    before = hits(scan(case.fail, "docker-daemon"), case.check_id)
    for f in before:
        if not replacement(f):
            continue
        fixed = apply_fix(case.fail, f)
        json.loads(fixed)
        assert len(hits(scan(fixed, "docker-daemon"), case.check_id)) < len(before), fixed


def test_missing_key_fix_inserts_after_the_brace() -> None:
    text = daemon(without=("icc",))
    (f,) = hits(scan(text, "docker-daemon"), "CH-DD-001")
    assert f.location.line == 1 and "unless set on the dockerd command line" in f.message
    assert replacement(f) == '{\n  "icc": false,'
    assert json.loads(apply_fix(text, f))["icc"] is False


def test_empty_object_reports_defaults_without_a_broken_fix() -> None:
    findings = scan("{}\n", "docker-daemon")
    assert {f.id for f in findings} == {
        "CH-DD-001",
        "CH-DD-002",
        "CH-DD-003",
        "CH-DD-004",
        "CH-DD-005",
        "CH-DD-009",
        "CH-DD-010",
        "CH-DD-012",
    }
    assert all(f.location.line == 1 and not replacement(f) for f in findings)


def test_flow_style_single_line_json_points_at_items() -> None:
    text = '{"icc": false, "hosts": ["fd://", "tcp://0.0.0.0:2375"]}\n'
    (f,) = hits(scan(text, "docker-daemon"), "CH-DD-007")
    assert f.location.line == 1 and f.location.column == text.index('"tcp://') + 1
    assert f.location.json_path == "$.hosts[1]"


def test_insertion_keeps_tab_indentation() -> None:
    text = '{\n\t"icc": false,\n\t"log-opts": {\n\t\t"max-size": "10m"\n\t}\n}\n'
    (f,) = hits(scan(text, "docker-daemon"), "CH-DD-003")
    assert replacement(f) == '{\n\t"live-restore": true,'
    assert json.loads(apply_fix(text, f))["live-restore"] is True
