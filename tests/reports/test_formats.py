"""What every finding format shares: the registry, determinism, and a light import."""

from __future__ import annotations

import random
import subprocess
import sys
from dataclasses import replace

import pytest

from customhouse.report import FINDING_FORMATS, finding_renderer
from customhouse.report.scan_report import ScanReport, ordered, summary
from tests.conftest import ROOT
from tests.reports import samples


@pytest.mark.parametrize("fmt", sorted(FINDING_FORMATS))
def test_same_input_same_bytes_whatever_the_input_order(fmt: str) -> None:
    render = finding_renderer(fmt)
    first = render(samples.report())
    shuffled = list(samples.ALL)
    random.Random(7).shuffle(shuffled)
    warnings = ("b warning", "a warning", "b warning")
    assert render(samples.report(tuple(shuffled))) == first
    assert render(replace(samples.report(), warnings=warnings)) == render(
        replace(samples.report(tuple(shuffled)), warnings=warnings)
    )


@pytest.mark.parametrize("fmt", sorted(FINDING_FORMATS))
def test_no_clock_time_unless_asked(fmt: str) -> None:
    render = finding_renderer(fmt)
    stamp = "2031-05-06T07:08:09Z"
    assert stamp not in render(samples.report())
    if fmt in ("json", "sarif", "junit", "cyclonedx-json"):
        assert stamp in render(samples.report(generated_at=stamp))


@pytest.mark.parametrize("fmt", sorted(FINDING_FORMATS))
def test_empty_report_renders(fmt: str) -> None:
    inv = samples.inventory()
    out = finding_renderer(fmt)(ScanReport(target=inv.target, os=None, findings=()))
    assert out.endswith("\n")


def test_ordering_is_total() -> None:
    """Two findings equal in every sort key keep a fixed order (by fingerprint)."""
    a = samples.ICONV
    b = replace(a, location=replace(a.location, path="var/lib/dpkg/status.d/libc6"), fingerprint="")
    assert [f.location.path for f in ordered([a, b])] == [f.location.path for f in ordered([b, a])]


def test_summary_counts_suppressed_apart() -> None:
    s = summary(samples.ALL)
    assert s["total"] == 7
    assert s["suppressed"] == 1
    assert s["by_severity"]["low"] == 1 and s["suppressed_by_severity"]["low"] == 1
    assert s["suppressed_by_source"] == {"ignore-file": 1}
    assert s["fixable"] == 5


def test_renderers_import_nothing_heavy() -> None:
    """Start-up time: rendering modules load rich, XML and purl parsing only when used."""
    code = (
        "import sys\n"
        "import customhouse.report\n"
        "import customhouse.report.findings_json, customhouse.report.findings_table, customhouse.report.sarif\n"
        "import customhouse.report.junit, customhouse.report.markdown, customhouse.report.cyclonedx\n"
        "import customhouse.match.vex, customhouse.match.ignore\n"
        "heavy = {'rich', 'xml.etree.ElementTree', 'packageurl', 'yaml', 'jsonschema', 'cyclonedx'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"
