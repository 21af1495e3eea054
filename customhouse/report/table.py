"""Human tables (rich), for terminals; never parsed, so free to change."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from customhouse.image.scan import ImageAnalysis


def render_inventory(analysis: ImageAnalysis) -> str:
    from rich.console import Console
    from rich.table import Table

    inv = analysis.inventory
    buf = io.StringIO()
    console = Console(file=buf, width=160, force_terminal=False, color_system=None)
    title = inv.target.name
    if inv.os:
        title += f" ({inv.os.family} {inv.os.version})" if inv.os.version else f" ({inv.os.family})"
    table = Table(title=title, title_justify="left", show_lines=False)
    for col in ("Name", "Version", "Type", "Source", "Layer", "Path"):
        table.add_column(col, overflow="fold")
    for p in inv.packages:
        src = p.source_name if p.source_name and p.source_name != p.name else ""
        layer = str(p.layer_index + 1) if p.layer_index >= 0 else ""
        table.add_row(p.name, p.version, p.type, src, layer, "/" + p.path if p.path else "")
    console.print(table)
    console.print(f"{len(inv.packages)} packages")
    for w in inv.warnings:
        console.print(f"warning: {w}")
    return buf.getvalue()
