"""The engine's cross-cutting rules, below the CLI: where inline suppression comments apply,
what `--exclude` matches, which options a check reads, which checks ran on which file."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from pathlib import Path

import pytest

from customhouse.misconfig.engine import (
    OPTIONS,
    Check,
    CheckMeta,
    Document,
    Options,
    Violation,
    all_checks,
    checks_for,
    get_check_ci,
    options_used,
)
from customhouse.misconfig.runner import excluded, parse_document, run_checks, scan_tree, to_finding
from tests.misconfig.hostconfig.util import line_of


def _never(doc: Document, options: Options) -> Iterable[Violation]:
    return ()


FAKE = Check(CheckMeta("CH-TEST-001", "test", "high", ("compose",), "d", "r", "fix"), _never)


def suppression(text: str, line: int, file_type: str = "compose", check: Check = FAKE) -> str | None:
    """The inline suppression reason a finding of `check` at `line` gets, or None."""
    doc = Document("f", file_type, text, None)
    f = to_finding(doc, check, Violation("m", line=line))
    if f.suppressed is None:
        return None
    assert f.suppressed.source == "inline" and f.suppressed.status == "ignored"
    return f.suppressed.reason


# ------------------------------------------------------------------------------ inline suppression


COMPOSE = """\
# customhouse:ignore=CH-TEST-001 file header, not about line 4
services:
  web:
    privileged: true
    # hadolint-style neighbour comment
    # customhouse:ignore=CH-TEST-002,ch-test-001 two ids, any case
    # a third comment line
    cap_add: [SYS_ADMIN]
    user: root  # customhouse:ignore=CH-TEST-001 trailing
    ports: ["22:22"]
    # customhouse:ignore=CH-TEST-001 separated by a blank line

    network_mode: host
    ipc: host  # customhouse:ignore=CH-TEST-001
    command: echo customhouse:ignore=CH-TEST-001 not a comment
"""


@pytest.mark.parametrize(
    ("needle", "reason"),
    [
        ("privileged: true", None),  # the header comment is not right above it
        ("cap_add", "two ids, any case"),  # anywhere in the comment block right above
        ("user: root", "trailing"),
        ('ports: ["22:22"]', None),  # a trailing comment on the line above covers that line only
        ("network_mode: host", None),  # a blank line ends the comment block
        ("ipc: host", "no reason given"),
        ("command: echo", None),  # the text must be in a comment
    ],
)
def test_inline_comment_placement(needle: str, reason: str | None) -> None:
    assert suppression(COMPOSE, line_of(COMPOSE, needle)) == reason


def test_inline_comment_names_the_check() -> None:
    other = Check(dataclasses.replace(FAKE.meta, id="CH-TEST-003"), _never)
    assert suppression(COMPOSE, line_of(COMPOSE, "user: root"), check=other) is None
    two = Check(dataclasses.replace(FAKE.meta, id="CH-TEST-002"), _never)
    assert suppression(COMPOSE, line_of(COMPOSE, "cap_add"), check=two) == "two ids, any case"


DOCKERFILE = """\
# syntax=docker/dockerfile:1
# customhouse:ignore=CH-TEST-001 whole-file findings read the top comments
FROM debian:12
# customhouse:ignore=CH-TEST-001 the vendor installer is checksummed
RUN apt-get update && \\
    apt-get install -y curl && \\
# a comment inside the instruction
    curl -fsSL https://example.com/install.sh | sh
RUN echo one && \\
    echo two
"""


def test_dockerfile_comment_above_the_instruction_covers_its_continuation_lines() -> None:
    reason = "the vendor installer is checksummed"
    assert suppression(DOCKERFILE, line_of(DOCKERFILE, "RUN apt-get"), "dockerfile") == reason
    assert suppression(DOCKERFILE, line_of(DOCKERFILE, "curl -fsSL"), "dockerfile") == reason
    # the next instruction starts a new block
    assert suppression(DOCKERFILE, line_of(DOCKERFILE, "echo two"), "dockerfile") is None
    # a finding about the whole file takes the comments before the first instruction
    assert suppression(DOCKERFILE, 0, "dockerfile") == "whole-file findings read the top comments"
    assert suppression(DOCKERFILE.replace("CH-TEST-001 whole", "CH-TEST-009 whole"), 0, "dockerfile") is None


def test_backslash_climbing_is_for_dockerfiles_only() -> None:
    text = "# customhouse:ignore=CH-TEST-001 x\ncommand: a \\\n  b\n"
    assert suppression(text, 3, "compose") is None
    assert suppression(text, 3, "dockerfile") == "x"


def test_inline_suppression_through_real_checks() -> None:
    text = "services:\n  web:\n    image: nginx:1.27\n    privileged: true  # customhouse:ignore=CH-DC-001 ok\n"
    findings = run_checks(parse_document(text, "compose.yaml", "compose"), Options())
    (priv,) = [f for f in findings if f.id == "CH-DC-001"]
    assert priv.suppressed is not None and priv.suppressed.reason == "ok"
    assert all(f.suppressed is None for f in findings if f.id != "CH-DC-001")


# ------------------------------------------------------------------------------ --exclude


@pytest.mark.parametrize(
    ("path", "patterns", "expected"),
    [
        ("vendor/lib/compose.yaml", ["vendor"], True),
        ("vendor/lib/compose.yaml", ["lib"], True),  # a name matches at any depth
        ("vendor/lib/compose.yaml", ["vendor/"], True),
        ("vendor/lib/compose.yaml", ["./vendor/lib"], True),
        ("vendor/lib/compose.yaml", ["lib/compose.yaml"], False),  # a path is matched from the root
        ("app/compose.yaml", ["*.yaml"], True),
        ("app/compose.yaml", ["app/*"], True),
        ("app/deep/compose.yaml", ["app/*"], True),  # `*` crosses `/`
        ("app/compose.yaml", ["ap"], False),
        ("app/compose.yaml", ["App"], False),  # case matters, as on the file system
        ("app/compose.yaml", ["", "/"], False),
    ],
)
def test_excluded(path: str, patterns: list[str], expected: bool) -> None:
    assert excluded(path, patterns) is expected


def test_excluded_directories_are_not_entered(tmp_path: Path) -> None:
    (tmp_path / "node_modules" / "pkg").mkdir(parents=True)
    (tmp_path / "node_modules" / "pkg" / "docker-compose.yml").write_text("services: [\n")  # would warn
    (tmp_path / "compose.yaml").write_text("services:\n  web:\n    image: nginx:1.27\n    privileged: true\n")
    result = scan_tree(tmp_path, exclude=["node_modules"])
    assert result.warnings == [] and result.scanned == {"compose": 1}
    assert "node_modules/pkg/docker-compose.yml" not in result.evaluated
    assert scan_tree(tmp_path).warnings[0].startswith("node_modules/pkg/docker-compose.yml:")


# ------------------------------------------------------------------------------ evaluated checks


def test_scan_tree_records_the_checks_that_ran_on_each_file(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text("services:\n  web:\n    image: nginx:1.27\n")
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "config.toml").write_text('version = 2\n[plugins."io.containerd.grpc.v1.cri"]\n')
    result = scan_tree(tmp_path, skip=["CH-DC-001"], enable=["CH-CD-002"])
    compose = [c.meta.id for c in checks_for("compose")]
    assert [cid for cid, _ in result.evaluated["compose.yaml"]] == [c for c in compose if c != "CH-DC-001"]
    containerd = [cid for cid, _ in result.evaluated["etc/config.toml"]]
    assert "CH-CD-002" in containerd and "CH-CD-002" not in [c.meta.id for c in checks_for("containerd")]
    assert result.check_severity["CH-DC-002"] == "high"


# ------------------------------------------------------------------------------ options


def _helper_reading(options: Options) -> int:
    return int(options.extra.get("fake_limit", 3))


def _check_with_helper(doc: Document, options: Options) -> Iterable[Violation]:
    if _helper_reading(options) and options.pin_packages:
        yield Violation("x")


def test_options_used_reads_the_check_and_its_helpers() -> None:
    meta = dataclasses.replace(FAKE.meta, options=("registry_allowlist",))
    found = options_used(Check(meta, _check_with_helper))
    # declared, read directly, read in a helper of the same module (unknown extras last)
    assert found == ("registry_allowlist", "pin_packages", "fake_limit")


def test_every_option_a_check_reads_is_documented() -> None:
    documented = {o.name for o in OPTIONS}
    for c in all_checks():
        missing = sorted(set(options_used(c)) - documented)
        assert not missing, (
            f"{c.meta.id} reads options {missing} that customhouse.misconfig.engine.OPTIONS does not describe: "
            "add an OptionInfo for each (docs/checks.md lists them)"
        )
    fields = {f.name for f in dataclasses.fields(Options)}
    read = {name for c in all_checks() for name in options_used(c)}
    assert {o.name for o in OPTIONS} - fields <= read  # no documented extra key that nothing reads


def test_admin_ports_changes_exactly_the_checks_that_say_they_read_it() -> None:
    text = (
        "services:\n  web:\n    image: nginx:1.27\n    ports:\n"
        '      - "22:22"\n      - "8080:80"\n      - "127.0.0.1:2375:2375"\n'
    )
    doc = parse_document(text, "compose.yaml", "compose")

    def outcome(options: Options) -> dict[str, list[tuple[int, str]]]:
        out: dict[str, list[tuple[int, str]]] = {}
        for c in checks_for("compose"):
            out[c.meta.id] = sorted((v.line, v.message) for v in c.run(doc, options))
        return out

    default, custom = outcome(Options()), outcome(Options(admin_ports=frozenset({80})))
    changed = {cid for cid in default if default[cid] != custom[cid]}
    assert changed == {c.meta.id for c in checks_for("compose") if "admin_ports" in options_used(c)}
    assert [line for line, _ in custom["CH-DC-018"]] == [line_of(text, '"8080:80"')]


def test_misconfig_flags_become_options() -> None:
    from customhouse.cli import build_parser
    from customhouse.misconfig.cli import misconfig_options

    argv = ["config", ".", "--admin-ports", "22,8080", "--max-image-age", "30", "--no-pin-check"]
    args = build_parser().parse_args([*argv, "--registry-allowlist", "registry.example.com, ghcr.io"])
    opts = misconfig_options(args)
    assert opts.admin_ports == frozenset({22, 8080})
    assert opts.extra == {"max_image_age_days": 30, "pss_level": "restricted", "pss_version": "latest"}
    assert opts.registry_allowlist == ("registry.example.com", "ghcr.io")
    assert opts.pin_packages is False
    pss = ["config", ".", "--pss-level", "baseline", "--pss-version", "v1.25"]
    assert misconfig_options(build_parser().parse_args(pss)).extra == {"pss_level": "baseline", "pss_version": "v1.25"}
    defaults = Options(extra={"pss_level": "restricted", "pss_version": "latest"})
    assert misconfig_options(build_parser().parse_args(["config", "."])) == defaults
    # every flag the options table documents exists, on `config` and on `image`
    flags = [o.flag.split()[0] for o in OPTIONS if o.flag]
    samples = {"--no-pin-check": [], "--pss-level": ["baseline"], "--pss-version": ["v1.30"]}
    for command in (["config", "."], ["image", "alpine:3.20"], ["k8s", "."]):
        for flag in flags:
            if flag.startswith("--pss-") and command[0] == "image":
                continue  # Pod Security Standards judge manifests, not images
            build_parser().parse_args([*command, flag, *samples.get(flag, ["1"])])


def test_check_ids_are_case_insensitive() -> None:
    c = get_check_ci("ch-dc-001")
    assert c is not None and c.meta.id == "CH-DC-001"
    assert get_check_ci("CH-DC-000") is None


def test_module_file_type_map_matches_the_modules() -> None:
    """`MODULE_FILE_TYPES` (which modules a scan of one file type imports) says exactly which
    file types each check module registers checks for; a new module must be added to it."""
    from collections import defaultdict

    from customhouse.misconfig.engine import MODULE_FILE_TYPES, all_checks

    seen: dict[str, set[str]] = defaultdict(set)
    for c in all_checks():
        seen[c.run.__module__.rsplit(".", 1)[-1]].update(c.meta.file_types)
    assert {k: set(v) for k, v in MODULE_FILE_TYPES.items()} == dict(seen)


def test_checks_for_one_file_type_imports_only_its_modules() -> None:
    """A Dockerfile scan never imports the Kubernetes analyses, and gets the same checks as
    when everything is loaded."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from customhouse.misconfig.engine import checks_for, all_checks\n"
        "first = [c.meta.id for c in checks_for('dockerfile')]\n"
        "print(sorted(m for m in sys.modules if m.startswith('customhouse.misconfig.k8s')))\n"
        "all_checks()\n"
        "print(first == [c.meta.id for c in checks_for('dockerfile')] and len(first) > 40)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[0] == "[]" and out[1] == "True", out
