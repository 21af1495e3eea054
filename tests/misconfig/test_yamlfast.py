"""The fast block-YAML reader is held to PyYAML: whatever it reads, it reads exactly as
`yamlsrc.compose_documents` (PyYAML's composer) does, values, types and positions; whatever it
is unsure of, it leaves to PyYAML. The oracles are PyYAML itself on generated manifests, on
documents PyYAML's own emitter wrote from random data, and on seeded mutations of both."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
import yaml

from customhouse.misconfig import yamlfast
from customhouse.misconfig.yamlsrc import YamlError, compose_documents, load_yaml_documents


def same(a: Any, b: Any) -> bool:
    """Equal and of the same types all the way down (1 == True and 1 == 1.0 are not enough)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return (
            list(a) == list(b)
            and all(type(x) is type(y) for x, y in zip(a, b, strict=True))
            and all(same(a[k], b[k]) for k in a)
        )
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def agree(text: str) -> bool:
    """Asserts the fast reader says what PyYAML says (or nothing); returns whether it read it."""
    fast = yamlfast.load(text)
    if fast is None:
        return False
    try:
        slow = compose_documents(text, "t.yaml")
    except YamlError as exc:
        pytest.fail(f"fast reader accepted what PyYAML refuses ({exc.message}):\n{text}")
    assert len(fast) == len(slow), text
    for (data, index, start, positions), ref in zip(fast, slow, strict=True):
        assert same(data, ref.data), f"{text}\n{data!r}\n{ref.data!r}"
        assert (index, start) == (ref.index, ref.start_line), text
        assert positions == ref.positions, text
    return True


BASES = [
    """apiVersion: v1
kind: Pod
metadata:
  name: x
  labels: {}
spec:
  containers:
  - name: a
    image: "nginx:1.2"
    args: []
    ports:
      - containerPort: 80
        protocol: TCP
    command:
    - sh
    - -c
    - 'echo ''hi'''
  volumes:
  -
    name: v
    emptyDir: {}
""",
    """# comment
---
a: |
  line1

  line2
b: |-
   x
    y
c: 'multi
  line

  text '
d: "two
  lines"
e: yes
f: 010
g: 2020-01-01
h: ~
i:
j: 1.5e3
"k q": v
'l': 'm' # c
---
- a
- b: 1
  c:
  - d
""",
    """top:
  nested:
    deeper:
      - x: 1
        y: []
      - z
  k: v # trailing
  url: http://a:b/c
  t: a#b
  n: null
  bool: False
  num: -12
  oct: 0o17
  hex: 0x1F
  inf: .inf
  ts: 2001-12-14t21:59:43.10-05:00
""",
]


@pytest.mark.parametrize(
    ("text", "covered"),
    [
        ("a: 1\nb:\n- x\n- y: 2\n  z: 3\n", True),
        ("k: |\n  x\n  y", True),  # clipping keeps no line break the text does not have
        ("k: |\n  x\n\n\nz: 1\n", True),
        ("k: |-\n  x\n", True),
        ("k: |\nz: 1\n", True),  # an empty block scalar
        ("k: 'a\n\n  b\n  c '\n", True),  # folded quoted scalar: newline, space, trailing space kept
        ("# only a comment\n", True),
        ("", True),
        ("---\na: 1\n---\nb: 2\n", True),
        ("a: 1\n---\n", False),  # an empty document: PyYAML's null and where it starts
        ("-\n- x\n", False),  # a null item
        ("a: &x 1\nb: *x\n", False),
        ("a: !!str 1\n", False),
        ("<<: {a: 1}\n", False),
        ("a: [1, 2]\n", False),
        ("a: >\n  folded\n", False),
        ("a: |+\n  keep\n\n", False),
        ("a:\tb\n", False),
        ("a: 1\r\nb: 2\r\n", False),
        ('a: "esc\\n"\n', False),
        ("a: b\n  c\n", False),  # a multi-line plain scalar
        ("? complex\n: key\n", False),
        ("a: 1\n b: 2\n", False),  # bad indentation: PyYAML's error, not ours
        ("a: b: c\n", False),
        ("%YAML 1.1\n---\na: 1\n", False),
        ("\ufeffa: 1\n", False),
        ('"' + "k" * 1100 + '": 1\n', False),  # longer than YAML allows a simple key: PyYAML's error
        ("d: 2001-02-30\nt: 2001-02-03\n", True),  # an impossible date stays text, as in yamlsrc
    ],
)
def test_edge_cases(text: str, covered: bool) -> None:
    assert agree(text) is covered


def test_bases_are_read_fast() -> None:
    assert all(agree(b) for b in BASES)


def test_loader_uses_the_fast_reader_and_pyyaml_for_the_rest() -> None:
    (doc,) = load_yaml_documents(BASES[0], "pod.yaml")
    assert doc.line(("spec", "containers", 0, "ports", 0, "protocol")) == 13
    with pytest.raises(YamlError, match=r"^bad\.yaml:2: invalid YAML"):
        load_yaml_documents("a: 1\n b: 2\n", "bad.yaml")


def test_generated_manifests(tmp_path: Path) -> None:
    """The benchmark's manifest generator (PyYAML-dumped kubectl-style YAML, multi-document
    files, Lists, ConfigMaps with multi-line values): all YAML files read fast, identically."""
    from bench.k8s import Generator

    Generator(tmp_path, 11).generate(150)
    files = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    yaml_files = [p for p in files if p.suffix != ".json"]
    assert len(yaml_files) >= 100
    read = sum(agree(p.read_text()) for p in yaml_files)
    assert read == len(yaml_files)


_SIMPLE = ["nginx", "web", "TCP", "8080", "true", "app.kubernetes.io/name", "100m", "a-b_c", "Always", "0.5"]
_TRICKY = [
    *("a b", "010", "yes", "null", "~", "a: b", "#x", "-x", "- x", "k'q", 'k"q', "é", "1.5", "2020-01-01"),
    *("x#y", "x #y", "", " lead", "trail ", "on", "0x1F", "=", "a,b", "[x]", "{y}", "*a", "&b", "!t", "|"),
    *(">", "%p", "@q", "?", ":", "a:b", "http://x:1/y", "back\\slash", "tab\there", "line\nbreak"),
    *("two\n\nbreaks", "end\n", "\u2028", "long " * 12),
]


def _scalar(r: random.Random) -> Any:
    k = r.random()
    if k < 0.15:
        return r.randint(-1000, 10**6)
    if k < 0.2:
        return r.random() * 100
    if k < 0.25:
        return r.choice([True, False, None])
    if k < 0.6:
        return r.choice(_SIMPLE)
    if k < 0.85:
        return r.choice(_TRICKY)
    return " ".join(r.choice(_TRICKY) for _ in range(r.randint(2, 12)))


def _data(r: random.Random, depth: int = 0) -> Any:
    k = r.random()
    if depth > 3 or k < 0.3:
        return _scalar(r)
    if k < 0.7:
        return {
            (r.choice(_TRICKY if r.random() < 0.2 else _SIMPLE) if r.random() < 0.95 else r.randint(0, 9)): _data(
                r, depth + 1
            )
            for _ in range(r.randint(0, 5))
        }
    return [_data(r, depth + 1) for _ in range(r.randint(0, 4))]


def test_documents_pyyaml_wrote() -> None:
    """PyYAML's emitter quotes, folds and escapes as YAML requires: random data dumped in
    several styles and widths must read back identically wherever the fast reader takes it."""
    r = random.Random(3)
    read = 0
    for _ in range(800):
        docs = [{f"k{j}": _data(r) for j in range(r.randint(1, 4))} for _ in range(r.randint(1, 3))]
        text = yaml.dump_all(
            docs,
            default_flow_style=r.choice([False, False, False, None]),
            width=r.choice([10, 30, 80, 1000]),
            allow_unicode=r.random() < 0.5,
            indent=r.choice([2, 4]),
            sort_keys=r.random() < 0.5,
            explicit_start=r.random() < 0.5 or len(docs) > 1,
        )
        read += agree(text)
    assert read >= 50  # the comparison must have happened often enough to mean something


_INSERTS = [*":- '\"#|>{}[]&*!?\n%@`,\\\ta1.~", ": ", "- ", " #", "\n  ", "''", "|-", "---", "...", "<<: "]
_INSERTS += ["\u2028", "\x85", "\ufeff", "é"]


def _mutate(text: str, r: random.Random) -> str:
    for _ in range(r.randint(1, 3)):
        op = r.random()
        lines = text.split("\n")
        if op < 0.4 and text:
            i = r.randrange(len(text) + 1)
            text = text[:i] + r.choice(_INSERTS) + text[i:]
        elif op < 0.55 and text:
            i = r.randrange(len(text))
            text = text[:i] + text[i + 1 :]
        elif op < 0.7:
            i = r.randrange(len(lines))
            lines.insert(i, lines[i])
            text = "\n".join(lines)
        elif op < 0.85:
            i = r.randrange(len(lines))
            d = r.choice([-2, -1, 1, 2])
            if d > 0:
                lines[i] = " " * d + lines[i]
            elif lines[i].startswith(" " * -d):
                lines[i] = lines[i][-d:]
            text = "\n".join(lines)
        elif op < 0.93 and len(lines) > 1:
            i = r.randrange(len(lines) - 1)
            lines[i], lines[i + 1] = lines[i + 1], lines[i]
            text = "\n".join(lines)
        else:
            text = text.rstrip("\n") if text.endswith("\n") else text + "\n---\n"
    return text


def test_mutations_never_disagree() -> None:
    """Characters YAML gives meaning to, inserted, deleted, re-indented and swapped at random:
    the fast reader either agrees with PyYAML or hands the text over (and never accepts what
    PyYAML refuses)."""
    r = random.Random(7)
    read = sum(agree(_mutate(r.choice(BASES), r)) for _ in range(4000))
    assert read >= 400
