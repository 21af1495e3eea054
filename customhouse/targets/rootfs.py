"""`dir:PATH`: a root filesystem that is already unpacked (a chroot, a debootstrap, a mount)."""

from __future__ import annotations

from pathlib import Path

from customhouse.errors import InputError
from customhouse.model import TargetInfo
from customhouse.targets.base import RootfsSource


class DirSource(RootfsSource):
    def __init__(self, path: Path, name: str) -> None:
        if not path.is_dir():
            raise InputError(f"{path}: not a directory")
        self.root = path.resolve()
        self.info = TargetInfo(name=name, kind="dir")

    def close(self) -> None:
        """Nothing to release: the directory belongs to the user."""
