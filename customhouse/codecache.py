"""The compiled methods of our dataclasses, kept between runs of the command line.

`@dataclass` writes each class's `__init__`, `__repr__`, `__eq__`, `__hash__` and (frozen)
`__setattr__`/`__delattr__` as source text and compiles it when the class is created: about
390 compilations and 60-90 ms of every `k8s` or `config` run before any file is read, a
third of a one-file scan and 5 % of a 2,000-manifest one (docs/benchmarks.md). The text
depends only on the class's fields, so its compiled code is the same every run.

`install` routes the `exec` calls of the `dataclasses` module through a table of code objects
compiled earlier, keyed by the exact source text, and `save` writes new entries to one file
in the cache directory. The file is only ever a shortcut: it is keyed by the interpreter's
version (code objects are not portable), anything unreadable in it is ignored, and a text
not in it is compiled as before. Only the command line installs it (`cli.main`): a library
importing customhouse gets the standard library untouched.
"""

from __future__ import annotations

import builtins
import marshal
import os
import sys
from pathlib import Path
from types import CodeType
from typing import Any

_CODE: dict[str, CodeType] = {}
_NEW: set[str] = set()
_FILE: Path | None = None
_MAX_ENTRIES = 4096


def _exec(source: Any, globals_: Any = None, locals_: Any = None) -> None:
    if isinstance(source, str):
        code = _CODE.get(source)
        if code is None:
            code = compile(source, "<string>", "exec")
            if len(_CODE) < _MAX_ENTRIES:
                _CODE[source] = code
                _NEW.add(source)
        source = code
    builtins.exec(source, globals_, locals_)


def cache_file(cache_dir: Path) -> Path:
    """Where the table lives: one file per interpreter version."""
    tag = sys.implementation.cache_tag or "python"
    return cache_dir / "code" / f"dataclasses-{tag}-{sys.hexversion:x}.marshal"


def install(cache_dir: Path) -> None:
    """Load the table (if any) and route `dataclasses`' compilations through it.

    Code runs from the table, so it is read only from a file of this user that nobody else
    may write (the trust Python gives its own `__pycache__`)."""
    global _FILE
    import dataclasses

    if getattr(dataclasses, "exec", None) is _exec:
        return
    _FILE = cache_file(cache_dir)
    try:
        with open(_FILE, "rb") as fh:
            st = os.fstat(fh.fileno())
            if st.st_uid == os.getuid() and not st.st_mode & 0o022:
                table = marshal.loads(fh.read())
                if isinstance(table, dict):
                    _CODE.update((k, v) for k, v in table.items() if isinstance(k, str) and isinstance(v, CodeType))
    except (OSError, EOFError, ValueError, TypeError):
        pass  # no table yet, or one we cannot read: compile as usual
    dataclasses.exec = _exec  # type: ignore[attr-defined]  # module globals shadow builtins


def save() -> None:
    """Write the table if this run compiled anything new (an atomic replace; errors ignored)."""
    if not _NEW or _FILE is None:
        return
    tmp = _FILE.with_name(f"{_FILE.name}.{os.getpid()}.tmp")
    try:
        _FILE.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(marshal.dumps(_CODE))
        os.replace(tmp, _FILE)
        _NEW.clear()
    except (OSError, ValueError):
        tmp.unlink(missing_ok=True)
