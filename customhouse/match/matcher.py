"""Packages x advisories -> findings.

How a package is looked up decides false positives, so the rules are strict and few:

- OS packages are matched only against their own distribution and release
  (`debian:12`, `alpine:3.20`, `rhel:9`, ...) by the name the distribution files advisories
  under: the source package for Debian and Ubuntu, the origin for Alpine, the binary and the
  source rpm name for the rpm family. Distribution data already encodes backported fixes, so a
  backport never shows up as vulnerable, and NVD ranges are never used for distro packages.
- Language packages are matched by ecosystem and normalized name (PEP 503, lower-case NuGet
  and Composer) against OSV ranges (ECOSYSTEM and SEMVER; introduced, fixed, last_affected,
  limit) and explicit version lists. No CPE matching.
- One finding per package and vulnerability: advisories that alias each other (CVE, GHSA,
  PYSEC, GO, DSA/DLA, USN, ALPINE) are merged into one finding whose id is the CVE when there
  is exactly one; bundles that name several CVEs (a DSA) are split into one finding per CVE.
- A version the ecosystem cannot order is never guessed at: the package is reported as not
  comparable in a warning and its advisories are not evaluated.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from customhouse.model import OSInfo, Package
from customhouse.purl import pep503
from customhouse.report.findings import CVSS, Finding, Location, VulnerabilityDetail, fingerprint, severity_rank
from customhouse.vulndb.db import AffectedRow, VulnDB, VulnRecord

_RPM_FAMILIES = frozenset({"rhel", "centos", "rocky", "almalinux", "fedora", "amzn", "ol", "sles", "opensuse"})
_CVE = re.compile(r"^CVE-\d{4}-\d{4,}$")
# Native distribution feeds outrank OSV copies of the same data when they disagree.
_SOURCE_RANK = {"debian-tracker": 0, "alpine-secdb": 0}
_SEVERITY_ALIASES = {"unimportant": "low", "negligible": "low", "moderate": "medium", "important": "high"}
_SEVERITY_SCORE = {"critical": 9.5, "high": 8.0, "medium": 5.5, "low": 2.5, "info": 0.0, "unknown": 5.0}
_STATE_ORDER = {"fixed": 0, "not_fixed": 1, "will_not_fix": 2, "end_of_life": 3, "unknown": 4}


@dataclass(frozen=True, slots=True)
class Query:
    ecosystem: str
    names: tuple[str, ...]
    version: str
    scheme: str  # ecosystem used to pick the version scheme


def os_ecosystem(os_info: OSInfo | None) -> str:
    """The advisory key of an OS release, or "" when we have no data model for it."""
    if os_info is None or not os_info.family:
        return ""
    fam = os_info.family
    if fam in ("wolfi", "chainguard"):
        return fam
    if fam == "ubuntu":
        return f"ubuntu:{os_info.version}" if os_info.version else ""
    if not os_info.version:
        return ""
    return f"{fam}:{os_info.release}"


def query_for(p: Package, os_info: OSInfo | None) -> Query | None:
    """Where this package's advisories live, or None when it must not be matched (and why is
    recorded by the caller: local code, no version, unsupported ecosystem)."""
    t = p.type
    if t in ("deb", "apk", "rpm"):
        eco = os_ecosystem(os_info)
        if not eco:
            return None
        if t == "deb":
            # Debian and Ubuntu file advisories (and fixed versions) against source packages.
            return Query(eco, (p.source_name or p.name,), p.source_version or p.version, eco)
        if t == "apk":
            return Query(eco, tuple(dict.fromkeys((p.source_name or p.name, p.name))), p.version, eco)
        if os_info is None or os_info.family not in _RPM_FAMILIES:
            return None
        return Query(eco, tuple(dict.fromkeys((p.name, p.source_name or p.name))), p.version, eco)
    if not p.version:
        return None
    if t == "pypi":
        return Query("pypi", (pep503(p.name),), p.version, "pypi")
    if t == "golang":
        if p.meta("replaced_by"):  # a local directory: no public version
            return None
        return Query("golang", (p.name,), p.version, "golang")
    if t == "cargo":
        if p.meta("source") == "local":
            return None
        return Query("cargo", (p.name,), p.version, "cargo")
    if t in ("npm", "maven", "gem"):
        return Query(t, (p.name,), p.version, t)
    if t in ("nuget", "composer"):
        return Query(t, (p.name.lower(),), p.version, t)
    return None


def in_ranges(version_key: Any, version: str, ranges: dict[str, Any], key: Any) -> bool:
    """OSV's evaluation: any explicit version, or any range whose ordered events leave the
    version affected (introduced opens, fixed and limit close at, last_affected closes after)."""
    if version in ranges.get("versions", ()):
        return True
    for rng in ranges.get("ranges", ()):
        events = rng.get("events", ())
        limits = [v for kind, v in events if kind == "limit"]
        if limits and any(version_key >= key(v) for v in limits if v != "*"):
            continue

        def order(ev: Sequence[str]) -> Any:
            kind, v = ev
            return (0, ()) if (kind == "introduced" and v == "0") else (1, key(v))

        affected = False
        for kind, v in sorted((e for e in events if e[0] != "limit"), key=order):
            if kind == "introduced":
                if v == "0" or version_key >= key(v):
                    affected = True
            elif kind == "fixed":
                if version_key >= key(v):
                    affected = False
            elif kind == "last_affected" and version_key > key(v):
                affected = False
        if affected:
            return True
    return False


@dataclass
class _Hit:
    row: AffectedRow
    fixed: str  # the fixed version that applies to this package ('' if none)


@dataclass
class MatchResult:
    findings: list[Finding] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    not_comparable: list[Package] = field(default_factory=list)
    skipped: int = 0  # packages with no advisory model (local code, unknown OS ...)


def match(packages: Iterable[Package], os_info: OSInfo | None, db: VulnDB, target: str = "") -> MatchResult:
    from customhouse.versions import VersionError, scheme_for

    result = MatchResult()
    pkgs = list(packages)
    queries: list[tuple[Package, Query]] = []
    for p in pkgs:
        q = query_for(p, os_info)
        if q is None:
            result.skipped += 1
            continue
        queries.append((p, q))
    by_eco: dict[str, set[str]] = {}
    for _, q in queries:
        by_eco.setdefault(q.ecosystem, set()).update(q.names)
    rows: dict[tuple[str, str], list[AffectedRow]] = {}
    for eco, names in by_eco.items():
        for row in db.affected(eco, names):
            rows.setdefault((eco, row.package), []).append(row)

    per_package: list[tuple[Package, Query, list[_Hit], set[str]]] = []
    keys: dict[str, Callable[[str], Any]] = {}  # scheme -> memoized key function for this run
    for p, q in queries:
        candidates = [r for n in q.names for r in rows.get((q.ecosystem, n), ())]
        if not candidates:
            continue
        try:
            key = keys.get(q.scheme)
            if key is None:
                key = keys[q.scheme] = _memo(scheme_for(q.scheme).key)
            vkey = key(q.version)
        except (KeyError, VersionError) as exc:
            result.not_comparable.append(p)
            result.warnings.append(
                f"{p.type} package {p.name} {q.version!r} at /{p.path}: version not comparable ({exc}); "
                f"{len(candidates)} advisories not evaluated"
            )
            continue
        hits: list[_Hit] = []
        cleared: set[str] = set()  # vulnerabilities the distribution's own feed says we are past
        bad_ranges = 0
        for row in candidates:
            try:
                simple = row.simple
                if simple == "":  # open: every installed version (distro "not fixed" and kin)
                    hit = True
                elif simple is not None:
                    hit = vkey < key(simple)
                else:
                    hit = in_ranges(vkey, q.version, row.ranges, key)
            except VersionError:
                bad_ranges += 1
                continue
            if hit:
                hits.append(_Hit(row, row.fixed_version if row.fix_state == "fixed" else ""))
            elif _SOURCE_RANK.get(row.source, 1) == 0:
                cleared.add(row.vuln_id)
        if bad_ranges:
            result.warnings.append(f"{q.ecosystem} {q.names[0]}: {bad_ranges} advisory ranges not comparable, skipped")
        if hits:
            per_package.append((p, q, hits, cleared))
    if not per_package:
        return result
    all_ids = {h.row.vuln_id for _, _, hits, _ in per_package for h in hits}
    aliases = db.aliases(all_ids)
    records = db.vulnerabilities(all_ids)
    groups_per_pkg: list[tuple[Package, Query, dict[str, tuple[set[str], list[_Hit]]]]] = []
    for p, q, hits, cleared in per_package:
        groups = _group(hits, aliases)
        # The distribution's own data wins: when its feed says this version is past the fix (a
        # backport), an OSV copy of an older or broader statement must not resurrect it.
        for gk in [k for k, (ids, hs) in groups.items() if ids & cleared]:
            if not any(_SOURCE_RANK.get(h.row.source, 1) == 0 for h in groups[gk][1]):
                del groups[gk]
        if groups:
            groups_per_pkg.append((p, q, groups))
    cves = {k for _, _, groups in groups_per_pkg for k in groups if k.startswith("CVE-")}
    for _, _, groups in groups_per_pkg:
        for ids, _ in groups.values():
            cves.update(i for i in ids if i.startswith("CVE-"))
    extra = {i for _, _, groups in groups_per_pkg for ids, _ in groups.values() for i in ids} - records.keys()
    records.update(db.vulnerabilities(extra))
    enrich = _Enrichment(records, db.cvss(cves), db.kev(cves), db.epss(cves))
    for p, q, groups in groups_per_pkg:
        for gkey, (ids, hits) in sorted(groups.items()):
            result.findings.append(_finding(p, q, gkey, ids, hits, enrich, keys.get(q.scheme), target))
    return result


def _memo(fn: Callable[[str], Any]) -> Callable[[str], Any]:
    """A plain dict in front of a scheme's key(): advisories repeat the same few versions."""
    cache: dict[str, Any] = {}

    def key(v: str) -> Any:
        try:
            return cache[v]
        except KeyError:
            k = cache[v] = fn(v)
            return k

    return key


def _group(hits: list[_Hit], aliases: dict[str, set[str]]) -> dict[str, tuple[set[str], list[_Hit]]]:
    """Merge advisories of one package into vulnerabilities (see module docstring)."""
    keyed: dict[str, tuple[set[str], list[_Hit]]] = {}
    pending: list[tuple[_Hit, set[str]]] = []
    id_to_key: dict[str, str] = {}
    for h in hits:
        vid = h.row.vuln_id
        names = {vid, *aliases.get(vid, ())}
        cves = sorted(n for n in names if _CVE.match(n))
        if not cves:
            pending.append((h, names))
            continue
        others = {n for n in names if not _CVE.match(n)}
        for cve in cves:
            ids, hs = keyed.setdefault(cve, (set(), []))
            ids.update(others if len(cves) == 1 else {vid})
            ids.add(cve)
            hs.append(h)
            if len(cves) == 1:
                for n in others:
                    id_to_key.setdefault(n, cve)
    # Advisories without a CVE: join the CVE group an alias points to, else group among themselves.
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.get(x, x) != x:
            x = parent[x]
        return x

    for h, names in pending:
        target = next((id_to_key[n] for n in sorted(names) if n in id_to_key), None)
        if target is not None:
            ids, hs = keyed[target]
            ids.update(names)
            hs.append(h)
            continue
        root = min(names)
        for n in names:
            parent.setdefault(n, n)
            parent[find(n)] = find(root)
    loose: dict[str, tuple[set[str], list[_Hit]]] = {}
    for h, names in pending:
        if any(n in id_to_key for n in names):
            continue
        r = find(min(names))
        ids, hs = loose.setdefault(r, (set(), []))
        ids.update(names)
        hs.append(h)
    for ids, hs in loose.values():
        keyed[_display_id(ids)] = (ids, hs)
    return keyed


def _display_id(ids: set[str]) -> str:
    """Prefer the id people search for: GHSA, then the ecosystem's own (GO, PYSEC, RUSTSEC...)."""
    for prefix in ("GHSA-", "GO-", "PYSEC-", "RUSTSEC-", "ALPINE-", "DSA-", "DLA-", "USN-"):
        found = sorted(i for i in ids if i.startswith(prefix))
        if found:
            return found[0]
    return sorted(ids)[0]


@dataclass
class _VulnInfo:
    """What a finding needs that depends only on the vulnerability, not the package."""

    cves: list[str]
    recs: list[VulnRecord]
    scores: tuple[CVSS, ...]
    best: CVSS | None
    rec_severity: str
    rec_severity_source: str
    kev: tuple[str, str, str, str] | None
    epss: tuple[float, float] | None
    title: str
    references: tuple[str, ...]


class _Enrichment:
    """Per-run lookups and a cache per vulnerability: a CVE in fifty packages is enriched once."""

    def __init__(
        self,
        records: dict[str, VulnRecord],
        cvss: dict[str, list[tuple[str, str, float, str]]],
        kev: dict[str, tuple[str, str, str, str]],
        epss: dict[str, tuple[float, float]],
    ) -> None:
        self.records, self.cvss, self.kev, self.epss = records, cvss, kev, epss
        self._cache: dict[frozenset[str], _VulnInfo] = {}

    def info(self, ids: set[str]) -> _VulnInfo:
        fk = frozenset(ids)
        got = self._cache.get(fk)
        if got is not None:
            return got
        cves = sorted(i for i in ids if i.startswith("CVE-"))
        recs = [self.records[i] for i in sorted(ids) if i in self.records]
        raw: set[tuple[str, str, float, str]] = set()  # plain tuples: hashing dataclasses is slow
        for cve in cves:
            raw.update(self.cvss.get(cve, ()))
        for r in recs:
            raw.update((v, vec, s, src or r.source) for v, vec, s, src in r.cvss)
        scores = tuple(
            CVSS(*t) for t in sorted(raw, key=lambda c: (c[3] != "nvd", -float(c[0] or 0), c[3], c[1], c[2]))
        )
        sev, sev_src = "", ""
        for r in recs:
            if r.severity:
                sev, sev_src = r.severity, r.severity_source or r.source
                break
        title = next((r.summary for r in recs if r.summary), "") or next(
            (r.details.split("\n")[0] for r in recs if r.details), ""
        )
        refs: list[str] = []
        for r in recs:
            refs.extend(x for x in r.references if x not in refs)
        info = _VulnInfo(
            cves=cves,
            recs=recs,
            scores=scores,
            best=_preferred_cvss(list(scores)),
            rec_severity=sev,
            rec_severity_source=sev_src,
            kev=next((self.kev[c] for c in cves if c in self.kev), None),
            epss=max((self.epss[c] for c in cves if c in self.epss), default=None),
            title=title[:300],
            references=tuple(refs[:20]),
        )
        self._cache[fk] = info
        return info


def _finding(
    p: Package,
    q: Query,
    key: str,
    ids: set[str],
    hits: list[_Hit],
    enrich: _Enrichment,
    version_key: Callable[[str], Any] | None,
    target: str,
) -> Finding:
    if len(hits) > 1:
        hits = sorted(hits, key=lambda h: (_SOURCE_RANK.get(h.row.source, 1), h.row.source, h.row.vuln_id))
    primary_source = _SOURCE_RANK.get(hits[0].row.source, 1)
    authoritative = [h for h in hits if _SOURCE_RANK.get(h.row.source, 1) == primary_source]
    state = min((h.row.fix_state for h in authoritative), key=lambda s: _STATE_ORDER.get(s, 9))
    fixed_versions = {h.fixed for h in authoritative if h.fixed}
    fixed = ""
    if fixed_versions:
        fixed = max(fixed_versions, key=version_key) if version_key and len(fixed_versions) > 1 else min(fixed_versions)
    info = enrich.info(ids)
    # Severity: the distribution's rating for this package, else the advisory's, else CVSS.
    severity, sev_source = "", ""
    for h in authoritative:
        if h.row.severity:
            severity, sev_source = h.row.severity, h.row.source
            break
    if not severity and info.rec_severity:
        severity, sev_source = info.rec_severity, info.rec_severity_source
    if not severity and info.best is not None:
        severity, sev_source = info.best.severity, info.best.source
    severity = _SEVERITY_ALIASES.get(severity, severity)
    if severity not in _SEVERITY_SCORE:
        severity = "unknown"
    k, e = info.kev, info.epss
    risk = risk_score(severity, info.best, e[0] if e else None, k is not None)
    if fixed:
        fix = f"upgrade {p.name} to {fixed} or later"
        message = f"{p.name} {p.version} is affected by {key}; fixed in {fixed}"
    else:
        fix = _NO_FIX.get(state, "")
        message = f"{p.name} {p.version} is affected by {key} ({state.replace('_', ' ')})"
    detail = VulnerabilityDetail(
        package_name=p.name,
        package_version=p.version,
        package_type=p.type,
        purl=p.purl,
        fix_state=state if state in _STATE_ORDER else "unknown",  # type: ignore[arg-type]
        fixed_version=fixed,
        aliases=tuple(sorted(ids - {key})),
        advisories=tuple(sorted({h.row.vuln_id for h in hits})),
        severity_source=sev_source,
        cvss=info.scores,
        epss=e[0] if e else None,
        epss_percentile=e[1] if e else None,
        kev=k is not None,
        kev_due_date=k[2] if k else "",
        kev_ransomware=k[3] if k else "",
        risk=risk,
        source_package=p.source_name if p.source_name != p.name else "",
        ecosystem=q.ecosystem,
    )
    f = Finding(
        id=key,
        kind="vulnerability",
        severity=severity,  # type: ignore[arg-type]
        title=info.title,
        message=message,
        target=target,
        location=Location(
            path=p.path, layer_digest=p.layer_diff_id, layer_index=p.layer_index, created_by=p.created_by
        ),
        fix=fix,
        references=info.references,
        vulnerability=detail,
    )
    object.__setattr__(f, "fingerprint", fingerprint(f))  # frozen; set once, before anyone sees it
    return f


_NO_FIX = {
    "not_fixed": "no fixed version yet",
    "will_not_fix": "the distribution will not fix this",
    "end_of_life": "the distribution release is end of life; upgrade the base image",
}


def _preferred_cvss(scores: list[CVSS]) -> CVSS | None:
    """NVD's v3.1/v3.0 first (most consistently scored), then v4.0, then anyone's newest."""
    preds: tuple[Callable[[CVSS], bool], ...] = (
        lambda c: c.source == "nvd" and c.version in ("3.1", "3.0"),
        lambda c: c.source == "nvd" and c.version == "4.0",
        lambda c: c.version in ("3.1", "3.0", "4.0"),
        lambda c: True,
    )
    for pred in preds:
        found = [c for c in scores if pred(c)]
        if found:
            return max(found, key=lambda c: (c.version, c.score))
    return None


def risk_score(severity: str, cvss: CVSS | None, epss: float | None, kev: bool) -> float:
    """Risk on a 0-10 scale: impact (CVSS base score, or the severity's midpoint) weighted by the
    likelihood of exploitation (1.0 when CISA lists it as exploited, else the EPSS probability):

        risk = impact * (0.5 + 0.5 * likelihood)

    So a known-exploited critical keeps ~9.8, while the same score with EPSS 1 % counts half;
    without EPSS data likelihood is taken as 0 (severity alone, halved), which keeps findings
    with exploitation evidence above otherwise equal ones. docs/triage.md explains the choice.
    """
    impact = cvss.score if cvss is not None else _SEVERITY_SCORE.get(severity, 5.0)
    likelihood = 1.0 if kev else (epss or 0.0)
    return round(impact * (0.5 + 0.5 * likelihood), 2)


def eol_warning(os_info: OSInfo | None, db: VulnDB, today: date | None = None) -> str | None:
    if os_info is None or not os_info.version:
        return None
    eol = db.eol(os_info.family, os_info.release)
    if not eol:
        return None
    try:
        when = date.fromisoformat(eol)
    except ValueError:
        return None
    if when <= (today or date.today()):
        return (
            f"{os_info.family} {os_info.release} reached end of life on {eol}: it gets no more security fixes, "
            "so findings may be missing; upgrade the base image"
        )
    return None


def at_or_above(findings: Iterable[Finding], threshold: str) -> list[Finding]:
    t = severity_rank(threshold)
    return [f for f in findings if severity_rank(f.severity) >= t]
