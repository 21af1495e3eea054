"""customhouse's own inventory JSON: everything we know, in a documented, stable shape.

Versioned by `schema_version` (docs/json-schema.md); fields are only ever added. No timestamps
in the body, so the same image always gives the same bytes.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from customhouse.image.scan import ImageAnalysis

SCHEMA_VERSION = "1.0"


def inventory_dict(analysis: ImageAnalysis) -> dict[str, Any]:
    inv = analysis.inventory
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "customhouse", "version": _version()},
        "target": inv.target.to_dict(),
        "os": inv.os.to_dict() if inv.os else None,
        "layers": [li.to_dict() for li in inv.layers],
        "packages": [p.to_dict() for p in inv.packages],
        "warnings": list(inv.warnings),
    }


def render(analysis: ImageAnalysis) -> str:
    return json.dumps(inventory_dict(analysis), indent=2, sort_keys=False) + "\n"


def _version() -> str:
    from customhouse import __version__

    return __version__
