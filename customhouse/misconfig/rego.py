"""Custom checks written in Rego (`--policy DIR`, docs/custom-policies.md).

An organisation's own rules must behave exactly like the built-in checks: same findings, same
inline and ignore-file suppression, same reports. So a policy declares the metadata a built-in
check declares (id, title, severity, file types, remediation, framework mappings), its `deny`
members become `Violation`s, and `runner.to_finding` turns those into findings.

Policies are evaluated by rego-cpp (the `regopy` binding) in a worker process, never in ours:
- a rule can take unbounded time (a comprehension over a huge range, nested walks); a thread
  cannot be stopped, a process can. Every request to the worker has a deadline, and the worker
  is killed when it passes it or when its memory grows past a limit (rego-cpp's allocator
  reserves terabytes of address space, so `RLIMIT_AS`/`RLIMIT_DATA` cannot bound it; the
  parent watches the worker's resident size instead);
- rego-cpp prints compiler diagnostics on standard output, which carries our reports;
- an experimental C++ engine that crashes takes down a worker, not the scan's bookkeeping.

A broken policy (syntax error, missing or invalid metadata, a rule that errors or runs out of
time) stops the whole run with an `InputError` naming the file, line and rule: silently
skipping a security policy would report a clean scan that is not.

Policies are compiled once into a rego-cpp bundle and each rule is queried through its bundle
entrypoint (several times faster than re-compiling per query); one interpreter is reused for
every document, with only its input replaced.
"""

from __future__ import annotations

import json
import math
import os
import re
import select
import subprocess
import sys
import tempfile
import time
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields, is_dataclass
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import IO, Any

from customhouse.errors import InputError, UsageError
from customhouse.misconfig.engine import Check, CheckMeta, Document, FileType, Framework, Options, Violation
from customhouse.report.findings import Finding

FILE_TYPES: tuple[FileType, ...] = (
    "dockerfile",
    "compose",
    "docker-daemon",
    "containerd",
    "kubelet",
    "kubernetes",
    "image-config",
)
SEVERITIES = ("critical", "high", "medium", "low", "info")
RULE_NAMES = ("deny", "violation")
METADATA_NAMES = ("__rego_metadata__", "metadata")
METADATA_KEYS = (
    "id",
    "title",
    "severity",
    "file_types",
    "description",
    "rationale",
    "remediation",
    "references",
    "frameworks",
)
FRAMEWORK_KEYS = tuple(f.name for f in fields(Framework))
RESULT_KEYS = (
    "msg",
    "message",
    "line",
    "end_line",
    "column",
    "path",
    "json_path",
    "fix",
    "replacement",
    "snippet",
    "resource",
    "extra",
)

DEFAULT_TIMEOUT = 10.0  # seconds per request: one rule on one document, or one load step
DEFAULT_MEMORY_LIMIT = 2 << 30  # bytes of worker resident memory
MAX_POLICY_BYTES = 1 << 20
MAX_POLICY_FILES = 10_000
MAX_INPUT_DEPTH = 200
MAX_IMAGE_FILES = 200_000  # entries of an image's filesystem passed as input.files
_POLL = 0.05  # seconds between memory checks while waiting on the worker

_ID = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_.][A-Za-z0-9]+)*")
_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_PACKAGE = re.compile(rf"^[ \t]*package[ \t]+({_IDENT}(?:\.{_IDENT})*)[ \t]*$", re.M)
_PACKAGE_ANY = re.compile(r"^[ \t]*package\b[ \t]*(.*)$", re.M)
# A rule head of the given name at the start of a line: `deny contains ...`, `deny[x] ...`,
# `deny if ...`, `deny := ...`, `deny { ...` (the last form is Rego v0).
_RULE_HEAD = r"^[ \t]*(?:default[ \t]+)?({names})\b(?=[ \t]*(?:contains\b|if\b|\[|\{{|:=|=))"
_RULES = re.compile(_RULE_HEAD.format(names="|".join(RULE_NAMES)), re.M)
_METADATA = re.compile(_RULE_HEAD.format(names="|".join(METADATA_NAMES)), re.M)


# ------------------------------------------------------------------------------ model


@dataclass(frozen=True)
class Policy:
    """One policy file: its check metadata and the rules whose members are violations."""

    check: Check
    file: str  # as reports show it: the --policy argument joined with the path below it
    package: str  # dotted, e.g. "custom.dockerfile.no_latest"
    rules: tuple[tuple[str, int], ...]  # (rule name, line of its first definition)

    @property
    def id(self) -> str:
        return self.check.meta.id

    def where(self, rule: str = "") -> str:
        """`file:line: rule deny of ORG-001` for error messages."""
        lines = dict(self.rules)
        name = rule or self.rules[0][0]
        return f"{self.file}:{lines.get(name, 1)}: rule `{name}` of policy {self.id}"

    def entrypoint(self, rule: str) -> str:
        return "/".join([*self.package.split("."), rule])


def _not_callable(doc: Document, options: Options) -> Iterable[Violation]:
    """Rego checks run through their PolicySet (which holds the interpreter), not one by one."""
    raise TypeError("Rego policies are evaluated by PolicySet.evaluate")


# ------------------------------------------------------------------------------ loading


def load_policies(
    dirs: Path | str | Sequence[Path | str],
    timeout: float = DEFAULT_TIMEOUT,
    memory_limit: int = DEFAULT_MEMORY_LIMIT,
) -> PolicySet:
    """Every `*.rego` under the given directories (or the given files), validated and compiled.

    `*_test.rego` files are OPA unit tests and are not loaded. Files with neither metadata nor
    a `deny`/`violation` rule are libraries: loaded, so policies can import them, but not run.
    Raises InputError (exit 3) naming the file and line of the first problem.
    """
    roots = [Path(dirs)] if isinstance(dirs, str | Path) else [Path(d) for d in dirs]
    sources = _read_sources(roots)
    worker = _Worker(timeout, memory_limit)
    try:
        policies = _compile(worker, sources)
    except BaseException:
        worker.close()
        raise
    return PolicySet(policies, worker)


@dataclass
class _Source:
    file: str  # display name, also the module name rego-cpp reports errors with
    text: str  # as written (for line numbers and messages)
    clean: str  # comments blanked, offsets unchanged: what rego-cpp reads
    package: str
    rules: tuple[tuple[str, int], ...]
    has_metadata: bool

    def line_col(self, offset: int) -> tuple[int, int]:
        """1-based line and column of a byte offset into the source."""
        raw = self.text.encode("utf-8")[: max(offset, 0)]
        line = raw.count(b"\n") + 1
        col = len(raw) - (raw.rfind(b"\n") + 1) + 1
        return line, col


def _policy_files(root: Path) -> Iterator[Path]:
    if root.is_file():
        yield root
        return
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.endswith(".rego") and not name.endswith("_test.rego"):
                yield Path(dirpath) / name


def _read_sources(roots: list[Path]) -> list[_Source]:
    out: list[_Source] = []
    for root in roots:
        if not root.exists():
            raise InputError(f"--policy {root}: no such file or directory")
        files = list(_policy_files(root))
        if not files:
            raise InputError(f"--policy {root}: no *.rego policy files found")
        for path in files:
            if len(out) >= MAX_POLICY_FILES:
                raise InputError(f"--policy {root}: more than {MAX_POLICY_FILES} policy files")
            out.append(_read_source(path))
    return out


def _read_source(path: Path) -> _Source:
    name = str(path)
    try:
        size = path.stat().st_size
        if size > MAX_POLICY_BYTES:
            raise InputError(f"{name}: policy file is {size} bytes, over the {MAX_POLICY_BYTES}-byte limit")
        raw = path.read_bytes()
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise InputError(f"{name}:{line}: not UTF-8 text") from None
    except OSError as exc:
        raise InputError(f"{name}: cannot read ({exc.strerror})") from None
    clean = blank_comments(text)
    m = _PACKAGE.search(clean)
    if m is None:
        any_pkg = _PACKAGE_ANY.search(clean)
        if any_pkg is None:
            raise InputError(f"{name}:1: no `package` declaration")
        line = clean.count("\n", 0, any_pkg.start()) + 1
        raise InputError(
            f"{name}:{line}: package {any_pkg.group(1).strip()!r} must be dotted identifiers"
            " (e.g. `package custom.dockerfile.no_latest`) so its rules can be addressed"
        )
    rules: dict[str, int] = {}
    for r in _RULES.finditer(clean):
        rules.setdefault(r.group(1), clean.count("\n", 0, r.start()) + 1)
    return _Source(
        file=name,
        text=text,
        clean=clean,
        package=m.group(1),
        rules=tuple(sorted(rules.items(), key=lambda kv: RULE_NAMES.index(kv[0]))),
        has_metadata=_METADATA.search(clean) is not None,
    )


def blank_comments(text: str) -> str:
    """`text` with every comment replaced by spaces, so offsets and lines stay the same.

    rego-cpp 1.5 rejects valid Rego with a comment at the end of a `package` or `import` line;
    the comments carry nothing the engine needs, so it is given the text without them.
    """
    out = list(text)
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            i += 1
            while i < n and text[i] not in '"\n':
                i += 2 if text[i] == "\\" else 1
        elif c == "`":
            end = text.find("`", i + 1)
            i = n if end < 0 else end
        elif c == "#":
            while i < n and text[i] != "\n":
                out[i] = " "
                i += 1
            continue
        i += 1
    return "".join(out)


def _compile(worker: _Worker, sources: list[_Source]) -> tuple[Policy, ...]:
    policy_sources = [s for s in sources if s.rules or s.has_metadata]
    owners: dict[str, _Source] = {}
    for s in policy_sources:
        other = owners.get(s.package)
        if other is not None:
            raise InputError(
                f"{s.file}:1: package {s.package} is already the package of {other.file};"
                " give every policy file its own package"
            )
        owners[s.package] = s
    for s in sources:
        owner = owners.get(s.package)
        if owner is not None and owner is not s:
            raise InputError(
                f"{s.file}:1: package {s.package} is the package of policy {owner.file};"
                " a library needs a package of its own"
            )

    for s in sources:
        reply = worker.call({"op": "add", "name": s.file, "source": s.clean}, f"{s.file}: loading")
        if "error" in reply:
            raise InputError(_syntax_error(s, reply["error"]))

    builtin = _builtin_ids()
    policies: list[Policy] = []
    seen: dict[str, str] = {}
    for s in policy_sources:
        if not s.rules:
            raise InputError(
                f"{s.file}:1: policy has metadata but no `deny` (or `violation`) rule;"
                " a library file must not define metadata"
            )
        meta = _metadata(worker, s)
        if meta.id.upper().startswith("CH-") or meta.id in builtin:
            raise InputError(
                f"{s.file}: policy id {meta.id} collides with the built-in checks (CH-*); choose another prefix"
            )
        if meta.id in seen:
            raise InputError(f"{s.file}: policy id {meta.id} is already used by {seen[meta.id]}")
        seen[meta.id] = s.file
        policies.append(Policy(Check(meta, _not_callable), s.file, s.package, s.rules))

    for p in policies:  # catch what only evaluation reveals (conflicts, recursion) before any scan
        for rule, _line in p.rules:
            reply = worker.call(
                {"op": "query", "q": f"data.{p.package}.{rule}"}, f"{p.where(rule)}: evaluating with an empty input"
            )
            _members(p, rule, reply.get("out", ""), reply.get("error"), "evaluating with an empty input")

    entries = [p.entrypoint(rule) for p in policies for rule, _l in p.rules]
    if entries:
        reply = worker.call({"op": "build", "entries": entries}, "compiling the policies")
        if "error" in reply:
            raise InputError(f"{policies[0].file}: compiling the policies failed: {_first_error(reply['error'])}")
    return tuple(policies)


def _builtin_ids() -> set[str]:
    from customhouse.misconfig.engine import all_checks

    return {c.meta.id for c in all_checks()}


def _metadata(worker: _Worker, s: _Source) -> CheckMeta:
    found: list[tuple[str, Any]] = []
    for name in METADATA_NAMES:
        reply = worker.call({"op": "query", "q": f"data.{s.package}.{name}"}, f"{s.file}: evaluating `{name}`")
        if "error" in reply:
            raise InputError(f"{s.file}: `{name}` cannot be evaluated: {_first_error(reply['error'])}")
        value = _expression(reply.get("out", ""))
        if isinstance(value, _RegoError):
            raise InputError(f"{s.file}: `{name}` cannot be evaluated: {value.message}")
        if value is not _UNDEFINED:
            found.append((name, value))
    line = _METADATA.search(s.clean)
    where = f"{s.file}:{s.clean.count(chr(10), 0, line.start()) + 1 if line else 1}"
    if not found:
        raise InputError(
            f'{s.file}:1: policy has no metadata: define `metadata := {{"id": ..., "title": ...,'
            ' "severity": ..., "file_types": [...]}` as a constant (docs/custom-policies.md)'
        )
    if len(found) > 1:
        raise InputError(f"{where}: define either `metadata` or `__rego_metadata__`, not both")
    return _check_meta(where, found[0][1])


def _check_meta(where: str, m: Any) -> CheckMeta:
    if not isinstance(m, dict):
        raise InputError(f"{where}: metadata must be an object, not {_kind(m)}")
    unknown = sorted(set(m) - set(METADATA_KEYS))
    if unknown:
        raise InputError(f"{where}: unknown metadata key {unknown[0]!r} (known: {', '.join(METADATA_KEYS)})")
    pid = m.get("id")
    if not isinstance(pid, str) or not _ID.fullmatch(pid):
        raise InputError(f"{where}: metadata id {pid!r} must be a string like ORG-001 (letters, digits, - _ .)")
    title = m.get("title")
    if not isinstance(title, str) or not title.strip():
        raise InputError(f"{where}: metadata of {pid} needs a non-empty `title`")
    sev = m.get("severity")
    if not isinstance(sev, str) or sev.lower() not in SEVERITIES:
        raise InputError(f"{where}: {pid} has invalid severity {sev!r} (one of {', '.join(SEVERITIES)})")
    fts = m.get("file_types")
    if isinstance(fts, str):
        fts = [fts]
    if not isinstance(fts, list) or not fts:
        raise InputError(f"{where}: {pid} needs `file_types`, a list of: {', '.join(FILE_TYPES)}")
    for ft in fts:
        if ft not in FILE_TYPES:
            raise InputError(f"{where}: {pid} has unknown file type {ft!r} (one of {', '.join(FILE_TYPES)})")
    texts = {}
    for key in ("description", "rationale", "remediation"):
        v = m.get(key, "")
        if not isinstance(v, str):
            raise InputError(f"{where}: {pid} `{key}` must be a string")
        texts[key] = v.strip()
    refs = m.get("references", [])
    if not isinstance(refs, list) or not all(isinstance(r, str) for r in refs):
        raise InputError(f"{where}: {pid} `references` must be a list of strings")
    fw = m.get("frameworks", {})
    if not isinstance(fw, dict):
        raise InputError(f"{where}: {pid} `frameworks` must be an object")
    for k, v in fw.items():
        if k not in FRAMEWORK_KEYS:
            raise InputError(f"{where}: {pid} has unknown framework {k!r} (known: {', '.join(FRAMEWORK_KEYS)})")
        if not isinstance(v, str):
            raise InputError(f'{where}: {pid} framework {k} must be a string such as "4.1"')
    return CheckMeta(
        id=pid,
        title=" ".join(title.split()),
        severity=sev.lower(),  # type: ignore[arg-type]
        file_types=tuple(dict.fromkeys(fts)),
        description=texts["description"] or " ".join(title.split()),
        rationale=texts["rationale"],
        remediation=texts["remediation"],
        references=tuple(refs),
        frameworks=Framework(**fw),
    )


def _kind(v: Any) -> str:
    if isinstance(v, dict):
        return "an object"
    if isinstance(v, list):
        return "a set or array"
    if isinstance(v, str):
        return "a string"
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, int | float):
        return "a number"
    return "null"


# ------------------------------------------------------------------------------ rego-cpp output


class _Undefined:
    pass


_UNDEFINED = _Undefined()


@dataclass(frozen=True)
class _RegoError:
    message: str


def _expression(out: str) -> Any:
    """The value of a single-expression query, `_UNDEFINED`, or a `_RegoError`."""
    text = out.strip()
    if text == "undefined" or not text:
        return _UNDEFINED
    if text.startswith("("):
        return _RegoError(_first_error(text))
    try:
        doc = json.loads(text)
    except ValueError:
        return _RegoError(
            "rego-cpp returned a result that is not valid JSON (a rego-cpp string bug, see"
            f" docs/custom-policies.md): {text[:200]}"
        )
    if isinstance(doc, list):  # several results: a query with bindings, which ours never are
        doc = doc[0] if doc else {}
    exprs = doc.get("expressions", []) if isinstance(doc, dict) else []
    return exprs[0] if exprs else _UNDEFINED


def _sexp_strings(text: str, tag: str) -> Iterator[tuple[str, int]]:
    """Length-prefixed strings after `(tag `: rego-cpp writes `(errormsg 16:this is unclosed)`."""
    raw = text.encode("utf-8")
    for m in re.finditer(rb"\(" + tag.encode() + rb" (\d+):", raw):
        n = int(m.group(1))
        yield raw[m.end() : m.end() + n].decode("utf-8", "replace"), m.end() + n


def _first_error(text: str) -> str:
    msgs = [m for m, _ in _sexp_strings(text, "errormsg")]
    if not msgs:
        return " ".join(text.split())[:300]
    more = f" (and {len(msgs) - 1} more)" if len(msgs) > 1 else ""
    return msgs[0] + more


def _syntax_error(s: _Source, text: str) -> str:
    """`file:line:col: message` from rego-cpp's `(error N:file|offset|length (errormsg N:...))`."""
    raw = text.encode("utf-8")
    errors = []
    for m in re.finditer(rb"\(error (\d+):", raw):
        n = int(m.group(1))
        rest = raw[m.end() + n :]
        pos = re.match(rb"\|(\d+)\|(\d+)", rest)
        msg = next(_sexp_strings(rest.decode("utf-8", "replace"), "errormsg"), ("", 0))[0]
        errors.append((int(pos.group(1)) if pos else -1, msg))
    if not errors:
        return f"{s.file}: {_first_error(text)}"
    offset, msg = errors[0]
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    if offset < 0:
        return f"{s.file}: {msg}{more}"
    line, col = s.line_col(offset)
    src = s.text.splitlines()[line - 1].strip() if line <= len(s.text.splitlines()) else ""
    return f"{s.file}:{line}:{col}: {msg}{more}" + (f": {src[:80]}" if src else "")


def _members(p: Policy, rule: str, out: str, error: str | None, doing: str) -> list[Any]:
    if error:
        raise InputError(f"{p.where(rule)}: {doing}: {_first_error(error)}")
    value = _expression(out)
    if isinstance(value, _RegoError):
        raise InputError(f"{p.where(rule)}: {doing}: {value.message}")
    if value is _UNDEFINED:
        return []
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        raise InputError(
            f"{p.where(rule)}: `{rule}` is an object, not a set (Rego v1 reads `{rule}[x] {{...}}` as an object);"
            f" write `{rule} contains x if {{...}}` with `import rego.v1`"
        )
    raise InputError(f"{p.where(rule)}: `{rule}` must be a set, not {_kind(value)}")


# ------------------------------------------------------------------------------ evaluation


class PolicySet:
    """Loaded policies plus the worker that evaluates them; close it (or use `with`) when done."""

    def __init__(self, policies: tuple[Policy, ...], worker: _Worker) -> None:
        self.policies = policies
        self._worker = worker
        self._finalizer = weakref.finalize(self, worker.close)

    def __enter__(self) -> PolicySet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._finalizer()

    def checks(self) -> list[Check]:
        """The policies as checks (metadata only), for listings next to the built-ins."""
        return [p.check for p in self.policies]

    def evaluate(
        self, doc: Document, options: Options | None = None, skip: Iterable[str] = (), target: str = ""
    ) -> list[Finding]:
        from customhouse.misconfig.runner import to_finding

        skipped = set(skip)
        wanted = [p for p in self.policies if doc.file_type in p.check.meta.file_types and p.id not in skipped]
        if not wanted:
            return []
        out: list[Finding] = []
        for value, locator in build_inputs(doc):
            reply = self._worker.call(_InputLine(value), f"{doc.path}: passing the input to the policies")
            if "error" in reply:
                raise InputError(f"{doc.path}: the policies' input was refused: {_first_error(reply['error'])}")
            for p in wanted:
                for rule, _line in p.rules:
                    reply = self._worker.call(
                        {"op": "eval", "entry": p.entrypoint(rule)}, f"{p.where(rule)}: evaluating {doc.path}"
                    )
                    found = _members(p, rule, reply.get("out", ""), reply.get("error"), f"evaluating {doc.path}")
                    for member in found:
                        v = to_violation(p, rule, doc, member, locator)
                        out.append(to_finding(doc, p.check, v, target, source=f"rego:{p.file}"))
        return out


def to_violation(p: Policy, rule: str, doc: Document, member: Any, locator: Any = None) -> Violation:
    """A `deny` member as a Violation: a message string, or an object (docs/custom-policies.md)."""
    where = f"{p.where(rule)} on {doc.path}"
    resource = _resource(locator) if doc.file_type == "kubernetes" else ("", "", "")
    if isinstance(member, str):
        if not member.strip():
            raise InputError(f"{where}: empty message")
        return Violation(
            message=member, resource_kind=resource[0], resource_namespace=resource[1], resource_name=resource[2]
        )
    if not isinstance(member, dict):
        raise InputError(f"{where}: a result must be a string or an object with `msg`, not {_kind(member)}")
    unknown = sorted(set(member) - set(RESULT_KEYS))
    if unknown:
        raise InputError(f"{where}: unknown result key {unknown[0]!r} (known: {', '.join(RESULT_KEYS)})")
    msg = member.get("msg", member.get("message"))
    if not isinstance(msg, str) or not msg.strip():
        raise InputError(f"{where}: a result object needs a non-empty string `msg`")

    def text(key: str) -> str:
        v = member.get(key, "")
        if not isinstance(v, str):
            raise InputError(f"{where}: result `{key}` must be a string, not {_kind(v)}")
        return v

    def number(key: str) -> int:
        v = member.get(key, 0)
        if isinstance(v, bool) or not isinstance(v, int | float) or v != int(v) or v < 0:
            raise InputError(f"{where}: result `{key}` must be a non-negative integer, not {v!r}")
        return int(v)

    line, end_line, column = number("line"), number("end_line"), number("column")
    jpath = text("json_path")
    path = member.get("path")
    if path is not None:
        if not isinstance(path, list) or not all(isinstance(x, str | int) and not isinstance(x, bool) for x in path):
            raise InputError(f"{where}: result `path` must be an array of keys and indices")
        keys = tuple(path)
        from customhouse.misconfig.yamlsrc import json_path

        jpath = jpath or json_path(keys)
        if not line and locator is not None and hasattr(locator, "line"):
            line = int(locator.line(keys))
            if not column and hasattr(locator, "column"):
                column = int(locator.column(keys))
    n_lines = len(doc.lines)
    for key, v in (("line", line), ("end_line", end_line)):
        if v > n_lines:
            raise InputError(f"{where}: result `{key}` {v} is past the end of {doc.path} ({n_lines} lines)")
    if end_line and end_line < line:
        raise InputError(f"{where}: result `end_line` {end_line} is before `line` {line}")
    extra = member.get("extra", {})
    if not isinstance(extra, dict):
        raise InputError(f"{where}: result `extra` must be an object of strings")
    replacement = text("replacement")
    if replacement and line and not replacement[:1].isspace():
        # Policies cannot see the raw lines; the replacement keeps the indentation of the
        # line it replaces, so `"replacement": "privileged: false"` stays valid YAML.
        first = (text("snippet") or doc.source(line, end_line)).split("\n", 1)[0]
        replacement = first[: len(first) - len(first.lstrip())] + replacement
    res = member.get("resource")
    if res is not None:
        if not isinstance(res, dict) or not all(k in ("kind", "namespace", "name") for k in res):
            raise InputError(f"{where}: result `resource` must be an object with kind, namespace, name")
        resource = (str(res.get("kind", "")), str(res.get("namespace", "")), str(res.get("name", "")))
    return Violation(
        message=" ".join(msg.split()),
        line=line,
        column=column if line else 0,
        end_line=end_line,
        snippet=text("snippet"),
        fix=text("fix"),
        replacement=replacement,
        json_path=jpath,
        extra=tuple(sorted((str(k), v if isinstance(v, str) else json.dumps(v)) for k, v in extra.items())),
        resource_kind=resource[0],
        resource_namespace=resource[1],
        resource_name=resource[2],
    )


def _resource(locator: Any) -> tuple[str, str, str]:
    """(kind, namespace, name): Kubernetes documents name their resource, findings say which."""
    data = getattr(locator, "data", None)
    if not isinstance(data, dict) or not isinstance(data.get("kind"), str):
        return ("", "", "")
    meta = data.get("metadata")
    if not isinstance(meta, dict):
        meta = {}
    return (data["kind"], str(meta.get("namespace") or ""), str(meta.get("name") or ""))


# ------------------------------------------------------------------------------ input documents


def build_inputs(doc: Document) -> list[tuple[dict[str, Any], Any]]:
    """The `input` documents for one file (docs/custom-policies.md), each with the object that
    resolves a result's `path` to a line (a YAML document, a TOML file) or None.

    A YAML stream gives one input per document, so a rule sees one Kubernetes resource at a
    time, as built-in checks do.
    """
    base: dict[str, Any] = {"file_type": doc.file_type, "path": doc.path}
    data = doc.data
    ft = doc.file_type
    if ft in ("compose", "docker-daemon", "kubelet", "kubernetes") and isinstance(data, list):
        out = []
        for d in data:
            value = {
                **base,
                "document_index": getattr(d, "index", 0),
                "start_line": getattr(d, "start_line", 1),
                "data": jsonable(getattr(d, "data", d)),
                "lines": _lines_map(getattr(d, "positions", {})),
            }
            out.append((value, d))
        return out
    if ft == "containerd" and hasattr(data, "lines"):
        value = {**base, "data": jsonable(data.data), "lines": _lines_map({k: (v, 0) for k, v in data.lines.items()})}
        return [(value, data)]
    if ft == "dockerfile":
        return [({**base, **_dockerfile_input(doc)}, None)]
    if ft == "image-config":
        return [({**base, **_image_config_input(doc)}, None)]
    model = jsonable(data)
    return [({**base, **model} if isinstance(model, dict) else {**base, "data": model}, None)]


def _lines_map(positions: Mapping[tuple[Any, ...], tuple[int, int]]) -> dict[str, int]:
    """`{"services.web.privileged": 7, "services.web.ports.0": 9}`: key paths joined by dots."""
    out: dict[str, int] = {}
    for path, pos in positions.items():
        out.setdefault(".".join(str(p) for p in path), int(pos[0]))
    return dict(sorted(out.items()))


def _model_input(doc: Document) -> dict[str, Any]:
    """A parser model that knows its policy view says so with `to_input()`; others are
    converted field by field."""
    to_input = getattr(doc.data, "to_input", None)
    model = jsonable(to_input()) if callable(to_input) else jsonable(doc.data)
    return model if isinstance(model, dict) else {"data": model}


def _dockerfile_input(doc: Document) -> dict[str, Any]:
    """The Dockerfile model's own view (`DockerfileModel.to_input`), plus each RUN's scripts in
    full (`instructions[].scripts`): operators, conditions, nesting and decoded package-manager
    calls, which rules about commands need and the compact `commands` list leaves out."""
    out = _model_input(doc)
    items = out.get("instructions")
    instructions = getattr(doc.data, "instructions", None)
    if isinstance(items, list) and isinstance(instructions, list) and len(items) == len(instructions):
        for item, ins in zip(items, instructions, strict=True):
            scripts = getattr(ins, "scripts", ())
            if scripts and isinstance(item, dict):
                item["scripts"] = [_run_script_input(rs) for rs in scripts]
    return out


def _run_script_input(rs: Any) -> dict[str, Any]:
    out = shell_input(rs.script)
    for item, cmd in zip(out["commands"], rs.script.commands, strict=True):
        item["line"] = rs.line_of(cmd)
    out["origin"] = rs.origin
    return out


def _image_config_input(doc: Document) -> dict[str, Any]:
    """The image's config, history and layers (`ImageConfig.to_input`) plus its final
    filesystem as `files`, keyed by path, when the document has one."""
    out = _model_input(doc)
    fs = getattr(doc.data, "fs", None)
    if fs is not None and "files" not in out:
        files: dict[str, Any] = {}
        try:
            entries = iter(fs)
        except TypeError:
            entries = iter(())
        for info, layer in entries:
            if len(files) >= MAX_IMAGE_FILES:
                out["files_truncated"] = True
                break
            files[info.path] = {
                "kind": info.kind,
                "size": info.size,
                "mode": info.mode,
                "mode_octal": f"{info.mode & 0o7777:04o}",
                "uid": info.uid,
                "gid": info.gid,
                "linkname": info.linkname,
                "layer": layer,
            }
        out["files"] = dict(sorted(files.items()))
    return out


def jsonable(value: Any, depth: int = 0) -> Any:
    """A JSON value for rego-cpp: dataclasses as objects (private fields left out), keys as
    strings, dates as ISO text; what JSON cannot hold (NaN, bytes) as text."""
    if depth > MAX_INPUT_DEPTH:
        raise InputError(f"input nests more than {MAX_INPUT_DEPTH} levels deep")
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value if -(2**63) <= value < 2**63 else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Enum):
        return jsonable(value.value, depth + 1)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "replace")
    if type(value).__name__ == "ShellScript" and type(value).__module__ == "customhouse.misconfig.shell":
        return shell_input(value)
    if is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: jsonable(getattr(value, f.name), depth + 1) for f in fields(value) if not f.name.startswith("_")
        }
    if isinstance(value, Mapping):
        return {_key(k): jsonable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        items = [jsonable(v, depth + 1) for v in value]
        return sorted(items, key=lambda x: json.dumps(x, sort_keys=True))
    if isinstance(value, list | tuple):
        return [jsonable(v, depth + 1) for v in value]
    return str(value)


def shell_input(script: Any) -> dict[str, Any]:
    """A parsed RUN script (customhouse/misconfig/shell.py) as policies read it: argv as plain
    strings, commands and package-manager calls by index, as the built-in checks see them."""
    return {
        "source": script.source,
        "parser": script.parser,
        "errexit": script.errexit,
        "pipefail": script.pipefail,
        "parameters": sorted(script.parameters),
        "commands": [
            {
                "name": c.name,
                "argv": list(c.argv),
                "assignments": list(c.assignments),
                "redirects": [[op, target] for op, target in c.redirects],
                "start": c.start,
                "end": c.end,
                "pipeline": c.pipeline,
                "pipe_pos": c.pipe_pos,
                "parent": c.parent,
                "via": c.via,
                "operator": c.operator,
                "subshell": c.subshell,
                "conditional": c.conditional,
            }
            for c in script.commands
        ],
        "pipelines": [{"commands": list(p.commands), "negated": p.negated} for p in script.pipelines],
        "packages": [
            {
                "manager": op.manager,
                "action": op.action,
                "raw_action": op.raw_action,
                "options": [[name, value] for name, value in op.options],
                "packages": [w.text for w in op.packages],
                "command": op.command,
            }
            for op in script.packages
        ],
    }


def _key(k: Any) -> str:
    if isinstance(k, bool):
        return "true" if k else "false"
    if k is None:
        return "null"
    return k if isinstance(k, str) else str(k)


# ------------------------------------------------------------------------------ the worker


@dataclass(frozen=True)
class _InputLine:
    """A new input document, sent as `I<json>` so the worker hands the JSON text to rego-cpp
    without decoding it.

    rego-cpp keeps strings it parsed from JSON in escaped form, which its output and its
    comparisons with string literals agree on; strings handed over as Python values (regopy's
    `Input`) are kept raw and then written out unescaped, so a quote in a Dockerfile line would
    make the result unreadable and `x == "\\""` could never be true.
    """

    value: dict[str, Any]

    def encode(self) -> bytes:
        return json.dumps(self.value, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "replace")


class _Worker:
    """A child process holding the rego-cpp interpreters; one JSON request, one JSON reply.

    Requests go to its stdin, replies come back on its original stdout (its fd 1 is pointed at
    /dev/null so rego-cpp's own printing goes nowhere). Each call has a deadline; while waiting
    the parent checks the child's resident memory. Either limit kills the child and raises.
    """

    def __init__(self, timeout: float, memory_limit: int) -> None:
        self.timeout = timeout
        self.memory_limit = memory_limit
        self._buf = bytearray()
        self._stderr: IO[bytes] = tempfile.TemporaryFile()
        pkg_root = str(Path(__file__).resolve().parents[2])
        # Policies can read the environment (`opa.runtime().env`) and put it in a message that
        # ends up in a PR comment: the worker gets only what Python needs, never CI secrets.
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "PYTHONPATH": os.pathsep.join(filter(None, [pkg_root, os.environ.get("PYTHONPATH")])),
        }
        code = "from customhouse.misconfig.rego import _worker_main; _worker_main()"
        self._proc: subprocess.Popen[bytes] | None = subprocess.Popen(
            [sys.executable, "-c", code],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=env,
            close_fds=True,
        )
        hello = self.call({"op": "hello"}, "starting the Rego engine")
        if "missing" in hello:
            self.close()
            raise UsageError(
                f"custom policies need the regopy package (rego-cpp), which cannot be imported: {hello['missing']}"
            )

    def call(self, request: dict[str, Any] | _InputLine, what: str) -> dict[str, Any]:
        proc = self._proc
        if proc is None or proc.stdin is None or proc.stdout is None:
            raise InputError(f"{what}: the Rego engine is not running (an earlier policy failed)")
        if isinstance(request, _InputLine):
            data = b"I" + request.encode() + b"\n"
        else:
            data = json.dumps(request, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "replace") + b"\n"
        try:
            proc.stdin.write(data)
            proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise InputError(f"{what}: the Rego engine stopped ({self._died()})") from None
        deadline = time.monotonic() + self.timeout
        fd = proc.stdout.fileno()
        while True:
            nl = self._buf.find(b"\n")
            if nl >= 0:
                line = bytes(self._buf[:nl])
                del self._buf[: nl + 1]
                reply: dict[str, Any] = json.loads(line)
                return reply
            left = deadline - time.monotonic()
            if left <= 0:
                self.close()
                raise InputError(
                    f"{what}: no result within {self.timeout:g} s, stopped (a rule that never ends or is too"
                    " expensive for this input)"
                )
            ready, _, _ = select.select([fd], [], [], min(left, _POLL))
            if ready:
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    raise InputError(f"{what}: the Rego engine stopped ({self._died()})")
                self._buf += chunk
            else:
                rss = _rss(proc.pid)
                if rss > self.memory_limit:
                    self.close()
                    raise InputError(
                        f"{what}: used more than {self.memory_limit >> 20} MiB of memory, stopped"
                        " (a rule that builds huge values)"
                    )

    def _died(self) -> str:
        proc = self._proc
        code = proc.wait(timeout=5) if proc is not None else None
        self._stderr.seek(0)
        tail = self._stderr.read()[-300:].decode("utf-8", "replace").strip().splitlines()
        self.close()
        why = f"signal {-code}" if code is not None and code < 0 else f"exit status {code}"
        return why + (f": {tail[-1]}" if tail else "")

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            if proc.stdin is not None:
                proc.stdin.close()
        except OSError:
            pass
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        self._stderr.close()


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm", "rb") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _worker_main() -> None:
    """The child's loop: rego-cpp calls only, everything else stays in the parent."""
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    sys.stdout = open(os.devnull, "w")  # for the life of the process

    def send(obj: dict[str, Any]) -> None:
        out.write(json.dumps(obj, separators=(",", ":"), ensure_ascii=False) + "\n")
        out.flush()

    try:
        import regopy
        from regopy import rego_shared as rs
    except ImportError as exc:
        for _ in sys.stdin:
            send({"missing": str(exc)})
        return

    def output(impl: Any) -> str:
        try:
            text: str = rs.rego_output_string(impl)
            return text
        finally:
            rs.rego_free_output(impl)

    compiler = regopy.Interpreter()
    compiler.set_input({})
    runner = regopy.Interpreter()
    bundle: Any = None
    for raw in sys.stdin.buffer:
        if raw.startswith(b"I"):
            try:
                rs.rego_set_input_term(runner._impl, raw[1:].decode("utf-8").rstrip("\n"))
                send({"ok": True})
            except regopy.RegoError as exc:
                send({"error": str(exc)})
            continue
        req = json.loads(raw)
        op = req.get("op")
        try:
            if op == "hello":
                send({"ok": True})
            elif op == "add":
                compiler.add_module(req["name"], req["source"])
                send({"ok": True})
            elif op == "query":
                send({"out": output(rs.rego_query(compiler._impl, req["q"]))})
            elif op == "build":
                bundle = compiler.build(None, req["entries"])
                send({"ok": True} if bundle.ok() else {"error": "the bundle did not build"})
            elif op == "eval":
                send({"out": output(rs.rego_bundle_query_entrypoint(runner._impl, bundle._impl, req["entry"]))})
            else:
                send({"error": f"unknown request {op!r}"})
        except regopy.RegoError as exc:
            send({"error": str(exc)})
        except Exception as exc:
            send({"error": f"{type(exc).__name__}: {exc}"})
