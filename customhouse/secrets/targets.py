"""Secrets in every target: image layers, image configuration, manifests and directory trees.

The engine (`customhouse.secrets.engine`) finds secrets in bytes; this module turns its matches
into `Finding`s for each kind of target and is the one place the CLI, the image scan and the
misconfiguration runner call:

- `layer_findings(analysis)`: what the `secrets` analyzer found in every layer, files deleted or
  overwritten in later layers included ("removed in layer N, still extractable from layer M"),
  text members of Java archives too (`app.war!/WEB-INF/classes/application.properties`);
- `image_config_findings(analysis)`: `Env`, `Labels` and `history[].created_by` of the config;
- `document_findings(doc)`: one parsed `config` document (its text, plus the base64-decoded
  `data` of Kubernetes Secrets and the `env` values of manifests and compose files);
- `scan_directory(root)`: `customhouse fs PATH`, optionally skipping what `.gitignore` ignores;
  Kubernetes manifests in the tree go through `document_findings`, as in `customhouse config`.

Findings never carry the raw secret: `SecretDetail.secret`/`match` and messages are redacted and
the finding's fingerprint is the engine's (rule id + secret), stable wherever the secret moves.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import stat
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from customhouse.errors import InputError
from customhouse.model import Inventory, LayerInfo
from customhouse.report.findings import Finding, Location, SecretDetail, Severity
from customhouse.secrets.archives import archive_members, is_archive
from customhouse.secrets.engine import SNIFF_BYTES, Scanner, SecretConfig, SecretMatch, is_binary, redact

if TYPE_CHECKING:
    from customhouse.image.fs import Removal
    from customhouse.image.scan import ImageAnalysis
    from customhouse.misconfig.engine import Document

SECRETS_ANALYZER = "secrets"
#: Directories of version-control internals, never scanned by `customhouse fs`.
VCS_DIRS = frozenset({".git", ".hg", ".svn"})
MAX_GITIGNORE_BYTES = 1 << 20
MAX_DECODED_VALUE = 4 << 20  # a Kubernetes Secret value larger than this is not decoded
_SEVERITIES = frozenset({"critical", "high", "medium", "low", "info", "unknown"})

_SCANNERS: dict[tuple[str, SecretConfig], Scanner] = {}


def get_scanner(cache_dir: Path | str | None = None, config: SecretConfig | None = None) -> Scanner:
    """One compiled scanner per process and configuration (compiling the rules takes seconds;
    with `cache_dir` the Hyperscan database is reused between processes)."""
    cfg = config or SecretConfig()
    if cache_dir is not None and cfg.cache_dir is None:
        cfg = replace(cfg, cache_dir=str(cache_dir))
    key = (os.environ.get("CUSTOMHOUSE_SECRETS_BACKEND", ""), cfg)
    scanner = _SCANNERS.get(key)
    if scanner is None:
        scanner = _SCANNERS[key] = Scanner.create(cfg)
    return scanner


def default_scanner() -> Scanner:
    from customhouse.cachedir import default_cache_dir

    return get_scanner(default_cache_dir())


# ---------------------------------------------------------------------------- findings


def match_dict(m: SecretMatch) -> dict[str, Any]:
    """What is kept of a match (redacted: safe for caches and reports)."""
    return m.to_dict()


@dataclass(frozen=True)
class Place:
    """Where a match is, beyond its own line and column."""

    target: str = ""
    path: str = ""
    origin: str = "file"
    json_path: str = ""
    resource: tuple[str, str, str] = ("", "", "")  # kind, namespace, name
    line: int = 0  # overrides the match's line (a decoded value is located by its key)
    column: int = 0
    layer: LayerInfo | None = None
    removal: Removal | None = None
    removed_by: LayerInfo | None = None
    where: str = ""  # how the message names the place


def _layer_label(info: LayerInfo | None, index: int) -> str:
    short = info.diff_id.partition(":")[2][:12] if info is not None else ""
    return f"layer {index + 1} ({short})" if short else f"layer {index + 1}"


def make_finding(d: Mapping[str, Any], place: Place, scrub: Sequence[str] = ()) -> Finding:
    """A `Finding` from a (redacted) match dict and its place."""
    severity = str(d.get("severity", "unknown"))
    sev: Severity = severity if severity in _SEVERITIES else "unknown"  # type: ignore[assignment]
    line = place.line or int(d.get("line", 0))
    column = place.column if place.line else int(d.get("column", 0))
    end_line = place.line or int(d.get("end_line", line))
    shown = str(d.get("secret", ""))
    where = place.where or (f"{place.path}:{line}" if place.path else place.json_path)
    message = f"{d.get('title', 'Secret')} [{shown}] in {where}"
    layer = place.layer
    added = layer.index if layer is not None else -1
    removed = place.removal.removed_in if place.removal is not None else -1
    if layer is not None:
        message += f", added in {_layer_label(layer, added)}"
        if place.removal is not None:
            how = {"whiteout": "deleted", "opaque": "hidden by an opaque directory", "overwritten": "overwritten"}
            message += (
                f"; {how.get(place.removal.how, 'removed')} in {_layer_label(place.removed_by, removed)}, "
                f"still extractable from layer {added + 1}"
            )
    created_by = scrub_text(layer.created_by, scrub) if layer is not None else ""
    kind, ns, name = place.resource
    f = Finding(
        id=str(d.get("rule_id", "")),
        kind="secret",
        severity=sev,
        title=str(d.get("title", "")),
        message=message,
        target=place.target,
        location=Location(
            path=place.path,
            line=line,
            column=column,
            end_line=end_line,
            layer_digest=layer.diff_id if layer is not None else "",
            layer_index=added,
            created_by=created_by,
            resource_kind=kind,
            resource_namespace=ns,
            resource_name=name,
            json_path=place.json_path,
        ),
        fix="Revoke and rotate this credential, then remove it from the source"
        + (" and rebuild the image without it (deleting it in a later layer does not remove it)" if layer else "")
        + "; pass secrets at run time (secret mounts, environment from a secret store) instead.",
        fingerprint=str(d.get("fingerprint", "")),
        secret=SecretDetail(
            category=str(d.get("category", "")),
            provider=str(d.get("provider", "")),
            secret=shown,
            match=str(d.get("match", "")),
            validated=d.get("validated") if isinstance(d.get("validated"), bool) else None,
            entropy=float(d.get("entropy", 0.0)),
            end_column=place.column if place.line else int(d.get("end_column", 0)),
            origin=place.origin,
            added_in_layer=added,
            removed_in_layer=removed,
            removal=place.removal.how if place.removal is not None else "",
            removed_by=scrub_text(place.removed_by.created_by, scrub) if place.removed_by is not None else "",
        ),
    )
    return f


def scrub_text(text: str, secrets: Iterable[str]) -> str:
    """`text` with every raw secret in `secrets` replaced by its redaction."""
    for s in secrets:
        if s and s in text:
            text = text.replace(s, redact(s))
    return text


# ---------------------------------------------------------------------------- image layers


def layer_findings(analysis: ImageAnalysis, target: str = "", scrub: Sequence[str] = ()) -> list[Finding]:
    """Findings of the `secrets` analyzer in every layer, deleted and overwritten files included."""
    layers = analysis.layers
    if not any(SECRETS_ANALYZER in lr.results for lr in layers):
        return []
    infos = list(analysis.layer_infos)
    removals: dict[tuple[str, int], Removal] = {}
    for r in analysis.fs.removals:
        removals.setdefault((r.path, r.added_in), r)
    out: list[Finding] = []
    for i, lr in enumerate(layers):
        info = infos[i] if i < len(infos) else LayerInfo(index=i, digest="", diff_id=lr.diff_id)
        for path, res in lr.results.get(SECRETS_ANALYZER, []):
            rem = removals.get((path, i))
            by = infos[rem.removed_in] if rem is not None and 0 <= rem.removed_in < len(infos) else None
            for note in res.notes:
                if note.kind != "secret":
                    continue
                d = note.data
                # A member of a Java archive is named `ARCHIVE!/MEMBER`; the layer facts are the archive's.
                shown = str(d.get("path", ""))
                shown = shown if shown.startswith(path + "!/") else path
                place = Place(
                    target=target,
                    path=shown,
                    origin="layer-file",
                    layer=info if analysis.layer_infos and info.diff_id else _rootfs_layer(info, analysis),
                    removal=rem,
                    removed_by=by,
                    where=f"/{shown}:{d.get('line', 0)}",
                )
                out.append(make_finding(d, place, scrub))
    return out


def _rootfs_layer(info: LayerInfo, analysis: ImageAnalysis) -> LayerInfo | None:
    """A root filesystem (`dir:`) is one pseudo-layer: no layer to name."""
    return info if info.diff_id or len(analysis.layer_infos) > 1 else None


# ---------------------------------------------------------------------------- image config


def image_config_findings(
    analysis: ImageAnalysis, scanner: Scanner | None = None, target: str = ""
) -> tuple[list[Finding], list[str]]:
    """Secrets in the config's `Env`, `Labels` and `history[].created_by`.

    Returns the findings and the raw secrets found (for `scrub_inventory`: history entries are
    also printed as layers' `created_by`); the raw secrets must never be printed."""
    sc = scanner or default_scanner()
    t = analysis.inventory.target
    out: list[Finding] = []
    raw: list[str] = []

    def scan(text: str, json_path: str, origin: str, what: str) -> None:
        data = text.encode("utf-8", "surrogateescape")
        for m in sc.scan(data, ""):
            raw.append(m.secret)
            where = f"{what} (line {m.line})" if "\n" in text.strip() else what
            out.append(
                make_finding(match_dict(m), Place(target=target, origin=origin, json_path=json_path, where=where))
            )

    env = t.config.get("Env") if isinstance(t.config, Mapping) else None
    for i, item in enumerate(env if isinstance(env, list) else []):
        if isinstance(item, str):
            scan(item, f"$.config.Env[{i}]", "image-env", f"the image's Env[{i}]")
    labels = t.config.get("Labels") if isinstance(t.config, Mapping) else None
    if isinstance(labels, Mapping):
        for k in sorted(labels, key=str):
            jp = f"$.config.Labels[{_quote(str(k))}]"
            scan(f"{k}={labels[k]}", jp, "image-label", f"the image's label {_quote(str(k))}")
    for i, step in enumerate(t.history):
        cb = step.get("created_by") if isinstance(step, Mapping) else None
        if isinstance(cb, str) and cb:
            scan(cb, f"$.history[{i}].created_by", "image-history", f"history step {i + 1} (created_by)")
    return out, raw


def _quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def scrub_inventory(inv: Inventory, secrets: Sequence[str]) -> Inventory:
    """The inventory with raw secrets redacted from its layers' `created_by` (reports print them)."""
    if not secrets:
        return inv
    layers = tuple(replace(li, created_by=scrub_text(li.created_by, secrets)) for li in inv.layers)
    return replace(inv, layers=layers)


def scrub_findings(findings: Iterable[Finding], secrets: Sequence[str]) -> list[Finding]:
    """Other scanners' findings with raw secrets redacted from the texts that quote the image."""
    out = []
    for f in findings:
        if not secrets:
            out.append(f)
            continue
        loc = replace(f.location, created_by=scrub_text(f.location.created_by, secrets))
        g = replace(f, message=scrub_text(f.message, secrets), fix=scrub_text(f.fix, secrets), location=loc)
        m = f.misconfiguration
        if m is not None:
            g = replace(
                g,
                misconfiguration=replace(
                    m,
                    snippet=scrub_text(m.snippet, secrets),
                    replacement=scrub_text(m.replacement, secrets),
                    extra=tuple((k, scrub_text(v, secrets)) for k, v in m.extra),
                ),
            )
        out.append(g)
    return out


# ---------------------------------------------------------------------------- config documents


def document_findings(doc: Document, target: str = "", scanner: Scanner | None = None) -> list[Finding]:
    """Secrets in one parsed `config` document: its text, then what the text hides or splits:
    base64 `data`/`binaryData` of Kubernetes Secrets and ConfigMaps (decoded), and `env` entries
    of manifests and compose files (`name:` and `value:` on separate lines)."""
    from customhouse.misconfig.runner import _inline_suppression

    sc = scanner or default_scanner()
    out: list[Finding] = []
    seen: set[tuple[str, int]] = set()

    def add(f: Finding) -> None:
        key = (f.fingerprint, f.location.line)
        if key in seen:
            return
        seen.add(key)
        sup = _inline_suppression(doc, f.location.line, f.id)
        out.append(replace(f, suppressed=sup) if sup is not None else f)

    encoded = _encoded_value_lines(doc)
    for m in sc.scan(doc.text.encode("utf-8", "surrogateescape"), doc.path):
        if m.line in encoded and m.category == "generic":
            continue  # the base64 of a Secret value: its decoded content is scanned below
        add(make_finding(match_dict(m), Place(target=target, path=doc.path, origin="file")))
    if doc.file_type in ("kubernetes", "compose") and isinstance(doc.data, list):
        for ld in doc.data:
            for f in _structured(doc, ld, sc, target):
                add(f)
    return out


def _encoded_value_lines(doc: Document) -> set[int]:
    """Lines of base64 values (Secret `data`, `binaryData`) in a Kubernetes manifest."""
    lines: set[int] = set()
    if doc.file_type != "kubernetes" or not isinstance(doc.data, list):
        return lines
    for ld in doc.data:
        data = getattr(ld, "data", None)
        if not isinstance(data, Mapping):
            continue
        for section in ("data", "binaryData") if data.get("kind") == "Secret" else ("binaryData",):
            values = data.get(section)
            if isinstance(values, Mapping):
                lines.update(ld.line((section, k)) for k in values)
    return lines


def _structured(doc: Document, ld: Any, sc: Scanner, target: str) -> Iterator[Finding]:
    from customhouse.misconfig.yamlsrc import json_path

    data = getattr(ld, "data", None)
    if not isinstance(data, Mapping):
        return
    meta = data.get("metadata")
    meta = meta if isinstance(meta, Mapping) else {}
    kind = str(data.get("kind", "")) if doc.file_type == "kubernetes" else ""
    resource = (kind, str(meta.get("namespace", "") or ""), str(meta.get("name", "") or ""))
    if kind in ("Secret", "ConfigMap"):
        # A ConfigMap's `data` is plain text, already scanned on the manifest's own lines.
        for section in ("data", "binaryData") if kind == "Secret" else ("binaryData",):
            values = data.get(section)
            if not isinstance(values, Mapping):
                continue
            for key, value in values.items():
                if not isinstance(value, str):
                    continue
                decoded = _b64(value)
                if decoded is None or is_binary(decoded[:SNIFF_BYTES]):
                    continue
                path = (section, key)
                for m in sc.scan(decoded, str(key).lstrip("./") or "value"):
                    yield make_finding(
                        match_dict(m),
                        Place(
                            target=target,
                            path=doc.path,
                            origin="k8s-secret",
                            json_path=json_path(path),
                            resource=resource,
                            line=ld.line(path),
                            column=ld.column(path),
                            where=f"{doc.path}:{ld.line(path)}, {section} key {_quote(str(key))} "
                            f"(base64-decoded, line {m.line})",
                        ),
                    )
    for path, name, value in _env_entries(data, ()):
        text = f"{name}={value}"
        for m in sc.scan(text.encode("utf-8", "surrogateescape"), ""):
            vpath = (*path, "value") if ld.positions.get((*path, "value")) else path
            yield make_finding(
                match_dict(m),
                Place(
                    target=target,
                    path=doc.path,
                    origin="manifest-env",
                    json_path=json_path(vpath),
                    resource=resource,
                    line=ld.line(vpath),
                    column=ld.column(vpath),
                    where=f"{doc.path}:{ld.line(vpath)}, env {_quote(str(name))}",
                ),
            )


def _b64(value: str) -> bytes | None:
    s = "".join(value.split())
    if not s or len(s) > MAX_DECODED_VALUE * 4 // 3 + 4:
        return None
    try:
        return base64.b64decode(s + "=" * (-len(s) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


_MAX_DEPTH = 64


def _env_entries(node: Any, path: tuple[Any, ...], depth: int = 0) -> Iterator[tuple[tuple[Any, ...], str, str]]:
    """(path, name, value) of every `env:` entry: Kubernetes `[{name, value}]` lists, compose
    `environment:` mappings and `KEY=value` lists, at any depth."""
    if depth > _MAX_DEPTH:
        return
    if isinstance(node, Mapping):
        for k, v in node.items():
            here = (*path, k)
            if k in ("env", "environment") and isinstance(v, list):
                for i, item in enumerate(v):
                    if isinstance(item, Mapping) and isinstance(item.get("value"), str):
                        yield (*here, i), str(item.get("name", "")), str(item["value"])
            elif k == "environment" and isinstance(v, Mapping):
                for name, value in v.items():
                    if isinstance(value, str | int | float) and not isinstance(value, bool):
                        yield (*here, name), str(name), str(value)
            else:
                yield from _env_entries(v, here, depth + 1)
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from _env_entries(item, (*path, i), depth + 1)


# ---------------------------------------------------------------------------- directory trees


@dataclass
class TreeResult:
    findings: list[Finding] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    scanned: int = 0
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> files
    bytes_scanned: int = 0


@dataclass(frozen=True)
class _IgnorePattern:
    regex: re.Pattern[str]
    negate: bool
    dir_only: bool


def _gitignore_regex(pat: str) -> tuple[str, bool]:
    """A gitignore glob as a regex over a path relative to the .gitignore's directory."""
    anchored = "/" in pat.rstrip("/")
    pat = pat.lstrip("/") if anchored else pat
    out: list[str] = []
    i = 0
    while i < len(pat):
        c = pat[i]
        if pat.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pat.startswith("/**", i) and i + 3 == len(pat):
            out.append("/.*")
            i += 3
        elif pat.startswith("**", i):
            out.append(".*")
            i += 2
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "\\" and i + 1 < len(pat):
            out.append(re.escape(pat[i + 1]))
            i += 2
        elif c == "[":
            j = pat.find("]", i + 2)
            if j == -1:
                out.append(re.escape(c))
                i += 1
            else:
                body = pat[i + 1 : j].replace("\\", "\\\\")
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append(f"[{body}]")
                i = j + 1
        else:
            out.append(re.escape(c))
            i += 1
    body = "".join(out)
    return (body if anchored else f"(?:.*/)?{body}"), anchored


def parse_gitignore(text: str) -> list[_IgnorePattern]:
    out: list[_IgnorePattern] = []
    for raw in text.splitlines():
        line = raw.rstrip("\r")
        if not line.strip() or line.startswith("#"):
            continue
        if not line.endswith("\\ "):
            line = line.rstrip(" ")
        negate = line.startswith("!")
        if negate or line.startswith(("\\!", "\\#")):
            line = line[1:]
        dir_only = line.endswith("/")
        line = line.rstrip("/")
        if not line:
            continue
        regex, _ = _gitignore_regex(line)
        try:
            out.append(_IgnorePattern(re.compile(regex, re.DOTALL), negate, dir_only))
        except re.error:
            continue
    return out


class GitIgnore:
    """The `.gitignore` files of a tree, applied as git does (last matching pattern wins; a
    directory that is ignored is not entered, so nothing below it can be re-included)."""

    def __init__(self) -> None:
        self._sets: dict[str, list[_IgnorePattern]] = {}

    def load(self, root: Path, rel_dir: str, warnings: list[str]) -> None:
        p = root / rel_dir / ".gitignore" if rel_dir else root / ".gitignore"
        try:
            st = p.lstat()
            if not stat.S_ISREG(st.st_mode):
                return
            if st.st_size > MAX_GITIGNORE_BYTES:
                warnings.append(f"{p}: .gitignore larger than {MAX_GITIGNORE_BYTES} bytes, not applied")
                return
            text = p.read_bytes().decode("utf-8", "replace")
        except OSError:
            return
        pats = parse_gitignore(text)
        if pats:
            self._sets[rel_dir] = pats

    def ignored(self, rel: str, is_dir: bool) -> bool:
        result = False
        for base, pats in self._sets.items():
            if base:
                if not rel.startswith(base + "/"):
                    continue
                sub = rel[len(base) + 1 :]
            else:
                sub = rel
            for p in pats:
                if p.dir_only and not is_dir:
                    continue
                if p.regex.fullmatch(sub):
                    result = not p.negate
        return result


#: Below this many files (after the allowlist) a tree is scanned in one process. Scanning a file
#: costs tens of microseconds and a bare fork about a millisecond (`customhouse.forking`; the
#: child exits without teardown): on 2 cores a Debian root filesystem's 2,262 files scan 8-13 %
#: faster end to end in two processes (paired runs of `fs`, 25 rounds twice), 46,000 files (a
#: Python installation with site-packages) about 25 % faster.
PARALLEL_MIN_FILES = 1_000
#: Files larger than this have their first SNIFF_BYTES read (and sniffed) before the rest.
READ_WHOLE_BELOW = 64 << 10


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask, which containers and `taskset` narrow)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def scan_directory(
    root: Path,
    scanner: Scanner | None = None,
    respect_gitignore: bool = False,
    exclude: Sequence[str] = (),
    target: str = "",
    jobs: int = 1,
    parallel_min_files: int = PARALLEL_MIN_FILES,
) -> TreeResult:
    """Every regular file under `root` (or `root` itself), never following symlinks and never
    opening FIFOs or devices. Allowlisted paths are skipped without being opened, oversized
    files after an fstat, binary files after their first bytes.

    The walk lists the files first; with `jobs` > 1 (0: every usable CPU) and enough files,
    forked workers then scan contiguous parts of that list and the parts are merged in order,
    so the report is the one a single process writes."""
    sc = scanner or default_scanner()
    res = TreeResult()
    try:
        st = root.lstat()
    except OSError as exc:
        raise InputError(f"{root}: cannot read ({exc.strerror})") from None
    if stat.S_ISREG(st.st_mode):
        if sc.path_allowed(root.name):
            res.skipped["allowlisted-path"] = 1
        else:
            _scan_files(sc, [(str(root), root.name)], target, res)
        return res
    if not stat.S_ISDIR(st.st_mode):
        raise InputError(f"{root}: not a directory or regular file")
    files = _walk(sc, root, respect_gitignore, tuple(exclude), res)
    jobs = jobs if jobs > 0 else usable_cpus()
    if jobs > 1 and len(files) >= parallel_min_files and _fork_safe():
        _scan_parallel(sc, files, target, res, jobs)
    else:
        _scan_files(sc, files, target, res)
    res.findings.sort(key=lambda f: (f.location.path, f.location.line, f.location.column, f.id))
    return res


def _walk(
    sc: Scanner, root: Path, respect_gitignore: bool, exclude: tuple[str, ...], res: TreeResult
) -> list[tuple[str, str]]:
    """(path to open, path relative to root) of the regular files to scan, in a stable order.

    Entry types come from the directory listing (no stat per entry); an allowlisted file is
    counted and dropped here, so it is never opened, and a directory whose whole content is
    allowlisted (`usr/share/doc`, `node_modules`) is counted once and not entered."""
    if exclude:
        from customhouse.misconfig.runner import excluded
    gi = GitIgnore() if respect_gitignore else None
    allowed, dir_allowed, binary_name = sc.path_allowed, sc.dir_allowed, sc.binary_name
    skipped = res.skipped
    files: list[tuple[str, str]] = []
    stack = [""]
    base = str(root)
    while stack:
        rel_dir = stack.pop()
        here = os.path.join(base, rel_dir) if rel_dir else base
        if gi is not None:
            gi.load(root, rel_dir, res.warnings)
        try:
            with os.scandir(here) as it:
                entries = sorted(it, key=_entry_name)
        except OSError as exc:
            res.warnings.append(f"{rel_dir or '.'}: cannot list ({exc.strerror})")
            continue
        subdirs: list[str] = []
        prefix = rel_dir + "/" if rel_dir else ""
        for e in entries:
            rel = prefix + e.name
            try:
                is_dir = e.is_dir(follow_symlinks=False)
                is_file = not is_dir and e.is_file(follow_symlinks=False)
            except OSError as exc:
                res.warnings.append(f"{rel}: cannot stat ({exc.strerror})")
                continue
            if not is_dir and not is_file:
                continue  # symlink, FIFO, socket, device: never opened
            if is_dir and e.name in VCS_DIRS:
                continue
            if exclude and excluded(rel, exclude):
                continue
            if gi is not None and gi.ignored(rel, is_dir):
                skipped["gitignore"] = skipped.get("gitignore", 0) + 1
                continue
            if is_dir:
                if dir_allowed(rel):
                    skipped["allowlisted-path"] = skipped.get("allowlisted-path", 0) + 1
                else:
                    subdirs.append(rel)
            elif allowed(rel):
                skipped["allowlisted-path"] = skipped.get("allowlisted-path", 0) + 1
            elif binary_name(e.name):
                skipped["binary"] = skipped.get("binary", 0) + 1
            else:
                files.append((e.path, rel))
        stack.extend(reversed(subdirs))
    return files


def _entry_name(e: os.DirEntry[str]) -> str:
    return e.name


_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)


def _scan_files(sc: Scanner, files: Sequence[tuple[str, str]], target: str, res: TreeResult) -> None:
    """Read and scan `files` (already past the path allowlist) into `res`.

    One open, one fstat and usually one read per file: a file up to READ_WHOLE_BELOW is read
    whole and then sniffed, a larger one is sniffed on its first SNIFF_BYTES before the rest
    is read. A short read is taken as the end of the file (regular files on Linux)."""
    limit = sc.config.max_file_bytes
    skipped = res.skipped
    scan = sc.scan_unchecked
    for full, rel in files:
        try:
            fd = os.open(full, _OPEN_FLAGS)
        except OSError as exc:
            res.warnings.append(f"{rel}: cannot read ({exc.strerror})")
            continue
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                continue  # replaced by something else since the walk saw it
            size = st.st_size
            if size > limit:
                skipped["too-large"] = skipped.get("too-large", 0) + 1
                res.warnings.append(f"{rel}: skipped, {size} bytes is over the {limit}-byte limit")
                continue
            want = size + 1 if size < READ_WHOLE_BELOW else SNIFF_BYTES
            data = os.read(fd, want)
            head = data[:SNIFF_BYTES] if len(data) > SNIFF_BYTES else data
            archive = False
            if is_binary(head):
                if not is_archive(rel, head):
                    skipped["binary"] = skipped.get("binary", 0) + 1
                    continue
                archive = True  # a jar, war, ...: its text members are scanned below
            if len(data) == want:  # not at the end yet: a large file, or one that grew
                chunks = [data]
                got = len(data)
                while got <= limit:
                    n = min(max(size + 1 - got, 1 << 16), limit + 1 - got)
                    more = os.read(fd, n)
                    if not more:
                        break
                    chunks.append(more)
                    got += len(more)
                    if len(more) < n:
                        break
                data = b"".join(chunks)
        except OSError as exc:
            res.warnings.append(f"{rel}: cannot read ({exc.strerror})")
            continue
        finally:
            os.close(fd)
        if len(data) > limit:  # grew since the fstat
            skipped["too-large"] = skipped.get("too-large", 0) + 1
            continue
        res.scanned += 1
        res.bytes_scanned += len(data)
        if archive:
            for member, content in archive_members(data, rel, limit):
                res.findings.extend(
                    make_finding(match_dict(m), Place(target=target, path=member, origin="file"))
                    for m in sc.scan(content, member)
                )
            continue
        if rel.endswith(_MANIFEST_SUFFIXES) and b"apiVersion" in data:
            doc = _manifest(data, rel)
            if doc is not None:
                res.findings.extend(document_findings(doc, target, sc))
                continue
        matches = scan(data, rel)
        if matches:
            res.findings.extend(
                make_finding(match_dict(m), Place(target=target, path=rel, origin="file")) for m in matches
            )


_MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


def _manifest(data: bytes, rel: str) -> Document | None:
    """`data` as a parsed Kubernetes manifest, or None when it is not one (or does not parse).

    A tree scan reports what `customhouse config` would on a manifest: the base64 `data` of a
    Secret hides its credentials from a scan of the text, and `env` entries split a name from
    its value over two lines. Anything else is scanned as plain text."""
    from customhouse.misconfig.runner import detect_by_content, parse_document

    text = data.decode("utf-8", "replace")
    if detect_by_content("yaml?", text[:65536]) != "kubernetes":
        return None
    try:
        return parse_document(text, rel, "kubernetes")
    except InputError:
        return None


def _fork_safe() -> bool:
    from customhouse import forking  # here: most trees are scanned in one process, without pickle

    return forking.safe()


def _scan_parallel(sc: Scanner, files: Sequence[tuple[str, str]], target: str, res: TreeResult, jobs: int) -> None:
    """`files` split into `jobs` contiguous parts: forked children scan all but the first (they
    inherit the loaded rules and the Hyperscan database, `customhouse.forking`); the parts are
    merged in order, so the result is `_scan_files`' over the whole list. A child that fails
    leaves its part to this process."""
    from functools import partial

    from customhouse.forking import Forked

    n = len(files)
    bounds = [(n * i // jobs, n * (i + 1) // jobs) for i in range(jobs)]

    def part_of(lo: int, hi: int) -> TreeResult:
        out = TreeResult()
        _scan_files(sc, files[lo:hi], target, out)
        return out

    children = [(Forked(partial(part_of, lo, hi)), (lo, hi)) for lo, hi in bounds[1:]]
    try:
        _scan_files(sc, files[bounds[0][0] : bounds[0][1]], target, res)
    finally:
        results = [(child.result(), part) for child, part in children]
    for got, part in results:
        if got is None:
            got = part_of(*part)
        res.findings += got.findings
        res.warnings += got.warnings
        res.scanned += got.scanned
        res.bytes_scanned += got.bytes_scanned
        for k, v in got.skipped.items():
            res.skipped[k] = res.skipped.get(k, 0) + v
