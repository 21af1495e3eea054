"""`customhouse image sbom:FILE` on SBOMs written by syft and trivy: the same vulnerabilities as
scanning the image itself (the SBOM carries the packages, their source packages and the OS)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench._common import PEER_FLAGS_TRIVY
from tests.conftest import cached_build, shared
from tests.helpers import run_cli
from tests.match.conftest import shared_db

pytestmark = pytest.mark.peer


def _tool(name: str) -> str:
    p = Path(sys.executable).parent / name
    found = str(p) if p.exists() else shutil.which(name)
    if not found:
        pytest.skip(f"{name} is not installed")
    return found


def _archive() -> Path:
    src = shared("images/alpine-3.10-docker-archive.tar.gz")

    def build(dst: Path) -> None:
        import gzip

        with gzip.open(src) as f, open(dst, "wb") as out:
            shutil.copyfileobj(f, out)

    return cached_build("alpine-3.10-docker-archive.tar", build)


def _ids(out: str) -> set[tuple[str, str]]:
    return {(f["vulnerability"]["package_name"], f["id"]) for f in json.loads(out)["findings"]}


@pytest.mark.parametrize(
    ("tool", "fmt"),
    [("syft", "cyclonedx-json"), ("syft", "spdx-json"), ("trivy", "cyclonedx"), ("trivy", "spdx-json")],
)
def test_peer_sboms_give_the_image_findings(tool: str, fmt: str, tmp_path: Path) -> None:
    archive = _archive()
    direct = run_cli(
        "image", f"docker-archive:{archive}", "--db", str(shared_db()), "-f", "json", cache_dir=tmp_path / "c"
    )
    assert direct.code == 0
    expected = _ids(direct.out)
    assert len(expected) > 10
    sbom = tmp_path / "sbom.json"
    if tool == "syft":
        subprocess.run(
            [_tool("syft"), f"docker-archive:{archive}", "-o", f"{fmt}={sbom}", "-q"],
            check=True,
            capture_output=True,
            env=dict(os.environ, SYFT_CHECK_FOR_APP_UPDATE="false"),
        )
    else:
        subprocess.run(
            [
                _tool("trivy"),
                "image",
                "--input",
                str(archive),
                "--format",
                fmt,
                "-o",
                str(sbom),
                "--cache-dir",
                str(tmp_path / "tc"),
                *PEER_FLAGS_TRIVY,
            ],
            check=True,
            capture_output=True,
        )
    run = run_cli("image", f"sbom:{sbom}", "--db", str(shared_db()), "-f", "json", cache_dir=tmp_path / "c")
    assert run.code == 0, run.err
    assert _ids(run.out) == expected
