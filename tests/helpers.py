"""Small helpers for tests: run the real CLI in a subprocess, build tiny images."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Run:
    code: int
    out: str
    err: str


def run_cli(
    *args: str, cache_dir: Path | None = None, env: dict[str, str] | None = None, cwd: Path | None = None
) -> Run:
    """Run `python -m customhouse ARGS` as a user would, with its own cache dir."""
    e = dict(os.environ)
    e.update(env or {})
    if cache_dir is not None:
        e["CUSTOMHOUSE_CACHE_DIR"] = str(cache_dir)
    p = subprocess.run(
        [sys.executable, "-m", "customhouse", *args],
        check=False,
        capture_output=True,
        text=True,
        env=e,
        cwd=cwd,
        timeout=600,
    )
    return Run(p.returncode, p.stdout, p.stderr)


def assert_one_line_error(run: Run, code: int, *needles: str) -> None:
    """The error contract: the documented exit code, one line on stderr naming the reason, no traceback."""
    assert run.code == code, (run.code, run.err)
    lines = [ln for ln in run.err.splitlines() if ln.strip()]
    assert len(lines) == 1, run.err
    assert "Traceback" not in run.err
    for n in needles:
        assert n in lines[0], (n, lines[0])


# regopy (rego-cpp) is never imported in the test process: its shared library carries its own
# copy of RE2/abseil, and once it is loaded google-re2 (the runtime rule engine's regex engine)
# aborts the process when it compiles a pattern. The product evaluates Rego in a worker process
# for the same reason (customhouse/misconfig/rego.py); tests never `import regopy` (nor
# pytest.importorskip it): it is a declared dependency, and a missing one fails loudly.
