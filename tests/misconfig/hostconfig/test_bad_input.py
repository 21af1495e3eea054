"""Hostile and broken host-configuration files through the real tree runner (`scan_tree`).

A bad file must cost one warning naming it (and the line, when there is one) and nothing else:
the rest of the tree is still scanned and reported. Also: the checks never crash on documents
whose shape is wrong (a list where a map belongs, numbers where strings belong), and they stay
fast on large but legitimate files.
"""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from customhouse.misconfig.engine import Document, Options, all_checks
from customhouse.misconfig.parsers import TomlDoc
from customhouse.misconfig.runner import scan_tree
from customhouse.misconfig.yamlsrc import LocatedDoc

from .util import scan

GOOD = "services:\n  web:\n    image: nginx:1.27\n    privileged: true\n"


def _tree(tmp_path: Path, bad_name: str, bad: bytes | str) -> Path:
    (tmp_path / "bad").mkdir()
    (tmp_path / "good").mkdir()
    target = tmp_path / "bad" / bad_name
    if isinstance(bad, bytes):
        target.write_bytes(bad)
    else:
        target.write_text(bad)
    (tmp_path / "good" / "compose.yaml").write_text(GOOD)
    return tmp_path


def _good_file_still_scanned(result: Any) -> None:
    assert [(f.id, f.location.path) for f in result.findings if f.id == "CH-DC-001"] == [
        ("CH-DC-001", "good/compose.yaml")
    ]


def test_invalid_yaml_reports_file_and_line_and_scan_continues(tmp_path: Path) -> None:
    bad = "services:\n  web:\n    image: [nginx\n    privileged: true\n"
    result = scan_tree(_tree(tmp_path, "docker-compose.yml", bad))
    assert len(result.warnings) == 1
    warning = result.warnings[0]
    assert warning.startswith("bad/docker-compose.yml:") and "invalid YAML" in warning
    line = int(warning.split(":")[1])
    assert 3 <= line <= 5  # where the unclosed flow sequence is detected
    assert result.skipped == 1 and result.scanned == {"compose": 1}
    _good_file_still_scanned(result)


def test_alias_bomb_is_refused_quickly_with_bounded_memory(tmp_path: Path) -> None:
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 10):
        refs = ", ".join([f"*a{i - 1}"] * 10)
        levels.append(f"a{i}: &a{i} [{refs}]")
    bomb = "services:\n  web:\n    image: nginx:1.27\n" + "\n".join(levels) + "\n"  # 10**10 nodes expanded
    root = _tree(tmp_path, "docker-compose.yml", bomb)
    tracemalloc.start()
    t0 = time.monotonic()
    result = scan_tree(root)
    elapsed = time.monotonic() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert elapsed < 5, elapsed
    assert peak < 64 << 20, peak
    (warning,) = result.warnings
    assert warning.startswith("bad/docker-compose.yml") and "alias bomb" in warning
    _good_file_still_scanned(result)


def test_fifty_megabyte_compose_file_is_skipped_with_a_warning(tmp_path: Path) -> None:
    root = _tree(tmp_path, "docker-compose.yml", "")
    big = root / "bad" / "docker-compose.yml"
    line = b"    # " + b"x" * 90 + b"\n"
    with open(big, "wb") as fh:
        fh.write(b"services:\n  web:\n    image: nginx\n")
        for _ in range((50 << 20) // (1 << 20)):
            fh.write(line * ((1 << 20) // len(line) + 1))
    assert big.stat().st_size >= 50 << 20
    t0 = time.monotonic()
    result = scan_tree(root)
    assert time.monotonic() - t0 < 5
    (warning,) = result.warnings
    assert warning.startswith("bad/docker-compose.yml: skipped") and "limit" in warning
    assert result.skipped == 1
    _good_file_still_scanned(result)


def test_binary_file_named_like_compose_is_skipped(tmp_path: Path) -> None:
    blob = b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 64
    result = scan_tree(_tree(tmp_path, "docker-compose.yml", blob))
    assert result.warnings == ["bad/docker-compose.yml: skipped, binary content"]
    _good_file_still_scanned(result)


def test_invalid_containerd_toml_names_the_line(tmp_path: Path) -> None:
    bad = 'version = 2\n[plugins."io.containerd.grpc.v1.cri"]\n  disable_apparmor = tru\n'
    result = scan_tree(_tree(tmp_path, "config.toml", bad))
    (warning,) = result.warnings
    assert warning.startswith("bad/config.toml:3") and "invalid TOML" in warning
    _good_file_still_scanned(result)


def test_invalid_daemon_json_names_the_line(tmp_path: Path) -> None:
    bad = '{\n  "icc": false,\n  "hosts": ["fd://"\n}\n'
    result = scan_tree(_tree(tmp_path, "daemon.json", bad))
    (warning,) = result.warnings
    assert warning.startswith("bad/daemon.json:") and "invalid YAML" in warning
    _good_file_still_scanned(result)


# -- wrong shapes never crash a check ---------------------------------------------------------

COMPOSE_KEYS = [
    "privileged", "network_mode", "pid", "ipc", "userns_mode", "uts", "cap_add", "cap_drop", "volumes",
    "security_opt", "read_only", "ports", "environment", "build", "user", "devices", "device_cgroup_rules",
    "sysctls", "image", "healthcheck", "restart", "deploy", "mem_limit", "cpus", "source", "target", "bind",
]  # fmt: skip
scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 70000), st.floats(allow_nan=False), st.text(max_size=12))
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.text(max_size=8) | st.sampled_from(COMPOSE_KEYS), inner, max_size=4),
    ),
    max_leaves=20,
)
services = st.dictionaries(st.sampled_from(COMPOSE_KEYS), values, max_size=8)


def _run(file_type: str, data: Any) -> None:
    if file_type == "containerd":
        doc = Document("config.toml", file_type, "", TomlDoc(data if isinstance(data, dict) else {}, {}))
    else:
        doc = Document("f", file_type, "", [LocatedDoc(data, 0, 1, {})])
    for c in all_checks():
        if file_type in c.meta.file_types:
            list(c.run(doc, Options()))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.text(max_size=6), st.one_of(services, values), max_size=3), values)
def test_checks_survive_any_shape(svcs: dict[str, Any], other: Any) -> None:
    _run("compose", {"services": svcs})
    _run("compose", {"services": other})
    _run("docker-daemon", other)
    _run("docker-daemon", {"hosts": other, "insecure-registries": other, "log-opts": other, "icc": other})
    _run("kubelet", {"kind": "KubeletConfiguration", "authentication": other, "tlsCipherSuites": other})
    _run("containerd", {"version": 2, "plugins": {"io.containerd.grpc.v1.cri": other}, "grpc": other})


def test_large_compose_file_is_checked_quickly() -> None:
    service = (
        '  svc{n}:\n    image: nginx\n    privileged: true\n    ports:\n      - 22:22\n      - "8080:80"\n'
        "    volumes:\n      - /etc:/host/etc\n      - ./data:/data\n    environment:\n"
        "      DB_PASSWORD: hunter2hunter2\n      LOG_LEVEL: info\n    cap_add: [SYS_ADMIN]\n"
    )
    text = "services:\n" + "".join(service.format(n=n) for n in range(1000))
    t0 = time.monotonic()
    findings = scan(text, "compose")
    elapsed = time.monotonic() - t0
    assert sum(f.id == "CH-DC-001" for f in findings) == 1000
    assert elapsed < 10, elapsed
