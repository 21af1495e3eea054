"""Fixtures for secrets in targets: synthetic tokens (never literal ones), a real image with a
secret deleted in a later layer, one compiled scanner per worker."""

from __future__ import annotations

import json
import random
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from customhouse.image.writer import ImageBuilder, dir_entry, file_entry
from customhouse.secrets import Scanner
from customhouse.secrets.samples import github_token
from customhouse.secrets.targets import get_scanner
from tests.conftest import TEST_CACHE, alpine_layer_tar
from tests.helpers import Run, run_cli

HS_CACHE = TEST_CACHE / "secrets"


def token(seed: int, prefix: str = "ghp") -> str:
    """A GitHub token with a valid checksum, generated: the repository holds no literal token."""
    return github_token(random.Random(f"targets-{seed}"), prefix)


@pytest.fixture(scope="session")
def scanner() -> Scanner:
    return get_scanner(HS_CACHE)


@pytest.fixture(scope="session")
def cli_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache directory per worker: the Hyperscan database is compiled once."""
    return tmp_path_factory.mktemp("cli-cache")


def cli(*args: str, cache: Path, cwd: Path | None = None) -> Run:
    return run_cli(*args, cache_dir=cache, cwd=cwd)


def special(name: str, kind: bytes) -> tuple[tarfile.TarInfo, None]:
    ti = tarfile.TarInfo(name)
    ti.type = kind
    ti.mode = 0o644
    if kind in (tarfile.CHRTYPE, tarfile.BLKTYPE):
        ti.devmajor, ti.devminor = 1, 3
    return ti, None


def whiteout(path: str) -> tuple[tarfile.TarInfo, bytes]:
    parent, _, name = path.rpartition("/")
    return file_entry(f"{parent}/.wh.{name}" if parent else f".wh.{name}", b"")


@dataclass
class SecretImage:
    archive: Path
    deleted: str  # in srv/app/.env (layer 2), deleted by layer 3
    overwritten: str  # in etc/app/config.ini (layer 2), overwritten by layer 3
    kept: str  # in root/.git-credentials-like file that stays (layer 3)
    env: str  # in the config's Env
    history: str  # in a RUN line of the history (an empty-layer ARG step and a layer step)
    label: str


@pytest.fixture(scope="session")
def secret_image(tmp_path_factory: pytest.TempPathFactory) -> SecretImage:
    work = tmp_path_factory.mktemp("secret-image")
    t = SecretImage(
        archive=work / "image.tar",
        deleted=token(1),
        overwritten=token(2),
        kept=token(3, "ghs"),
        env=token(4),
        history=token(5),
        label=token(6),
    )
    b = ImageBuilder(work / "build")
    b.add_layer_tar(alpine_layer_tar("3.20.3"), created_by="ADD alpine-minirootfs-3.20.3-x86_64.tar.gz /")
    b.add_layer_entries(
        [
            dir_entry("srv"),
            dir_entry("srv/app"),
            file_entry("srv/app/.env", f"# deploy settings\nGITHUB_TOKEN={t.deleted}\n".encode()),
            dir_entry("etc/app"),
            file_entry("etc/app/config.ini", f"[github]\ntoken = {t.overwritten}\n".encode()),
        ],
        created_by=f"RUN /bin/sh -c echo GH={t.history} > /dev/null && cp -r /src /srv/app",
    )
    b.add_layer_entries(
        [
            whiteout("srv/app/.env"),
            file_entry("etc/app/config.ini", b"[github]\ntoken = ${GITHUB_TOKEN}\n"),
            file_entry("srv/app/notes.txt", f"ci token: {t.kept}\n".encode()),
            special("srv/app/pipe", tarfile.FIFOTYPE),
            special("srv/app/null", tarfile.CHRTYPE),
            special("srv/app/disk", tarfile.BLKTYPE),
            file_entry("srv/app/garbage.bin", b"\xff\xfe\x00\x01" * 4096),
            file_entry("srv/app/latin1.txt", b"caf\xe9 \xff\xfe token=" + t.kept.encode() + b" \xc3\n"),
        ],
        created_by="RUN /bin/sh -c rm /srv/app/.env && echo 'token = ${GITHUB_TOKEN}' > /etc/app/config.ini",
    )
    b.history.insert(
        1, {"created": "1970-01-01T00:00:00Z", "created_by": f"ARG GH_TOKEN={t.history}", "empty_layer": True}
    )
    b.config = {
        "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", f"GITHUB_TOKEN={t.env}"],
        "Labels": {"org.example.ci-token": t.label, "maintainer": "ops"},
        "Cmd": ["/bin/sh"],
    }
    b.write_docker_archive(t.archive)
    return t


def scan_json(run: Run) -> dict[str, object]:
    doc: dict[str, object] = json.loads(run.out)
    return doc
