"""Catastrophic-backtracking review of every rule, in the `re` fallback's terms.

For each rule, adversarial inputs are built from the rule's own regex: 50,000 repetitions of
the characters each quantified element accepts (one character, and the whole class in turn),
each alone and behind every keyword of the rule and behind the rule's literal prefix, plus
the rule's positive test strings glued together without separators. Every rule's regex runs
over all of them with `finditer` (what both backends do, over windows or whole buffers). The
run happens in a subprocess whose only timing constraint is a generous overall timeout; it
prints the slowest rules, which is where to look when it fails."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import ROOT

SCRIPT = r"""
import importlib, json, sys, time
from customhouse.secrets.rules import load_rules
from customhouse.secrets.samples import expand, split_expected

P = importlib.import_module("re._parser")
C = importlib.import_module("re._constants")
N = int(sys.argv[1])
PRINTABLE = bytes(range(32, 127))

def members(items):
    out = set()
    negate = False
    for op, av in items:
        if op is C.NEGATE:
            negate = True
        elif op is C.LITERAL:
            out.add(av)
        elif op is C.RANGE:
            out.update(range(av[0], min(av[1], 255) + 1))
        elif op is C.CATEGORY:
            out.update(b for b in range(256) if _cat(av, b))
    if negate:
        out = set(PRINTABLE) - out
    return out

def _cat(cat, b):
    ch = chr(b)
    name = str(cat)
    if "DIGIT" in name:
        ok = ch.isdigit() and b < 128
    elif "SPACE" in name:
        ok = ch in " \t\n\r\f\v"
    elif "WORD" in name:
        ok = (ch.isalnum() or ch == "_") and b < 128
    else:
        return False
    return not ok if "NOT" in name else ok

def first_chars(items):
    out = set()
    for op, av in items:
        if op is C.LITERAL:
            out.add(av)
        elif op is C.NOT_LITERAL:
            out.update(set(PRINTABLE) - {av})
        elif op is C.IN:
            out |= members(av)
        elif op is C.ANY:
            out.update(PRINTABLE)
        elif op is C.SUBPATTERN:
            out |= first_chars(av[-1])
        elif op is C.BRANCH:
            for b in av[1]:
                out |= first_chars(b)
        elif op in (C.MAX_REPEAT, C.MIN_REPEAT, getattr(C, "POSSESSIVE_REPEAT", None)):
            out |= first_chars(av[2])
        elif op in (C.ASSERT, C.ASSERT_NOT, C.AT):
            continue
        else:
            continue
    return out

def repeated(items, acc):
    for op, av in items:
        if op in (C.MAX_REPEAT, C.MIN_REPEAT, getattr(C, "POSSESSIVE_REPEAT", None)):
            acc.append(first_chars(av[2]) | all_chars(av[2]))
            repeated(av[2], acc)
        elif op is C.SUBPATTERN:
            repeated(av[-1], acc)
        elif op is C.BRANCH:
            for b in av[1]:
                repeated(b, acc)
        elif op in (C.ASSERT, C.ASSERT_NOT):
            repeated(av[1], acc)
    return acc

def all_chars(items):
    out = set()
    for op, av in items:
        if op in (C.LITERAL, C.NOT_LITERAL, C.IN, C.ANY):
            out |= first_chars([(op, av)])
        elif op is C.SUBPATTERN:
            out |= all_chars(av[-1])
        elif op is C.BRANCH:
            for b in av[1]:
                out |= all_chars(b)
        elif op in (C.MAX_REPEAT, C.MIN_REPEAT, getattr(C, "POSSESSIVE_REPEAT", None)):
            out |= all_chars(av[2])
    return out

def literal_prefix(items):
    out = bytearray()
    for op, av in items:
        if op is C.LITERAL:
            out.append(av)
        elif op is C.SUBPATTERN:
            out += literal_prefix(av[-1])
            break
        elif op in (C.ASSERT, C.ASSERT_NOT, C.AT):
            continue
        else:
            break
    return bytes(out)

def inputs(rule):
    tree = P.parse(rule.regex.encode())
    classes = [c for c in repeated(list(tree), []) if c]
    runs = []
    for cls in classes:
        chars = sorted(cls)
        picks = {chars[0], chars[-1], chars[len(chars) // 2]}
        for b in picks:
            runs.append(bytes([b]) * N)
        cyc = bytes(chars[i % len(chars)] for i in range(min(len(chars), 97)))
        runs.append((cyc * (N // len(cyc) + 1))[:N])
    heads = [b""] + [k.encode() for k in rule.keywords[:4]] + [literal_prefix(list(tree))]
    out = [h + r for r in runs for h in set(heads)]
    for i, t in enumerate(rule.positives):
        text, _ = split_expected(expand(t.text, f"bt{i}"))
        out.append((text.encode() * (N // max(1, len(text)) + 1))[: 4 * N])
    return out

report = []
for rule in load_rules():
    t = time.time()
    for data in inputs(rule):
        for _ in rule.pattern.finditer(data):
            pass
    report.append((round(time.time() - t, 3), rule.id))
report.sort(reverse=True)
print(json.dumps({"rules": len(report), "slowest": report[:10], "total": round(sum(r[0] for r in report), 1)}))
"""


def test_no_rule_backtracks_catastrophically() -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    p = subprocess.run(
        [sys.executable, "-c", SCRIPT, "50000"],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
        cwd=ROOT,
        check=False,
    )
    assert p.returncode == 0, p.stderr[-3000:]
    out = json.loads(p.stdout)
    assert out["rules"] >= 150
    print(out)  # the slowest rules, for whoever tunes them
