"""Fixtures of real binaries and archives (built once per machine, see fixtures.py)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import IO

import pytest

from tests.binaries import fixtures


@pytest.fixture(scope="session")
def go_bins() -> Path:
    return fixtures.go_binaries()


@pytest.fixture(scope="session")
def esbuild_bins() -> Path:
    return fixtures.esbuild_binaries()


@pytest.fixture(scope="session")
def rust_bins() -> Path:
    return fixtures.rust_binaries()


@pytest.fixture(scope="session")
def java_dir() -> Path:
    return fixtures.java_archives()


class CountingFile(io.RawIOBase):
    """A seekable file that counts the bytes handed out, to prove analyzers read little."""

    def __init__(self, data: bytes) -> None:
        self._inner = io.BytesIO(data)
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, pos: int, whence: int = 0) -> int:
        return self._inner.seek(pos, whence)

    def tell(self) -> int:
        return self._inner.tell()

    def read(self, size: int = -1) -> bytes:
        data = self._inner.read(size)
        self.bytes_read += len(data)
        return data

    def readinto(self, b: memoryview) -> int:  # type: ignore[override]
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)


class CountingBlob:
    """A `Blob` whose `read()` is forbidden and whose `open()` counts what is read."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self.files: list[CountingFile] = []
        self.head_bytes = 0

    @property
    def size(self) -> int:
        return len(self._data)

    def head(self, n: int) -> bytes:
        self.head_bytes += min(n, len(self._data))
        return self._data[:n]

    def read(self) -> bytes:
        raise AssertionError("analyzer read the whole file")

    def open(self) -> IO[bytes]:
        f = CountingFile(self._data)
        self.files.append(f)
        return f  # type: ignore[return-value]

    @property
    def bytes_read(self) -> int:
        return self.head_bytes + sum(f.bytes_read for f in self.files)
