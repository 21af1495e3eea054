"""Misconfiguration benchmark: customhouse vs hadolint vs checkov on the same corpus, in one run.

Input: the corpus of real Dockerfiles and compose files harvested from registry packages
(bench/corpus.py). Every tool gets the same files and writes JSON, as it would in CI.

- customhouse: `customhouse config TREE -f json --scanners misconfig`, the job both peers do
  (neither scans for secrets); the default, which adds the secret scan, is timed for information.
- hadolint: all Dockerfiles in ONE invocation (`--format json`), which is how a repository-wide
  lint runs and the fairest to hadolint (it starts once); the issue #4 target "no slower than
  hadolint on 500 Dockerfiles" is judged against this. One process per file in sequence (what
  pre-commit hooks and most CI snippets do) is reported for information.
- checkov: `checkov -d TREE --framework dockerfile`. checkov has no compose framework (its
  `--framework` choices have none; with all frameworks it still reads no compose file), so the
  end-to-end target (20x faster than checkov) is judged on the Dockerfile subtree, where both
  tools do the same job. The whole tree (on which we also check the compose files) is reported
  too, and on request checkov with its default of every framework (`--checkov-all-runs`: minutes).
- start-up: `customhouse config --help`, Python start to exit.

Then the findings on the Dockerfiles are compared. Each peer rule is mapped to the check(s) of
ours that mean the same (HADOLINT_MAP, CHECKOV_MAP below, written from the peers' rule
documentation) or listed as unmapped with the reason; for each rule: the files it fired on,
how many of those we flag with the mapped check, and at how many of its places (file +
instruction) we do; what differs is written out with the instruction text to
bench/results/config/differences.md so every difference can be explained.

    bench/setup-peers                          # once: checkov and hadolint in .venv-peers
    .venv/bin/python -m bench.config [--runs 5] [--per-file-runs 1] [--checkov-all-runs 0]
    .venv/bin/python -m bench.config --compare-only   # findings only: after changing checks
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench._common import ROOT, VENV_BIN, Result, Sample, precompile, run_once, table, tool

TARGETS = {"vs_checkov": 20.0, "vs_hadolint": 1.0, "help_seconds": 0.3}
PEER_VENV_BIN = ROOT / ".venv-peers" / "bin"
# checkov phones home for a version check and a policy mapping unless told not to.
CHECKOV_ENV = {"CKV_SKIP_PACKAGE_UPDATE_CHECK": "true", "BC_SKIP_MAPPING": "TRUE", "LOG_LEVEL": "ERROR"}
WORK = ROOT / "bench" / "results" / "config"


# --------------------------------------------------------------------------------------------- tools


def peer(name: str) -> str:
    """A peer tool: .venv-peers first (bench/setup-peers), then our venv, then PATH."""
    for d in (PEER_VENV_BIN, VENV_BIN):
        if (d / name).exists():
            return str(d / name)
    found = shutil.which(name)
    if not found:
        raise SystemExit(f"{name} not found: run bench/setup-peers (installs checkov and hadolint in .venv-peers)")
    return found


def ours_cmd(tree: Path, scanners: str = "misconfig") -> list[str]:
    """Ours as timed: `--scanners misconfig` is the job hadolint and checkov's dockerfile
    framework do (neither scans for secrets); the default adds the secret scan, timed apart."""
    return [tool("customhouse"), "config", str(tree), "-f", "json", "-q", "--scanners", scanners]


def hadolint_cmd(files: Sequence[Path]) -> list[str]:
    return [peer("hadolint"), "--no-fail", "--format", "json", *map(str, files)]


def checkov_cmd(tree: Path, frameworks: Sequence[str] = ("dockerfile",)) -> list[str]:
    fw = ["--framework", *frameworks] if frameworks else []
    return [peer("checkov"), "-d", str(tree), *fw, "--output", "json", "--quiet", "--soft-fail", "--skip-download"]


def versions() -> dict[str, str]:
    def first_line(cmd: list[str]) -> str:
        r = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **CHECKOV_ENV}, check=False)
        return (r.stdout or r.stderr).strip().splitlines()[0] if (r.stdout or r.stderr).strip() else "?"

    return {
        "customhouse": first_line([tool("customhouse"), "--version"]),
        "hadolint": first_line([peer("hadolint"), "--version"]),
        "checkov": first_line([peer("checkov"), "--version"]),
    }


# -------------------------------------------------------------------------------------------- timing

Cmd = tuple[list[str], dict[str, str], Path | None]


def interleaved(cmds: dict[str, Cmd], runs: int) -> dict[str, Result]:
    """Each round runs every tool once, so machine noise hits all of them alike."""
    results = {name: Result(name, []) for name in cmds}
    for _ in range(runs):
        for name, (cmd, env, out) in cmds.items():
            results[name].samples.append(run_once(cmd, env, out))
    return results


def paired_ratio(num: Result, den: Result) -> float:
    """Median over rounds of num/den, for two tools measured in the same rounds."""
    return statistics.median(a.seconds / b.seconds for a, b in zip(num.samples, den.samples, strict=True))


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
    """Our JSON report; `base` is the scanned directory relative to the corpus root."""
    out = []
    findings = doc.get("findings", [])
    assert isinstance(findings, list)
    for f in findings:
        if f.get("suppressed"):
            continue
        loc = f["location"]
        path = f"{base}/{loc['path']}" if base else loc["path"]
        line = int(loc.get("line") or 0)
        out.append(Hit(f["id"], path, line, int(loc.get("end_line") or line), f.get("message", "")))
    return out


def load_hadolint(doc: list[dict[str, object]], root: Path) -> list[Hit]:
    out = []
    for f in doc:
        path = os.path.relpath(str(f["file"]), root)
        line = int(f["line"])  # type: ignore[call-overload]
        out.append(Hit(str(f["code"]), path, line, line, str(f.get("message", ""))))
    return out


def checkov_reports(doc: dict[str, object] | list[dict[str, object]]) -> list[dict[str, object]]:
    """checkov writes one object for one framework and a list for several; `[]` for an empty tree."""
    return doc if isinstance(doc, list) else [doc]


def load_checkov(doc: dict[str, object] | list[dict[str, object]], root: Path) -> list[Hit]:
    out = []
    for rep in checkov_reports(doc):
        if rep.get("check_type") != "dockerfile":
            continue
        results = rep.get("results", {})
        assert isinstance(results, dict)
        for f in results.get("failed_checks", []):
            path = os.path.relpath(f["file_abs_path"], root)
            start, end = f.get("file_line_range") or [0, 0]
            out.append(Hit(f["check_id"], path, int(start), int(end), f.get("check_name", "")))
    return out


_ESCAPE = re.compile(r"^#\s*escape\s*=\s*(\S)\s*$", re.I)
_HEREDOC = re.compile(r"<<-?\s*(['\"]?)([A-Za-z_][A-Za-z0-9_]*)\1")


def instruction_spans(text: str) -> list[tuple[int, int]]:
    """(first, last) physical line of every instruction.

    The builder's rules, kept independent of our parser on purpose: the `# escape=` directive,
    line continuations (comment and blank lines inside one do not end it) and heredoc bodies
    (`<<EOF` ... `EOF`) belong to the instruction that starts them.
    """
    lines = text.splitlines()
    escape = "\\"
    for ln in lines:
        s = ln.strip()
        if not s.startswith("#"):
            break
        m = _ESCAPE.match(s)
        if m:
            escape = m.group(1)
    spans = []
    i, n = 0, len(lines)
    while i < n:
        s = lines[i].strip()
        if not s or s.startswith("#"):
            i += 1
            continue
        start = i
        words = [m.group(2) for m in _HEREDOC.finditer(s)]
        cur = s
        while cur.endswith(escape) and i + 1 < n:
            i += 1
            cur = lines[i].strip()
            if not cur or cur.startswith("#"):
                cur = escape  # skipped by the builder; the continuation goes on
                continue
            words += [m.group(2) for m in _HEREDOC.finditer(cur)]
        for word in words:
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
        self._spans: dict[str, list[tuple[int, int]]] = {}
        self._text: dict[str, list[str]] = {}

    def _load(self, path: str) -> None:
        if path not in self._spans:
            try:
                text = (self.root / path).read_text(errors="replace")
            except OSError:
                text = ""
            self._text[path] = text.splitlines()
            self._spans[path] = instruction_spans(text)

    def of(self, path: str, line: int) -> tuple[int, int]:
        self._load(path)
        for a, b in self._spans[path]:
            if a <= line <= b:
                return (a, b)
        return (line, line)

    def source(self, path: str, line: int, max_lines: int = 3) -> str:
        """The instruction at `line`, shortened to `max_lines` lines."""
        if line <= 0:
            return "(whole file)"
        a, b = self.of(path, line)
        lines = self._text[path][a - 1 : min(b, a + max_lines - 1)]
        more = " ..." if b > a + max_lines - 1 else ""
        return " / ".join(x.strip() for x in lines)[:300] + more

    def text(self, path: str) -> str:
        self._load(path)
        return "\n".join(self._text[path])


# ------------------------------------------------------------------------------------------- mapping


@dataclass(frozen=True)
class Mapped:
    """A peer rule and the check(s) of ours that mean the same thing.

    `scope`: "line" compares places (same file, same instruction), "file" compares files (for
    rules about something missing from the whole file, or where the tools point at different
    instructions of a group, like the first or the last of several CMDs). `only`: a regular
    expression our finding's message must match, when one of our checks covers several peer
    rules (one "cache left in the layer" check for apt, yum, dnf...).
    """

    ours: tuple[str, ...]
    scope: str = "line"
    only: str = ""


# Why a peer rule has no counterpart, or why findings differ.
NOT_OURS = "rule we don't have"
DELIBERATE = "deliberate difference"
PEER_FP = "peer false positive"
OUR_GAP = "our gap"

# Peer rule -> our check(s). Rule meanings are from the peers' own rule documentation (hadolint's
# README rule table, checkov's Dockerfile policy index and check sources); ours from
# `customhouse checks show`. Rules that never fired on the corpus are listed too, so the table
# says what we cover; `why` explains the differences measured on the corpus (see docs/benchmarks.md).
HADOLINT_MAP: dict[str, Mapped] = {
    "DL3000": Mapped(("CH-DF-042",)),  # absolute WORKDIR
    "DL3002": Mapped(("CH-DF-001",)),  # last USER should not be root
    "DL3004": Mapped(("CH-DF-003",)),  # do not use sudo
    "DL3006": Mapped(("CH-DF-008",), only="no tag"),  # always tag the image version
    "DL3007": Mapped(("CH-DF-008",), only="`latest` tag"),  # do not use latest
    "DL3008": Mapped(("CH-DF-030",)),  # pin versions in apt-get install
    "DL3009": Mapped(("CH-DF-023",), only="/var/lib/apt/lists"),  # delete the apt lists
    "DL3011": Mapped(("CH-DF-039",)),  # valid UNIX ports
    "DL3012": Mapped(("CH-DF-041",), scope="file", only="HEALTHCHECK"),  # one HEALTHCHECK
    "DL3013": Mapped(("CH-DF-032",)),  # pin versions in pip
    "DL3014": Mapped(("CH-DF-028",), only=r"^`apt(-get)? "),  # apt-get -y
    "DL3015": Mapped(("CH-DF-025",)),  # --no-install-recommends
    "DL3016": Mapped(("CH-DF-033",)),  # pin versions in npm
    "DL3018": Mapped(("CH-DF-031",)),  # pin versions in apk add
    "DL3019": Mapped(("CH-DF-024",)),  # apk add --no-cache
    "DL3020": Mapped(("CH-DF-013",)),  # COPY instead of ADD for files and folders
    "DL3022": Mapped(("CH-DF-044",)),  # COPY --from should reference a previously defined FROM alias
    "DL3023": Mapped(("CH-DF-044",)),  # COPY --from cannot reference its own FROM alias
    "DL3024": Mapped(("CH-DF-045",)),  # FROM aliases must be unique
    "DL3025": Mapped(("CH-DF-040",)),  # JSON notation for CMD and ENTRYPOINT
    "DL3026": Mapped(("CH-DF-010",)),  # only allowed registries (both need a configured list)
    "DL3027": Mapped(("CH-DF-029",)),  # do not use apt
    "DL3028": Mapped(("CH-DF-034",)),  # pin versions in gem install
    "DL3029": Mapped(("CH-DF-011",)),  # do not use --platform with FROM
    "DL3030": Mapped(("CH-DF-028",), only=r"^`yum "),  # yum -y
    "DL3032": Mapped(("CH-DF-023",), only=r"/var/cache/yum"),  # yum clean all
    "DL3034": Mapped(("CH-DF-028",), only=r"^`zypper "),  # zypper non-interactive
    "DL3035": Mapped(("CH-DF-027",), only="zypper"),  # no zypper dist-upgrade
    "DL3036": Mapped(("CH-DF-023",), only="zypp"),  # zypper clean
    "DL3038": Mapped(("CH-DF-028",), only=r"^`(micro)?dnf "),  # dnf -y
    "DL3040": Mapped(("CH-DF-023",), only=r"/var/cache/dnf"),  # dnf clean all
    "DL3042": Mapped(("CH-DF-026",)),  # pip --no-cache-dir
    "DL3046": Mapped(("CH-DF-047",)),  # useradd without -l and a high UID
    "DL3064": Mapped(("CH-DF-017", "CH-DF-018")),  # sensitive data in ARG or ENV
    "DL4000": Mapped(("CH-DF-043",)),  # MAINTAINER is deprecated
    "DL4003": Mapped(("CH-DF-041",), scope="file", only="CMD"),  # multiple CMD
    "DL4004": Mapped(("CH-DF-041",), scope="file", only="ENTRYPOINT"),  # multiple ENTRYPOINT
    "DL4006": Mapped(("CH-DF-048", "CH-DF-014")),  # SHELL -o pipefail before RUN with a pipe
}
CHECKOV_MAP: dict[str, Mapped] = {
    "CKV_DOCKER_1": Mapped(("CH-DF-038",), only=r"\b22\b"),  # port 22 exposed
    "CKV_DOCKER_2": Mapped(("CH-DF-037",), scope="file"),  # HEALTHCHECK
    "CKV_DOCKER_3": Mapped(("CH-DF-002",), scope="file"),  # a user has been created
    "CKV_DOCKER_4": Mapped(("CH-DF-013", "CH-DF-012")),  # COPY instead of ADD
    "CKV_DOCKER_5": Mapped(("CH-DF-022",)),  # update instruction alone
    "CKV_DOCKER_6": Mapped(("CH-DF-043",)),  # MAINTAINER
    "CKV_DOCKER_7": Mapped(("CH-DF-008",)),  # base image uses a non-latest version tag
    "CKV_DOCKER_8": Mapped(("CH-DF-001",)),  # last USER is not root
    "CKV_DOCKER_9": Mapped(("CH-DF-029",)),  # APT isn't used
    "CKV_DOCKER_10": Mapped(("CH-DF-042",)),  # WORKDIR values are absolute paths
    "CKV_DOCKER_11": Mapped(("CH-DF-045",)),  # FROM aliases are unique
    "CKV2_DOCKER_1": Mapped(("CH-DF-003",)),  # sudo
    "CKV2_DOCKER_2": Mapped(("CH-DF-016",), only="curl"),  # curl -k
    "CKV2_DOCKER_3": Mapped(("CH-DF-016",), only="wget"),  # wget --no-check-certificate
    "CKV2_DOCKER_4": Mapped(("CH-DF-016",), only="trusted-host"),  # pip --trusted-host
    "CKV2_DOCKER_5": Mapped(("CH-DF-016",), only="PYTHONHTTPSVERIFY"),
    "CKV2_DOCKER_6": Mapped(("CH-DF-016",), only="NODE_TLS_REJECT_UNAUTHORIZED"),
    "CKV2_DOCKER_7": Mapped(("CH-DF-015",), only="allow-untrusted"),  # apk
    "CKV2_DOCKER_8": Mapped(("CH-DF-015",), only="allow-unauthenticated"),  # apt-get
    "CKV2_DOCKER_9": Mapped(("CH-DF-015",), only="nogpgcheck"),  # yum/dnf/tdnf
    "CKV2_DOCKER_10": Mapped(("CH-DF-015",), only="rpm"),  # rpm --nosignature and friends
    "CKV2_DOCKER_11": Mapped(("CH-DF-015",), only="force-yes"),  # apt-get --force-yes
    "CKV2_DOCKER_12": Mapped(("CH-DF-016",), only="(?i)npm_config_strict_ssl"),
    "CKV2_DOCKER_13": Mapped(("CH-DF-016",), only="strict-ssl"),  # npm/yarn config set strict-ssl false
    "CKV2_DOCKER_14": Mapped(("CH-DF-016",), only="GIT_SSL_NO_VERIFY"),
    "CKV2_DOCKER_15": Mapped(("CH-DF-016",), only="sslverify"),  # yum-config-manager
    "CKV2_DOCKER_16": Mapped(("CH-DF-016",), only="PIP_TRUSTED_HOST"),
}
# What explains every place where a peer rule and our check disagree on the corpus, from reading
# each of them in differences.md. Categories: deliberate difference, peer false positive (or
# miss), our gap. Re-read after changing checks: the bench prints the counts, not the reasons.
WHY_DIFFERENT: dict[str, str] = {
    "DL3006": "deliberate: `FROM build-${BUILD_ENV}` names an earlier stage once the ARG is resolved, "
    "which we do; we also check `COPY --from=<image>`",
    "DL3007": "deliberate: we resolve `FROM centos:$FOO` (`ARG FOO=latest`) and check `COPY --from=<image>`",
    "DL3008": "deliberate: we check `apt install` like `apt-get install` (hadolint: apt-get only, apt is its "
    "DL3027); our gap: package names from a shell variable set in the same RUN (`$buildDeps`)",
    "DL3009": "deliberate: a RUN that only runs `apt-get update` is our CH-DF-022, and build stages that do not "
    "reach the final image are not flagged for size; peer miss: `rm -rf /var/cache/apt` leaves the lists",
    "DL3014": "deliberate: we also check `apt-get autoremove`/`remove`/`upgrade` without -y",
    "DL3015": "deliberate: `apt install` as for DL3008, build stages not flagged; peer false positive: "
    "`apt-get install -y` naming no package",
    "DL3019": "deliberate: the `apk add` is in a build stage that does not reach the final image",
    "DL3020": "deliberate: ADD of local archives (or globs that may match them), which ADD unpacks and COPY does not",
    "DL3022": "peer false positive: `COPY --from=golang` with no such stage is the image golang:latest to "
    "BuildKit; we report that as CH-DF-008",
    "DL3025": "deliberate: we judge the CMD/ENTRYPOINT that takes effect, not ones overridden later nor "
    "HEALTHCHECK CMD; peer false positive: valid JSON with escapes",
    "DL3032": "deliberate: a build stage is not flagged; we also flag `yum update` (it fills the cache too)",
    "DL3040": "deliberate: the `dnf install` is in a build stage",
    "DL3042": "deliberate: build stages; peer false positive: `rm -r /root/.cache` in the same RUN",
    "DL3064": "deliberate: our secret names include `*_PASS`",
    "DL4006": "deliberate: we flag pipes fed by a download (CH-DF-048; into a shell: CH-DF-014), where a failed "
    "download is masked; other pipes (`env | sort`, `dpkg -l | awk`) are style",
    "CKV_DOCKER_2": "our gap: a bare `HEALTHCHECK` without arguments (hadolint refuses to parse it) counts as one",
    "CKV_DOCKER_3": "deliberate: base image only known at build time (ARG without default), Windows images "
    "(also by `# escape=` backtick), entrypoints that drop root with gosu",
    "CKV_DOCKER_4": "deliberate: ADD of local archives, which ADD unpacks and COPY does not",
    "CKV_DOCKER_5": "peer false positives: `git submodule update`; blank lines inside a continuation (BuildKit "
    "joins them, the install follows). Only us: checkov nets updates against installs over the whole file, so "
    "`RUN apt-get update` then `RUN apt-get install` passes: the stale-index case we report",
    "CKV_DOCKER_7": "deliberate: we resolve ARGs (`ARG IMAGE=ubuntu:25.10` + `FROM $IMAGE` is tagged, "
    "`FROM build-${X}` is a stage) and are silent when the image is only known at build time; checkov stops "
    "at the first offending FROM of a file and does not look at `COPY --from`",
    "CKV_DOCKER_9": "deliberate: checkov stops at the first RUN of a file (same files)",
}
# Peer rules we do not map: (category, reason). ShellCheck codes (SCxxxx) share one reason.
HADOLINT_UNMAPPED: dict[str, tuple[str, str]] = {
    "DL1000": ("parse error", "hadolint could not parse the file (see the parse-failure line)"),
    "DL3001": (NOT_OURS, "commands pointless in a container (ssh, vim, ps, ...): hygiene, not security"),
    "DL3003": (NOT_OURS, "`cd` instead of WORKDIR: style"),
    "DL3010": (NOT_OURS, "use ADD to extract archives: style"),
    "DL3021": (NOT_OURS, "COPY with several sources needs a `/` destination: docker build reports it itself"),
    "DL3033": (NOT_OURS, "yum package version pins: we pin-check apt, apk, pip, npm and gem only"),
    "DL3037": (NOT_OURS, "zypper package version pins: as DL3033"),
    "DL3041": (NOT_OURS, "dnf package version pins: as DL3033"),
    "DL3043": (NOT_OURS, "ONBUILD FROM/MAINTAINER: build error, not a security issue"),
    "DL3044": (DELIBERATE, "ENV referring to itself: we resolve ENV as BuildKit does"),
    "DL3045": (NOT_OURS, "COPY to a relative path without WORKDIR: correctness, not security"),
    "DL3047": (NOT_OURS, "wget progress bar in build logs: style"),
    "DL3048": (NOT_OURS, "label key syntax: metadata style"),
    "DL3059": (NOT_OURS, "consecutive RUNs: layer count style"),
    "DL3060": (NOT_OURS, "yarn cache clean: image size"),
    "DL3062": (NOT_OURS, "`go install` version pins: as DL3033"),
    "DL3066": (NOT_OURS, "non-numeric USER: portability (CH-DF-001/002 judge whether the user is root)"),
    "DL4001": (NOT_OURS, "both wget and curl: image size"),
    "DL4005": (NOT_OURS, "SHELL instead of `ln -sf /bin/bash /bin/sh`: style"),
}
SHELLCHECK = (NOT_OURS, "ShellCheck's lint of the RUN script: shell style and correctness, not container security")
CHECKOV_UNMAPPED: dict[str, tuple[str, str]] = {
    "CKV2_DOCKER_17": (NOT_OURS, "`chpasswd` in RUN; a literal password in it is CH-DF-020"),
}


def unmapped_reason(rule: str, unmapped: dict[str, tuple[str, str]]) -> tuple[str, str]:
    if rule in unmapped:
        return unmapped[rule]
    if rule == "SCxxxx" or re.fullmatch(r"SC\d{4}", rule):
        return SHELLCHECK
    return ("", "")


@dataclass
class Row:
    """One peer rule on the corpus: where it fired and where we agree."""

    rule: str
    meaning: str
    ours: tuple[str, ...]
    scope: str
    files: int = 0  # files the peer rule fired on
    files_both: int = 0  # of those, files where the mapped check of ours fires too
    places: int = 0  # distinct (file, instruction) places the peer flags (files for file scope)
    places_both: int = 0  # of those, places where we flag too
    only_us: int = 0  # places we flag with the mapped check and the peer does not
    only_us_files: int = 0
    category: str = ""
    why: str = ""
    only_peer_at: list[tuple[str, int]] = field(default_factory=list)
    only_us_at: list[tuple[str, int]] = field(default_factory=list)


def _place(h: Hit, scope: str, spans: Spans) -> tuple[str, int]:
    if scope == "file" or not h.line:
        return (h.path, 0)
    return (h.path, spans.of(h.path, h.line)[0])


def compare(
    ours: Iterable[Hit],
    peer_hits: Iterable[Hit],
    mapping: dict[str, Mapped],
    unmapped: dict[str, tuple[str, str]],
    spans: Spans,
) -> list[Row]:
    """A row per peer rule that fired or is mapped: files and places both flag, and the rest.

    A place is (file, instruction) or, for file-scope rules, the file; several findings of one
    tool at one place count once, since the question is whether a reader is told about it. A
    finding of ours for the whole file (line 0) agrees with every place the peer flags in it.
    """
    ours = list(ours)
    by_rule: dict[str, list[Hit]] = defaultdict(list)
    shellcheck: set[str] = set()
    for h in peer_hits:
        if re.fullmatch(r"SC\d{4}", h.rule):  # ShellCheck's codes: one row, they share one reason
            shellcheck.add(h.rule)
            by_rule["SCxxxx"].append(h)
        else:
            by_rule[h.rule].append(h)
    rows = []
    for rule in sorted(set(by_rule) | set(mapping), key=rule_order):
        theirs = by_rule.get(rule, [])
        meaning = theirs[0].message if theirs else ""
        if rule == "SCxxxx":
            meaning = f"{len(shellcheck)} ShellCheck codes: {', '.join(sorted(shellcheck))}"
        m = mapping.get(rule)
        if m is None:
            category, why = unmapped_reason(rule, unmapped)
            rows.append(
                Row(
                    rule,
                    meaning,
                    (),
                    "",
                    files=len({h.path for h in theirs}),
                    places=len({_place(h, "line", spans) for h in theirs}),
                    category=category,
                    why=why,
                )
            )
            continue
        mine = [h for h in ours if h.rule in m.ours and (not m.only or re.search(m.only, h.message))]
        t_at = {_place(h, m.scope, spans) for h in theirs}
        o_at = {_place(h, m.scope, spans) for h in mine}
        o_files = {p for p, _ in o_at}
        whole = {p for p, line in o_at if line == 0}
        both = {k for k in t_at if k in o_at or k[0] in whole}
        t_files = {p for p, _ in t_at}
        only_us = sorted(k for k in o_at - t_at if not (k[1] == 0 and k[0] in t_files))
        rows.append(
            Row(
                rule,
                meaning,
                m.ours,
                m.scope,
                files=len(t_files),
                files_both=len(t_files & o_files),
                places=len(t_at),
                places_both=len(both),
                only_us=len(only_us),
                only_us_files=len({p for p, _ in only_us} - t_files),
                why=WHY_DIFFERENT.get(rule, ""),
                only_peer_at=sorted(t_at - both),
                only_us_at=only_us,
            )
        )
    return rows


def rule_order(rule: str) -> tuple[str, int]:
    m = re.match(r"(.*?)(\d+)$", rule)
    return (m.group(1), int(m.group(2))) if m else (rule, 0)


def markdown_table(peer_name: str, rows: list[Row]) -> str:
    """The overlap as it goes into docs/benchmarks.md."""
    out = [
        f"| {peer_name} rule | fired on (files / places) | our check | we flag too (files / places) | only us | why |",
        "|---|---|---|---|---|---|",
    ]
    silent = [r.rule for r in rows if not r.files]
    for r in rows:
        if not r.files:
            continue
        if r.ours:
            ours = ", ".join(r.ours) + (" (file)" if r.scope == "file" else "")
            both = f"{r.files_both} / {r.places_both}" if r.scope == "line" else f"{r.files_both}"
            fired = f"{r.files} / {r.places}" if r.scope == "line" else f"{r.files}"
            why = r.why
            only_us = str(r.only_us)
        else:
            ours, both, only_us = "-", "-", "-"
            fired = f"{r.files} / {r.places}"
            why = f"{r.category}: {r.why}" if r.category else "(not classified)"
        rule = f"{r.rule} ({r.meaning.split(':')[0]})" if r.rule == "SCxxxx" else r.rule
        out.append(f"| {rule} | {fired} | {ours} | {both} | {only_us} | {why} |")
    if silent:
        out += ["", f"Mapped, but silent on this corpus: {', '.join(silent)}."]
    return "\n".join(out)


def our_checks_table(ours: list[Hit], mapped: set[str]) -> str:
    files: dict[str, set[str]] = defaultdict(set)
    for h in ours:
        files[h.rule].add(h.path)
    out = ["| our check | files | mapped to a peer rule |", "|---|---|---|"]
    for rule in sorted(files, key=rule_order):
        out.append(f"| {rule} | {len(files[rule])} | {'yes' if rule in mapped else 'no'} |")
    return "\n".join(out)


def differences(peer_name: str, rows: list[Row], ours: list[Hit], theirs: list[Hit], spans: Spans, limit: int) -> str:
    """Every place one tool flags and the other does not, with the instruction, for reading."""
    msg_t: dict[tuple[str, str, int], str] = {}
    for h in theirs:
        msg_t.setdefault((h.rule, h.path, _place(h, "line", spans)[1]), h.message)
    out = [f"# {peer_name}: places only one tool flags", ""]
    for r in rows:
        if not r.ours or not (r.only_peer_at or r.only_us_at):
            continue
        out.append(f"## {r.rule} -> {', '.join(r.ours)}: {r.meaning}")
        out.append("")
        for path, line in r.only_peer_at[:limit]:
            pragma = " [file has a hadolint ignore pragma]" if f"ignore={r.rule}" in spans.text(path) else ""
            out.append(f"- only {peer_name}: `{path}:{line}`{pragma}: {spans.source(path, line)}")
        if len(r.only_peer_at) > limit:
            out.append(f"- ... {len(r.only_peer_at) - limit} more only {peer_name}")
        for path, line in r.only_us_at[:limit]:
            why = next((h.message for h in ours if h.rule in r.ours and _place(h, r.scope, spans) == (path, line)), "")
            out.append(f"- only us: `{path}:{line}`: {spans.source(path, line)} -- {why[:200]}")
        if len(r.only_us_at) > limit:
            out.append(f"- ... {len(r.only_us_at) - limit} more only us")
        out.append("")
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------- main


def _verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def main() -> None:
    from bench.corpus import corpus, manifest

    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--per-file-runs", type=int, default=1, help="rounds of one hadolint process per file (slow)")
    ap.add_argument("--checkov-all-runs", type=int, default=0, help="runs of checkov with all frameworks (minutes)")
    ap.add_argument("--help-runs", type=int, default=20)
    ap.add_argument("--examples", type=int, default=30, help="differences listed per rule in differences.md")
    ap.add_argument(
        "--compare-only", action="store_true", help="no timing: run us once, peers only if their output is missing"
    )
    args = ap.parse_args()

    vers = versions()
    if "pure Python" in vers["customhouse"]:  # e.g. sources edited since ./scripts/setup compiled them
        print(f"warning: measuring {vers['customhouse']}; run scripts/build-native first", file=sys.stderr)
    try:
        precompile()
    except subprocess.CalledProcessError:  # a module unrelated to `config` may be mid-edit; the rest is compiled
        print("warning: compileall reported errors; measuring anyway", file=sys.stderr)
    root = corpus()
    WORK.mkdir(parents=True, exist_ok=True)
    dockerfiles = sorted((root / "dockerfiles").rglob("Dockerfile"))
    compose = sorted((root / "compose").rglob("docker-compose.yml"))
    m = manifest(root)
    print(f"corpus: {root}")
    print(f"  {len(dockerfiles)} Dockerfiles, {len(compose)} compose files; by origin: {json.dumps(m['summary'])}")
    print("  " + ", ".join(f"{k} {v}" for k, v in vers.items()))
    out: dict[str, object] = {
        "versions": vers,
        "corpus": {"summary": m["summary"], "dockerfiles": len(dockerfiles), "compose": len(compose)},
    }
    cmds: dict[str, Cmd] = {
        "ours_df": (ours_cmd(root / "dockerfiles"), {}, WORK / "ours-dockerfiles.json"),
        "hadolint": (hadolint_cmd(dockerfiles), {}, WORK / "hadolint.json"),
        "checkov_df": (checkov_cmd(root / "dockerfiles"), CHECKOV_ENV, WORK / "checkov-dockerfiles.json"),
        "ours_tree": (ours_cmd(root), {}, WORK / "ours-tree.json"),
        "ours_df_default": (ours_cmd(root / "dockerfiles", "misconfig,secret"), {}, WORK / "ours-df-default.json"),
        "checkov_tree": (checkov_cmd(root), CHECKOV_ENV, WORK / "checkov-tree.json"),
    }
    if args.compare_only:
        for name in ("ours_df", "hadolint", "checkov_df"):
            cmd, env, dest = cmds[name]
            if name == "ours_df" or dest is None or not dest.exists():
                run_once(cmd, env, dest)
    else:
        out.update(timing(args, root, cmds, dockerfiles, compose))
    out.update(overlap(root, dockerfiles, args.examples))
    name = "compare.json" if args.compare_only else "results.json"
    (WORK / name).write_text(json.dumps(out, indent=2))
    print(f"\nwritten: {WORK / name}, {WORK / 'differences.md'}")


def timing(
    args: argparse.Namespace, root: Path, cmds: dict[str, Cmd], dockerfiles: list[Path], compose: list[Path]
) -> dict[str, object]:
    labels = {
        "ours_df": f"customhouse config dockerfiles/ --scanners misconfig ({len(dockerfiles)} files)",
        "ours_df_default": "customhouse config dockerfiles/ (default: + secret scan; info)",
        "hadolint": "hadolint, all Dockerfiles in one process",
        "checkov_df": "checkov -d dockerfiles/ --framework dockerfile",
        "ours_tree": f"customhouse config tree (+{len(compose)} compose files)",
        "checkov_tree": "checkov -d tree --framework dockerfile",
        "checkov_all": "checkov -d tree (default: all frameworks)",
        "hadolint_per_file": "hadolint, one process per Dockerfile",
        "help": "customhouse config --help",
    }
    results = interleaved(cmds, args.runs)
    if args.checkov_all_runs:
        all_cmd = checkov_cmd(root, ())
        results["checkov_all"] = interleaved({"x": (all_cmd, CHECKOV_ENV, WORK / "checkov-all.json")}, 1)["x"]
    if args.per_file_runs:
        results["hadolint_per_file"] = per_file(dockerfiles, args.per_file_runs)
    helpcmd = [tool("customhouse"), "config", "--help"]
    results["help"] = Result("help", [run_once(helpcmd) for _ in range(args.help_runs)])
    for k, r in results.items():
        r.name = labels[k]

    rows = [("run", "median s", "best s", "peak MB", "runs")]
    for r in results.values():
        rows.append((r.name, f"{r.median:.3f}", f"{r.best:.3f}", f"{r.peak_mb:.0f}", str(len(r.samples))))
    print(table(rows))
    print()
    med = {k: r.median for k, r in results.items()}
    ratios = {
        "vs_hadolint": med["ours_df"] / med["hadolint"],
        "vs_checkov": med["checkov_df"] / med["ours_df"],
        "vs_checkov_tree": med["checkov_tree"] / med["ours_tree"],
        "default_vs_checkov": med["checkov_df"] / med["ours_df_default"],
    }
    # The same ratios per round (tools of one round ran back to back), then the median: steadier
    # than a ratio of medians when other work on the machine comes and goes.
    paired = {
        "vs_hadolint": paired_ratio(results["ours_df"], results["hadolint"]),
        "vs_checkov": paired_ratio(results["checkov_df"], results["ours_df"]),
        "vs_checkov_tree": paired_ratio(results["checkov_tree"], results["ours_tree"]),
    }
    if "hadolint_per_file" in med:
        ratios["vs_hadolint_per_file"] = med["hadolint_per_file"] / med["ours_df"]
    if "checkov_all" in med:
        ratios["vs_checkov_all"] = med["checkov_all"] / med["ours_tree"]
    met = {
        "vs_hadolint": ratios["vs_hadolint"] <= TARGETS["vs_hadolint"],
        "vs_checkov": ratios["vs_checkov"] >= TARGETS["vs_checkov"],
        "help_seconds": med["help"] < TARGETS["help_seconds"],
    }
    print(
        f"hadolint (one process, {len(dockerfiles)} Dockerfiles): customhouse takes {ratios['vs_hadolint']:.2f}x "
        f"hadolint's time ({1 / ratios['vs_hadolint']:.1f}x faster; per round: {1 / paired['vs_hadolint']:.1f}x; "
        f"target <= {TARGETS['vs_hadolint']}x): {_verdict(met['vs_hadolint'])}"
    )
    if "vs_hadolint_per_file" in ratios:
        print(f"hadolint, one process per file: customhouse is {ratios['vs_hadolint_per_file']:.1f}x faster (info)")
    print(
        f"checkov (dockerfiles/, the same job): customhouse is {ratios['vs_checkov']:.1f}x faster "
        f"(per round: {paired['vs_checkov']:.1f}x; target >= {TARGETS['vs_checkov']}x): {_verdict(met['vs_checkov'])}"
    )
    print(
        f"checkov (whole tree; we also check {len(compose)} compose files): {ratios['vs_checkov_tree']:.1f}x faster "
        f"(per round: {paired['vs_checkov_tree']:.1f}x)"
    )
    print(f"customhouse config dockerfiles/ with the secret scan: {ratios['default_vs_checkov']:.1f}x faster (info)")
    if "vs_checkov_all" in ratios:
        print(f"checkov with all frameworks on the whole tree: {ratios['vs_checkov_all']:.1f}x faster (info)")
    print(
        f"customhouse config --help: {med['help']:.3f} s median of {len(results['help'].samples)} "
        f"(target < {TARGETS['help_seconds']} s): {_verdict(met['help_seconds'])}"
    )
    return {
        "timings": {
            k: {
                "name": v.name,
                "median": v.median,
                "best": v.best,
                "peak_mb": v.peak_mb,
                "runs": len(v.samples),
                "samples": [round(x.seconds, 3) for x in v.samples],
            }
            for k, v in results.items()
        },
        "ratios": ratios,
        "paired_ratios": paired,
        "targets": TARGETS,
        "met": met,
    }


def overlap(root: Path, dockerfiles: list[Path], examples: int) -> dict[str, object]:
    ours = load_ours(json.loads((WORK / "ours-dockerfiles.json").read_text()), "dockerfiles")
    ours = [h for h in ours if h.rule.startswith("CH-DF")]
    hl = load_hadolint(json.loads((WORK / "hadolint.json").read_text()), root)
    ck = load_checkov(json.loads((WORK / "checkov-dockerfiles.json").read_text()), root)
    parse = parse_failures(WORK, hl, root)
    spans = Spans(root)
    out: dict[str, object] = {"parse_failures": parse}
    print()
    print("Dockerfiles a tool could not read: " + ", ".join(f"{k} {len(v)}" for k, v in parse.items()))
    diffs = []
    for name, hits, mapping, unmapped in (
        ("hadolint", hl, HADOLINT_MAP, HADOLINT_UNMAPPED),
        ("checkov", ck, CHECKOV_MAP, CHECKOV_UNMAPPED),
    ):
        # Compare on the files both tools read: a file one of them rejects says nothing about its rules.
        skip = set(parse["customhouse"]) | set(parse[name])
        rows_ = compare(
            [h for h in ours if h.path not in skip],
            [h for h in hits if h.path not in skip or h.rule == "DL1000"],
            mapping,
            unmapped,
            spans,
        )
        print()
        print(f"{name} rule -> our check, on the {len(dockerfiles) - len(skip)} Dockerfiles both read:")
        print(markdown_table(name, rows_))
        mapped_rows = [r for r in rows_ if r.ours and r.places]
        fired = [r for r in rows_ if r.places]
        agree = {
            "rules_fired": len(fired),
            "rules_mapped": len(mapped_rows),
            "places_mapped": sum(r.places for r in mapped_rows),
            "places_both": sum(r.places_both for r in mapped_rows),
            "places_unmapped": sum(r.places for r in fired if not r.ours),
        }
        out[f"agreement_{name}"] = agree
        share = agree["places_both"] / agree["places_mapped"] if agree["places_mapped"] else 0.0
        print(
            f"{name}: {agree['rules_fired']} rules fired, {agree['rules_mapped']} of them map to a check of ours; "
            f"at {agree['places_both']} of their {agree['places_mapped']} places ({share:.0%}) we report it too; "
            f"{agree['places_unmapped']} places are from rules we do not have"
        )
        out[f"overlap_{name}"] = [
            {k: v for k, v in asdict(r).items() if k not in ("only_peer_at", "only_us_at")} for r in rows_
        ]
        diffs.append(differences(name, rows_, ours, hits, spans, examples))
    mapped = {c for mp in (HADOLINT_MAP, CHECKOV_MAP) for v in mp.values() for c in v.ours}
    print()
    print("our Dockerfile checks on the corpus:")
    print(our_checks_table(ours, mapped) if ours else "  (none fired: no CH-DF checks yet)")
    (WORK / "differences.md").write_text("\n".join(diffs))
    return out


def parse_failures(work: Path, hl: list[Hit], root: Path) -> dict[str, list[str]]:
    """Files each tool reported it could not parse (ours: warnings; hadolint: DL1000)."""
    ours_doc = json.loads((work / "ours-dockerfiles.json").read_text())
    ours = sorted(str(w).split(":", 1)[0] for w in ours_doc.get("warnings", []))
    ck: list[str] = []
    for rep in checkov_reports(json.loads((work / "checkov-dockerfiles.json").read_text())):
        res = rep.get("results", {})
        if isinstance(res, dict):
            ck += [os.path.relpath(p, root) for p in res.get("parsing_errors", [])]
    return {
        "customhouse": [f"dockerfiles/{p}" for p in ours],
        "hadolint": sorted({h.path for h in hl if h.rule == "DL1000"}),
        "checkov": sorted(ck),
    }


if __name__ == "__main__":
    sys.exit(main())
