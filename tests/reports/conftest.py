"""Validators for the report tests, fetched from package registries at test time.

Nothing here is committed: the SARIF schema and Microsoft's SARIF multitool come from npm
packages that ship them, the Jenkins JUnit XSD from pytest's source distribution on PyPI.
Each is fetched once into the shared test cache (tests.conftest.cached_build); when the
registry or its client is unavailable the tests that need it skip, saying why.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import cached_build

# Pinned so a cached copy always means the same thing. Microsoft's SARIF multitool for Linux
# ships the final SARIF 2.1.0 JSON schema (`sarif-2.1.0.json`, the OASIS schema with its
# errata) next to the validator binary, which also carries GitHub's ingestion rules.
MULTITOOL = "@microsoft/sarif-multitool-linux@5.7.0"


class Unavailable(Exception):
    pass


def _npm_pack(spec: str, into: Path) -> Path:
    npm = shutil.which("npm")
    if npm is None:
        raise Unavailable("npm is not installed")
    try:
        r = subprocess.run(
            [npm, "pack", spec, "--silent", "--pack-destination", str(into)],
            capture_output=True,
            text=True,
            timeout=600,
            cwd=into,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise Unavailable(f"npm pack {spec} timed out") from None
    tgz = sorted(into.glob("*.tgz"))
    if r.returncode != 0 or not tgz:
        raise Unavailable(f"npm pack {spec} failed: {r.stderr.strip()[-300:]}")
    return tgz[0]


def _cached(name: str, build: Any) -> Path:
    try:
        return cached_build(name, build)
    except Unavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def sarif_package() -> Path:
    """The multitool package, extracted (about 100 MB, fetched once per machine)."""

    def build(dst: Path) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            tgz = _npm_pack(MULTITOOL, Path(tmp))
            with tarfile.open(tgz) as tf:
                tf.extractall(tmp, filter="data")
            shutil.move(str(Path(tmp) / "package"), str(dst))
        (dst / "Sarif.Multitool").chmod(0o755)

    return _cached("sarif-multitool-5.7.0", build)


@pytest.fixture(scope="session")
def sarif_schema(sarif_package: Path) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((sarif_package / "sarif-2.1.0.json").read_text())
    return schema


@pytest.fixture(scope="session")
def sarif_multitool(sarif_package: Path) -> Path:
    tool = sarif_package / "Sarif.Multitool"
    try:
        probe = subprocess.run([str(tool), "--version"], capture_output=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"Sarif.Multitool does not run here: {exc}")
    if probe.returncode != 0:
        pytest.skip(f"Sarif.Multitool does not run here: {probe.stderr[-300:]!r}")
    return tool


@pytest.fixture(scope="session")
def junit_xsd() -> Path:
    """Jenkins' junit-10.xsd, as pytest's own tests use it (in pytest's sdist)."""
    version = pytest.__version__

    def build(dst: Path) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:"]
            cmd += ["-d", tmp, f"pytest=={version}"]
            env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
            try:
                r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env, check=False)
            except subprocess.TimeoutExpired:
                raise Unavailable("pip download pytest timed out") from None
            sdists = sorted(Path(tmp).glob("pytest-*.tar.gz"))
            if r.returncode != 0 or not sdists:
                raise Unavailable(f"pytest {version} sdist unavailable: {r.stderr.strip()[-300:]}")
            with tarfile.open(sdists[0]) as tf:
                names = [n for n in tf.getnames() if n.endswith("/testing/example_scripts/junit-10.xsd")]
                member = tf.extractfile(names[0]) if names else None
                if member is None:
                    raise Unavailable(f"pytest {version} sdist has no junit-10.xsd")
                dst.write_bytes(member.read())

    return _cached(f"junit-10-pytest-{version}.xsd", build)
