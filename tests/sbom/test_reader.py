"""Reading SBOMs: our own back losslessly, syft's and trivy's faithfully, bad ones cleanly."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from customhouse.cli import main
from customhouse.errors import InputError
from customhouse.model import Inventory, Package
from customhouse.report import cyclonedx, spdx
from customhouse.settings import Limits, Settings
from customhouse.targets import open_target
from customhouse.targets.sbom import SbomSource, load_document, read_document
from tests.sbom.conftest import PeerSboms, scan
from tests.sbom.inventories import analysis_of, every_type_inventory

WRITERS: dict[str, Callable[..., str]] = {"cyclonedx": cyclonedx.render, "spdx": spdx.render}


def read_file(path: Path, limit: int | None = None) -> Inventory:
    settings = Settings(cache_dir=path.parent / "cache")
    if limit is not None:
        settings = replace(settings, limits=Limits(max_json_bytes=limit))
    src = open_target(str(path), settings)  # a bare JSON path is sniffed as an SBOM
    assert isinstance(src, SbomSource)
    try:
        return src.inventory()
    finally:
        src.close()


def brief_fields(p: Package) -> tuple[str, ...]:
    return (p.name, p.version, p.type, p.purl, "|".join(p.licenses), p.arch, p.source_name)


# ------------------------------------------------------------------------ round trip


@pytest.mark.parametrize("fmt", sorted(WRITERS))
def test_every_type_inventory_round_trips(fmt: str, tmp_path: Path) -> None:
    original = every_type_inventory()
    path = tmp_path / f"doc.{fmt}.json"
    path.write_text(WRITERS[fmt](analysis_of(original)))
    back = read_file(path)
    assert [brief_fields(p) for p in back.packages] == [brief_fields(p) for p in original.packages]
    # Beyond the brief's fields: our properties make the trip lossless for whole packages.
    assert back.packages == original.packages
    assert back.os == original.os
    assert back.layers == original.layers
    t, o = back.target, original.target
    assert (t.kind, t.name) == ("sbom", f"sbom:{path}")
    assert (t.image_id, t.repo_tags, t.repo_digests, t.architecture, t.created) == (
        o.image_id,
        o.repo_tags,
        o.repo_digests,
        o.architecture,
        o.created,
    )


@pytest.mark.parametrize("fmt", sorted(WRITERS))
def test_scanned_images_round_trip(fmt: str, alpine_archive: Path, multilayer_layout: Path, tmp_path: Path) -> None:
    for spec in (f"docker-archive:{alpine_archive}", f"oci-layout:{multilayer_layout}"):
        original = scan(spec, tmp_path / "cache").inventory
        path = tmp_path / f"{spec[:6]}.{fmt}.json"
        path.write_text(WRITERS[fmt](analysis_of(original)))
        back = read_file(path)
        assert len(back.packages) == len(original.packages) > 10
        assert [brief_fields(p) for p in back.packages] == [brief_fields(p) for p in original.packages]
        assert back.packages == original.packages
        assert back.os == original.os
        # And what we write from what we read is what we wrote: conversion is stable.
        assert WRITERS[fmt](analysis_of(replace(back, target=original.target))) == path.read_text()


def test_cli_sbom_of_an_sbom_reproduces_the_inventory(alpine_archive: Path, tmp_path: Path, capsys: Any) -> None:
    cache = str(tmp_path / "cache")
    doc = tmp_path / "alpine.cdx.json"
    assert (
        run_cli(
            ["sbom", f"docker-archive:{alpine_archive}", "-f", "cyclonedx-json", "-o", str(doc), "--cache-dir", cache]
        )
        == 0
    )
    capsys.readouterr()
    assert run_cli(["sbom", f"sbom:{doc}", "-f", "json", "--cache-dir", cache]) == 0
    from_sbom = json.loads(capsys.readouterr().out)
    assert run_cli(["sbom", f"docker-archive:{alpine_archive}", "-f", "json", "--cache-dir", cache]) == 0
    direct = json.loads(capsys.readouterr().out)
    keys = ("name", "version", "type", "purl", "licenses", "arch", "source_name", "layer_diff_id", "path")
    assert [{k: p[k] for k in keys} for p in from_sbom["packages"]] == [
        {k: p[k] for k in keys} for p in direct["packages"]
    ]
    assert from_sbom["os"]["family"] == "alpine" and from_sbom["os"]["version"] == direct["os"]["version"]


# ------------------------------------------------------------------------ peer SBOMs


def _cdx_listed(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (c["name"], c["version"])
        for c in doc["components"]
        if c.get("purl") and c["type"] not in ("operating-system", "container")
    }


def _spdx_listed(doc: dict[str, Any]) -> set[tuple[str, str]]:
    out = set()
    for p in doc["packages"]:
        purls = [r["referenceLocator"] for r in p.get("externalRefs", []) if r["referenceType"] == "purl"]
        if purls and not purls[0].startswith("pkg:oci/"):
            out.add((p["name"], p["versionInfo"]))
    return out


@pytest.mark.peer
@pytest.mark.parametrize("which", ["syft_cdx", "syft_spdx", "trivy_cdx", "trivy_spdx"])
def test_peer_sboms_read_completely(which: str, peer_sboms: PeerSboms, alpine_archive: Path, tmp_path: Path) -> None:
    path: Path = getattr(peer_sboms, which)
    raw = json.loads(path.read_text())
    listed = _cdx_listed(raw) if which.endswith("cdx") else _spdx_listed(raw)
    assert len(listed) >= 10, f"{which} listed too few packages to be a meaningful comparison"
    inv = read_file(path)
    assert {(p.name, p.version) for p in inv.packages} == listed
    assert len(inv.packages) == len(listed)
    assert inv.os is not None and (inv.os.family, inv.os.version) == ("alpine", "3.10.4")
    assert all(p.type == "apk" and p.arch == "x86_64" for p in inv.packages)
    # The three tools looked at the same image: they must agree with our own scan too.
    ours = scan(f"docker-archive:{alpine_archive}", tmp_path / "cache").inventory
    assert {(p.name, p.version) for p in ours.packages} == listed


@pytest.mark.peer
def test_peer_source_packages_and_layers(peer_sboms: PeerSboms) -> None:
    """Source names come from each producer's own place for them (trivy's SrcName property,
    trivy's SPDX sourceInfo, syft's originPackage / purl upstream), and agree."""
    trivy_doc = json.loads(peer_sboms.trivy_cdx.read_text())
    src_prop = {
        c["name"]: next(p["value"] for p in c["properties"] if p["name"] == "aquasecurity:trivy:SrcName")
        for c in trivy_doc["components"]
        if c["type"] == "library"
    }
    assert src_prop["ssl_client"] == "busybox"  # the case that proves it is not just the name
    for which in ("trivy_cdx", "trivy_spdx", "syft_cdx", "syft_spdx"):
        inv = read_file(getattr(peer_sboms, which))
        assert {p.name: p.source_name for p in inv.packages} == src_prop, which
    trivy = read_file(peer_sboms.trivy_cdx)
    assert [li.diff_id for li in trivy.layers] == [
        next(p["value"] for p in trivy_doc["metadata"]["component"]["properties"] if p["name"].endswith(":DiffID"))
    ]
    assert all(p.layer_index == 0 and p.layer_diff_id == trivy.layers[0].diff_id for p in trivy.packages)
    syft = read_file(peer_sboms.syft_cdx)
    assert all(p.path == "lib/apk/db/installed" for p in syft.packages)


def test_purl_qualifiers_restore_epoch_namespace_and_os() -> None:
    """What peers put only in purls: rpm epoch as a qualifier, Maven/npm/Go namespaces, and
    the distribution when no operating-system element exists (trivy writes a bare version)."""
    doc = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.4",
        "components": [
            {
                "type": "library",
                "name": "openssl-libs",
                "version": "3.0.7-27.el9",
                "purl": "pkg:rpm/redhat/openssl-libs@3.0.7-27.el9?arch=x86_64&epoch=1&distro=9.3"
                "&upstream=openssl-3.0.7-27.el9.src.rpm",
            },
            {"type": "library", "name": "bash", "purl": "pkg:rpm/redhat/bash@5.1.8-9.el9?arch=x86_64&distro=9.3"},
            {
                "type": "library",
                "name": "log4j-core",
                "group": "org.apache.logging.log4j",
                "version": "2.14.1",
                "purl": "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1",
            },
            {"type": "library", "name": "core", "version": "17.0.8", "purl": "pkg:npm/%40angular/core@17.0.8"},
            {
                "type": "library",
                "name": "github.com/sirupsen/logrus",
                "version": "v1.9.3",
                "purl": "pkg:golang/github.com/sirupsen/logrus@v1.9.3",
            },
            {
                "type": "library",
                "name": "Console",
                "version": "v6.4.0",
                "group": "Symfony",
                "purl": "pkg:composer/symfony/console@v6.4.0",
            },
            {"type": "library", "name": "wrong-name", "version": "1", "purl": "pkg:gem/rails@1"},
            {"type": "application", "name": "usr/lib/python3/site-packages"},  # trivy's aggregate node
            {"type": "library", "name": "x", "purl": "pkg:not a purl"},
        ],
    }
    inv = read_document(doc, "peer.json", "sbom:peer.json")
    got = {p.name: p for p in inv.packages}
    assert sorted(got) == [
        "@angular/core",
        "Symfony/Console",
        "bash",
        "github.com/sirupsen/logrus",
        "openssl-libs",
        "org.apache.logging.log4j:log4j-core",
        "rails",
        "x",
    ]
    # A broken purl is dropped with a warning, but the package the document lists is kept.
    assert (got["x"].type, got["x"].purl) == ("generic", "")
    assert got["openssl-libs"].version == "1:3.0.7-27.el9"
    assert (got["openssl-libs"].source_name, got["openssl-libs"].source_version) == ("openssl", "3.0.7-27.el9")
    assert got["bash"].version == "5.1.8-9.el9"  # from the purl: the component has no version
    assert inv.os is not None and (inv.os.family, inv.os.version) == ("rhel", "9.3")
    assert any("invalid purl" in w and "components[8]" in w for w in inv.warnings)


def test_older_dialects_spdx_2_2_and_cyclonedx_1_2(alpine_archive: Path, tmp_path: Path) -> None:
    """Documents as older producers write them: SPDX 2.2 (`PACKAGE_MANAGER`, no purposes,
    `documentDescribes`) and CycloneDX 1.2 (no properties, a tools array, nested components),
    with none of our own properties to lean on."""
    original = scan(f"docker-archive:{alpine_archive}", tmp_path / "cache").inventory
    expect = [(p.name, p.version, p.purl, p.source_name, p.licenses) for p in original.packages]

    sdoc = json.loads(spdx.render(analysis_of(original)))
    sdoc["spdxVersion"] = "SPDX-2.2"
    sdoc["documentDescribes"] = [spdx.IMAGE_ID]
    sdoc["relationships"] = [r for r in sdoc["relationships"] if r["relationshipType"] != "DESCRIBES"]
    for p in sdoc["packages"]:
        p.pop("annotations", None)
        p.pop("primaryPackagePurpose", None)
        for ref in p.get("externalRefs", []):
            ref["referenceCategory"] = "PACKAGE_MANAGER"
    inv = read_document(sdoc, "old.spdx.json", "sbom:old.spdx.json")
    assert [(p.name, p.version, p.purl, p.source_name, p.licenses) for p in inv.packages] == expect
    assert inv.os is not None and (inv.os.family, inv.os.version) == ("alpine", "3.10.4")  # from purl distro

    cdoc = json.loads(cyclonedx.render(analysis_of(original)))
    cdoc["specVersion"] = "1.2"
    cdoc["metadata"]["tools"] = [{"vendor": "acme", "name": "old-scanner", "version": "1"}]
    cdoc["metadata"]["component"].pop("properties")
    os_comp, *libs = cdoc["components"]
    for c in (os_comp, *libs):
        c.pop("properties", None)
    os_comp["components"] = libs  # 1.2 producers often nested packages under the OS
    cdoc["components"] = [os_comp]
    inv = read_document(cdoc, "old.cdx.json", "sbom:old.cdx.json")
    assert [(p.name, p.version, p.purl, p.source_name, p.licenses) for p in inv.packages] == expect
    assert inv.os is not None and (inv.os.family, inv.os.version) == ("alpine", "3.10.4")


# ------------------------------------------------------------------------- bad input


def _cdx(**over: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "components": [{"type": "library", "name": "zlib", "version": "1.3", "purl": "pkg:apk/alpine/zlib@1.3"}],
    }
    doc.update(over)
    return doc


def _spdx(**over: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "spdxVersion": "SPDX-2.3",
        "SPDXID": "SPDXRef-DOCUMENT",
        "packages": [{"SPDXID": "SPDXRef-p", "name": "zlib", "versionInfo": "1.3"}],
    }
    doc.update(over)
    return doc


def _nested_components(depth: int) -> dict[str, Any]:
    comp: dict[str, Any] = {"type": "library", "name": "leaf", "purl": "pkg:gem/leaf@1"}
    for i in range(depth):
        comp = {"type": "library", "name": f"n{i}", "purl": f"pkg:gem/n{i}@1", "components": [comp]}
    return _cdx(components=[comp])


BAD_DOCUMENTS: dict[str, tuple[bytes, str]] = {
    "components-too-deep": (json.dumps(_nested_components(80)).encode(), "components nested more than 64 deep"),
    "truncated": (json.dumps(_cdx()).encode()[:60], "invalid JSON"),
    "empty": (b"", "invalid JSON"),
    "not-utf8": (b'{"bomFormat": "\xff\xfe"}', "invalid JSON"),
    "nested-too-deep": (b"[" * 200_000 + b"]" * 200_000, "nested too deeply"),
    "array": (b"[1, 2]", "neither a CycloneDX nor an SPDX"),
    "other-json": (b'{"name": "package.json", "version": "1.0.0"}', "neither a CycloneDX nor an SPDX"),
    "xml": (b'<?xml version="1.0"?><bom xmlns="http://cyclonedx.org/schema/bom/1.6"/>', "looks like XML"),
    "spdx3": (json.dumps({"@context": "https://spdx.org/rdf/3.0.1/spdx-context.jsonld"}).encode(), "SPDX 3"),
    "cdx-version": (json.dumps(_cdx(specVersion="2.0")).encode(), "unsupported CycloneDX version"),
    "spdx-version": (json.dumps(_spdx(spdxVersion="SPDX-1.2")).encode(), "unsupported SPDX version"),
    "components-object": (json.dumps(_cdx(components={"a": 1})).encode(), "components: expected an array"),
    "component-string": (json.dumps(_cdx(components=["zlib"])).encode(), "components[0]: expected an object"),
    "name-number": (
        json.dumps(_cdx(components=[{"type": "library", "name": 7, "purl": "pkg:gem/a@1"}])).encode(),
        "components[0].name: expected a string, got a number",
    ),
    "license-id-list": (
        json.dumps(
            _cdx(
                components=[
                    {"type": "library", "name": "a", "purl": "pkg:gem/a@1", "licenses": [{"license": {"id": ["MIT"]}}]}
                ]
            )
        ).encode(),
        "components[0].licenses[0].license.id: expected a string",
    ),
    "property-value-object": (
        json.dumps(
            _cdx(
                components=[
                    {"type": "library", "name": "a", "purl": "pkg:gem/a@1", "properties": [{"name": "x", "value": {}}]}
                ]
            )
        ).encode(),
        "components[0].properties[0].value: expected a string",
    ),
    "metadata-array": (json.dumps(_cdx(metadata=[])).encode(), "metadata: expected an object"),
    "spdx-packages-string": (json.dumps(_spdx(packages="zlib")).encode(), "packages: expected an array"),
    "spdx-externalref-string": (
        json.dumps(_spdx(packages=[{"SPDXID": "a", "name": "z", "externalRefs": ["pkg:apk/alpine/z@1"]}])).encode(),
        "packages[0].externalRefs[0]: expected an object",
    ),
    "spdx-relationship-null": (
        json.dumps(_spdx(relationships=[None])).encode(),
        "relationships[0]: expected an object",
    ),
    "spdx-bad-annotation": (
        json.dumps(
            _spdx(packages=[{"SPDXID": "a", "name": "z", "annotations": [{"comment": "customhouse:properties=[1]"}]}])
        ).encode(),
        "customhouse properties must be a list",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_DOCUMENTS))
def test_bad_documents_are_input_errors_naming_the_file(case: str, tmp_path: Path) -> None:
    data, reason = BAD_DOCUMENTS[case]
    path = tmp_path / f"{case}.json"
    path.write_bytes(data)
    with pytest.raises(InputError) as exc:
        SbomSource(path, f"sbom:{path}", Settings(cache_dir=tmp_path / "c")).inventory()
    assert str(path) in exc.value.message
    assert reason in exc.value.message
    assert "\n" not in exc.value.message


def test_oversized_document_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "huge.json"
    head = b'{"bomFormat": "CycloneDX", "specVersion": "1.6", "components": ['
    with open(path, "wb") as f:
        f.write(head)
        f.truncate(100 << 20)  # 100 MB (sparse): costs nothing to make, everything to parse
    limit = Limits().max_json_bytes
    t0 = time.perf_counter()
    with pytest.raises(InputError) as exc:
        load_document(path, limit)
    assert time.perf_counter() - t0 < 1.0
    # The size in the message is the file's, which only the pre-read check knows.
    assert exc.value.message == f"{path}: SBOM of {100 << 20} bytes exceeds the {limit}-byte limit"


def test_limit_applies_to_valid_documents(tmp_path: Path) -> None:
    path = tmp_path / "ok.cdx.json"
    path.write_text(cyclonedx.render(analysis_of(every_type_inventory())))
    size = path.stat().st_size
    assert len(read_file(path, limit=size).packages) == len(every_type_inventory().packages)
    with pytest.raises(InputError, match="exceeds the"):
        read_file(path, limit=size - 1)


def _mutations(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _mutations(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _mutations(v, (*path, i))


@pytest.mark.parametrize("fmt", sorted(WRITERS))
def test_any_wrong_type_anywhere_is_an_input_error(fmt: str, alpine_archive: Path, tmp_path: Path) -> None:
    """Replace every value of a real (three-package) document with each wrong-typed value:
    the reader returns an inventory or raises InputError, nothing else."""
    inv = scan(f"docker-archive:{alpine_archive}", tmp_path / "cache").inventory
    small = replace(inv, packages=inv.packages[:3])
    doc = json.loads(WRITERS[fmt](analysis_of(small)))
    errors = 0
    tried = 0
    for path in _mutations(doc):
        if not path:
            continue
        bad: Any
        for bad in (None, 7, "text", [], {}, [None]):
            mutated = copy.deepcopy(doc)
            parent = mutated
            for key in path[:-1]:
                parent = parent[key]
            parent[path[-1]] = bad
            tried += 1
            try:
                result = read_document(mutated, "mutated.json", "sbom:mutated.json")
            except InputError as exc:
                assert exc.message.startswith("mutated.json: ")
                errors += 1
            else:
                assert isinstance(result, Inventory)
    assert tried > 400
    assert errors > tried // 4  # the reader really checks types, it does not just shrug


# --------------------------------------------------------------------------- CLI


def run_cli(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    code = exc.value.code
    return code if isinstance(code, int) else 1


@pytest.mark.parametrize("case", ["truncated", "other-json", "name-number", "spdx-packages-string", "xml"])
def test_cli_exit_code_3_with_one_line_naming_the_file(case: str, tmp_path: Path, capsys: Any) -> None:
    data, reason = BAD_DOCUMENTS[case]
    path = tmp_path / f"{case}.json"
    path.write_bytes(data)
    for target in (f"sbom:{path}", str(path)):
        if case == "xml" and target == str(path):
            continue  # a bare XML path is not sniffed as an SBOM; `sbom:` forces it
        assert run_cli(["sbom", target, "-f", "cyclonedx-json", "--cache-dir", str(tmp_path / "c")]) == 3
        captured = capsys.readouterr()
        assert captured.out == ""
        lines = captured.err.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in captured.err
        assert lines[0].startswith(f"customhouse: error: {path}: ")
        assert reason in lines[0]


def test_cli_oversized_document_exit_3(tmp_path: Path, capsys: Any) -> None:
    path = tmp_path / "huge.json"
    with open(path, "wb") as f:
        f.write(b'{"spdxVersion": "SPDX-2.3", "packages": [')
        f.truncate(100 << 20)
    assert run_cli(["sbom", f"sbom:{path}", "-f", "spdx-json", "--cache-dir", str(tmp_path / "c")]) == 3
    assert "exceeds the" in capsys.readouterr().err


def test_cli_missing_file_exit_3(tmp_path: Path, capsys: Any) -> None:
    path = tmp_path / "absent.json"
    assert run_cli(["sbom", f"sbom:{path}", "--cache-dir", str(tmp_path / "c")]) == 3
    assert f"{path}: no such file" in capsys.readouterr().err
