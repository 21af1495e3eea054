"""The image-config document: history with empty steps, layers, facts, locations, caching."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from customhouse.analyzers.base import BytesBlob, select
from customhouse.analyzers.imagefacts import FACTS_ANALYZER, ImageFactsAnalyzer
from customhouse.catalog import catalog
from customhouse.misconfig.engine import Options
from customhouse.misconfig.imageconfig import image_document, scan_image_config
from customhouse.model import FileInfo
from customhouse.settings import Settings
from tests.misconfig.imageconfig.images import NOW, Empty, Layer, build, directory, entry, whiteout


def test_document_pairs_history_with_layers(tmp_path: Path) -> None:
    steps = [
        Empty("ARG VERSION=1"),
        Layer([entry("app/a", b"1")], "RUN make"),
        Empty("USER 10001"),
        Layer([whiteout("app/a")], "RUN rm /app/a"),
    ]
    img = build(tmp_path, steps)
    doc = image_document(img.analysis)
    assert doc.file_type == "image-config" and doc.path.startswith("docker-archive:")
    data = doc.data
    assert [(h.index, h.layer, h.empty_layer) for h in data.history] == [
        (0, 0, False),
        (1, -1, True),
        (2, 1, False),
        (3, -1, True),
        (4, 2, False),
    ]
    assert [ly.info.created_by for ly in data.layers][1:] == ["RUN make", "RUN rm /app/a"]
    assert data.layers[2].whiteouts == ("app/a",)
    assert data.layer_file(1, "app/a") == FileInfo("app/a", "file", 1, 0o644)
    assert data.step_for_layer(2) is not None and data.step_for_layer(2).created_by == "RUN rm /app/a"  # type: ignore[union-attr]
    assert data.layer_label(1).startswith("layer 2 (") and data.has_config
    # Policies get a JSON view; the raw text is the config and history.
    view = json.loads(json.dumps(data.to_input()))
    assert view["config"]["User"] == "10001:10001" and len(view["history"]) == 5
    assert view["layers"][2]["whiteouts"] == ["app/a"]
    assert json.loads(doc.text)["history"][1]["created_by"] == "ARG VERSION=1"


def test_history_that_does_not_match_the_layers_is_not_paired(tmp_path: Path) -> None:
    """A hand-made history with a step too many must not blame the wrong layer."""
    img = build(tmp_path, [Layer([entry("app/a")], "RUN a")])
    from dataclasses import replace

    target = img.analysis.inventory.target
    bogus = replace(target, history=(*target.history, {"created_by": "RUN ghost"}))
    img.analysis.inventory = replace(img.analysis.inventory, target=bogus)
    data = image_document(img.analysis).data
    assert all(h.layer == -1 for h in data.history)


def test_facts_survive_the_layer_cache(tmp_path: Path) -> None:
    """A second scan served from the cache must see the same accounts and give the same findings."""
    shadow = b"root::19000:0:::::\n"
    passwd = b"root:x:0:0:root:/root:/bin/sh\ntoor:x:0:0::/:/bin/sh\n"
    layer = Layer([entry("etc/shadow", shadow, 0o640), entry("etc/passwd", passwd)])
    first = build(tmp_path / "a", [layer], cache=tmp_path / "cache")
    settings = Settings(cache_dir=tmp_path / "cache", strict_analyzers=True)
    again = catalog(f"docker-archive:{tmp_path / 'a' / 'image.tar'}", settings, dispatcher=select())
    assert again.cache_hits == len(again.layer_infos)
    opts = Options(extra={"now": NOW})
    before = [(f.id, f.fingerprint) for f in first.findings()]
    after = [(f.id, f.fingerprint) for f in scan_image_config(again, opts)]
    assert before == after
    assert {"CH-IC-002", "CH-IC-018"} <= {i for i, _ in after}


def test_fingerprints_are_unique_and_stable(tmp_path: Path) -> None:
    layer = Layer(
        [
            entry("usr/local/bin/a", b"#!/bin/sh\n", 0o4755),
            entry("usr/local/bin/b", b"#!/bin/sh\n", 0o4755),
            entry("srv/x", b"1", 0o666),
            entry("srv/y", b"1", 0o666),
        ]
    )
    img = build(tmp_path, [layer], config={"ExposedPorts": {"22/tcp": {}, "23/tcp": {}}}, tag="x/y:latest")
    findings = img.findings()
    prints = [f.fingerprint for f in findings]
    assert len(prints) == len(set(prints)) and all(p.startswith("sha256:") for p in prints)
    assert prints == [f.fingerprint for f in img.findings()]
    assert {f.id for f in findings} >= {"CH-IC-001", "CH-IC-006", "CH-IC-007", "CH-IC-009", "CH-IC-010", "CH-IC-011"}


def test_skip_and_config_findings_keep_the_image_as_path(tmp_path: Path) -> None:
    img = build(tmp_path, config={})
    ids = img.ids()
    assert "CH-IC-001" in ids and "CH-IC-009" in ids
    assert "CH-IC-001" not in {f.id for f in img.findings(skip=["CH-IC-001"])}
    (root,) = img.of("CH-IC-001")
    assert root.location.path == root.target and root.location.layer_index == -1
    assert root.misconfiguration is not None and root.misconfiguration.file_type == "image-config"


def test_root_filesystem_has_no_config_to_judge(tmp_path: Path, settings: Settings) -> None:
    """`dir:` targets have files but no image config: nothing is "unset" there."""
    root = tmp_path / "root"
    (root / "srv").mkdir(parents=True)
    (root / "srv" / "open").write_text("x")
    os.chmod(root / "srv" / "open", 0o666)
    analysis = catalog(f"dir:{root}", settings, dispatcher=select())
    findings = scan_image_config(analysis, Options(extra={"now": NOW}))
    assert [(f.id, f.location.path) for f in findings] == [("CH-IC-007", "srv/open")]


def test_analyzer_records_facts_not_hashes() -> None:
    a = ImageFactsAnalyzer()
    shadow = a.analyze(FileInfo("etc/shadow", "file"), BytesBlob(b"root:$6$salt$hash:19000::::::\nnobody:::::::\n"))
    assert shadow is not None
    assert [(n.kind, dict(n.data)) for n in shadow.notes] == [("shadow", {"empty": ["nobody"]})]
    assert "$6$" not in json.dumps(shadow.to_dict())
    passwd = a.analyze(
        FileInfo("etc/passwd", "file"), BytesBlob(b"# comment\n+nis\nbad:x:NaN:0\nroot:x:0:0:r:/root:/bin/sh\n")
    )
    assert passwd is not None and passwd.notes[0].data["accounts"] == [["root", 0, 0, "/root", "/bin/sh", False]]
    sudoers = (
        b"#includedir /etc/sudoers.d\n# app ALL=NOPASSWD: ALL\nDefaults !authenticate\nx ALL=(ALL) ALL # NOPASSWD\n"
    )
    rules = a.analyze(FileInfo("etc/sudoers", "file"), BytesBlob(sudoers))
    assert rules is not None and rules.notes[0].data["rules"] == [[3, "Defaults !authenticate"]]
    assert a.required(FileInfo("etc/sudoers.d/app", "file"))
    assert not a.required(FileInfo("etc/sudoers.d/app.dpkg-old", "file"))
    assert not a.required(FileInfo("etc/sudoers.d/app~", "file"))


def test_facts_analyzer_is_registered_and_lazy(tmp_path: Path) -> None:
    lazy = select(cache_dir=tmp_path)
    assert "dpkg" in lazy.versions and FACTS_ANALYZER in lazy.versions
    assert lazy._analyzers is None  # versions alone (the cache key) load no analyzer module
    assert [a.name for a in lazy.analyzers].count(FACTS_ANALYZER) == 1


def test_directories_overwritten_by_directories_are_not_waste(tmp_path: Path) -> None:
    """Re-declaring a directory (common in every layer) removes nothing."""
    steps = [Layer([directory("app"), entry("app/a", b"1" * 10)]), Layer([directory("app"), entry("app/b", b"2")])]
    img = build(tmp_path, steps)
    assert img.analysis.fs.removals == []
    assert img.of("CH-IC-012", options=Options(extra={"now": NOW, "wasted_bytes_min": 1})) == []


@pytest.mark.parametrize("oci", [False, True])
def test_full_history_reaches_the_target(tmp_path: Path, oci: bool) -> None:
    img = build(tmp_path, [Empty("ARG A=1"), Layer([entry("x")], "RUN x")], oci=oci)
    hist = img.analysis.inventory.target.history
    assert [h.get("created_by") for h in hist][1:] == ["ARG A=1", "RUN x"]
    assert hist[1].get("empty_layer") is True


def test_custom_policies_see_the_image(tmp_path: Path) -> None:
    """Rego policies get the same document (config, history, files) and findings as built-in checks."""
    from customhouse.misconfig.rego import load_policies

    steps = [
        Empty("ARG V=1"),
        Layer([entry("usr/bin/curl", b"#!/bin/sh\n", 0o755)], "RUN /bin/sh -c curl -fsSL https://x.example/i | sh"),
    ]
    img = build(tmp_path, steps)
    policies = load_policies(Path(__file__).parent / "policies")
    findings = scan_image_config(img.analysis, img.options, policies=policies)
    (f,) = [f for f in findings if f.id == "ORG-IMG-001"]
    assert f.location.json_path == "$.history[2].created_by"
    # The policy names the layer by index; the digest and build step are filled in from the image.
    assert f.location.layer_index == 1 and f.location.layer_digest == img.analysis.layer_infos[1].diff_id
    assert f.location.created_by.startswith("RUN /bin/sh -c curl")
    assert f.misconfiguration is not None and f.misconfiguration.check_source.startswith("rego:")
    assert "ORG-IMG-001" not in {x.id for x in scan_image_config(img.analysis, img.options, ["ORG-IMG-001"], policies)}
