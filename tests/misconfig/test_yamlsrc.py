"""The located YAML loader: positions, merge keys, and bounded work on hostile documents."""

from __future__ import annotations

import time

import pytest

from customhouse.misconfig.yamlsrc import YamlError, json_path, load_yaml_documents


def test_positions_and_multi_documents() -> None:
    text = "a: 1\nb:\n  c: [x, y]\n  d:\n    - e: 2\n---\nkind: Pod\nspec:\n  containers:\n  - name: x\n"
    docs = load_yaml_documents(text, "f.yaml")
    assert [d.index for d in docs] == [0, 1]
    first, second = docs
    assert first.data == {"a": 1, "b": {"c": ["x", "y"], "d": [{"e": 2}]}}
    assert first.line(("b", "d", 0, "e")) == 5
    assert first.line(("b", "c", 1)) == 3
    assert first.line(("b", "missing", "deeper")) == 2  # nearest located ancestor
    assert second.start_line == 7 and second.line(("spec", "containers", 0, "name")) == 10
    assert json_path(("spec", "containers", 0, "name")) == "$.spec.containers[0].name"


def test_merge_keys_explicit_keys_win() -> None:
    text = "x: &base\n  image: nginx\n  user: root\nweb:\n  <<: *base\n  user: app\n"
    (doc,) = load_yaml_documents(text, "compose.yml")
    assert doc.data["web"] == {"image": "nginx", "user": "app"}


def test_invalid_yaml_names_file_and_line() -> None:
    with pytest.raises(YamlError) as exc:
        load_yaml_documents("a: 1\nb: [1, 2\nc: 3\n", "bad.yaml")
    assert exc.value.message.startswith("bad.yaml:") and exc.value.line in (2, 3, 4)


def test_alias_bomb_is_refused_quickly() -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i, name in enumerate("bcdefghi"):
        prev = "abcdefghi"[i]
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    t = time.perf_counter()
    with pytest.raises(YamlError, match="alias bomb"):
        load_yaml_documents("\n".join(lines) + "\n", "bomb.yaml")
    assert time.perf_counter() - t < 5  # linear in the text, not in the expansion (9**9 nodes)


def test_recursive_alias_and_deep_nesting() -> None:
    with pytest.raises(YamlError):
        load_yaml_documents("a: &a [*a]\n", "loop.yaml")
    with pytest.raises(YamlError):
        load_yaml_documents("[" * 5000 + "]" * 5000 + "\n", "deep.yaml")


def test_scalar_types_match_pyyaml_on_every_load() -> None:
    """Plain scalars' types are remembered by their text: the second load (memo warm) and
    quoted forms must still give exactly what PyYAML's safe loader gives."""
    import yaml

    text = (
        "a: [true, yes, 'true', 1, '1', 0x1f, 1.5, .inf, ~, null, 'null', 2001-12-14, '2001-12-14', 100m, 0o17,"
        ' "yes", 1_000, -0, +12, 1e3, TCP, ""]\n'
    )
    expected = yaml.safe_load(text)
    for _ in range(2):
        assert load_yaml_documents(text, "t.yaml")[0].data == expected
    # Tags decided without the resolver chain: quoted scalars, block and flow collections,
    # explicit tags, keys of every kind, empty values.
    text = (
        "'q': \"1\"\n\"k\": {a: [1, '2', {b: null}], c: !!str 3, d: !!int '4', e: !!float 5}\n"
        "l:\n  - - x\n    - 'y'\n  - ? 'k'\n    : v\n  -\n  - {}\n  - []\n? 7\n: !!binary aGk=\n"
    )
    assert load_yaml_documents(text, "t.yaml")[0].data == yaml.safe_load(text)


def test_anchorless_document_over_the_node_limit_is_still_refused() -> None:
    """The expanded-size walk is skipped only when it cannot matter (no anchor and a text
    shorter than the limit); a long anchorless document is still measured."""
    text = "[" + ",".join(["1"] * 600) + "]"
    with pytest.raises(YamlError, match="expands to more than 500 nodes"):
        load_yaml_documents(text, "big.yaml", limit=500)
    assert len(load_yaml_documents("[1, 2, 3]", "small.yaml", limit=500)[0].data) == 3
