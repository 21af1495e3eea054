"""Where customhouse may write: one directory, chosen before anything else is imported."""

from __future__ import annotations

import os
from pathlib import Path


def default_cache_dir() -> Path:
    """`$CUSTOMHOUSE_CACHE_DIR`, else `$XDG_CACHE_HOME/customhouse`, else `~/.cache/customhouse`."""
    env = os.environ.get("CUSTOMHOUSE_CACHE_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "customhouse"
