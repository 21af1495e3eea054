"""The ignore file (`.customhouseignore.yaml`), shared by every scanner (CONVENTIONS.md).

An entry says "this finding is accepted, for this reason, until this date". It is matched
by `id` (a vulnerability's aliases count, so ignoring a GHSA covers the CVE finding it is an
alias of) or by `fingerprint`, optionally narrowed by `package`, `path` and `resource`.
Every entry must give a `reason`, because an unexplained ignore is indistinguishable from a
forgotten one; an `expires` date makes it stop suppressing after that day, with a warning
that names the entry so the decision gets revisited instead of silently outliving itself.

The file is user input read on every scan, possibly from an untrusted checkout: it is read
with PyYAML's C safe loader into nodes (for line numbers), its size and entry count are
bounded, and only flat mappings of scalars are accepted, so anchors and aliases cannot
expand into anything large. Every problem is an `InputError` naming the file and line.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime
from fnmatch import fnmatchcase
from pathlib import Path
from typing import TYPE_CHECKING, Any

from customhouse.errors import InputError
from customhouse.report.findings import Finding, Suppression, fingerprint

if TYPE_CHECKING:
    import yaml

MAX_FILE_BYTES = 1 << 20
MAX_ENTRIES = 10_000
KEYS = ("id", "package", "path", "resource", "fingerprint", "reason", "expires")
_GLOB = frozenset("*?[")


@dataclass(frozen=True)
class IgnoreRule:
    reason: str
    id: str = ""
    package: str = ""
    path: str = ""
    resource: str = ""
    fingerprint: str = ""
    expires: date | None = None
    source: str = ""
    line: int = 0  # 1-based line of the entry in `source`

    def describe(self) -> str:
        what = self.id or self.fingerprint
        extra = [f"{k} {v}" for k, v in (("package", self.package), ("path", self.path)) if v]
        return f"{self.source}:{self.line} ({what}{', ' if extra else ''}{', '.join(extra)})"

    def expired(self, today: date) -> bool:
        """An entry is in force through its `expires` day and stops the day after."""
        return self.expires is not None and today > self.expires

    def matches(self, f: Finding) -> bool:
        if self.fingerprint and self.fingerprint != (f.fingerprint or fingerprint(f)):
            return False
        if self.id and not _id_matches(self.id, f):
            return False
        if self.package and not _package_matches(self.package, f):
            return False
        if self.path and not _path_matches(self.path, f.location.path):
            return False
        return not self.resource or _resource_matches(self.resource, f)


# ---------------------------------------------------------------------------- matching


def _id_matches(want: str, f: Finding) -> bool:
    ids = {f.id.upper()}
    if f.vulnerability is not None:
        ids.update(a.upper() for a in f.vulnerability.aliases)
    return want.upper() in ids


def _package_matches(want: str, f: Finding) -> bool:
    v = f.vulnerability
    if v is None:
        return False
    if want.startswith("pkg:"):
        if _GLOB & set(want):
            return bool(v.purl) and fnmatchcase(v.purl, want)
        from customhouse.match.vex import purl_matches

        return bool(v.purl) and purl_matches(want, v.purl)
    return fnmatchcase(v.package_name.lower(), want.lower())


def _clean_path(p: str) -> str:
    while p.startswith(("./", "/")):
        p = p[2:] if p.startswith("./") else p[1:]
    return p


def _path_matches(want: str, path: str) -> bool:
    """Glob over the path relative to the target root; `*` crosses `/`, `dir/` means below it."""
    want, path = _clean_path(want), _clean_path(path)
    if want.endswith("/"):
        want += "*"
    return fnmatchcase(path, want)


def _resource_matches(want: str, f: Finding) -> bool:
    """`name`, `Kind/name` or `Kind/namespace/name`, each part a glob (kind case-insensitive)."""
    loc = f.location
    parts = want.split("/")
    if len(parts) == 1:
        return bool(loc.resource_name) and fnmatchcase(loc.resource_name, parts[0])
    kind = parts[0].lower()
    if not fnmatchcase(loc.resource_kind.lower(), kind):
        return False
    if len(parts) == 2:
        return fnmatchcase(loc.resource_name, parts[1])
    return fnmatchcase(loc.resource_namespace, parts[1]) and fnmatchcase(loc.resource_name, "/".join(parts[2:]))


# ----------------------------------------------------------------------------- loading


def load_ignore_file(path: str | Path) -> list[IgnoreRule]:
    p = Path(path)
    try:
        with open(p, "rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise InputError(f"{p}: cannot read ignore file: {exc.strerror or exc}") from None
    return parse_ignore(data, str(p))


def parse_ignore(data: bytes | str, source: str) -> list[IgnoreRule]:
    """Either a list of entries or a mapping whose `ignore` key holds the list."""
    import yaml

    if len(data) > MAX_FILE_BYTES:
        raise InputError(f"{source}: ignore file larger than {MAX_FILE_BYTES >> 10} KiB")
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(f"{source}: not UTF-8 text (byte {exc.start})") from None
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        root = yaml.compose(data, Loader=loader)
    except yaml.YAMLError as exc:
        # Where the construct began (an unclosed quote) says more than where parsing gave up.
        mark = getattr(exc, "context_mark", None) or getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        context = getattr(exc, "context", None)
        raise InputError(f"{source}{where}: not valid YAML: {problem}" + (f" ({context})" if context else "")) from None
    if root is None or _is_null(root):
        return []
    entries = root
    if isinstance(root, yaml.MappingNode):
        top = _mapping(root, source)
        unknown = sorted(set(top) - {"ignore", "version"})
        if unknown:
            key_node, _v = top[unknown[0]]
            raise _err(source, key_node, f"unknown top-level key {unknown[0]!r} (expected 'ignore')")
        if "version" in top and _scalar(top["version"][1], source, "version") not in ("1", ""):
            raise _err(source, top["version"][1], "unsupported version (this customhouse reads version 1)")
        if "ignore" not in top:
            return []
        entries = top["ignore"][1]
        if _is_null(entries):
            return []
    if not isinstance(entries, yaml.SequenceNode):
        raise _err(source, entries, "expected a list of ignore entries")
    if len(entries.value) > MAX_ENTRIES:
        raise _err(source, entries, f"more than {MAX_ENTRIES} entries")
    return [_entry(item, source) for item in entries.value]


def _entry(node: yaml.Node, source: str) -> IgnoreRule:
    import yaml

    if not isinstance(node, yaml.MappingNode):
        raise _err(source, node, "an ignore entry must be a mapping (id:, reason:, ...)")
    fields = _mapping(node, source)
    for key, (key_node, _v) in fields.items():
        if key not in KEYS:
            raise _err(source, key_node, f"unknown key {key!r} (allowed: {', '.join(KEYS)})")
    values = {k: _scalar(v, source, k) for k, (_kn, v) in fields.items()}
    if not values.get("id") and not values.get("fingerprint"):
        raise _err(source, node, "an ignore entry needs an 'id' or a 'fingerprint'")
    if not values.get("reason"):
        raise _err(source, node, "an ignore entry needs a 'reason'")
    expires = None
    if values.get("expires"):
        expires = _date(values["expires"], source, fields["expires"][1])
    return IgnoreRule(
        reason=values["reason"],
        id=values.get("id", ""),
        package=values.get("package", ""),
        path=values.get("path", ""),
        resource=values.get("resource", ""),
        fingerprint=values.get("fingerprint", ""),
        expires=expires,
        source=source,
        line=node.start_mark.line + 1,
    )


def _mapping(node: yaml.MappingNode, source: str) -> dict[str, tuple[yaml.Node, yaml.Node]]:
    import yaml

    out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
    for k, v in node.value:
        if not isinstance(k, yaml.ScalarNode):
            raise _err(source, k, "keys must be plain strings")
        if k.value in out:
            raise _err(source, k, f"duplicate key {k.value!r}")
        out[k.value] = (k, v)
    return out


def _scalar(node: yaml.Node, source: str, key: str) -> str:
    import yaml

    if not isinstance(node, yaml.ScalarNode):
        raise _err(source, node, f"{key!r} must be a single value, not a list or mapping")
    return "" if _is_null(node) else str(node.value).strip()


def _is_null(node: yaml.Node) -> bool:
    return bool(node.tag == "tag:yaml.org,2002:null")


def _date(text: str, source: str, node: yaml.Node) -> date:
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        return datetime.fromisoformat(text.replace("Z", "+00:00")).date()
    except ValueError:
        raise _err(source, node, f"expires {text!r} is not an ISO date (YYYY-MM-DD)") from None


def _err(source: str, node: Any, why: str) -> InputError:
    line = node.start_mark.line + 1 if getattr(node, "start_mark", None) is not None else 0
    return InputError(f"{source}:{line}: {why}" if line else f"{source}: {why}")


# ---------------------------------------------------------------------------- applying


def apply_ignores(
    findings: Iterable[Finding], rules: Iterable[IgnoreRule], today: date
) -> tuple[list[Finding], list[str]]:
    """Findings with active entries applied (order kept), and a warning per expired entry.

    The first active entry that matches suppresses (source `ignore-file:<file>`, status
    `ignored`); findings already suppressed (by VEX) are left as they are. An expired entry
    suppresses nothing; its warning says how many findings it would still have covered, so
    the user can tell a stale entry from one that now lets a finding through.
    """
    rules = list(rules)
    active = [r for r in rules if not r.expired(today)]
    expired = [r for r in rules if r.expired(today)]
    out: list[Finding] = []
    uncovered: dict[int, int] = {}
    for f in findings:
        if f.suppressed is not None:
            out.append(f)
            continue
        rule = next((r for r in active if r.matches(f)), None)
        if rule is None:
            for i, r in enumerate(expired):
                if r.matches(f):
                    uncovered[i] = uncovered.get(i, 0) + 1
            out.append(f)
            continue
        sup = Suppression(
            source=f"ignore-file:{rule.source}",
            reason=rule.reason,
            status="ignored",
            expires=rule.expires.isoformat() if rule.expires else "",
        )
        out.append(replace(f, suppressed=sup))
    warnings = []
    for i, r in enumerate(expired):
        assert r.expires is not None
        n = uncovered.get(i, 0)
        now = f"{n} matching finding{'s' if n != 1 else ''} reported again" if n else "it matches no finding"
        warnings.append(f"ignore entry {r.describe()} expired on {r.expires.isoformat()} and no longer applies; {now}")
    return out, warnings
