"""The compiled methods of our dataclasses, kept between runs of the command line.

`@dataclass` writes each class's `__init__`, `__repr__`, `__eq__`, `__hash__` and (frozen)
`__setattr__`/`__delattr__` as source text and compiles it when the class is created: about
390 compilations and 60-90 ms of every `k8s` or `config` run before any file is read, a
third of a one-file scan and 5 % of a 2,000-manifest one (docs/benchmarks.md). The text
depends only on the class's fields, so its compiled code is the same every run.

`install` routes the `exec` calls of the `dataclasses` module through a table of code objects
compiled earlier, keyed by the exact source text, and `save` writes new entries to one file
in the cache directory. Each entry is marshalled on its own and read back only when a class
asks for it: the table holds the methods of every command's classes (hundreds of entries;
773 in one that had lived through many code changes), and unmarshalling all of them took
9-26 ms of each run. The file is only ever a shortcut: it is keyed by the interpreter's
version (code objects are not portable), anything unreadable in it is ignored, and a text
not in it is compiled as before. Only the command line installs it (`cli.main`): a library
importing customhouse gets the standard library untouched.

The same table keeps the compiled programs of regular expressions. Our modules compile about
160 patterns as they are imported (the checks' own, and those of the libraries they use), 20-30
ms of every run before its first file (measured in the parent, before the workers fork). Python
compiles a pattern in two steps, parsing the text into a tree and turning the tree into the
program its regex engine runs; the table keeps the second step's result per pattern and flags,
so a later run only hands it to the engine. An entry is kept only if the program it gives makes
a pattern equal (by `==`, which compares the programs) to the one Python's own compiler makes.
"""

from __future__ import annotations

import builtins
import contextlib
import marshal
import os
import stat
import sys
from pathlib import Path
from types import CodeType
from typing import Any

_TABLE: dict[str, bytes] = {}  # key -> marshalled value, as read from the table
# this run's values by key: a dataclass method's source text -> its code object; for a regular
# expression, _RE_PREFIX + flags + pattern -> the arguments of `_sre.compile` after the pattern
_CODE: dict[str, Any] = {}
_NEW: set[str] = set()
_FILE: Path | None = None
_MAX_ENTRIES = 8192


def _exec(source: Any, globals_: Any = None, locals_: Any = None) -> None:
    if isinstance(source, str):
        code = _CODE.get(source)
        if code is None:
            raw = _TABLE.get(source)
            if raw is not None:  # unmarshalled on first use: a run needs a fraction of the table
                with contextlib.suppress(EOFError, ValueError, TypeError):
                    got = marshal.loads(raw)
                    code = got if isinstance(got, CodeType) else None
            if code is None:
                # as `exec` in dataclasses.py compiles it: without this module's `from __future__`
                # flags (inherited, they would turn the generated annotations into strings)
                code = compile(source, "<string>", "exec", flags=0, dont_inherit=True)
                if len(_CODE) < _MAX_ENTRIES and (raw is not None or len(_TABLE) + len(_NEW) < _MAX_ENTRIES):
                    _NEW.add(source)  # new, or an entry that did not read back: (re)written
            if len(_CODE) < _MAX_ENTRIES:
                _CODE[source] = code
        source = code
    builtins.exec(source, globals_, locals_)


_RE_PREFIX = "\0re\0"  # no Python source text starts with NUL
_RE_ORIGINAL: Any = None


def _re_compile(pattern: Any, flags: int = 0) -> Any:
    """`re._compiler.compile`, for text patterns through the table."""
    import _sre
    from re import _compiler, _parser  # type: ignore[attr-defined]

    if type(pattern) is not str or flags & _compiler.SRE_FLAG_DEBUG:
        return _RE_ORIGINAL(pattern, flags)
    key = f"{_RE_PREFIX}{flags}\0{pattern}"
    args = _CODE.get(key)
    if args is None and key in _TABLE:
        with contextlib.suppress(EOFError, ValueError, TypeError):
            got = marshal.loads(_TABLE[key])
            args = got if isinstance(got, tuple) and len(got) == 5 else None
    if args is not None:
        with contextlib.suppress(TypeError, ValueError, RuntimeError, OverflowError):
            return _sre.compile(pattern, *args)
    compiled = _RE_ORIGINAL(pattern, flags)
    if len(_CODE) >= _MAX_ENTRIES or len(_TABLE) + len(_NEW) >= _MAX_ENTRIES:
        return compiled
    try:  # the steps of `_compiler.compile`, to keep what the engine is given
        tree = _parser.parse(pattern, flags)
        state = tree.state
        index: list[str | None] = [None] * state.groups
        for name, i in state.groupdict.items():
            index[i] = name
        code = [int(op) for op in _compiler._code(tree, flags)]  # plain ints: marshal refuses int subclasses
        groups = {str(name): int(i) for name, i in state.groupdict.items()}
        args = (int(flags | state.flags), code, int(state.groups - 1), groups, tuple(index))
        if _sre.compile(pattern, *args) == compiled:
            _CODE[key] = args
            _NEW.add(key)
    except Exception:  # an interpreter whose internals differ: patterns compile as usual
        pass
    return compiled


#: the table's format: raised when what is stored changes meaning (2: compiled without
#: inheriting this module's future flags; 3: each entry marshalled on its own, read lazily)
_FORMAT = 3


def cache_file(cache_dir: Path) -> Path:
    """Where the table lives: one file per interpreter version."""
    tag = sys.implementation.cache_tag or "python"
    return cache_dir / "code" / f"dataclasses-{_FORMAT}-{tag}-{sys.hexversion:x}.marshal"


def _private(st: os.stat_result) -> bool:
    """Owned by this user and writable by nobody else."""
    return st.st_uid == os.getuid() and not st.st_mode & 0o022


def _private_dirs(path: Path) -> bool:
    """Whether the table's directory (itself, not a symlink) and the cache directory above it
    (wherever a symlink leads) are this user's alone: whoever can write there could swap the
    table in."""
    try:
        code, cache = os.lstat(path.parent), os.stat(path.parent.parent)
    except OSError:
        return False
    return stat.S_ISDIR(code.st_mode) and stat.S_ISDIR(cache.st_mode) and _private(code) and _private(cache)


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
        if _private_dirs(_FILE):
            fd = os.open(_FILE, os.O_RDONLY | os.O_NOFOLLOW)
            with os.fdopen(fd, "rb") as fh:
                if _private(os.fstat(fh.fileno())):
                    table = marshal.loads(fh.read())
                    if isinstance(table, dict):
                        _TABLE.update((k, v) for k, v in table.items() if isinstance(k, str) and isinstance(v, bytes))
    except (OSError, EOFError, ValueError, TypeError):
        pass  # no table yet, or one we cannot read: compile as usual
    dataclasses.exec = _exec  # type: ignore[attr-defined]  # module globals shadow builtins
    global _RE_ORIGINAL
    from re import _compiler  # type: ignore[attr-defined]

    if _RE_ORIGINAL is None and callable(getattr(_compiler, "_code", None)):
        _RE_ORIGINAL = _compiler.compile
        _compiler.compile = _re_compile


def save() -> None:
    """Write the table if this run compiled anything new: to a fresh private file (random name,
    created exclusively), then renamed over the old one; only into directories that are this
    user's alone (errors ignored: the table is a shortcut)."""
    if not _NEW or _FILE is None:
        return
    import tempfile

    tmp = ""
    try:
        _FILE.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not _private_dirs(_FILE):
            return
        fd, tmp = tempfile.mkstemp(prefix=f".{_FILE.name}.", dir=_FILE.parent)
        with os.fdopen(fd, "wb") as fh:
            _TABLE.update((k, marshal.dumps(_CODE[k])) for k in _NEW)
            fh.write(marshal.dumps(_TABLE))
        os.replace(tmp, _FILE)
        tmp = ""
        _NEW.clear()
    except (OSError, ValueError):
        pass
    finally:
        if tmp:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
