"""Orchestrates layers -> cached per-layer results -> merged filesystem -> inventory.

Each layer is either loaded from the cache or read once (only for analyzers the cache lacks).
The merge then replays layers bottom-up: whiteouts and opaque directories first, then the
layer's own entries, tracking for every package the first layer from which it has been present
without interruption at the same path: that is the layer (and `created_by`) that introduced it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from customhouse.analyzers.base import Dispatcher, Found
from customhouse.errors import DigestMismatchError, InputError, RegistryDigestMismatchError
from customhouse.image.fs import ImageFS
from customhouse.model import AnalysisResult, Inventory, LayerInfo, OSInfo, Package, TargetInfo, sort_packages
from customhouse.settings import Settings

if TYPE_CHECKING:
    from customhouse.image.cache import LayerCache
    from customhouse.image.walker import LayerResult, Walker
    from customhouse.targets.base import ImageSource, LayerRef, RootfsSource


ProgressFn = Callable[[str, int, int], None]  # (description, done, total)


class ImageAnalysis:
    """The result of cataloging: the inventory plus the views later scanners build on.

    The merged filesystem, per-layer results and per-file facts are computed on first use:
    an SBOM of a fully cached image needs none of them, and skipping them is most of what
    makes a warm scan fast.
    """

    def __init__(
        self,
        inventory: Inventory,
        layer_infos: Sequence[LayerInfo],
        views: Callable[[], tuple[ImageFS, list[LayerResult], dict[str, list[Found]]]] | None = None,
        cache_hits: int = 0,
    ) -> None:
        self.inventory = inventory
        self.layer_infos = list(layer_infos)
        self.cache_hits = cache_hits
        self._views_fn = views
        self._views: tuple[ImageFS, list[LayerResult], dict[str, list[Found]]] | None = None

    def _load(self) -> tuple[ImageFS, list[LayerResult], dict[str, list[Found]]]:
        if self._views is None:
            self._views = self._views_fn() if self._views_fn else (ImageFS(), [], {})
        return self._views

    @property
    def fs(self) -> ImageFS:
        return self._load()[0]

    @property
    def layers(self) -> list[LayerResult]:
        return self._load()[1]

    @property
    def found(self) -> dict[str, list[Found]]:
        return self._load()[2]


def _read_layer(ref: LayerRef, walker: Walker, settings: Settings) -> LayerResult:
    from customhouse.image.stream import open_layer

    where = f"layer {ref.index + 1} ({ref.digest or ref.diff_id or ref.source})"
    raw = ref.open()
    ls = open_layer(raw, ref.open, where, settings.limits, blob_digest=ref.digest, diff_id=ref.diff_id)
    try:
        try:
            lr = walker.walk_tar(ls.stream, ref.diff_id, where, seekable=ls.seekable, end=ls.end)
        except InputError:
            ls.blame_blob()
            raise
        diff_id = ls.finish()
    except DigestMismatchError as exc:
        if getattr(ref, "remote", False):
            raise RegistryDigestMismatchError(exc.message) from None
        raise
    finally:
        ls.close()
    lr.diff_id = diff_id
    return lr


def image_key(source: ImageSource, versions: dict[str, int]) -> str:
    """Cache key of a whole image's inventory: same layers + same analyzers = same facts."""
    import hashlib
    import json

    from customhouse.image import WALKER_VERSION

    ids = [ref.diff_id for ref in source.layers]
    if not ids or not all(ids):
        return ""
    doc = json.dumps([WALKER_VERSION, sorted(versions.items()), ids], separators=(",", ":"))
    return hashlib.sha256(doc.encode()).hexdigest()


def analyze_image(
    source: ImageSource,
    dispatcher: Dispatcher,
    settings: Settings,
    cache: LayerCache | None,
    progress: ProgressFn | None = None,
) -> ImageAnalysis:
    versions = dispatcher.versions
    key = image_key(source, versions) if cache is not None else ""
    if cache is not None and key:
        hit = cache.load_image(key)
        if hit is not None:
            os_info, packages, warnings = hit
            infos = [ref.info() for ref in source.layers]
            inv = Inventory(
                target=source.info,
                os=os_info,
                packages=tuple(_attribute(p, p.layer_index, infos) for p in packages),
                layers=tuple(infos),
                warnings=warnings,
            )

            def views() -> tuple[ImageFS, list[LayerResult], dict[str, list[Found]]]:
                results, lis, _ = _collect_layers(source, dispatcher, settings, cache, None)
                fs, found = merge_layers(results, lis)
                return fs, results, found

            return ImageAnalysis(inv, infos, views, cache_hits=len(source.layers))
    layer_results, infos, hits = _collect_layers(source, dispatcher, settings, cache, progress)
    analysis = _finish(source.info, layer_results, infos, dispatcher, settings, hits)
    if cache is not None and key:
        inv = analysis.inventory
        cache.store_image(key, inv.os, inv.packages, inv.warnings)
    return analysis


def _collect_layers(
    source: ImageSource,
    dispatcher: Dispatcher,
    settings: Settings,
    cache: LayerCache | None,
    progress: ProgressFn | None,
) -> tuple[list[LayerResult], list[LayerInfo], int]:
    versions = dispatcher.versions
    layer_results: list[LayerResult] = []
    infos: list[LayerInfo] = []
    hits = 0
    total = len(source.layers)
    for ref in source.layers:
        if progress:
            progress(f"layer {ref.index + 1}/{total}", ref.index, total)
        cached, missing = cache.load(ref.diff_id, versions) if cache and ref.diff_id else (None, set(versions))
        if cached is not None and not missing:
            lr = cached
            hits += 1
        else:
            sub = Dispatcher(a for a in dispatcher.analyzers if a.name in missing) if cached else dispatcher
            from customhouse.image.walker import Walker

            lr = _read_layer(ref, Walker(sub, settings), settings)
            if cached is not None:
                for name, res in cached.results.items():
                    lr.results.setdefault(name, res)
                for name, w in cached.warnings.items():
                    if name:
                        lr.warnings.setdefault(name, w)
            if cache is not None:
                cache.store(lr, {a.name: a.version for a in sub.analyzers} if cached else versions)
        layer_results.append(lr)
        infos.append(ref.info(lr.diff_id))
    if progress:
        progress("merging", total, total)
    return layer_results, infos, hits


def analyze_rootfs(source: RootfsSource, dispatcher: Dispatcher, settings: Settings) -> ImageAnalysis:
    from customhouse.image.walker import Walker

    lr = Walker(dispatcher, settings).walk_dir(source.root, f"dir:{source.root}")
    info = LayerInfo(index=0, digest="", diff_id="")
    return _finish(source.info, [lr], [info], dispatcher, settings, 0)


def _finish(
    target: TargetInfo,
    layer_results: Sequence[LayerResult],
    infos: Sequence[LayerInfo],
    dispatcher: Dispatcher,
    settings: Settings,
    hits: int,
) -> ImageAnalysis:
    fs, found = merge_layers(layer_results, infos)
    warnings: list[str] = []
    for lr in layer_results:
        for msgs in lr.warnings.values():
            warnings.extend(msgs)
    os_info: OSInfo | None = None
    packages: list[Package] = []
    # OS first: purls of OS packages need the distribution.
    ordered = sorted(dispatcher.analyzers, key=lambda a: (a.name != "os", a.name))
    for analyzer in ordered:
        try:
            res = analyzer.finalize(found.get(analyzer.name, []), fs)
        except (ValueError, KeyError, TypeError) as exc:
            if settings.strict_analyzers:
                raise
            warnings.append(f"{analyzer.name}: could not combine results: {exc}")
            continue
        if res.os is not None and os_info is None:
            os_info = res.os
        packages.extend(res.packages)
        for note in res.notes:
            if note.kind == "warning":
                warnings.append(str(note.data.get("message", "")))
    from customhouse.purl import complete_purl

    packages = [complete_purl(p, os_info) for p in packages]
    inv = Inventory(
        target=target,
        os=os_info,
        packages=tuple(sort_packages(_dedupe(packages))),
        layers=tuple(infos),
        warnings=tuple(dict.fromkeys(warnings)),
    )
    views = (fs, list(layer_results), found)
    return ImageAnalysis(inv, infos, lambda: views, cache_hits=hits)


def _dedupe(packages: list[Package]) -> list[Package]:
    seen: dict[tuple[str, ...], Package] = {}
    for p in packages:
        key = (p.type, p.name, p.version, p.arch, p.path, p.purl)
        seen.setdefault(key, p)
    return list(seen.values())


def merge_layers(
    layer_results: Sequence[LayerResult], infos: Sequence[LayerInfo]
) -> tuple[ImageFS, dict[str, list[Found]]]:
    """Replay layers bottom-up into the final filesystem and the surviving per-file results."""
    fs = ImageFS()
    # path -> analyzer -> (layer of latest result, result, identity -> first layer)
    state: dict[str, dict[str, tuple[int, AnalysisResult, dict[tuple[str, ...], int]]]] = {}
    for i, lr in enumerate(layer_results):
        prev: dict[str, dict[str, tuple[int, AnalysisResult, dict[tuple[str, ...], int]]]] = {}
        for d in lr.opaque_dirs:
            for p in fs.remove_tree(d, i, "opaque", keep_root=True):
                state.pop(p, None)
        for w in lr.whiteouts:
            for p in fs.remove_tree(w, i, "whiteout"):
                state.pop(p, None)
        for f in lr.files:
            old = state.pop(f.path, None)
            if old is not None:
                prev[f.path] = old
            fs.add(f, i)
        for name, items in lr.results.items():
            for path, res in items:
                before = prev.get(path, {}).get(name)
                first_seen = before[2] if before else {}
                idents = {p.identity: first_seen.get(p.identity, i) for p in res.packages}
                state.setdefault(path, {})[name] = (i, res, idents)
    fs.layer_count = len(layer_results)
    found: dict[str, list[Found]] = {}
    for path in sorted(state):
        for name, (layer, res, idents) in state[path].items():
            pkgs = tuple(_attribute(p, idents.get(p.identity, layer), infos) for p in res.packages)
            found.setdefault(name, []).append(Found(path, layer, replace(res, packages=pkgs)))
    return fs, found


def _attribute(p: Package, layer: int, infos: Sequence[LayerInfo]) -> Package:
    if not 0 <= layer < len(infos):
        return p
    li = infos[layer]
    return replace(p, layer_index=layer, layer_diff_id=li.diff_id, layer_digest=li.digest, created_by=li.created_by)


def raise_if_empty(source_name: str, layers: Sequence[object]) -> None:
    if not layers:
        raise InputError(f"{source_name}: image has no layers")
