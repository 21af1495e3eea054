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


def _os_walk_files(root: Path, exclude: tuple[str, ...]) -> list[tuple[str, str]]:
    """The walk as it was written on `os.walk`: the oracle for our own."""
    from customhouse.misconfig.runner import SKIP_DIRS, excluded

    top = os.fspath(root)
    cut = len(os.path.join(top, ""))
    out = []
    for dirpath, dirnames, filenames in os.walk(top, followlinks=False):
        rel_dir = dirpath[cut:]
        dirnames[:] = sorted(
            d
            for d in dirnames
            if d not in SKIP_DIRS and not (exclude and excluded(f"{rel_dir}/{d}" if rel_dir else d, exclude))
        )
        base = dirpath + os.sep if rel_dir else os.path.join(dirpath, "")
        prefix = rel_dir + "/" if rel_dir else ""
        out += [(base + name, prefix + name) for name in sorted(filenames)]
    return out


@pytest.mark.parametrize("seed", range(12))
def test_walk_is_os_walks(tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Random trees with symlinks to files, to directories (also loops) and to nothing, skipped
    and excluded directories, names that sort oddly: the same paths in the same order as the
    `os.walk` version, from an absolute, a relative and a slash-ended root."""
    import random

    rng = random.Random(seed)
    root = tmp_path / "t"
    root.mkdir()
    dirs = [root]
    names = ["a", "B", "b", "_x", ".git", "node_modules", "skip", "Ω", "a b", "z.yaml", "10", "9"]
    for _ in range(rng.randint(5, 40)):
        parent = rng.choice(dirs)
        name = rng.choice(names) + str(rng.randint(0, 3)) * rng.randint(0, 1)
        p = parent / name
        if p.exists() or p.is_symlink():
            continue
        kind = rng.random()
        if kind < 0.35:
            p.mkdir()
            dirs.append(p)
        elif kind < 0.8:
            p.write_text("x")
        elif kind < 0.9:
            p.symlink_to(rng.choice(dirs))
        else:
            p.symlink_to(parent / "missing")
    for exclude in ((), ("skip",), ("a*/b*",)):
        assert list(iter_files(root, exclude)) == _os_walk_files(root, exclude)
    monkeypatch.chdir(tmp_path)
    for spelling in ("t", "t/", "./t"):
        assert list(iter_files(Path(spelling))) == _os_walk_files(Path(spelling), ())
