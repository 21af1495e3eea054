"""Table and Markdown: what a person reads must be complete, fit, and not be misparsed."""

from __future__ import annotations

from dataclasses import replace

from customhouse.report.findings import Suppression
from customhouse.report.findings_table import WIDTH, render_table
from customhouse.report.markdown import MAX_CHARS, render_markdown
from tests.reports import samples


def test_table_fits_120_columns_and_groups_by_package() -> None:
    out = render_table(samples.report())
    assert max(len(line) for line in out.splitlines()) <= WIDTH
    lines = out.splitlines()
    # The package name is written once for its group: log4j-core has two vulnerabilities.
    log4j_rows = [ln for ln in lines if "CVE-2021-4" in ln]
    assert len(log4j_rows) == 2
    assert "org.apache.logging" in log4j_rows[0] and "org.apache.logging" not in log4j_rows[1]
    for text in ("2.14.1", "2.15.0", "2.16.0", "GHSA-jfh8-c2jp-5v3q", "(ghsa)", "97.6%", "9.9", "won't fix"):
        assert text in out, text
    assert "aws-access-key-id" in out and "app/config/.env:3" in out


def test_table_hides_suppressed_and_counts_them() -> None:
    out = render_table(samples.report())
    assert "CVE-2024-5535" not in out
    assert "7 findings (critical: 3, high: 2, medium: 1, low: 1)" in out
    assert "1 suppressed finding not shown (1 by ignore-file)" in out
    assert "warning: usr/lib/python3/site-packages/broken.dist-info/METADATA: unreadable" in out


def test_table_is_literal_and_width_safe_with_hostile_text() -> None:
    """Advisory text with rich markup and very long tokens must print as written and fit."""
    f = replace(
        samples.ICONV,
        title="[bold red]not markup[/] " + "x" * 300,
        vulnerability=replace(samples.ICONV.vulnerability, package_version="1" * 80),  # type: ignore[type-var]
    )
    out = render_table(samples.report((f,)))
    assert "[bold red]not markup[/]" in out
    assert max(len(line) for line in out.splitlines()) <= WIDTH


def test_table_without_epss_kev_risk_drops_those_columns() -> None:
    v = samples.MINIZIP.vulnerability
    f = replace(samples.MINIZIP, vulnerability=replace(v, epss=None, epss_percentile=None, risk=0.0))  # type: ignore[type-var]
    out = render_table(samples.report((f,)))
    header = next(ln for ln in out.splitlines() if "Package" in ln)
    assert "EPSS" not in header and "KEV" not in header and "Risk" not in header


def test_markdown_summary_and_sections() -> None:
    md = render_markdown(samples.report())
    assert md.startswith("## customhouse: oci-layout:/images/app:1.0\n")
    assert "**7 findings** (1 suppressed, not listed)" in md
    assert "| critical | 3 | 0 |" in md and "| low | 1 | 1 |" in md
    assert "#### `libc6` `2.36-9+deb12u4` (deb) — `var/lib/dpkg/status`" in md
    assert "[CVE-2021-44228](https://nvd.nist.gov/vuln/detail/CVE-2021-44228)<br>GHSA-jfh8-c2jp-5v3q" in md
    assert "CVE-2024-5535" not in md
    # Sections worst first: log4j (critical) before Django (medium).
    assert md.index("log4j-core`") < md.index("`Django`")


def test_markdown_cells_cannot_break_the_table() -> None:
    f = replace(samples.ICONV, title="a | b <script> *c* `d`\nnext line")
    md = render_markdown(samples.report((f,)))
    row = next(ln for ln in md.splitlines() if ln.startswith("| [CVE-2024-2961]"))
    assert row.count(" | ") == 5  # six cells, no extra column from the pipe in the title
    assert "a \\| b &lt;script&gt; \\*c\\* \\`d\\` next line" in row


def test_markdown_stays_under_the_comment_limit() -> None:
    many = []
    for i in range(3000):
        f = replace(samples.DJANGO_TRUNC, id=f"CVE-2024-{10000 + i}", title="t" * 120, fingerprint="")
        v = f.vulnerability
        assert v is not None
        many.append(replace(f, vulnerability=replace(v, package_name=f"pkg{i:04d}")))
    md = render_markdown(samples.report(tuple(many)))
    assert len(md) <= MAX_CHARS
    assert "more packages not shown (comment size limit)" in md


def test_markdown_says_when_there_is_nothing() -> None:
    gone = replace(
        samples.ICONV, suppressed=Suppression(source="vex:vendor.json", reason="not used", status="not_affected")
    )
    md = render_markdown(samples.report((gone,)))
    assert "**No findings.** (1 suppressed, not listed)" in md


def test_table_one_per_target() -> None:
    lock = replace(samples.DJANGO_TRUNC, target="app/requirements.txt")
    out = render_table(samples.report((samples.ICONV, lock)))
    titles = [ln for ln in out.splitlines() if ln and not ln.startswith(" ") and "finding" not in ln]
    assert titles[:2] == ["app/requirements.txt", "oci-layout:/images/app:1.0 (debian 12.5)"]
