"""The command line keeps its dataclasses' compiled methods between runs (customhouse.codecache):
the classes behave exactly as without it, the table is written once, privately, and a table
that is corrupt or that others could have written is never trusted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from customhouse.codecache import cache_file
from tests.helpers import run_cli

_SCRIPT = """
import dataclasses, json, sys
from pathlib import Path
from customhouse import codecache
codecache.install(Path(sys.argv[1]))
loaded = len(codecache._TABLE)

@dataclasses.dataclass(frozen=True)
class Point:
    x: int
    y: int = 2
    tags: tuple[str, ...] = ()

p = Point(1)
try:
    p.x = 5
    frozen = False
except dataclasses.FrozenInstanceError:
    frozen = True
from_table = sum(1 for k in codecache._CODE if k in codecache._TABLE and k not in codecache._NEW)
new = len(codecache._NEW)
codecache.save()
ann = Point.__init__.__annotations__
print(json.dumps({"loaded": loaded, "new": new, "from_table": from_table, "repr": repr(p), "eq": p == Point(1, 2),
                  "hash": hash(p) == hash(Point(1)), "frozen": frozen,
                  "annotations": ann == {"x": int, "y": int, "tags": tuple[str, ...], "return": None}}))
"""


def _run(cache: Path) -> dict[str, object]:
    out = subprocess.run([sys.executable, "-c", _SCRIPT, str(cache)], capture_output=True, text=True, check=True)
    return dict(json.loads(out.stdout))


def test_classes_behave_the_same_from_the_table(tmp_path: Path) -> None:
    first = _run(tmp_path)
    table = cache_file(tmp_path)
    assert first["loaded"] == 0 and table.is_file()
    assert table.stat().st_mode & 0o777 == 0o600
    second = _run(tmp_path)
    assert first["new"] > 0 and first["from_table"] == 0
    assert second["loaded"] > 0 and second["new"] == 0  # every method came from the table
    assert second["from_table"] == first["new"]
    for run in (first, second):
        assert run["repr"] == "Point(x=1, y=2, tags=())"
        assert run["eq"] is True and run["hash"] is True and run["frozen"] is True
        # compiled as dataclasses.py compiles it: real annotations, not this package's strings
        assert run["annotations"] is True


def test_untrusted_or_corrupt_tables_are_ignored(tmp_path: Path) -> None:
    _run(tmp_path)
    table = cache_file(tmp_path)
    os.chmod(table, 0o666)  # others could have put code in it
    assert _run(tmp_path)["loaded"] == 0
    assert table.stat().st_mode & 0o777 == 0o600  # replaced by this run's own
    table.write_bytes(b"\x00garbage")
    os.chmod(table, 0o600)
    assert _run(tmp_path)["loaded"] == 0  # unreadable: compiled as usual, then rewritten
    assert _run(tmp_path)["loaded"] > 0


def test_a_directory_others_may_write_is_not_used(tmp_path: Path) -> None:
    """Whoever can write the table's directory (or the cache directory) could swap the table or
    a symlink in: then the table is neither read nor written."""
    _run(tmp_path)
    table = cache_file(tmp_path)
    before = table.read_bytes()
    for shared in (table.parent, tmp_path):
        os.chmod(shared, 0o777)
        run = _run(tmp_path)
        assert run["loaded"] == 0 and run["repr"] == "Point(x=1, y=2, tags=())"
        assert table.read_bytes() == before and not [p for p in table.parent.iterdir() if p != table]
        os.chmod(shared, 0o700)
    table.unlink()
    table.symlink_to(tmp_path / "elsewhere")
    (tmp_path / "elsewhere").write_bytes(before)
    os.chmod(tmp_path / "elsewhere", 0o600)
    assert _run(tmp_path)["loaded"] == 0  # a symlink is not followed


def test_a_cache_directory_behind_a_symlink_is_used(tmp_path: Path) -> None:
    """`~/.cache` moved to another disk and linked back is common: the cache directory is
    judged where its symlink leads (the table's own directory must not be a link)."""
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    (tmp_path / "link").symlink_to(real)
    assert _run(tmp_path / "link")["loaded"] == 0
    assert cache_file(real).is_file()
    assert _run(tmp_path / "link")["loaded"] > 0


def test_the_command_line_writes_the_table_once(tmp_path: Path) -> None:
    manifest = tmp_path / "pod.yaml"
    manifest.write_text(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: c\n    image: nginx\n"
    )
    cache = tmp_path / "cache"
    first = run_cli("k8s", str(manifest), "-f", "json", cache_dir=cache)
    table = cache_file(cache)
    stamp = table.stat().st_mtime_ns
    second = run_cli("k8s", str(manifest), "-f", "json", cache_dir=cache)
    assert first.code == second.code == 0
    strip = [json.loads(r.out) for r in (first, second)]
    for doc in strip:
        doc.pop("generated_at", None)
    assert strip[0] == strip[1] and strip[0]["findings"]
    assert table.stat().st_mtime_ns == stamp  # nothing new to write the second time


def test_an_entry_that_does_not_read_back_is_compiled_and_rewritten(tmp_path: Path) -> None:
    """Entries are unmarshalled one by one when a class asks: a damaged one is compiled again
    (the class still works) and written back whole."""
    import marshal

    first = _run(tmp_path)
    table = cache_file(tmp_path)
    entries = marshal.loads(table.read_bytes())
    assert isinstance(entries, dict) and all(isinstance(v, bytes) for v in entries.values())
    table.write_bytes(marshal.dumps({k: b"\xffnot code" for k in entries}))
    os.chmod(table, 0o600)
    damaged = _run(tmp_path)
    assert damaged["from_table"] == 0 and damaged["new"] == first["new"]
    assert damaged["repr"] == "Point(x=1, y=2, tags=())" and damaged["frozen"] is True
    again = _run(tmp_path)
    assert again["new"] == 0 and again["from_table"] == first["new"]


_RE_SCRIPT = """
import json, re, sys
from pathlib import Path
from customhouse import codecache
from re import _compiler
original = _compiler.compile
codecache.install(Path(sys.argv[1]))
patterns = json.loads(sys.argv[2])
def valid(p, f):
    try:
        return original(p, f) is not None
    except re.error:
        return False
cases = [(p, 0) for p in patterns] + [(p, re.I | re.M) for p in patterns[:20]]
cases += [(p, re.X | re.S) for p in patterns[:8]]
cases = [(p, f) for p, f in cases if valid(p, int(f))]
got = [codecache._re_compile(p, int(f)) for p, f in cases]
same = [g == original(p, int(f)) for g, (p, f) in zip(got, cases)]
behaves = all(
    [m.span() for m in g.finditer(sample)] == [m.span() for m in original(p, int(f)).finditer(sample)]
    and g.groupindex == original(p, int(f)).groupindex
    for g, (p, f) in zip(got, cases)
    for sample in ("apt-get install -y curl", "AKIA0123456789ABCDEF", "password=hunter2\\nTOKEN: x", "")
)
new = sum(1 for k in codecache._NEW if k.startswith(codecache._RE_PREFIX))
codecache.save()
print(json.dumps({"same": all(same), "behaves": behaves, "new": new, "n": len(cases),
                  "from_table": sum(1 for k in codecache._TABLE if k.startswith(codecache._RE_PREFIX))}))
"""


def _project_patterns() -> list[str]:
    """The text patterns our own modules compile at import, and some with every kind of group."""
    import re

    from customhouse.misconfig import shell
    from customhouse.misconfig.checks import _secrettext, _secretvalues, dockerfile

    found = {
        v.pattern
        for m in (_secrettext, _secretvalues, dockerfile, shell)
        for v in vars(m).values()
        if isinstance(v, re.Pattern) and isinstance(v.pattern, str)
    }
    found |= {r"(?P<user>[a-z_][a-z0-9_-]*)(?::(?P<pw>[^@/]+))?@", r"(?<=\s)--no-cache(?!-dir)\b", r"(a|b)*?c{2,5}$"}
    return sorted(found)


def test_regular_expressions_compile_the_same_from_the_table(tmp_path: Path) -> None:
    """A pattern built from the table's program equals (same program, flags and groups) and
    matches like the one Python compiles; the first run records, the second only reads."""
    patterns = _project_patterns()
    assert len(patterns) > 40
    arg = json.dumps(patterns)
    out = [
        json.loads(
            subprocess.run(
                [sys.executable, "-c", _RE_SCRIPT, str(tmp_path), arg], capture_output=True, text=True, check=True
            ).stdout
        )
        for _ in range(2)
    ]
    first, second = out
    assert first["same"] and first["behaves"] and second["same"] and second["behaves"]
    assert first["new"] == first["n"] and second["new"] == 0  # recorded once, then read back
    assert second["from_table"] == first["n"]
