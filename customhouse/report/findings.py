"""The one Finding model every scanner reports through (CONVENTIONS.md, "Findings").

A finding is a fact about a target that someone may have to act on: a vulnerable package, a
leaked secret, a misconfiguration, a runtime event. Scanners fill the common fields and, for
their kind, one detail record (`vulnerability`, later `secret`, `misconfiguration`); report
renderers read only this model, so a new scanner needs no new renderer.

The `fingerprint` is stable across runs and machines for the same issue in the same place, so
it can be put in the ignore file; it never includes timestamps, scores or anything a database
update can change.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal

Severity = Literal["critical", "high", "medium", "low", "info", "unknown"]
Kind = Literal["vulnerability", "secret", "misconfiguration", "runtime"]
SEVERITIES: tuple[Severity, ...] = ("critical", "high", "medium", "low", "info", "unknown")
_RANK: dict[str, int] = {s: i for i, s in enumerate(reversed(SEVERITIES))}  # unknown=0 ... critical=5


def severity_rank(s: str) -> int:
    """Ordering for --severity / --fail-on: unknown < info < low < medium < high < critical."""
    return _RANK.get(s, 0)


@dataclass(frozen=True)
class Location:
    """Where a finding is: a file in an image layer, a line in a manifest, a k8s resource."""

    path: str = ""
    line: int = 0
    column: int = 0
    end_line: int = 0
    layer_digest: str = ""  # diff_id of the layer the file came from
    layer_index: int = -1
    created_by: str = ""
    resource_kind: str = ""
    resource_namespace: str = ""
    resource_name: str = ""
    json_path: str = ""

    def __init__(
        self,
        path: str = "",
        line: int = 0,
        column: int = 0,
        end_line: int = 0,
        layer_digest: str = "",
        layer_index: int = -1,
        created_by: str = "",
        resource_kind: str = "",
        resource_namespace: str = "",
        resource_name: str = "",
        json_path: str = "",
    ) -> None:
        # written out: a scan makes one per finding, and stores into the instance dict take a
        # third of the time of the `object.__setattr__` calls `@dataclass(frozen=True)` generates
        d = self.__dict__
        d["path"] = path
        d["line"] = line
        d["column"] = column
        d["end_line"] = end_line
        d["layer_digest"] = layer_digest
        d["layer_index"] = layer_index
        d["created_by"] = created_by
        d["resource_kind"] = resource_kind
        d["resource_namespace"] = resource_namespace
        d["resource_name"] = resource_name
        d["json_path"] = json_path


@dataclass(frozen=True)
class Suppression:
    """Why a finding does not count: who said so (VEX document, ignore file, inline) and why."""

    source: str  # "vex:<file>", "ignore-file:<file>", "inline", "--skip-check"
    reason: str
    status: str = ""  # VEX status (not_affected, fixed, ...) or "ignored"
    justification: str = ""
    expires: str = ""


@dataclass(frozen=True)
class CVSS:
    version: str  # "2.0", "3.0", "3.1", "4.0"
    vector: str
    score: float
    source: str  # "nvd", "ghsa", "debian", "osv:<id>", ...

    @property
    def severity(self) -> Severity:
        s = self.score
        if s == 0:
            return "info" if self.version != "2.0" else "low"
        if self.version == "2.0":
            return "high" if s >= 7 else "medium" if s >= 4 else "low"
        return "critical" if s >= 9 else "high" if s >= 7 else "medium" if s >= 4 else "low"


FixState = Literal["fixed", "not_fixed", "will_not_fix", "end_of_life", "unknown"]


@dataclass(frozen=True)
class VulnerabilityDetail:
    """The vulnerability-specific part of a finding (kind == "vulnerability")."""

    package_name: str
    package_version: str
    package_type: str
    purl: str
    fix_state: FixState
    fixed_version: str = ""
    aliases: tuple[str, ...] = ()  # every id of the same vulnerability (CVE, GHSA, OSV, DSA, ALPINE ...)
    advisories: tuple[str, ...] = ()  # advisory records that matched (ids in the database)
    severity_source: str = ""  # "debian", "alpine", "ghsa", "nvd", "osv", ...
    cvss: tuple[CVSS, ...] = ()
    epss: float | None = None
    epss_percentile: float | None = None
    kev: bool = False
    kev_due_date: str = ""
    kev_ransomware: str = ""
    risk: float = 0.0
    source_package: str = ""
    ecosystem: str = ""  # the advisory ecosystem key that matched ("debian:12", "pypi", ...)


@dataclass(frozen=True)
class MisconfigDetail:
    """The misconfiguration-specific part of a finding (kind == "misconfiguration")."""

    file_type: str  # dockerfile, compose, docker-daemon, containerd, kubelet, kubernetes, image-config
    snippet: str = ""  # the offending source text
    replacement: str = ""  # the mechanical fix, when there is one (text to put instead of `snippet`)
    check_source: str = "builtin"  # or "rego:<file>" for custom policies
    description: str = ""
    extra: tuple[tuple[str, str], ...] = ()  # check-specific facts (e.g. ("pss_check", "privileged"))

    def __init__(
        self,
        file_type: str,
        snippet: str = "",
        replacement: str = "",
        check_source: str = "builtin",
        description: str = "",
        extra: tuple[tuple[str, str], ...] = (),
    ) -> None:  # written out, as Location's
        d = self.__dict__
        d["file_type"] = file_type
        d["snippet"] = snippet
        d["replacement"] = replacement
        d["check_source"] = check_source
        d["description"] = description
        d["extra"] = extra


@dataclass(frozen=True)
class SecretDetail:
    """The secret-specific part of a finding (kind == "secret"). Never holds the raw secret.

    `secret` and `match` are redacted (docs/secrets.md: first characters, `…`, a hash);
    the finding's `fingerprint` is the secret's (rule id + secret bytes), so one ignore entry
    accepts the same secret wherever it moves. For image layers, `added_in_layer` is the layer
    whose tar holds the file and `removed_in_layer` the later layer that deleted or overwrote it
    (-1 while it is still in the final filesystem): a removed secret is still extractable.
    """

    category: str
    provider: str = ""
    secret: str = ""  # redacted
    match: str = ""  # the matched text with the secret redacted
    validated: bool | None = None
    entropy: float = 0.0
    end_column: int = 0  # exclusive, like SARIF's endColumn
    origin: str = "file"  # file, layer-file, image-env, image-label, image-history, k8s-secret, manifest-env
    added_in_layer: int = -1
    removed_in_layer: int = -1
    removal: str = ""  # whiteout, opaque, overwritten
    removed_by: str = ""  # created_by of the removing layer


@dataclass(frozen=True)
class Finding:
    id: str  # stable check or advisory id (a CVE when there is one)
    kind: Kind
    severity: Severity
    title: str
    message: str = ""
    target: str = ""
    location: Location = field(default_factory=Location)
    fix: str = ""
    references: tuple[str, ...] = ()
    frameworks: tuple[tuple[str, str], ...] = ()  # (framework, control), e.g. ("CIS Docker", "4.1")
    suppressed: Suppression | None = None
    fingerprint: str = ""
    vulnerability: VulnerabilityDetail | None = None
    misconfiguration: MisconfigDetail | None = None
    secret: SecretDetail | None = None

    def __init__(
        self,
        id: str,
        kind: Kind,
        severity: Severity,
        title: str,
        message: str = "",
        target: str = "",
        location: Location | None = None,
        fix: str = "",
        references: tuple[str, ...] = (),
        frameworks: tuple[tuple[str, str], ...] = (),
        suppressed: Suppression | None = None,
        fingerprint: str = "",
        vulnerability: VulnerabilityDetail | None = None,
        misconfiguration: MisconfigDetail | None = None,
        secret: SecretDetail | None = None,
    ) -> None:  # written out, as Location's
        d = self.__dict__
        d["id"] = id
        d["kind"] = kind
        d["severity"] = severity
        d["title"] = title
        d["message"] = message
        d["target"] = target
        d["location"] = Location() if location is None else location
        d["fix"] = fix
        d["references"] = references
        d["frameworks"] = frameworks
        d["suppressed"] = suppressed
        d["fingerprint"] = fingerprint
        d["vulnerability"] = vulnerability
        d["misconfiguration"] = misconfiguration
        d["secret"] = secret

    def with_fingerprint(self) -> Finding:
        return replace(self, fingerprint=fingerprint(self))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = _asdict(self)
        return out


def fingerprint(f: Finding) -> str:
    """Stable identity of "this issue in this place": kind, id, location, package.

    A secret finding that already carries its secret's fingerprint (`customhouse.secrets.fingerprint`:
    rule id and secret, wherever it is) keeps it."""
    if f.secret is not None and f.fingerprint:
        return f.fingerprint
    loc = f.location
    parts = [
        f.kind,
        f.id,
        f.target if f.kind != "vulnerability" else "",
        loc.path,
        str(loc.line),
        loc.resource_kind,
        loc.resource_namespace,
        loc.resource_name,
        loc.json_path,
    ]
    if f.vulnerability is not None:
        v = f.vulnerability
        parts += [v.package_type, v.package_name, v.package_version]
    import hashlib  # here: a scan that finds nothing does not load OpenSSL for it

    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()
    return f"sha256:{digest[:32]}"


_LEAVES = frozenset({str, int, float, bool, type(None)})
_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _asdict(obj: Any) -> Any:
    """A dataclass tree as plain dicts and lists.

    Reports serialise thousands of findings of a few classes, so the field names are looked up
    once per class and leaves are returned without a call: 4,221 findings in 0.11 s, against
    0.46 s with `dataclasses.asdict`, which also deep-copies every leaf."""
    cls = obj.__class__
    if cls in _LEAVES:
        return obj
    names = _FIELD_NAMES.get(cls)
    if names is None:
        if isinstance(obj, tuple | list):
            return [x if x.__class__ in _LEAVES else _asdict(x) for x in obj]
        if not hasattr(cls, "__dataclass_fields__"):
            return obj
        names = _FIELD_NAMES[cls] = tuple(f.name for f in fields(obj))
    out = {}
    for name in names:
        v = getattr(obj, name)
        out[name] = v if v.__class__ in _LEAVES else _asdict(v)
    return out


def sort_key(f: Finding) -> tuple[Any, ...]:
    """The default order's key: riskiest first, then by id and place."""
    v = f.vulnerability
    if v is None:
        return (-0.0, -severity_rank(f.severity), f.id, ("", ""), f.location.path, f.location.line)
    return (
        -v.risk,
        -severity_rank(f.severity),
        f.id,
        (v.package_name, v.package_version),
        f.location.path,
        f.location.line,
    )


def sort_findings(findings: list[Finding]) -> list[Finding]:
    """Default order: riskiest first, then by id and place, so reports are deterministic."""
    return sorted(findings, key=sort_key)
