"""docs/checks.md is generated from the checks' metadata and must match it; the command-line
reference (docs/cli.md) must name every flag and action of `config` and `checks`."""

from __future__ import annotations

import re

from customhouse.misconfig.cli import REGENERATE, checks_markdown, slug
from customhouse.misconfig.engine import FILE_TYPES, all_checks, options_used
from tests.conftest import ROOT
from tests.helpers import run_cli

CHECKS_MD = ROOT / "docs" / "checks.md"


def test_checks_md_is_current() -> None:
    assert CHECKS_MD.read_text() == checks_markdown(), (
        f"docs/checks.md is out of date with the checks' metadata; regenerate it with `{REGENERATE}`"
    )


def test_checks_docs_command_writes_the_same_text() -> None:
    r = run_cli("checks", "docs")
    assert r.code == 0 and r.err == ""
    assert r.out == checks_markdown()


def test_every_check_has_an_index_row_and_a_section() -> None:
    text = checks_markdown()
    headings = re.findall(r"(?m)^### (CH-[A-Z0-9-]+): (.+)$", text)
    checks = all_checks()
    assert [h[0] for h in headings] == sorted((c.meta.id for c in checks), key=_doc_order)
    for c in checks:
        m = c.meta
        assert (m.id, m.title) in headings
        section = text[text.index(f"### {m.id}: ") :]
        section = section[: section.find("\n### ", 1) if "\n### " in section[1:] else len(section)]
        assert f"**Severity:** {m.severity}" in section
        assert m.remediation.split()[0] in section and "**Rationale:**" in section
        for ref in m.references:
            assert ref in section
        for name, value in m.frameworks.pairs():
            assert f"{name} " in section and value.split(",")[0] in section
        for opt in options_used(c):
            if opt == "admin_ports":
                assert "`--admin-ports" in section
        row = re.search(rf"(?m)^\| \[{m.id}\]\(#([^)]+)\) \| {m.severity} \| ", text)
        assert row is not None, m.id
        assert row.group(1) == slug(f"{m.id}: {m.title}")


def _doc_order(check_id: str) -> tuple[int, str]:
    """Sections are grouped by each check's first file type, in FILE_TYPES order."""
    order = list(FILE_TYPES)
    c = next(c for c in all_checks() if c.meta.id == check_id)
    ft = c.meta.file_types[0]
    return (order.index(ft) if ft in order else len(order), check_id)


def test_every_link_inside_the_page_resolves() -> None:
    text = checks_markdown()
    anchors = {slug(h) for h in re.findall(r"(?m)^#+ (.+)$", text)}
    links = set(re.findall(r"\]\(#([^)]+)\)", text))
    assert links and links <= anchors, sorted(links - anchors)[:5]


def test_slug_follows_github() -> None:
    assert slug("CH-DD-004: no-new-privileges not the default") == "ch-dd-004-no-new-privileges-not-the-default"
    assert slug("CH-DF-001: Base image uses the `latest` tag") == "ch-df-001-base-image-uses-the-latest-tag"
    assert slug("CH-KL-013: Weak TLS cipher suites (1.2/1.3)") == "ch-kl-013-weak-tls-cipher-suites-1213"


def _flags(*argv: str) -> set[str]:
    r = run_cli(*argv, "--help")
    assert r.code == 0, r.err
    return set(re.findall(r"(?<![\w-])(--[a-z][a-z-]+)", r.out)) - {"--help"}


def test_cli_md_names_every_config_and_checks_flag() -> None:
    doc = (ROOT / "docs" / "cli.md").read_text()
    fences = re.findall(r"(?s)```.*?```", doc)
    spans = fences + re.findall(r"`([^`\n]+)`", re.sub(r"(?s)```.*?```", "", doc))
    documented = {flag for span in spans for flag in re.findall(r"--[a-z][a-z-]+", span)}
    flags = _flags("config") | _flags("checks", "list")
    missing = sorted(flags - documented)
    assert not missing, f"docs/cli.md does not document {missing}"
    for action in ("checks list", "checks show", "checks docs"):
        assert action in doc


def test_suppression_md_inline_example_behaves_as_described() -> None:
    from customhouse.misconfig.engine import Options
    from customhouse.misconfig.runner import parse_document, run_checks

    doc = (ROOT / "docs" / "suppression.md").read_text()
    section = doc[doc.index("### Inline comments") :]
    example = re.search(r"(?s)```yaml\n(.*?)```", section)
    assert example is not None
    text = example.group(1)
    findings = run_checks(parse_document(text, "compose.yaml", "compose"), Options())
    by_line = {(f.id, f.location.line): f.suppressed for f in findings}
    lines = text.splitlines()
    priv = next(i for i, ln in enumerate(lines, 1) if "privileged: true" in ln)
    ssh = next(i for i, ln in enumerate(lines, 1) if '"22:22"' in ln)
    api = next(i for i, ln in enumerate(lines, 1) if '"2375:2375"' in ln)
    assert by_line[("CH-DC-001", priv)] is not None
    assert by_line[("CH-DC-018", ssh)] is not None
    assert by_line[("CH-DC-018", api)] is None  # "still reported", as the example says


def test_suppression_md_dockerfile_example_behaves_as_described() -> None:
    from customhouse.misconfig.engine import Options
    from customhouse.misconfig.runner import parse_document, run_checks

    assert [c for c in all_checks() if "dockerfile" in c.meta.file_types], "no Dockerfile checks registered"
    doc = (ROOT / "docs" / "suppression.md").read_text()
    example = re.search(r"(?s)```dockerfile\n(.*?)```", doc[doc.index("### Inline comments") :])
    assert example is not None
    text = example.group(1)
    named = set(re.findall(r"customhouse:ignore=([\w,-]+)", text))
    ids = {i for group in named for i in group.split(",")}
    findings = run_checks(parse_document(text, "Dockerfile", "dockerfile"), Options())
    # every check the example names reports this file, and the comments suppress exactly those
    assert ids <= {f.id for f in findings}, (ids, sorted({f.id for f in findings}))
    assert {f.id for f in findings if f.suppressed is not None} == ids
    assert all(f.suppressed is None for f in findings if f.id not in ids)
