"""Python analyzer against site-packages written by pip, setuptools and distutils, and against
Debian's dist-packages; oracle: `importlib.metadata.distributions(path=[...])` over the same dirs."""

from __future__ import annotations

import shutil
from email.parser import HeaderParser
from email.policy import compat32
from importlib import metadata
from pathlib import Path

import pytest

from customhouse.analyzers.base import AnalyzerError, BytesBlob
from customhouse.analyzers.python import PythonAnalyzer, licenses_from_headers, parse_metadata
from customhouse.licenses import normalize_license
from customhouse.model import FileInfo, Package
from customhouse.settings import Settings
from tests.lang.conftest import SITE, catalog_dir

DEBIAN_DIST = Path("/usr/lib/python3/dist-packages")


def _oracle(root: Path, site_rel: str) -> set[tuple[str, str, str]]:
    """(name, version, metadata file relative to root) for every distribution importlib finds."""
    out = set()
    for dist in metadata.distributions(path=[str(root / site_rel)]):
        loc = Path(str(dist._path))  # type: ignore[attr-defined]
        if loc.is_dir():
            loc = loc / ("METADATA" if loc.name.endswith(".dist-info") else "PKG-INFO")
        out.add((dist.metadata["Name"], dist.version, loc.relative_to(root).as_posix()))
    return out


def _ours(pkgs: list[Package]) -> set[tuple[str, str, str]]:
    return {(p.name, p.version, p.path) for p in pkgs if p.type == "pypi"}


def test_pip_site_packages_match_importlib(pip_rootfs: Path, settings: Settings) -> None:
    pkgs, warnings = catalog_dir(pip_rootfs, settings, ["python"])
    assert not warnings
    expected = _oracle(pip_rootfs, SITE)
    assert _ours(pkgs) == expected
    kinds = {path.rsplit("/", 1)[-1] if path.endswith(("METADATA", "PKG-INFO")) else "file" for _, _, path in expected}
    assert kinds == {"METADATA", "file"}, "fixture should hold dist-info dirs and a distutils egg-info file"


def test_licenses_follow_the_documented_precedence(pip_rootfs: Path, settings: Settings) -> None:
    """Check every distribution against its own headers read by the stdlib parser."""
    pkgs, _ = catalog_dir(pip_rootfs, settings, ["python"])
    for p in pkgs:
        raw = (pip_rootfs / p.path).read_text(encoding="utf-8", errors="replace")
        msg = HeaderParser(policy=compat32).parsestr(raw.split("\n\n", 1)[0])
        if msg.get("License-Expression"):
            assert p.licenses == (normalize_license(str(msg["License-Expression"])),), p.name
        else:
            classifiers = [str(c) for c in msg.get_all("Classifier", []) if str(c).startswith("License ::")]
            assert p.licenses == licenses_from_headers("", classifiers, str(msg.get("License", ""))), p.name
    # Facts of the pinned artifacts, one per rule of the precedence.
    by_name = {p.name: p.licenses for p in pkgs}
    assert by_name["attrs"] == ("MIT",)  # License-Expression
    assert by_name["certifi"] == ("MPL-2.0",)  # classifier mapped to SPDX
    assert by_name["packaging"] == ("Apache-2.0", "BSD License")  # two classifiers, one without a version
    assert by_name["zope.event"] == ("ZPL-2.1",)  # the short field is more precise than the classifier
    assert by_name["legacy-distutils-pkg"] == ("BSD-3-Clause",)  # only the License field
    assert by_name["python-dateutil"] == ("BSD License", "Apache-2.0")  # "Dual License" is not a license


def test_pypi_purls_are_normalised(pip_rootfs: Path, settings: Settings) -> None:
    pkgs, _ = catalog_dir(pip_rootfs, settings, ["python"])
    purls = {p.name: p.purl for p in pkgs}
    assert purls["zope.event"] == "pkg:pypi/zope-event@5.0"
    assert purls["PyYAML"] == "pkg:pypi/pyyaml@6.0.2"
    assert purls["typing_extensions"] == "pkg:pypi/typing-extensions@4.12.2"


def test_debian_dist_packages_match_importlib(tmp_path: Path, settings: Settings) -> None:
    """Debian's python3-* packages ship egg-info directories and files (setup.py-era metadata)."""
    entries = sorted(DEBIAN_DIST.glob("*.egg-info")) if DEBIAN_DIST.is_dir() else []
    if not entries:
        pytest.skip("no Debian egg-info in /usr/lib/python3/dist-packages (apt-get install python3-six python3-toml)")
    root = tmp_path / "root"
    dst = root / "usr/lib/python3/dist-packages"
    dst.mkdir(parents=True)
    for e in sorted(DEBIAN_DIST.glob("*.egg-info")) + sorted(DEBIAN_DIST.glob("*.dist-info")):
        if e.is_dir():
            shutil.copytree(e, dst / e.name)
        else:
            shutil.copy(e, dst / e.name)
    pkgs, warnings = catalog_dir(root, settings, ["python"])
    assert not warnings
    assert _ours(pkgs) == _oracle(root, "usr/lib/python3/dist-packages")
    assert any(p.path.endswith(".egg-info/PKG-INFO") for p in pkgs)


# ---------------------------------------------------------------------------- unit behaviour


def _meta(text: str) -> Package | None:
    return parse_metadata(text.encode(), "x.dist-info/METADATA")


def test_only_short_license_field_is_used() -> None:
    long_text = "Copyright (c) 2010 Someone\n        Permission is hereby granted, free of charge..."
    p = _meta(f"Metadata-Version: 2.1\nName: a\nVersion: 1\nLicense: {long_text}\n\nbody")
    assert p is not None and p.licenses == ()
    p = _meta("Metadata-Version: 2.1\nName: a\nVersion: 1\nLicense: UNKNOWN\n")
    assert p is not None and p.licenses == ()
    p = _meta("Name: a\nVersion: 1\nLicense-Expression: MIT OR Apache-2.0\nLicense: GPL\n")
    assert p is not None and p.licenses == ("MIT OR Apache-2.0",)
    p = _meta("Name: a\nVersion: 1\nClassifier: License :: OSI Approved\nLicense: apache 2.0\n")
    assert p is not None and p.licenses == ("Apache-2.0",)


def test_body_is_not_parsed_and_crlf_is_accepted() -> None:
    p = _meta("Name: a\r\nVersion: 2.0\r\n\r\nName: b\nVersion: 9\nLicense-Expression: MIT\n")
    assert p is not None and (p.name, p.version, p.licenses) == ("a", "2.0", ())


def test_incomplete_and_malformed_metadata() -> None:
    assert _meta("Name: a\n") is None
    assert _meta("Version: 1\n") is None
    assert _meta("") is None
    with pytest.raises(AnalyzerError):
        parse_metadata(b"\x7fELF\x00\x00\x00binary", "x.egg-info")


@pytest.mark.parametrize(
    ("path", "wanted"),
    [
        ("usr/lib/python3/dist-packages/six-1.16.0.dist-info/METADATA", True),
        ("usr/lib/python3/dist-packages/PyYAML-6.0.egg-info/PKG-INFO", True),
        ("usr/lib/python3/dist-packages/rpm-4.18.0.egg-info", True),
        ("opt/venv/lib/python3.12/site-packages/foo-1.0-py3.12.egg/EGG-INFO/PKG-INFO", True),
        ("usr/lib/python3/dist-packages/foo/METADATA", False),
        ("src/foo-1.0/PKG-INFO", False),
    ],
)
def test_required(path: str, wanted: bool) -> None:
    from customhouse.analyzers.base import Dispatcher

    a = PythonAnalyzer()
    assert (a in Dispatcher([a]).wanting(FileInfo(path, "file", 10))) is wanted


def test_analyze_through_blob() -> None:
    res = PythonAnalyzer().analyze(
        FileInfo("s/a-1.dist-info/METADATA", "file", 30), BytesBlob(b"Name: a\nVersion: 1\nLicense-Expression: MIT\n")
    )
    assert res is not None and [(p.name, p.type, p.licenses) for p in res.packages] == [("a", "pypi", ("MIT",))]
