"""Shared benchmark plumbing: run a command N times, report wall time and peak memory.

Peak memory is the max RSS wait4(2) reports for the process we start, so it measures exactly
that process (for wrapper scripts: the largest of it and the children it waited for).
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
PEER_FLAGS_TRIVY = [
    "--skip-db-update",
    "--offline-scan",
    "--skip-check-update",
    "--skip-version-check",
    "--disable-telemetry",
    "-q",
]


@dataclass
class Sample:
    seconds: float
    max_rss_mb: float


@dataclass
class Result:
    name: str
    samples: list[Sample]

    @property
    def median(self) -> float:
        return statistics.median(s.seconds for s in self.samples)

    @property
    def best(self) -> float:
        return min(s.seconds for s in self.samples)

    @property
    def peak_mb(self) -> float:
        return max(s.max_rss_mb for s in self.samples)


def run_once(cmd: Sequence[str], env: dict[str, str] | None = None, stdout: Path | None = None) -> Sample:
    e = dict(os.environ)
    e.update(env or {})
    out = open(stdout, "wb") if stdout else subprocess.DEVNULL
    try:
        t0 = time.perf_counter()
        proc = subprocess.Popen(list(cmd), env=e, stdout=out, stderr=subprocess.PIPE)
        _, status, ru = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - t0
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        proc.returncode = os.waitstatus_to_exitcode(status)
    finally:
        if stdout:
            out.close()  # type: ignore[union-attr]
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({proc.returncode}): {err.strip()[-500:]}")
    return Sample(elapsed, ru.ru_maxrss / 1024)


def measure(
    name: str,
    cmd: Sequence[str],
    runs: int,
    before: Callable[[], None] | None = None,
    env: dict[str, str] | None = None,
    stdout: Path | None = None,
) -> Result:
    samples = []
    for _ in range(runs):
        if before:
            before()
        samples.append(run_once(cmd, env, stdout))
    return Result(name, samples)


def fresh_dir(path: Path) -> Callable[[], None]:
    def reset() -> None:
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)

    return reset


def tool(name: str) -> str:
    p = VENV_BIN / name
    if p.exists():
        return str(p)
    found = shutil.which(name)
    if not found:
        raise SystemExit(f"{name} not found: pip install the peer tools (see docs/benchmarks.md)")
    return found


def precompile() -> None:
    """Users get byte-compiled modules from pip; make sure we are measured the same way."""
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(ROOT / "customhouse")], check=True, stdout=subprocess.DEVNULL
    )


def table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
