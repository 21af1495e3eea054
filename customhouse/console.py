"""The one rich console on stderr that every live display (layer counter, download bars) shares.

Two independent live displays on one terminal fight over the cursor; drawing both through the
same console makes rich nest them. Created lazily: importing rich costs start-up time that a
piped, non-interactive run never needs.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any


@lru_cache(maxsize=1)
def stderr_console() -> Any:
    from rich.console import Console

    return Console(stderr=True)
