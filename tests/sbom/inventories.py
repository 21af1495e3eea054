"""Inventories for the SBOM tests that no image in ../shared/data provides.

Every ecosystem customhouse names packages for, with the spellings that break naive writers
and readers: scoped npm names, Maven coordinates, Go module paths, PyPI names that purls
normalise, dpkg and rpm epochs, and licenses that are ids, free-text names, expressions with
OR and WITH, and mixtures of those.
"""

from __future__ import annotations

from dataclasses import replace

from customhouse.image.scan import ImageAnalysis
from customhouse.model import Inventory, LayerInfo, OSInfo, Package, TargetInfo, sort_packages
from customhouse.purl import build_purl

DEBIAN = OSInfo(family="debian", version="12.5", name="Debian GNU/Linux 12 (bookworm)", codename="bookworm")
_PURL_OS = {
    "deb": DEBIAN,
    "rpm": OSInfo(family="rhel", version="9.3"),
    "apk": OSInfo(family="alpine", version="3.19.1"),
}
LAYERS = (
    LayerInfo(
        index=0,
        digest="sha256:" + "1" * 64,
        diff_id="sha256:" + "a" * 64,
        size=1000,
        media_type="application/vnd.oci.image.layer.v1.tar+gzip",
        created_by="ADD rootfs.tar /",
        created="2024-03-01T10:00:00.123456789Z",
    ),
    LayerInfo(
        index=1,
        digest="sha256:" + "2" * 64,
        diff_id="sha256:" + "b" * 64,
        size=2000,
        media_type="application/vnd.oci.image.layer.v1.tar+gzip",
        created_by='RUN /bin/sh -c "pip install django && npm ci" # buildkit',
        created="2024-03-02T11:30:00+02:00",
    ),
)


def _pkg(name: str, version: str, ptype: str, *, layer: int = 1, **kw: object) -> Package:
    li = LAYERS[layer]
    kw.setdefault("found_by", ptype)
    p = Package(
        name=name,
        version=version,
        type=ptype,
        layer_index=li.index,
        layer_diff_id=li.diff_id,
        layer_digest=li.digest,
        created_by=li.created_by,
        **kw,  # type: ignore[arg-type]
    )
    return replace(p, purl=build_purl(p, _PURL_OS.get(ptype)))


def every_type_packages() -> list[Package]:
    deb_meta = (("maintainer", "GNU Libc Maintainers <debian-glibc@lists.debian.org>"),)
    return [
        _pkg(
            "libc6",
            "2.36-9+deb12u4",
            "deb",
            layer=0,
            arch="amd64",
            source_name="glibc",
            source_version="2.36-9+deb12u4",
            licenses=("LGPL-2.1-or-later", "GPL-2.0-or-later"),
            path="var/lib/dpkg/status",
            found_by="dpkg",
            metadata=deb_meta,
        ),
        _pkg(
            "zlib1g",
            "1:1.2.13.dfsg-1",
            "deb",
            layer=0,
            arch="amd64",
            source_name="zlib",
            source_version="1:1.2.13.dfsg-1",
            licenses=("Zlib",),
            path="var/lib/dpkg/status",
            found_by="dpkg",
        ),
        _pkg(
            "openssl-libs",
            "1:3.0.7-27.el9",
            "rpm",
            layer=0,
            arch="x86_64",
            source_name="openssl",
            source_version="3.0.7-27.el9",
            licenses=("Apache-2.0",),
            path="var/lib/rpm/rpmdb.sqlite",
            found_by="rpm",
            metadata=(("sourcerpm", "openssl-3.0.7-27.el9.src.rpm"),),
        ),
        _pkg(
            "bash",
            "5.1.8-9.el9",
            "rpm",
            layer=0,
            arch="x86_64",
            source_name="bash",
            source_version="5.1.8-9.el9",
            licenses=("GPL-3.0-or-later",),
            path="var/lib/rpm/rpmdb.sqlite",
            found_by="rpm",
        ),
        _pkg(
            "busybox-binsh",
            "1.36.1-r15",
            "apk",
            layer=0,
            arch="x86_64",
            source_name="busybox",
            source_version="1.36.1-r15",
            licenses=("GPL-2.0-only",),
            path="lib/apk/db/installed",
            found_by="apk",
            metadata=(("maintainer", "Sören Tempel <soeren+alpine@soeren-tempel.net>"),),
        ),
        _pkg(
            "Django",
            "4.2.7",
            "pypi",
            licenses=("BSD-3-Clause",),
            path="usr/lib/python3/site-packages/Django-4.2.7.dist-info/METADATA",
            found_by="python",
        ),
        _pkg(
            "typing_extensions",
            "4.9.0",
            "pypi",
            licenses=("PSF-2.0",),
            path="usr/lib/python3/site-packages/typing_extensions-4.9.0.dist-info/METADATA",
            found_by="python",
        ),
        _pkg(
            "@angular/core",
            "17.0.8",
            "npm",
            licenses=("MIT",),
            path="app/node_modules/@angular/core/package.json",
            found_by="npm",
        ),
        _pkg(
            "lodash",
            "4.17.21",
            "npm",
            licenses=("MIT", "Apache-2.0 OR BSD-2-Clause", "Custom Proprietary (c) ACME, Inc."),
            path="app/node_modules/lodash/package.json",
            found_by="npm",
        ),
        _pkg(
            "github.com/sirupsen/logrus",
            "v1.9.3",
            "golang",
            licenses=("MIT",),
            path="usr/local/bin/app",
            found_by="gobinary",
        ),
        _pkg(
            "golang.org/x/net",
            "v0.0.0-20231201123456-abcdef012345",
            "golang",
            licenses=("BSD-3-Clause",),
            path="usr/local/bin/app",
            found_by="gobinary",
        ),
        _pkg(
            "org.apache.logging.log4j:log4j-core",
            "2.14.1",
            "maven",
            licenses=("Apache-2.0",),
            path="opt/app/lib/log4j-core-2.14.1.jar",
            found_by="java",
        ),
        _pkg(
            "org.openjdk:jdk-runtime",
            "17.0.9",
            "maven",
            licenses=("GPL-2.0-only WITH Classpath-exception-2.0", "The Apache Software License, Version 2"),
            path="opt/app/lib/jdk-runtime.jar",
            found_by="java",
        ),
        _pkg("rails", "7.1.2", "gem", licenses=("MIT",), path="usr/lib/ruby/gems/specifications/rails-7.1.2.gemspec"),
        _pkg(
            "serde",
            "1.0.193",
            "cargo",
            licenses=("MIT OR Apache-2.0",),
            path="usr/local/bin/app-rs",
            found_by="rust-audit",
        ),
        _pkg(
            "ring",
            "0.17.7",
            "cargo",
            licenses=("MIT", "ISC", "(Apache-2.0 OR MIT) AND OpenSSL"),
            path="usr/local/bin/app-rs",
        ),
        _pkg("symfony/console", "v6.4.0", "composer", licenses=("MIT",), path="srv/app/vendor/composer/installed.json"),
        _pkg("Newtonsoft.Json", "13.0.3", "nuget", licenses=("MIT",), path="app/App.deps.json", found_by="dotnet"),
        _pkg("GPL-2+ thing", "1.0", "gem", licenses=("GPL-2+", "LicenseRef-acme-eula"), path="x/y.gemspec"),
    ]


def every_type_inventory() -> Inventory:
    target = TargetInfo(
        name="oci-layout:/images/app:1.0",
        kind="oci-layout",
        image_id="sha256:" + "c" * 64,
        repo_tags=("registry.example.com/team/app:1.0",),
        repo_digests=("sha256:" + "d" * 64,),
        architecture="amd64",
        os="linux",
        created="2024-03-02T11:30:05.5+02:00",
    )
    return Inventory(target=target, os=DEBIAN, packages=tuple(sort_packages(every_type_packages())), layers=LAYERS)


def synthetic_inventory(n: int) -> Inventory:
    """`n` packages shaped like a Debian image's (for timing, not for realism of content)."""
    pkgs = []
    for i in range(n):
        pkgs.append(
            _pkg(
                f"lib-package-{i:04d}",
                f"{i % 7}:{i}.{i % 13}.{i % 5}-{i % 3}+deb12u1",
                "deb",
                layer=i % 2,
                arch="amd64",
                source_name=f"src-package-{i // 3:04d}",
                source_version=f"{i}.{i % 13}",
                licenses=("GPL-2.0-or-later", "LGPL-2.1-only") if i % 2 else ("MIT", "BSD custom text"),
                path="var/lib/dpkg/status",
                found_by="dpkg",
                metadata=(("maintainer", f"Maintainer {i} <m{i}@example.org>"), ("section", "libs")),
            )
        )
    inv = every_type_inventory()
    return replace(inv, packages=tuple(sort_packages(pkgs)))


def analysis_of(inv: Inventory) -> ImageAnalysis:
    return ImageAnalysis(inv, list(inv.layers))
