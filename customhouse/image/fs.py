"""The image's filesystems: the final squashed view, and what each layer added or removed.

Built from per-layer file lists (which come from the cache as often as from a walk), so the
merged view costs no layer reads. Removal records keep the history later scanners need:
a file deleted or overwritten in layer N is still extractable from the layer that added it.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from customhouse.model import FileInfo

MAX_SYMLINK_HOPS = 40  # as Linux's MAXSYMLINKS


@dataclass(frozen=True, slots=True)
class Removal:
    """`path` as added in `added_in` stopped being visible in `removed_in`."""

    path: str
    added_in: int
    removed_in: int
    how: Literal["whiteout", "opaque", "overwritten"]


class SymlinkLoopError(Exception):
    """Resolution exceeded MAX_SYMLINK_HOPS; callers turn this into a warning naming the path."""


class ImageFS:
    """Final view: path -> (FileInfo, layer index), with a child index for subtree removals."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[FileInfo, int]] = {}
        self._children: dict[str, set[str]] = {}
        self.removals: list[Removal] = []
        self.layer_count = 0

    # ------------------------------------------------------------------ building

    def remove_tree(
        self, path: str, layer: int, how: Literal["whiteout", "opaque"], keep_root: bool = False
    ) -> list[str]:
        """Remove `path` (and everything below it) as seen before `layer`; return removed paths."""
        removed: list[str] = []
        stack = [path]
        while stack:
            p = stack.pop()
            kids = self._children.pop(p, None)
            if kids:
                stack.extend(f"{p}/{k}" if p else k for k in kids)
            if keep_root and p == path:
                continue
            entry = self._entries.pop(p, None)
            if entry is not None:
                removed.append(p)
                self.removals.append(Removal(p, entry[1], layer, how))
                parent, _, name = p.rpartition("/")
                siblings = self._children.get(parent)
                if siblings is not None:
                    siblings.discard(name)
        return removed

    def add(self, info: FileInfo, layer: int) -> None:
        prev = self._entries.get(info.path)
        if prev is not None:
            if prev[1] != layer and not (prev[0].kind == "dir" and info.kind == "dir"):
                self.removals.append(Removal(info.path, prev[1], layer, "overwritten"))
            if prev[0].kind == "dir" and info.kind != "dir":
                # A file replacing a directory hides everything that was below it.
                self.remove_tree(info.path, layer, "whiteout", keep_root=True)
        self._entries[info.path] = (info, layer)
        # Register the whole ancestor chain: tars may omit parent directory entries, and a
        # whiteout of an ancestor must still find everything below it.
        path = info.path
        while path:
            parent, _, name = path.rpartition("/")
            kids = self._children.setdefault(parent, set())
            if name in kids:
                break
            kids.add(name)
            path = parent

    # ------------------------------------------------------------------ queries

    def get(self, path: str) -> tuple[FileInfo, int] | None:
        return self._entries.get(path.strip("/"))

    def __contains__(self, path: object) -> bool:
        return isinstance(path, str) and path.strip("/") in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[tuple[FileInfo, int]]:
        for path in sorted(self._entries):
            yield self._entries[path]

    def listdir(self, path: str) -> list[str]:
        return sorted(self._children.get(path.strip("/"), ()))

    def resolve(self, path: str) -> str:
        """Resolve every symlink in `path` as the kernel would inside a chroot of the image.

        `..` at the root stays at the root and absolute targets restart at the image root, so
        no link can lead outside it. Raises `SymlinkLoopError` past MAX_SYMLINK_HOPS.
        """
        hops = 0
        parts = [p for p in path.strip("/").split("/") if p not in ("", ".")]
        done: list[str] = []
        while parts:
            part = parts.pop(0)
            if part == "..":
                if done:
                    done.pop()
                continue
            candidate = "/".join([*done, part])
            entry = self._entries.get(candidate)
            if entry is not None and entry[0].kind == "symlink":
                hops += 1
                if hops > MAX_SYMLINK_HOPS:
                    raise SymlinkLoopError(f"/{path.strip('/')}: too many levels of symbolic links")
                target = entry[0].linkname
                if target.startswith("/"):
                    done = []
                parts = [p for p in target.split("/") if p not in ("", ".")] + parts
                continue
            done.append(part)
        return "/".join(done)

    def removals_of(self, path: str, added_in: int) -> Removal | None:
        """When (and how) the version of `path` added in layer `added_in` stopped being visible."""
        for r in self.removals:
            if r.path == path and r.added_in == added_in:
                return r
        return None


def normalize_link(base_dir: str, target: str) -> str:
    """Lexically join a link target to its directory, clamped at the root (for display)."""
    joined = target if target.startswith("/") else posixpath.join("/" + base_dir, target)
    return posixpath.normpath(joined).lstrip("/")
