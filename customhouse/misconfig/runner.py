"""Scan a tree (or single documents): detect file types, parse, run checks, suppress.

Bad files never stop a scan: an unparsable Dockerfile, invalid YAML, an alias bomb, an
oversized or binary file is reported as a warning naming the file (and line) and the rest of
the tree is scanned. Suppression happens here, once for every file type: inline
`# customhouse:ignore=ID[,ID...] reason` comments on the offending line or in the comment lines
right above it (above the whole instruction, for a Dockerfile), `--skip-check`, and the shared
ignore file (applied by the caller with the other scanners' findings). docs/suppression.md
describes the rules.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import re
import stat
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from customhouse import _native
from customhouse.errors import InputError
from customhouse.misconfig.engine import Check, Document, FileType, Options, Violation, checks_for
from customhouse.report.findings import Finding, Location, MisconfigDetail, Suppression, fingerprint

MAX_FILE_BYTES = 10 << 20
SKIP_DIRS = frozenset({".git", ".hg", ".svn", "__pycache__", ".tox", ".venv", ".mypy_cache"})
_INLINE = re.compile(r"#.*?\bcustomhouse:ignore=([A-Za-z0-9_,.\-]+)(.*)")

_DOCKERFILE_NAMES = ("Dockerfile", "Containerfile", "dockerfile", "containerfile")
_COMPOSE = re.compile(r"^(docker-)?compose([.\-][\w.\-]+)?\.ya?ml$|\.compose\.ya?ml$")


def detect_by_name(name: str) -> FileType | None:
    base = name.rsplit("/", 1)[-1]
    if (
        base in _DOCKERFILE_NAMES
        or base.startswith(("Dockerfile.", "Containerfile."))
        or base.endswith((".dockerfile", ".Dockerfile", ".containerfile"))
    ):
        return "dockerfile"
    if _COMPOSE.search(base):
        return "compose"
    if base == "daemon.json":
        return "docker-daemon"
    if base.endswith((".yaml", ".yml", ".json")):
        return "yaml?"  # decided by content: kubelet configuration, Kubernetes manifests
    if base == "config.toml" or base.endswith(".toml"):
        return "toml?"
    return None


def detect_by_content(kind: str, head: str) -> FileType | None:
    if kind == "toml?":
        return "containerd" if ("containerd" in head or "[plugins" in head) else None
    # YAML keys start a line; JSON keys may share one line (`{"apiVersion": "v1", "kind": ...}`).
    if "kind" not in head:
        return None
    if "KubeletConfiguration" in head and _KUBELET_KIND.search(head):
        return "kubelet"
    if "apiVersion" in head and _API_VERSION_KEY.search(head) and _KIND_KEY.search(head):
        return "kubernetes"
    return None


_KEY = r"(?:(?m:^)\s*{k}\s*:|\"{k}\"\s*:)"
_KUBELET_KIND = re.compile(_KEY.format(k="kind") + r"\s*\"?KubeletConfiguration\b")
_API_VERSION_KEY = re.compile(_KEY.format(k="apiVersion"))
_KIND_KEY = re.compile(_KEY.format(k="kind"))


# file type -> "module:function" taking (text, display path) and returning the parsed model
PARSERS: dict[FileType, str] = {
    "dockerfile": "customhouse.misconfig.dockerfile:parse",
    "compose": "customhouse.misconfig.parsers:parse_yaml",
    "docker-daemon": "customhouse.misconfig.parsers:parse_yaml",
    "kubelet": "customhouse.misconfig.parsers:parse_yaml",
    "kubernetes": "customhouse.misconfig.parsers:parse_yaml",
    "containerd": "customhouse.misconfig.parsers:parse_toml",
}


# what a file whose type is decided by its content may turn out to be
_CONTENT_TYPES: dict[str, tuple[str, ...]] = {"yaml?": ("kubernetes", "kubelet"), "toml?": ("containerd",)}


def _parser(file_type: FileType) -> Callable[[str, str], Any]:
    import importlib

    mod, _, fn = PARSERS[file_type].partition(":")
    func: Callable[[str, str], Any] = getattr(importlib.import_module(mod), fn)
    return func


@dataclass
class ScanResult:
    findings: list[Finding] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    scanned: dict[str, int] = field(default_factory=dict)  # file type -> files
    skipped: int = 0
    # document path -> (id, title) of every check (and custom policy) that ran on it, so reports
    # can show the checks a file passed (ScanReport.evaluated_checks)
    evaluated: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    check_severity: dict[str, str] = field(default_factory=dict)  # id -> severity of every check that ran
    documents: list[Document] = field(default_factory=list)  # parsed files, when asked for (keep_documents)


def parse_document(text: str, path: str, file_type: FileType) -> Document:
    return Document(path=path, file_type=file_type, text=text, data=_parser(file_type)(text, path))


def _is_comment(text: str) -> bool:
    return text.lstrip().startswith("#")


def _inline_lines(doc: Document, line: int) -> list[int]:
    """The lines whose `customhouse:ignore=` comments apply to a finding at `line`.

    The line itself, then the block of comment-only lines right above it; in a Dockerfile the
    block above the instruction (continuation lines ending in a backslash are climbed, and
    comment lines inside the instruction count too). A finding about the whole file (line 0)
    takes the comments at the top of the file, before its first line of content.
    """
    lines = doc.lines
    if line <= 0:
        out = []
        for i, text in enumerate(lines, 1):
            if _is_comment(text):
                out.append(i)
            elif text.strip():
                break
        return out
    if line > len(lines):
        return []
    out = [line]
    n = line - 1
    while n >= 1:
        text = lines[n - 1]
        if _is_comment(text):
            out.append(n)
        elif not (doc.file_type == "dockerfile" and text.rstrip().endswith("\\")):
            break
        n -= 1
    return out


def _inline_suppression(doc: Document, line: int, check_id: str) -> Suppression | None:
    """`# customhouse:ignore=ID[,ID...] reason` applying to a finding of `check_id` at `line`."""
    if "customhouse:ignore=" not in doc.text:
        return None
    want = check_id.upper()
    for n in _inline_lines(doc, line):
        m = _INLINE.search(doc.lines[n - 1])
        if m and want in (x.strip().upper() for x in m.group(1).split(",")):
            reason = m.group(2).strip() or "no reason given"
            return Suppression(source="inline", reason=reason, status="ignored")
    return None


def to_finding(doc: Document, check: Check, v: Violation, target: str = "", source: str = "builtin") -> Finding:
    meta = check.meta
    snippet = v.snippet or doc.source(v.line, v.end_line)
    f = Finding(
        id=meta.id,
        kind="misconfiguration",
        severity=meta.severity,
        title=meta.title,
        message=v.message,
        target=target,
        location=Location(
            path=v.path or doc.path,
            layer_digest=v.layer_digest,
            layer_index=v.layer_index,
            created_by=v.created_by,
            line=v.line,
            column=v.column,
            end_line=v.end_line or v.line,
            json_path=v.json_path,
            resource_kind=v.resource_kind,
            resource_namespace=v.resource_namespace,
            resource_name=v.resource_name,
        ),
        fix=v.fix or meta.remediation,
        references=meta.references,
        frameworks=meta.frameworks.pairs(),
        suppressed=_inline_suppression(doc, v.line, meta.id),
        misconfiguration=MisconfigDetail(
            file_type=doc.file_type,
            snippet=snippet[:2000],
            replacement=v.replacement,
            check_source=source,
            description=meta.description,
            extra=v.extra,
        ),
    )
    object.__setattr__(f, "fingerprint", fingerprint(f))
    return f


def run_checks(
    doc: Document, options: Options, skip: Iterable[str] = (), target: str = "", enable: Iterable[str] = ()
) -> list[Finding]:
    """Every check for the document's file type (minus `skip`, plus the off-by-default `enable`)."""
    out = []
    for c in checks_for(doc.file_type, skip, enable):
        for v in c.run(doc, options):
            out.append(to_finding(doc, c, v, target))
    return out


def excluded(rel: str, patterns: Iterable[str]) -> bool:
    """Whether `rel` (a path relative to the scanned root) or a directory it is in matches one
    of the `--exclude` globs: a pattern without `/` matches a file or directory name at any
    depth (`node_modules`, `*.test.yaml`), one with `/` the path from the root
    (`deploy/legacy`, `charts/*/tests`); `*` matches across `/`; a trailing `/` is ignored."""
    parts = rel.split("/")
    for raw in patterns:
        pat = raw.strip().strip("/")
        while pat.startswith("./"):
            pat = pat[2:]
        if not pat:
            continue
        if "/" in pat:
            if any(fnmatch.fnmatchcase("/".join(parts[:i]), pat) for i in range(1, len(parts) + 1)):
                return True
        elif any(fnmatch.fnmatchcase(part, pat) for part in parts):
            return True
    return False


def iter_files(root: Path, exclude: Iterable[str] = ()) -> Iterable[tuple[str, str]]:
    """(path, path relative to root) of regular files, never following symlinks; excluded
    directories are not entered. Paths are strings: a Path per file (and `relpath` per
    directory) cost three times the walk itself on a tree of 2,000 manifests.

    The order is `os.walk`'s, top-down with each directory's files and subdirectories sorted: a
    directory's files, then its subdirectories one after the other. The walk is our own over
    `os.scandir` (compiled, see customhouse/_native.py): `os.walk` runs as Python and asks the
    system once more per directory whether it is a symlink, which the directory entry already
    says; on the 594 directories of the Dockerfile benchmark that was 16-23 ms before any file
    was read."""
    excl = tuple(exclude)
    if root.is_file():
        yield os.fspath(root), root.name
        return
    top = os.fspath(root)
    yield from _walk_dir(top, os.path.join(top, ""), "", excl)


def _walk_dir(path: str, base: str, prefix: str, excl: tuple[str, ...]) -> Iterator[tuple[str, str]]:
    """The files under `path` (`base` = `path` and a separator, `prefix` = its relative path and
    "/", or "" for the root). As `os.walk`: an unreadable directory is skipped, an entry whose type
    cannot be read is a file, a symlink to a directory is listed with the directories but never
    entered."""
    try:
        with os.scandir(path) as it:
            entries = list(it)
    except OSError:
        return
    files: list[str] = []
    dirs: list[str] = []
    links: set[str] = set()
    for entry in entries:
        try:
            is_dir = entry.is_dir()
        except OSError:
            is_dir = False
        if not is_dir:
            files.append(entry.name)
            continue
        dirs.append(entry.name)
        try:
            if entry.is_symlink():
                links.add(entry.name)
        except OSError:  # as `os.path.islink`: not known to be a link, so entered
            pass
    files.sort()
    for name in files:
        yield base + name, prefix + name
    rel_dir = prefix[:-1]
    kept = sorted(
        d for d in dirs if d not in SKIP_DIRS and not (excl and excluded(f"{rel_dir}/{d}" if rel_dir else d, excl))
    )
    for name in kept:
        if name not in links:
            yield from _walk_dir(base + name, base + name + os.sep, prefix + name + "/", excl)


def iter_documents(
    root: Path,
    result: ScanResult,
    max_file_bytes: int = MAX_FILE_BYTES,
    exclude: Iterable[str] = (),
    file_types: Iterable[FileType] = (),
    files: list[tuple[str, str]] | None = None,
) -> Iterator[Document]:
    """Every recognised, readable file under `root` as a parsed Document (only `file_types`, when
    given). Files that cannot be scanned (too big, binary, unparsable) become one warning each in
    `result` and are skipped, so one bad file never stops a tree."""
    if not root.exists():
        raise InputError(f"{root}: no such file or directory")
    excl = tuple(exclude)
    wanted = frozenset(file_types)
    for full, rel in files if files is not None else iter_files(root, excl):
        if excl and excluded(rel, excl):
            continue
        kind = detect_by_name(rel)
        if kind is None or (wanted and kind not in wanted and kind not in ("yaml?", "toml?")):
            continue
        try:
            st = os.lstat(full)
        except OSError as exc:
            result.warnings.append(f"{rel}: cannot read ({exc.strerror})")
            result.skipped += 1
            continue
        if not stat.S_ISREG(st.st_mode):  # symlinks, fifos, devices, directories
            continue
        if st.st_size > max_file_bytes:
            if kind in ("yaml?", "toml?"):  # only report files we would have scanned
                with open(full, "rb") as fh:
                    kind = detect_by_content(kind, fh.read(65536).decode("utf-8", "replace")) or ""
            if kind and (not wanted or kind in wanted):
                result.warnings.append(f"{rel}: skipped, {st.st_size} bytes is over the {max_file_bytes}-byte limit")
                result.skipped += 1
            continue
        try:
            with open(full, "rb") as fh:
                raw = fh.read()
        except OSError as exc:
            result.warnings.append(f"{rel}: cannot read ({exc.strerror})")
            result.skipped += 1
            continue
        if b"\x00" in raw[:8192]:
            if kind not in ("yaml?", "toml?"):
                result.warnings.append(f"{rel}: skipped, binary content")
                result.skipped += 1
            continue
        text = raw.decode("utf-8", "replace")
        if kind in ("yaml?", "toml?"):
            detected = detect_by_content(kind, text[:65536])
            if detected is None:
                continue
            kind = detected
        if wanted and kind not in wanted:
            continue
        ft: FileType = kind
        try:
            doc = parse_document(text, rel, ft)
        except InputError as exc:
            result.warnings.append(exc.message if exc.message.startswith(rel) else f"{rel}: {exc.message}")
            result.skipped += 1
            continue
        result.scanned[ft] = result.scanned.get(ft, 0) + 1
        yield doc


#: Tree-level check modules run in a forked child beside the others when the tree is big (see
#: `run_tree_checks`): the RBAC escalation graph is about a third of the tree-level work and
#: shares nothing with the NetworkPolicy and workload analyses. (A second child for the
#: NetworkPolicy checks made 2,000 manifests 3 % slower on 2 cores: three processes then.)
TREE_CHECKS_ASIDE = ("customhouse.misconfig.checks.k8s_rbac",)


def run_tree_checks(
    docs: list[Document],
    root: str,
    options: Options,
    skip: Iterable[str] = (),
    enable: Iterable[str] = (),
    jobs: int = 1,
    worker_finish: Callable[[list[Finding]], None] | None = None,
) -> tuple[list[Finding], list[tuple[str, str, str]]]:
    """The checks that need every Kubernetes manifest at once (RBAC, NetworkPolicy, coverage).

    They see one `kubernetes-tree` document; each finding is attributed to the manifest its
    Violation names, so inline `customhouse:ignore` comments in that file apply to it.
    Returns the findings, in check order, and (id, title, severity) of every check that ran.

    With `jobs` > 1 and a big tree, the checks of TREE_CHECKS_ASIDE run in a forked child
    (it inherits the tree already built) while this process runs the others: this part of a
    scan comes after the per-file work, when the other CPUs would idle. `worker_finish` is
    then called on the child's findings there, as `scan_tree` does in its workers."""
    from customhouse.misconfig.k8s.objects import tree_document

    tree = tree_document(root, docs)
    by_path = {d.path: d for d in docs}
    checks = list(checks_for("kubernetes-tree", skip, enable))

    def run(selected: list[Check]) -> dict[str, list[Finding]]:
        out: dict[str, list[Finding]] = {}
        for c in selected:
            out[c.meta.id] = [to_finding(by_path.get(v.path, tree), c, v, root) for v in c.run(tree, options)]
        return out

    aside = [c for c in checks if c.run.__module__ in TREE_CHECKS_ASIDE]
    found: dict[str, list[Finding]] = {}
    from customhouse import forking

    # the child runs Python checks only, never BuildKit's parser: a process that loaded it (the
    # command line after its own share of a tree's Dockerfiles) may still fork this one
    if jobs > 1 and aside and len(aside) < len(checks) and len(docs) >= PARALLEL_MIN_FILES and forking.safe():

        def run_aside() -> dict[str, list[Finding]]:
            out = run(aside)
            if worker_finish is not None:
                worker_finish([f for fs in out.values() for f in fs])
            return out

        child = forking.Forked(run_aside)
        try:
            found = run([c for c in checks if c not in aside])
        finally:
            got = child.result()
        found.update(run(aside) if got is None else got)
    else:
        found = run(checks)
    findings = [f for c in checks for f in found[c.meta.id]]
    return findings, [(c.meta.id, c.meta.title, c.meta.severity) for c in checks]


@contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic garbage collection during a command's scan.

    Everything a scan allocates (parsed documents with their positions, objects, findings) stays
    alive until the report is written, since the tree-level checks need every document, so the
    collector's passes over millions of young containers find nothing to free: on 2,000
    manifests they cost about 15 % of the run (bench/k8s.py). Reference counting still frees
    everything else. At the end what the scan kept is frozen (moved out of the collector's
    sight) rather than walked again by the first collection after it."""
    import gc

    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()


#: Below this many candidate files a scan stays in one process: forking and sending results
#: back would cost more than the second core saves.
PARALLEL_MIN_FILES = 48
_MAX_PARTS = 2048


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask, which containers and `taskset` narrow)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class _TreeJob:
    """Everything a part of a tree scan needs; set before the worker processes fork, so the
    workers inherit it instead of receiving it pickled with every part."""

    root: Path
    files: list[tuple[str, str]]  # (path, path relative to root)
    options: Options
    skip: tuple[str, ...]
    enable: tuple[str, ...]
    policies: Any
    max_file_bytes: int
    exclude: tuple[str, ...]
    file_types: tuple[FileType, ...]
    keep_documents: bool
    misconfig: bool
    secrets: bool
    cache_dir: Path | None  # of the compiled secret rules
    worker_finish: Callable[[list[Finding]], None] | None = None
    one_shot: bool = False  # the caller scans nothing more in this process (`scan_tree`)


def _secret_scanner(job: _TreeJob) -> Any:
    """The process's compiled secret scanner for this job (`secrets.targets.get_scanner` keeps
    one per configuration); asked for once per part of the tree, at its first document, so a
    tree with nothing to scan never loads the rules."""
    from customhouse.secrets.targets import default_scanner, get_scanner

    return get_scanner(job.cache_dir) if job.cache_dir is not None else default_scanner()


_JOB: _TreeJob | None = None


def _scan_part(job: _TreeJob, lo: int, hi: int) -> tuple[ScanResult, list[Document]]:
    """Files `lo:hi` of the tree through their per-file checks (and secrets, and policies).

    Returns the partial result and the Kubernetes documents, which the tree-level checks need
    all at once. Parts concatenated in order give exactly what one pass over the tree gives."""
    result = ScanResult()
    k8s_docs: list[Document] = []
    _ran_lists: dict[tuple[str, ...], list[tuple[str, str]]] = {}
    target = str(job.root)
    scanner = None
    docs = iter_documents(job.root, result, job.max_file_bytes, job.exclude, job.file_types, job.files[lo:hi])
    for doc in docs:
        ft = doc.file_type
        if ft == "kubernetes":
            k8s_docs.append(doc)
        if job.keep_documents:
            result.documents.append(doc)
        ran = [c.meta for c in checks_for(ft, job.skip, job.enable)] if job.misconfig else []
        if job.misconfig:
            result.findings.extend(run_checks(doc, job.options, job.skip, target=target, enable=job.enable))
        if job.secrets:
            from customhouse.secrets.targets import document_findings

            if scanner is None:
                scanner = _secret_scanner(job)
            result.findings.extend(document_findings(doc, target=target, scanner=scanner))
        if job.policies is not None and job.misconfig:
            ran += [c.meta for c in job.policies.checks() if ft in c.meta.file_types and c.meta.id not in job.skip]
            result.findings.extend(job.policies.evaluate(doc, job.options, job.skip, target=target))
        if not ran:
            continue
        key = tuple(m.id for m in ran)
        ids = _ran_lists.get(key)
        if ids is None:  # one shared list per set of checks: cheap to build and to send back
            ids = _ran_lists[key] = [(m.id, m.title) for m in ran]
            result.check_severity.update((m.id, m.severity) for m in ran)
        result.evaluated[doc.path] = ids
    return result, k8s_docs


def _forked_part(part: tuple[int, int]) -> tuple[ScanResult, list[Document]]:
    """A pool worker's part of the scan (where there are no memory files: `_fork_pool` is the
    usual way); the job is the one the parent set before forking."""
    import gc

    gc.disable()  # a short-lived worker whose allocations all survive until they are sent back
    assert _JOB is not None
    result, docs = _scan_part(_JOB, *part)
    if _JOB.worker_finish is not None:
        _JOB.worker_finish(result.findings)
    return result, docs


def _part_files(n: int) -> list[int]:
    """One anonymous memory file per part (nothing on any file system), or none off Linux."""
    if not hasattr(os, "memfd_create"):
        return []
    fds: list[int] = []
    try:
        for i in range(n):
            fds.append(os.memfd_create(f"customhouse-part-{i}"))
    except OSError:
        for fd in fds:
            os.close(fd)
        return []
    return fds


def _merge(parts: Iterable[tuple[ScanResult, list[Document]]]) -> tuple[ScanResult, list[Document]]:
    out = ScanResult()
    k8s_docs: list[Document] = []
    for part, docs in parts:
        out.findings += part.findings
        out.warnings += part.warnings
        for ft, n in part.scanned.items():
            out.scanned[ft] = out.scanned.get(ft, 0) + n
        out.skipped += part.skipped
        out.evaluated.update(part.evaluated)
        out.check_severity.update(part.check_severity)
        out.documents += part.documents
        k8s_docs += docs
    return out, k8s_docs


def _types_present(job: _TreeJob) -> tuple[int, set[str]]:
    """How many files of the tree may be scanned (by their names), and the file types they may be
    that the job scans."""
    candidates = 0
    present: set[str] = set()
    for _, rel in job.files:
        kind = detect_by_name(rel)
        if kind is not None:
            candidates += 1
            present.update(_CONTENT_TYPES.get(kind, (kind,)))
    if job.file_types:
        present.intersection_update(job.file_types)
    return candidates, present


def _prepare_fork(job: _TreeJob, present: set[str]) -> None:
    """Load in the parent what every worker needs (parsers, check registries), so the workers
    inherit it instead of each importing and building it again."""
    for ft in job.file_types or tuple(PARSERS):
        if ft in present:
            if ft != "dockerfile":  # see _fork_safe: each worker loads BuildKit's parser itself
                _parser(ft)
            checks_for(ft, job.skip, job.enable)
    if job.secrets:
        _secret_scanner(job)


def _fork_safe() -> bool:
    """Whether worker processes may be forked from this one.

    A forked child has only the forking thread: a lock another thread held stays held, and the
    Go runtime inside BuildKit's parser (the `dockerfile` module), once loaded, hangs the child
    at its first call. So fork only from a single-threaded process that has not loaded that
    parser; the command line scans from exactly such a process (workers load the parser
    themselves), and a library caller that is not one scans in its own process."""
    import sys

    from customhouse import forking

    return forking.safe() and "dockerfile" not in sys.modules


def _scan_files(job: _TreeJob, jobs: int) -> tuple[ScanResult, list[Document]]:
    """The per-file work, over `jobs` processes when the tree is big enough.

    Worker processes are forked (they inherit the loaded checks and the compiled secret rules)
    and each takes contiguous parts of the file list; the parts are merged in order, so the
    report is byte-for-byte the one a single process writes. Custom Rego policies run in a
    worker process of their own and keep the scan in one process."""
    global _JOB
    n = len(job.files)
    candidates, present = _types_present(job)
    if jobs <= 1 or job.policies is not None or candidates < PARALLEL_MIN_FILES or not _fork_safe():
        return _scan_part(job, 0, n)
    _prepare_fork(job, present)
    # small parts even out files of very different sizes between the workers; at most one per
    # file, and few enough that their numbers fit the smallest pipe (one page: 2,048 records)
    n_parts = min(jobs * 8, n, _MAX_PARTS)
    jobs = min(jobs, n_parts)
    parts = [(n * i // n_parts, n * (i + 1) // n_parts) for i in range(n_parts)]
    files = _part_files(n_parts)
    if files:
        # this process takes parts too when that cannot load BuildKit's parser into it (no
        # Dockerfile in the tree), or when the caller will not fork again (`one_shot`)
        return _fork_pool(job, parts, jobs, files, job.one_shot or "dockerfile" not in present)
    import multiprocessing

    _JOB = job
    try:
        with multiprocessing.get_context("fork").Pool(jobs) as pool:
            return _merge(pool.imap(_forked_part, parts))
    finally:
        _JOB = None


def _fork_pool(
    job: _TreeJob, parts: list[tuple[int, int]], jobs: int, files: list[int], works: bool
) -> tuple[ScanResult, list[Document]]:
    """The parts over forked children, and over this process too when it `works` (`jobs`
    processes in all either way).

    The parts' numbers wait in a pipe that every process reads two bytes at a time (a read of
    one whole record is atomic), so a process that is done early takes the next part. A child
    writes each part's pickled result into that part's memory file, then the part's number
    into a second pipe, and exits when the queue is empty. This process keeps its own parts'
    results as they are, and unpickles each child's part once its number arrives: between its
    own parts and while the children still work, so little is left for after them and the
    memory files are emptied early. A part whose number never came (a child that died) is
    scanned here afterwards: the result is always whole. No pool: its import, its three
    threads and its pipe cost more than they carry."""
    import signal

    got: dict[int, tuple[ScanResult, list[Document]] | None] = {}
    children: list[int] = []
    r = done_r = done_w = -1
    try:
        try:
            r, w = os.pipe()
            try:
                os.write(w, b"".join(i.to_bytes(2, "big") for i in range(len(parts))))
            finally:
                os.close(w)  # so a read past the last record ends at once in every process
            done_r, done_w = os.pipe()
        except OSError:  # out of descriptors: the scan runs here, in one process
            return _scan_part(job, 0, len(job.files))
        stop = {signal.SIGINT, signal.SIGTERM}
        for _ in range(jobs - 1 if works else jobs):
            # no interrupt between fork and knowing the child: it would run this function's
            # cleanup in the child, or leave a child nobody stops
            mask = signal.pthread_sigmask(signal.SIG_BLOCK, stop)
            try:
                pid = os.fork()
            except OSError:
                signal.pthread_sigmask(signal.SIG_SETMASK, mask)
                break  # a process limit: fewer helpers; every part still gets done below
            if pid == 0:  # a child: take parts until none is left, then exit without any cleanup
                code = 1
                try:
                    signal.pthread_sigmask(signal.SIG_SETMASK, mask)
                    _child_parts(job, parts, files, r, done_r, done_w)
                    code = 0
                finally:
                    os._exit(code)
            children.append(pid)
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        os.close(done_w)
        done_w = -1
        if works or not children:
            os.set_blocking(done_r, False)
            while len(rec := os.read(r, 2)) == 2:
                index = int.from_bytes(rec, "big")
                got[index] = _own_part(job, *parts[index])
                _collect(done_r, files, got)  # what the children finished meanwhile
            os.set_blocking(done_r, True)
        _collect(done_r, files, got)  # the rest, as it comes; ends when the last child exits
        while children:
            os.waitpid(children[-1], 0)
            children.pop()
        return _merge(got.get(i) or _own_part(job, lo, hi) for i, (lo, hi) in enumerate(parts))
    finally:
        for fd in (r, done_r, done_w):
            if fd >= 0:
                os.close(fd)
        for pid in children:  # this process failed or was interrupted before they were done
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGTERM)
                os.waitpid(pid, 0)
        for fd in files:
            os.close(fd)


def _own_part(job: _TreeJob, lo: int, hi: int) -> tuple[ScanResult, list[Document]]:
    """A part scanned in this process, finished as a worker finishes its own."""
    result, docs = _scan_part(job, lo, hi)
    if job.worker_finish is not None:
        job.worker_finish(result.findings)
    return result, docs


def _child_parts(
    job: _TreeJob, parts: list[tuple[int, int]], files: list[int], r: int, done_r: int, done_w: int
) -> None:
    """A forked worker's loop: parts from the queue `r` until it is empty, each pickled into
    its memory file and then announced on `done_w`."""
    import gc
    import pickle

    gc.disable()  # short-lived; what it allocates is sent back or dropped at exit
    os.close(done_r)
    while len(rec := os.read(r, 2)) == 2:
        index = int.from_bytes(rec, "big")
        result, docs = _own_part(job, *parts[index])
        data = memoryview(pickle.dumps((result, docs), protocol=pickle.HIGHEST_PROTOCOL))
        written = 0
        while written < len(data):
            written += os.pwrite(files[index], data[written:], written)
        os.write(done_w, rec)


def _collect(done_r: int, files: list[int], got: dict[int, tuple[ScanResult, list[Document]] | None]) -> None:
    """Unpickle the parts whose numbers wait in `done_r`: those there now if it does not block,
    else all until every child has closed it."""
    while True:
        try:
            rec = os.read(done_r, 2)
        except BlockingIOError:
            return
        if len(rec) != 2:
            return
        index = int.from_bytes(rec, "big")
        got[index] = _read_part(files[index])


def _read_part(fd: int) -> tuple[ScanResult, list[Document]] | None:
    """A part's result from its memory file, or None when no child wrote it whole."""
    import pickle

    size = os.fstat(fd).st_size
    if not size:
        return None
    data = os.pread(fd, size, 0)
    while len(data) < size:
        more = os.pread(fd, size - len(data), len(data))
        if not more:
            return None
        data += more
    os.ftruncate(fd, 0)
    try:
        got: tuple[ScanResult, list[Document]] = pickle.loads(data)
    except Exception:  # cut short by a child that died while writing it
        return None
    return got


def scan_tree(
    root: Path,
    options: Options | None = None,
    skip: Iterable[str] = (),
    policies: Any = None,
    max_file_bytes: int = MAX_FILE_BYTES,
    exclude: Iterable[str] = (),
    enable: Iterable[str] = (),
    file_types: Iterable[FileType] = (),
    keep_documents: bool = False,
    secrets: bool = True,
    misconfig: bool = True,
    jobs: int = 0,
    cache_dir: Path | None = None,
    worker_finish: Callable[[list[Finding]], None] | None = None,
    one_shot: bool = False,
) -> ScanResult:
    """Scan every file under `root` whose type is recognised (docs/checks.md lists the types).

    `skip` and `enable` are check ids to leave out and off-by-default checks to run; `exclude`
    are `--exclude` globs (see `excluded`); `policies` is a loaded Rego `PolicySet` or None;
    `file_types` limits the scan (e.g. `customhouse k8s` scans only manifests). Kubernetes
    manifests are also checked together, once per tree (`run_tree_checks`). With `secrets`,
    every parsed document is also scanned for secrets (`customhouse.secrets.targets`), with the
    compiled rules cached under `cache_dir` (default: the user's cache directory); without
    `misconfig` no check runs (a secrets-only scan). `jobs` is
    the number of processes for the per-file work (0: every usable CPU). `worker_finish`, when
    the work is split over processes, is called in each worker on the findings of its part
    before they are sent back: per-finding work the caller would otherwise do alone afterwards
    (encoding the report, `findings_json.encode_in_workers`) runs on every CPU instead.
    `one_shot` says the caller scans nothing more in this process (the command line): the
    process then takes parts of the work itself instead of waiting for its workers, and loads
    BuildKit's parser for them, after which it can fork no workers for another scan.
    """
    if not root.exists():
        raise InputError(f"{root}: no such file or directory")
    excl = tuple(exclude)
    files = list(iter_files(root, excl))
    opts = options or Options()
    if not opts.tree_files:
        from dataclasses import replace

        opts = replace(opts, tree_files=frozenset(rel for _, rel in files))
    skip, enable = tuple(skip), tuple(enable)
    job = _TreeJob(
        root=root,
        files=files,
        options=opts,
        skip=skip,
        enable=enable,
        policies=policies,
        max_file_bytes=max_file_bytes,
        exclude=excl,
        file_types=tuple(file_types),
        keep_documents=keep_documents,
        misconfig=misconfig,
        secrets=secrets,
        cache_dir=cache_dir,
        worker_finish=worker_finish,
        one_shot=one_shot,
    )
    result, k8s_docs = _scan_files(job, jobs if jobs > 0 else usable_cpus())
    if k8s_docs and misconfig:
        found, tree_ran = run_tree_checks(
            k8s_docs, str(root), opts, skip, enable, jobs if jobs > 0 else usable_cpus(), worker_finish
        )
        result.findings.extend(found)
        more = [(i, t) for i, t, _ in tree_ran]
        # id of a shared per-file list -> (it, it + more); the list is kept so its id stays its own
        joined: dict[int, tuple[list[tuple[str, str]], list[tuple[str, str]]]] = {}
        for d in k8s_docs:
            base = result.evaluated.get(d.path, [])
            if id(base) not in joined:
                joined[id(base)] = (base, base + more)
            result.evaluated[d.path] = joined[id(base)][1]
        result.check_severity.update((i, sev) for i, _, sev in tree_ran)
    return result


# compiled by mypyc, these cannot be pickled the default way (customhouse/_native.py)
_native.picklable(_TreeJob)
