"""The tree walk of config/k8s scans and what a parsed document carries between processes."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest

from customhouse.misconfig.engine import Document
from customhouse.misconfig.runner import iter_files


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    for rel in ("Dockerfile", "a/x.yaml", "a/b/y.yaml", ".git/z.yaml", "c/skip/w.yaml", "c/v.yaml"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("x: 1\n")
    (root / "a" / "link.yaml").symlink_to(root / "c" / "v.yaml")
    return root


@pytest.mark.parametrize("spelling", ["absolute", "relative"])
def test_walk_in_order(tree: Path, spelling: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if spelling == "relative":
        monkeypatch.chdir(tree.parent)
        root = Path("repo")
    else:
        root = tree
    got = list(iter_files(root, ["skip"]))
    rels = [rel for _, rel in got]
    # sorted within each directory, directories entered in order; skipped and excluded dirs are not
    assert rels == ["Dockerfile", "a/link.yaml", "a/x.yaml", "a/b/y.yaml", "c/v.yaml"]
    for full, rel in got:
        assert os.path.samefile(full, tree / rel)


def test_a_file_root_is_itself(tree: Path) -> None:
    assert list(iter_files(tree / "a" / "x.yaml")) == [(str(tree / "a" / "x.yaml"), "x.yaml")]


def test_documents_travel_without_their_split_lines() -> None:
    doc = Document(path="p.yaml", file_type="kubernetes", text="a: 1\nb: 2\n", data={"a": 1})
    assert doc.source(2) == "b: 2"  # fills the cache of split lines
    back = pickle.loads(pickle.dumps(doc))
    assert back._lines is None and doc._lines is not None
    assert (back.path, back.text, back.data, back.source(2)) == (doc.path, doc.text, doc.data, "b: 2")
