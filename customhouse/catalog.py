"""One call from a target string to an inventory: the seam between the CLI and the stages.

Kept free of presentation (no printing, no exit codes) so tests, benchmarks and later scanners
(vulnerabilities, secrets, image configuration) all start from the same `ImageAnalysis`.
"""

from __future__ import annotations

from collections.abc import Iterable

from customhouse.analyzers.base import Dispatcher, select
from customhouse.image.scan import ImageAnalysis, ProgressFn, analyze_image, analyze_rootfs
from customhouse.settings import Settings
from customhouse.targets import open_target


def catalog(
    spec: str,
    settings: Settings,
    analyzers: Iterable[str] | None = None,
    progress: ProgressFn | None = None,
    dispatcher: Dispatcher | None = None,
) -> ImageAnalysis:
    from customhouse.targets.base import ImageSource, RootfsSource

    disp = dispatcher or select(analyzers, settings.cache_dir if settings.use_cache else None)
    source = open_target(spec, settings)
    try:
        if not isinstance(source, ImageSource | RootfsSource):  # an SBOM: its reader is imported on use
            return ImageAnalysis(source.inventory(), [])
        if isinstance(source, RootfsSource):
            return analyze_rootfs(source, disp, settings)
        assert isinstance(source, ImageSource)
        cache = None
        if settings.use_cache:
            from customhouse.image.cache import LayerCache

            cache = LayerCache(settings.cache_dir)
        try:
            return analyze_image(source, disp, settings, cache, progress)
        finally:
            if cache is not None:
                cache.close()
    finally:
        source.close()
