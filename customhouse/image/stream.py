"""Byte streams for layers: sniffed decompression, digest checks and resource limits.

A layer is read exactly once, so everything that must be known about its bytes is computed
on the way through: the blob digest (compressed), the diff_id (uncompressed), and the running
sizes that stop a decompression bomb before it fills memory or disk.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from typing import IO, Any, cast

from customhouse.errors import DigestMismatchError, InputError, LimitExceededError
from customhouse.settings import Limits


def sniff_compression(head: bytes) -> str:
    """Decide by magic bytes, never by media type: registries and archives mislabel layers."""
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        return "zstd"
    if head.startswith(b"BZh"):
        return "bzip2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    return "none"


class CountingReader(io.RawIOBase):
    """Counts (and optionally hashes) what passes through; optionally enforces a byte cap."""

    def __init__(self, inner: IO[bytes], algo: str | None = None, cap: int | None = None, where: str = "") -> None:
        self._inner = inner
        self.count = 0
        self._hash = hashlib.new(algo) if algo else None
        self._algo = algo or ""
        self._cap = cap
        self._where = where

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        data = self._inner.read(len(b))
        n = len(data)
        if not n:
            return 0
        b[:n] = data
        self.count += n
        if self._cap is not None and self.count > self._cap:
            raise LimitExceededError(
                f"{self._where}: uncompressed layer exceeds the {self._cap}-byte limit (--max-layer-size)"
            )
        if self._hash is not None:
            self._hash.update(data)
        return n

    def read(self, size: int = -1) -> bytes:  # type: ignore[override]
        # Fast path: avoid readinto's copy when the caller asks for a chunk.
        if size is None or size < 0:
            chunks = []
            while chunk := self.read(1 << 20):
                chunks.append(chunk)
            return b"".join(chunks)
        data = self._inner.read(size)
        n = len(data)
        if n:
            self.count += n
            if self._cap is not None and self.count > self._cap:
                raise LimitExceededError(
                    f"{self._where}: uncompressed layer exceeds the {self._cap}-byte limit (--max-layer-size)"
                )
            if self._hash is not None:
                self._hash.update(data)
        return data

    def digest(self) -> str:
        if self._hash is None:
            return ""
        return f"{self._algo}:{self._hash.hexdigest()}"

    def drain(self) -> None:
        while self.read(1 << 20):
            pass


class RatioGuard(io.RawIOBase):
    """Stops reading when decompressed/compressed exceeds the configured ratio (gzip bombs)."""

    def __init__(self, inner: IO[bytes], compressed: CountingReader, limits: Limits, where: str) -> None:
        self._inner = inner
        self._compressed = compressed
        self._limits = limits
        self._where = where
        self.count = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:  # type: ignore[override]
        try:
            data = self._inner.read(size if size and size > 0 else 1 << 20)
        except EOFError:
            raise InputError(f"{self._where}: compressed stream is truncated") from None
        except OSError as exc:
            raise InputError(f"{self._where}: corrupt compressed stream ({exc})") from None
        except Exception as exc:  # zstandard raises its own ZstdError
            if type(exc).__name__ == "ZstdError":
                raise InputError(f"{self._where}: corrupt zstd stream ({exc})") from None
            raise
        self.count += len(data)
        if self.count > self._limits.ratio_floor:
            comp = max(self._compressed.count, 1)
            if self.count / comp > self._limits.max_ratio:
                raise LimitExceededError(
                    f"{self._where}: decompression ratio exceeds {self._limits.max_ratio}:1 after "
                    f"{self.count} bytes (possible decompression bomb; see --max-ratio)"
                )
        return data

    def readinto(self, b: Any) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)


def open_decompressed(raw: IO[bytes], kind: str, where: str, limits: Limits) -> IO[bytes]:
    """Wrap `raw` (already sniffed as `kind`) in a streaming decompressor with bomb guards."""
    counted = raw if isinstance(raw, CountingReader) else CountingReader(raw)
    inner: IO[bytes]
    if kind == "none":
        return counted  # type: ignore[return-value]
    if kind == "gzip":
        try:
            from isal import igzip

            inner = cast(IO[bytes], igzip.IGzipFile(fileobj=counted, mode="rb"))  # type: ignore[no-untyped-call]
        except ImportError:  # pragma: no cover - isal has wheels for every platform we target
            import gzip

            inner = cast(IO[bytes], gzip.GzipFile(fileobj=counted, mode="rb"))
    elif kind == "zstd":
        import zstandard

        dctx = zstandard.ZstdDecompressor(max_window_size=1 << 31)
        inner = cast(IO[bytes], dctx.stream_reader(cast(IO[bytes], counted), read_across_frames=True))
    elif kind == "bzip2":
        import bz2

        inner = bz2.BZ2File(counted)  # type: ignore[arg-type]
    elif kind == "xz":
        import lzma

        inner = lzma.LZMAFile(counted)  # type: ignore[arg-type]
    else:
        raise InputError(f"{where}: unsupported compression {kind}")
    return RatioGuard(inner, counted, limits, where)  # type: ignore[return-value]


class PeekReader(io.RawIOBase):
    """Lets us sniff the first bytes of a non-seekable stream and then read it from the start."""

    def __init__(self, inner: IO[bytes], n: int = 8) -> None:
        self._inner = inner
        self._head = inner.read(n)
        self._pos = 0

    @property
    def head(self) -> bytes:
        return self._head

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:  # type: ignore[override]
        if self._pos < len(self._head):
            if size is None or size < 0:
                out = self._head[self._pos :] + self._inner.read()
                self._pos = len(self._head)
                return out
            out = self._head[self._pos : self._pos + size]
            self._pos += len(out)
            if len(out) < size:
                out += self._inner.read(size - len(out))
            return out
        return self._inner.read(size)

    def readinto(self, b: Any) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)


class _Pump(io.RawIOBase):
    """Reads, decompresses and hashes a layer in a background thread, one MiB chunk at a time.

    Reading files, inflating and hashing all release the GIL, so on a two-core machine they run
    beside the tar parsing of the main thread instead of before it: a cold scan is bounded by
    the slower of the two, not their sum. The queue is short, so memory stays a few MiB.
    """

    def __init__(self, source: IO[bytes], chunk: int = 1 << 20, depth: int = 8) -> None:
        import queue
        import threading

        self._q: queue.Queue[bytes | BaseException] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._buf = b""
        self._pos = 0
        self._eof = False
        self._thread = threading.Thread(target=self._run, args=(source, chunk), daemon=True, name="layer-pump")
        self._thread.start()

    def _run(self, source: IO[bytes], chunk: int) -> None:
        try:
            while not self._stop.is_set():
                data = source.read(chunk)
                self._put(data)
                if not data:
                    return
        except BaseException as exc:  # handed to the reader, re-raised there
            self._put(exc)

    def _put(self, item: bytes | BaseException) -> None:
        import queue

        while not self._stop.is_set():
            try:
                self._q.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:  # type: ignore[override]
        """Up to `size` bytes, never more than the current chunk: whole chunks pass uncopied."""
        if self._pos >= len(self._buf):
            if self._eof:
                return b""
            item = self._q.get()
            if isinstance(item, BaseException):
                self._eof = True
                self._thread.join()
                raise item
            if not item:
                self._eof = True
                self._thread.join()
                return b""
            self._buf, self._pos = item, 0
        if self._pos == 0 and (size < 0 or size >= len(self._buf)):
            self._pos = len(self._buf)
            return self._buf
        end = len(self._buf) if size < 0 else min(len(self._buf), self._pos + size)
        out = self._buf[self._pos : end]
        self._pos = end
        return out

    def readinto(self, b: Any) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)

    def stop(self) -> None:
        """Stop the thread early (error paths); safe to call more than once."""
        self._stop.set()
        while self._thread.is_alive():
            try:
                self._q.get(timeout=0.05)
            except Exception:  # queue.Empty: keep waiting for the thread to see the flag
                pass
        self._eof = True


class LayerStream:
    """Raw blob -> verified, decompressed, size-limited tar bytes.

    `finish()` must be called after the tar reader is done: it drains what the tar reader
    left (padding, trailing zero blocks) so the digests cover the whole blob, then verifies.
    """

    seekable = False
    end: int | None = None

    def __init__(self, raw: IO[bytes], where: str, limits: Limits, blob_digest: str = "", diff_id: str = "") -> None:
        self.where = where
        self._raw = raw
        algo = (blob_digest.partition(":")[0] or "sha256") if blob_digest else None
        self._blob = CountingReader(raw, algo=algo, where=where)
        self._blob_digest = blob_digest
        peek = PeekReader(self._blob)  # type: ignore[arg-type]
        self.compression = sniff_compression(peek.head)
        dec = open_decompressed(peek, self.compression, where, limits)  # type: ignore[arg-type]
        diff_algo = diff_id.partition(":")[0] if diff_id else "sha256"
        self._tar = CountingReader(dec, algo=diff_algo, cap=limits.max_layer_bytes, where=where)
        self._diff_id = diff_id
        self._pump = _Pump(self._tar)  # type: ignore[arg-type]
        # Unbuffered on purpose: the tar reader consumes whole chunks from the pump.
        self.stream: IO[bytes] = self._pump  # type: ignore[assignment]

    @property
    def uncompressed_bytes(self) -> int:
        return self._tar.count

    def finish(self) -> str:
        """Drain, verify both digests, return the computed diff_id."""
        while self.stream.read(1 << 20):
            pass
        self._pump.stop()
        # The compressed stream may hold bytes past the end of the decompressed data.
        while self._blob.read(1 << 20):
            pass
        actual_diff = self._tar.digest()
        if self._blob_digest and self._blob.digest() != self._blob_digest:
            raise DigestMismatchError(
                f"{self.where}: blob has digest {self._blob.digest()}, expected {self._blob_digest}"
            )
        if self._diff_id and actual_diff != self._diff_id:
            raise DigestMismatchError(
                f"{self.where}: uncompressed layer has digest {actual_diff}, config says {self._diff_id}"
            )
        return actual_diff

    def blame_blob(self) -> None:
        """After a decode failure: if the blob itself does not match its digest, say that instead.

        A corrupt download and a hostile layer both fail to decompress; only the digest tells
        the user which one they have (re-pull, or distrust the image).
        """
        self._pump.stop()
        if not self._blob_digest:
            return
        try:
            while self._blob.read(1 << 20):
                pass
        except (OSError, ValueError):
            return
        if self._blob.digest() != self._blob_digest:
            raise DigestMismatchError(
                f"{self.where}: blob has digest {self._blob.digest()}, expected {self._blob_digest}"
            )

    def close(self) -> None:
        self._pump.stop()
        self._raw.close()


class FileLayer:
    """An uncompressed layer in a local file: tar headers are read by seeking past member data,
    while a second handle hashes the same bytes in a thread (hashing releases the GIL).

    Most of a layer is file data that no analyzer wants; on disk it need not be read by the
    parser at all, and the digest check (which must read everything) runs beside the parser.
    """

    seekable = True

    def __init__(
        self,
        raw: IO[bytes],
        reopen: Callable[[], IO[bytes]],
        where: str,
        limits: Limits,
        blob_digest: str = "",
        diff_id: str = "",
    ) -> None:
        import hashlib
        import threading

        self.where = where
        self._raw = raw
        raw.seek(0, 2)
        self.end = raw.tell()
        raw.seek(0)
        if self.end > limits.max_layer_bytes:
            raise LimitExceededError(
                f"{where}: uncompressed layer exceeds the {limits.max_layer_bytes}-byte limit (--max-layer-size)"
            )
        self.stream = raw
        self._blob_digest = blob_digest
        self._diff_id = diff_id
        algo = (blob_digest or diff_id or "sha256:").partition(":")[0] or "sha256"
        self._hash = hashlib.new(algo)
        self._algo = algo
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(reopen,), daemon=True, name="layer-hash")
        self._thread.start()

    def _run(self, reopen: Callable[[], IO[bytes]]) -> None:
        try:
            # Big reads into one buffer: each pass needs the GIL twice, and the parser holds it
            # most of the time, so fewer passes mean less waiting for it.
            buf = bytearray(8 << 20)
            view = memoryview(buf)
            with reopen() as f:
                while not self._stop.is_set() and (n := f.readinto(view)):  # type: ignore[attr-defined]
                    self._hash.update(view[:n])
        except BaseException as exc:  # reported by finish()
            self._error = exc

    def _digest(self) -> str:
        self._thread.join()
        if self._error is not None:
            raise InputError(f"{self.where}: cannot read layer ({self._error})")
        return f"{self._algo}:{self._hash.hexdigest()}"

    def finish(self) -> str:
        actual = self._digest()
        # Uncompressed: the blob digest and the diff_id are the same digest of the same bytes.
        for expected, what in ((self._blob_digest, "blob"), (self._diff_id, "uncompressed layer")):
            if expected and expected.partition(":")[0] == self._algo and actual != expected:
                raise DigestMismatchError(f"{self.where}: {what} has digest {actual}, expected {expected}")
        return actual

    def blame_blob(self) -> None:
        if self._blob_digest:
            actual = self._digest()
            if actual != self._blob_digest:
                raise DigestMismatchError(f"{self.where}: blob has digest {actual}, expected {self._blob_digest}")

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._raw.close()


def open_layer(
    raw: IO[bytes],
    reopen: Callable[[], IO[bytes]],
    where: str,
    limits: Limits,
    blob_digest: str = "",
    diff_id: str = "",
) -> LayerStream | FileLayer:
    """The cheapest correct reader for this blob: seek-and-hash for plain files on disk,
    the decompressing pump for everything else (compressed blobs, network streams)."""
    try:
        seekable = raw.seekable()
    except (AttributeError, OSError, ValueError):
        seekable = False
    if seekable:
        head = raw.read(6)
        raw.seek(0)
        if sniff_compression(head) == "none" and len(head) > 0:
            return FileLayer(raw, reopen, where, limits, blob_digest, diff_id)
    return LayerStream(raw, where, limits, blob_digest=blob_digest, diff_id=diff_id)
