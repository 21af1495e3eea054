"""Java archives: Debian's real jars, and WAR/EAR/fat jars packed from them with the JDK's `jar`.

Oracle: the pom.properties inside each jar, read with `unzip -p`; the manifest headers, read the
same way, for jars without one; the archive layout the fixture built for nested paths.
"""

from __future__ import annotations

import glob
import io
import re
import subprocess
import time
import tracemalloc
import zipfile
from pathlib import Path

import pytest

from customhouse.analyzers import java
from customhouse.analyzers.base import AnalyzerError, BytesBlob
from customhouse.analyzers.java import (
    JavaArchiveAnalyzer,
    bundle_licenses,
    manifest_identity,
    parse_manifest,
    parse_properties,
    split_filename,
    zip_entry_count,
)
from customhouse.model import AnalysisResult, FileInfo, Package
from tests.binaries import fixtures


def _run(path: Path, name: str | None = None) -> AnalysisResult:
    data = path.read_bytes()
    info = FileInfo(name or f"opt/app/{path.name}", "file", len(data))
    res = JavaArchiveAnalyzer().analyze(info, BytesBlob(data))
    return res if res is not None else AnalysisResult()


def _coords(pkgs: tuple[Package, ...] | list[Package]) -> set[tuple[str, str, str]]:
    return {(p.path, p.name, p.version) for p in pkgs}


def _manifest(jar: Path) -> dict[str, str]:
    text = subprocess.run(
        ["unzip", "-p", str(jar), "META-INF/MANIFEST.MF"], capture_output=True, text=True, check=True
    ).stdout
    # Unfold continuation lines the plain way, independent of the parser under test.
    text = re.sub(r"\r?\n ", "", text)
    return {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in text.splitlines()) if v}


Want = set[tuple[str, str | None, str]]


def _jar_expectation(jar: Path, path: str) -> Want:
    """What one real jar must yield at `path`, from its own files read with unzip; the name is
    None for manifest-only jars (their naming rule has its own test)."""
    props = fixtures.pom_properties_in(jar)
    if props:
        return {(path, name, version) for name, version in props}
    headers = _manifest(jar)
    version = headers.get("Implementation-Version") or headers.get("Bundle-Version") or ""
    return {(path, None, version)}


def _matches(got: set[tuple[str, str, str]], want: Want) -> bool:
    for path, name, version in want:
        if name is None:
            if not any(p == path and v == version for p, _n, v in got):
                return False
        elif (path, name, version) not in got:
            return False
    return True


def test_every_debian_maven_jar_matches_its_pom_properties() -> None:
    jars = sorted(Path(p) for p in glob.glob("/usr/share/maven/lib/*.jar"))
    if len(jars) < 20:
        pytest.skip("maven is not installed (apt-get install maven)")
    with_props = 0
    for jar in jars:
        oracle = fixtures.pom_properties_in(jar.resolve())
        res = _run(jar.resolve(), f"usr/share/maven/lib/{jar.name}")
        got = {(p.name, p.version) for p in res.packages}
        if oracle:
            with_props += 1
            assert got == oracle, jar
        else:
            assert len(res.packages) == 1, jar  # identity from the manifest or the file name
        for p in res.packages:
            assert p.type == "maven" and p.path == f"usr/share/maven/lib/{jar.name}" and p.found_by == "java"
    assert with_props >= 30
    shaded = _run(Path("/usr/share/maven/lib/wagon-http-shaded.jar").resolve())
    assert len(shaded.packages) == 5


def test_manifest_fallback_uses_bundle_headers() -> None:
    src = fixtures.jar_sources()
    for name in ("guice-no-aop.jar", "javax.inject.jar"):
        headers = _manifest(src[name])
        (pkg,) = _run(src[name], f"usr/share/java/{name}").packages
        assert pkg.version == headers["Bundle-Version"]
        bsn = headers["Bundle-SymbolicName"]
        artifact = name.removesuffix(".jar")
        assert pkg.name == f"{bsn}:{artifact}"
        assert pkg.meta("group_source") == "Bundle-SymbolicName"
        assert pkg.meta("source") == "manifest"
    (guice,) = _run(src["guice-no-aop.jar"]).packages
    assert "apache.org/licenses/LICENSE-2.0" in _manifest(src["guice-no-aop.jar"])["Bundle-License"]
    assert guice.licenses == ("Apache-2.0",)
    # A manifest with no identity: the file name, never an invented group.
    (aop,) = _run(src["aopalliance.jar"], "usr/share/java/aopalliance.jar").packages
    assert (aop.name, aop.version) == ("aopalliance", "")
    assert src["aopalliance.jar"].name == "aopalliance-1.0.jar"  # Debian's versioned file
    (aop,) = _run(src["aopalliance.jar"], "usr/share/java/aopalliance-1.0.jar").packages
    assert (aop.name, aop.version, aop.meta("version_source")) == ("aopalliance", "1.0", "filename")


def test_licenses_from_pom_xml() -> None:
    src = fixtures.jar_sources()
    pom = subprocess.run(
        ["unzip", "-p", str(src["jansi.jar"]), "META-INF/maven/*/*/pom.xml"], capture_output=True, text=True, check=True
    ).stdout
    assert "<name>The Apache Software License, Version 2.0</name>" in pom
    (pkg,) = _run(src["jansi.jar"]).packages
    assert pkg.licenses == ("Apache-2.0",)


def test_war_nests_real_jars(java_dir: Path) -> None:
    src = fixtures.jar_sources()
    res = _run(java_dir / "shop.war", "srv/shop.war")
    got = _coords(res.packages)
    g, a, v = fixtures.WAR_OWN
    assert ("srv/shop.war", f"{g}:{a}", v) in got
    want: Want = set()
    for lib in fixtures.WAR_LIBS:
        want |= _jar_expectation(src[lib], f"srv/shop.war!/WEB-INF/lib/{lib}")
    assert _matches(got, want)
    assert len(got) == 1 + len(want)
    assert not res.notes


def test_ear_nests_a_war_nesting_jars(java_dir: Path) -> None:
    src = fixtures.jar_sources()
    res = _run(java_dir / "shop.ear", "srv/shop.ear")
    got = _coords(res.packages)
    want: Want = set()
    for lib in fixtures.WAR_LIBS:
        want |= _jar_expectation(src[lib], f"srv/shop.ear!/shop.war!/WEB-INF/lib/{lib}")
    for lib in fixtures.EAR_LIBS:
        want |= _jar_expectation(src[lib], f"srv/shop.ear!/lib/{lib}")
    assert _matches(got, want)
    g, a, v = fixtures.WAR_OWN
    assert ("srv/shop.ear!/shop.war", f"{g}:{a}", v) in got
    # The EAR itself has only jar's generated manifest: it is named by its file name.
    assert ("srv/shop.ear", "shop", "") in got
    assert len(got) == len(want) + 2


def test_spring_boot_fat_jar(java_dir: Path) -> None:
    with zipfile.ZipFile(java_dir / "boot.jar") as zf:
        stored = [zi for zi in zf.infolist() if zi.filename.startswith("BOOT-INF/lib/")]
        assert stored and all(zi.compress_type == zipfile.ZIP_STORED for zi in stored)
    src = fixtures.jar_sources()
    got = _coords(_run(java_dir / "boot.jar", "app/boot.jar").packages)
    want: Want = set()
    for lib in fixtures.BOOT_LIBS:
        want |= _jar_expectation(src[lib], f"app/boot.jar!/BOOT-INF/lib/{lib}")
    assert _matches(got, want)


def test_nesting_depth_is_bounded(java_dir: Path) -> None:
    res = _run(java_dir / "nest0.jar", "nest0.jar")
    levels = sorted(int(p.name.rsplit("nest", 1)[1]) for p in res.packages)
    assert levels == list(range(java.MAX_DEPTH + 1))
    deepest = next(p for p in res.packages if p.name.endswith(f"nest{java.MAX_DEPTH}"))
    assert deepest.path == "nest0.jar" + "".join(f"!/lib/nest{i}.jar" for i in range(1, java.MAX_DEPTH + 1))
    (note,) = res.notes
    assert note.kind == "warning" and "nested deeper than" in note.data["message"]


def test_zip_bomb_is_refused_with_a_warning_in_bounded_memory(java_dir: Path) -> None:
    bomb = java_dir / "bomb.war"
    with zipfile.ZipFile(bomb) as zf:
        zi = zf.getinfo("WEB-INF/lib/bomb.jar")
        assert zi.file_size == fixtures.BOMB_BYTES and zi.compress_size < fixtures.BOMB_BYTES // 500
    assert fixtures.BOMB_BYTES < java.MAX_NESTED_BYTES  # so the size cap alone would not refuse it
    tracemalloc.start()
    start = time.monotonic()
    try:
        res = _run(bomb, "srv/bomb.war")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.monotonic() - start < 10
    assert peak < 64 << 20
    names = {p.name for p in res.packages}
    assert "commons-io:commons-io" in names  # the real jar beside the bomb is still reported
    (note,) = res.notes
    assert "bomb.jar" in note.data["message"] and "zip bomb" in note.data["message"]


def test_total_inflation_budget_stops_the_scan_with_a_warning(java_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    full = _run(java_dir / "shop.war")
    with zipfile.ZipFile(java_dir / "shop.war") as zf:
        sizes = {zi.filename: zi.file_size for zi in zf.infolist()}
    # Enough for the small members and the first (sorted) nested jar, not for all of them.
    libs = sorted(n for n in sizes if n.startswith("WEB-INF/lib/") and not n.endswith("/"))
    budget = sizes[libs[0]] + (64 << 10)
    monkeypatch.setattr(java, "MAX_TOTAL_BYTES", budget)
    res = _run(java_dir / "shop.war")
    assert 0 < len(res.packages) < len(full.packages)
    # One warning, at the first member the budget refused; nothing after it is read.
    (note,) = res.notes
    assert "decompression budget" in note.data["message"]
    assert {p.path for p in res.packages} == {"opt/app/shop.war", f"opt/app/shop.war!/{libs[0]}"}


def test_entry_count_is_checked_before_parsing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for i in range(3):
            zf.writestr(f"f{i}.txt", "x")
    data = bytearray(buf.getvalue())
    assert zip_entry_count(io.BytesIO(bytes(data))) == 3
    eocd = data.rfind(b"PK\x05\x06")
    data[eocd + 10 : eocd + 12] = (0xFFFE).to_bytes(2, "little")
    hostile = tmp_path / "huge.jar"
    hostile.write_bytes(bytes(data))
    # 65534 entries is below the limit: lower it to see the refusal without a 6 MB fixture.
    monkeypatch.setattr(java, "MAX_ENTRIES", 1000)
    res = _run(hostile)
    assert not res.packages
    assert "65534 entries" in res.notes[0].data["message"]


def test_not_a_zip(tmp_path: Path) -> None:
    bad = tmp_path / "broken.jar"
    bad.write_bytes(b"this is not a zip archive" * 10)
    with pytest.raises(AnalyzerError):
        _run(bad)
    other = tmp_path / "thing.kar"  # .kar/.par/.sar name other formats too
    other.write_bytes(b"\x00" * 100)
    assert _run(other) == AnalysisResult()


def test_properties_and_manifest_parsers() -> None:
    props = parse_properties(
        "# comment\n! also\nversion = 1.0\\\n    .2\ngroupId:org.example\nartifactId  my\\u0041rt\nempty=\n"
    )
    assert props == {"version": "1.0.2", "groupId": "org.example", "artifactId": "myArt", "empty": ""}
    mf = parse_manifest(
        "Manifest-Version: 1.0\r\nBundle-SymbolicName: org.example.long\r\n .name;singleton:=true\r\n"
        "Bundle-Version: 2.1\r\n\r\nName: org/example/\r\nImplementation-Version: 9.9\r\n"
    )
    assert mf == {
        "Manifest-Version": "1.0",
        "Bundle-SymbolicName": "org.example.long.name;singleton:=true",
        "Bundle-Version": "2.1",
    }
    name, version, meta = manifest_identity(mf, "name-2.1.jar")
    assert (name, version) == ("org.example.long:name", "2.1")
    assert dict(meta)["group_source"] == "Bundle-SymbolicName"
    jenkins = {"Group-Id": "org.jenkins-ci.plugins", "Short-Name": "git", "Plugin-Version": "5.2.1"}
    assert manifest_identity(jenkins, "git.hpi")[:2] == ("org.jenkins-ci.plugins:git", "5.2.1")
    vendor = {"Implementation-Vendor-Id": "org.apache.commons", "Implementation-Version": "1.4"}
    assert manifest_identity(vendor, "commons-x.jar")[:2] == ("org.apache.commons:commons-x", "1.4")
    # A symbolic name that is not a reverse domain is not taken as a group.
    assert manifest_identity({"Bundle-SymbolicName": "slf4j.api"}, "slf4j-api-1.7.jar")[:2] == ("slf4j-api", "1.7")


@pytest.mark.parametrize(
    ("filename", "parts"),
    [
        ("commons-io-2.11.0.jar", ("commons-io", "2.11.0")),
        ("log4j-1.2-api-2.17.1.jar", ("log4j-1.2-api", "2.17.1")),
        ("guava-31.1-jre.jar", ("guava", "31.1-jre")),
        ("bcprov-jdk15on-1.70.jar", ("bcprov-jdk15on", "1.70")),
        ("javax.inject.jar", ("javax.inject", "")),
        ("spring-core-5.3.20.RELEASE.JAR", ("spring-core", "5.3.20.RELEASE")),
    ],
)
def test_split_filename(filename: str, parts: tuple[str, str]) -> None:
    assert split_filename(filename) == parts


def test_bundle_license_forms() -> None:
    assert bundle_licenses("http://www.apache.org/licenses/LICENSE-2.0.txt") == ("Apache-2.0",)
    assert bundle_licenses("Apache-2.0;link=http://www.apache.org/licenses/LICENSE-2.0") == ("Apache-2.0",)
    assert bundle_licenses("https://example.com/our-license.html") == ("https://example.com/our-license.html",)
    assert bundle_licenses("") == ()
