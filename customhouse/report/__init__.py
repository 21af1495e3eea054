"""Renderers: one module per output format, all fed from the same models.

`render_inventory(fmt, analysis)` serves SBOM-style output; finding reports (vulnerabilities,
secrets, misconfigurations) join through the same registry as those scanners arrive.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from customhouse.image.scan import ImageAnalysis
    from customhouse.report.scan_report import ScanReport

InventoryRenderer = Callable[["ImageAnalysis"], str]
FindingRenderer = Callable[["ScanReport"], str]

# format name -> "module:function"; imported on use so `--help` stays fast.
INVENTORY_FORMATS: dict[str, str] = {
    "json": "customhouse.report.inventory_json:render",
    "table": "customhouse.report.table:render_inventory",
    "cyclonedx-json": "customhouse.report.cyclonedx:render",
    "spdx-json": "customhouse.report.spdx:render",
}


def inventory_renderer(fmt: str) -> InventoryRenderer:
    target = INVENTORY_FORMATS[fmt]
    mod, _, fn = target.partition(":")
    func: InventoryRenderer = getattr(importlib.import_module(mod), fn)
    return func


# Finding reports (docs/report-formats.md), fed a ScanReport.
FINDING_FORMATS: dict[str, str] = {
    "table": "customhouse.report.findings_table:render_table",
    "json": "customhouse.report.findings_json:render_json",
    "sarif": "customhouse.report.sarif:render_sarif",
    "cyclonedx-json": "customhouse.report.cyclonedx:render_cyclonedx",
    "junit": "customhouse.report.junit:render_junit",
    "markdown": "customhouse.report.markdown:render_markdown",
}


def finding_renderer(fmt: str) -> FindingRenderer:
    target = FINDING_FORMATS[fmt]
    mod, _, fn = target.partition(":")
    func: FindingRenderer = getattr(importlib.import_module(mod), fn)
    return func
