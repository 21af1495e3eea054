"""OSV advisories (https://ossf.github.io/osv-schema/): bulk `all.zip` exports and loose records.

OSV already speaks in ranges of events, which is the form our `affected.ranges` takes, so the
work here is naming: OSV's ecosystem strings (`Ubuntu:22.04:LTS`, `Red Hat:enterprise_linux:9::
appstream`, `crates.io`) become the keys the OS and language analyzers produce (`ubuntu:22.04`,
`rhel:9`, `cargo`), and package names get the same normalisation the analyzers apply (PEP 503
for PyPI, lower case for NuGet and Composer).

Choices, each for a reason:
- One `affected` row per OSV `affected` entry (advisory, package): `ranges` is
  `{"ranges": [{"type": "ECOSYSTEM" | "SEMVER", "events": [[kind, version], ...]}, ...],
  "versions": [...]}`, so the matcher evaluates an entry exactly as OSV defines it (affected
  when any range or the explicit list says so) from one row.
- GIT ranges are dropped: they name commits, and an image holds released versions; OSV's own
  exporters already enumerate the affected releases into `versions` for them.
- Withdrawn advisories are left out entirely (counted as a note, not a skip): they were
  retracted, and reporting them would be a false positive by the feed's own word.
- `aliases` and `upstream` CVE ids become alias pairs (`upstream` is how Debian DLA and Ubuntu
  USN records name the CVEs they fix); `related` does not, because a related advisory is a
  different vulnerability.
- Ecosystems we cannot map to a key an analyzer produces (Red Hat layered products and EUS
  streams, SLE Micro, Leap Micro, Android, ...) are counted as notes and skipped: matching a
  UBI image against OpenShift errata would report fixes it can never install.
"""

from __future__ import annotations

import json
import re
import zipfile
import zlib
from pathlib import Path
from typing import Any

from customhouse.purl import pep503
from customhouse.vulndb.feeds import (
    MAX_ALIASES,
    MAX_NAME,
    MAX_REFERENCES,
    MAX_SUMMARY,
    Affected,
    FeedStats,
    Malformed,
    Sink,
    Vuln,
    dedupe,
    ident,
    is_cve,
    severity_word,
    str_list,
    text,
    version_text,
)
from customhouse.vulndb.feeds.cvss import score_vector
from customhouse.vulndb.feeds.debian import DEBIAN_CODENAMES

# The ecosystems `db update` downloads by default, as OSV names them in its bucket.
DEFAULT_ECOSYSTEMS = (
    "Alpine",
    "Debian",
    "Ubuntu",
    "AlmaLinux",
    "Rocky Linux",
    "Red Hat",
    "SUSE",
    "openSUSE",
    "Wolfi",
    "Chainguard",
    "PyPI",
    "npm",
    "Go",
    "Maven",
    "crates.io",
    "RubyGems",
    "NuGet",
    "Packagist",
)

_LANGUAGE = {
    "PyPI": "pypi",
    "npm": "npm",
    "Go": "golang",
    "Maven": "maven",
    "crates.io": "cargo",
    "RubyGems": "gem",
    "NuGet": "nuget",
    "Packagist": "composer",
}
_RANGE_KINDS = ("introduced", "fixed", "last_affected", "limit")
_KEPT_RANGE_TYPES = ("ECOSYSTEM", "SEMVER")
_MAJOR = re.compile(r"(\d+)(?:\.\d+)*")
_UBUNTU_RELEASE = re.compile(r"\d{2}\.\d{2}")
_SLE = re.compile(r"Linux Enterprise (?P<product>.*?)\s*(?P<major>\d+)(?:\s*SP(?P<sp>\d+))?(?:[-\s].*)?$")
_LEAP = re.compile(r"Leap (?P<release>\d+\.\d+)$")
_CVSS_TYPES = ("CVSS_V2", "CVSS_V3", "CVSS_V4")
MAX_VERSIONS = 200_000


def map_ecosystem(ecosystem: str) -> str | None:
    """Our ecosystem key for an OSV ecosystem string, or None when no analyzer produces it."""
    base, _, rest = ecosystem.partition(":")
    if base in _LANGUAGE:
        return _LANGUAGE[base]
    if base in ("Wolfi", "Chainguard"):
        return base.lower()
    if base == "Alpine":
        release = rest.removeprefix("v")
        return f"alpine:{release}" if re.fullmatch(r"\d+\.\d+", release) else None
    if base == "Debian":
        release = DEBIAN_CODENAMES.get(rest.lower(), rest)
        return f"debian:{release}" if re.fullmatch(r"\d+(\.\d+)?", release) else None
    if base == "Ubuntu":
        # Ubuntu:22.04:LTS, Ubuntu:Pro:18.04:LTS, Ubuntu:Pro:FIPS-updates:22.04:LTS, Ubuntu:24.10
        for part in rest.split(":"):
            if _UBUNTU_RELEASE.fullmatch(part):
                return f"ubuntu:{part}"
        return None
    if base == "Red Hat":
        # Red Hat:enterprise_linux:9::appstream; EUS/AUS streams and layered products are skipped.
        parts = rest.split(":")
        if len(parts) >= 2 and parts[0] == "enterprise_linux":
            m = _MAJOR.fullmatch(parts[1])
            return f"rhel:{m.group(1)}" if m else None
        return None
    if base in ("AlmaLinux", "Rocky Linux"):
        m = _MAJOR.fullmatch(rest)
        key = "almalinux" if base == "AlmaLinux" else "rocky"
        return f"{key}:{m.group(1)}" if m else None
    if base == "SUSE":
        m = _SLE.match(rest)
        if not m or "Micro" in m.group("product"):
            return None
        sp = m.group("sp")
        return f"sles:{m.group('major')}.{sp}" if sp else f"sles:{m.group('major')}"
    if base == "openSUSE":
        if rest == "Tumbleweed":
            return "opensuse:tumbleweed"
        m = _LEAP.match(rest)
        return f"opensuse:{m.group('release')}" if m else None
    return None


def normalize_package(key: str, name: str) -> str:
    """The package name as our analyzers spell it in ecosystem `key`."""
    name = name.strip()
    if key == "pypi":
        return pep503(name)
    if key in ("nuget", "composer"):
        return name.lower()
    return name


def _is_distro(key: str) -> bool:
    return ":" in key or key in ("wolfi", "chainguard")


def _severity_entries(value: Any) -> tuple[list[tuple[str, str, float]], str]:
    """CVSS (version, vector, score) triples and a textual severity from an OSV `severity` list."""
    if value is None:
        return [], ""
    if not isinstance(value, list):
        raise Malformed("severity is not a list")
    scores: list[tuple[str, str, float]] = []
    word = ""
    for entry in value:
        if not isinstance(entry, dict):
            raise Malformed("severity entry is not an object")
        kind, score = entry.get("type"), entry.get("score")
        if not isinstance(kind, str) or not isinstance(score, str):
            continue
        if kind in _CVSS_TYPES:
            scored = score_vector(score)
            if scored is not None:
                scores.append((scored[0], score.strip(), scored[1]))
        elif not word:
            word = severity_word(score)  # "Ubuntu": negligible..critical
    return scores, word


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _affected_severity(entry: dict[str, Any]) -> str:
    _, word = _severity_entries(entry.get("severity"))
    if word:
        return word
    eco = _dict(entry.get("ecosystem_specific"))
    db = _dict(entry.get("database_specific"))
    for value in (eco.get("severity"), eco.get("urgency"), eco.get("priority"), db.get("severity")):
        word = severity_word(value)
        if word:
            return word
    return ""


def _events(rng: dict[str, Any]) -> list[list[str]]:
    raw = rng.get("events")
    if not isinstance(raw, list):
        raise Malformed("range events is not a list")
    out: list[list[str]] = []
    for event in raw:
        if not isinstance(event, dict) or len(event) != 1:
            raise Malformed("range event is not a one-key object")
        kind, value = next(iter(event.items()))
        if kind not in _RANGE_KINDS:
            raise Malformed(f"unknown range event {str(kind)[:20]!r}")
        out.append([kind, version_text(value)])
    return out


def _fix_state(events: list[list[str]]) -> tuple[str, str]:
    fixed = dedupe([v for k, v in events if k == "fixed"])
    if fixed:
        return "fixed", ", ".join(fixed)
    if any(k == "last_affected" for k, _ in events):
        return "unknown", ""
    return "not_fixed", ""


def parse_record(doc: Any, source: str, stats: FeedStats) -> tuple[Vuln, list[str], list[Affected]] | None:
    """One OSV document -> (vulnerability, aliases, affected rows); None when withdrawn.

    Raises Malformed (or a structural TypeError/ValueError) for a record that cannot be used.
    """
    if not isinstance(doc, dict):
        raise Malformed("record is not a JSON object")
    vid = ident(doc.get("id"))
    if doc.get("withdrawn"):
        stats.notes["withdrawn"] += 1
        return None
    cvss, word = _severity_entries(doc.get("severity"))
    word = word or severity_word(_dict(doc.get("database_specific")).get("severity"))
    refs: list[str] = []
    raw_refs = doc.get("references")
    if raw_refs is not None and not isinstance(raw_refs, list):
        raise Malformed("references is not a list")
    for ref in (raw_refs or [])[:MAX_REFERENCES]:
        url = ref.get("url") if isinstance(ref, dict) else None
        if isinstance(url, str) and url:
            refs.append(url[:2048])
    vuln = Vuln(
        id=vid,
        source=source,
        summary=text(doc.get("summary"), MAX_SUMMARY),
        details=text(doc.get("details")),
        published=text(doc.get("published"), 64),
        modified=text(doc.get("modified"), 64),
        severity=word,
        severity_source=source if word else "",
        references=dedupe(refs),
        cvss=[(version, vector, score, source) for version, vector, score in cvss],
    )
    aliases: list[str] = []
    for alias in str_list(doc.get("aliases"), MAX_ALIASES, "aliases"):
        try:
            aliases.append(ident(alias, "alias"))
        except Malformed:
            stats.notes["bad alias dropped"] += 1
    for up in str_list(doc.get("upstream"), MAX_ALIASES, "upstream"):
        if is_cve(up.strip()):
            aliases.append(up.strip())
    aliases = [a for a in dedupe(aliases) if a != vid]

    raw_affected = doc.get("affected")
    if raw_affected is None:
        raw_affected = []
    if not isinstance(raw_affected, list):
        raise Malformed("affected is not a list")
    rows: list[Affected] = []
    seen: set[tuple[str, str, str]] = set()
    for entry in raw_affected:
        if not isinstance(entry, dict):
            raise Malformed("affected entry is not an object")
        pkg = entry.get("package")
        if not isinstance(pkg, dict):
            raise Malformed("affected entry has no package object")
        eco, name = pkg.get("ecosystem"), pkg.get("name")
        if not isinstance(eco, str) or not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
            raise Malformed("package ecosystem/name missing or not strings")
        key = map_ecosystem(eco)
        if key is None:
            stats.notes[f"unmapped ecosystem {eco.split(':')[0]}"] += 1
            continue
        package = normalize_package(key, name)
        versions = [version_text(v) for v in str_list(entry.get("versions"), MAX_VERSIONS, "versions")]
        pkg_severity = _affected_severity(entry) or (word if _is_distro(key) else "")
        raw_ranges = entry.get("ranges")
        if raw_ranges is None:
            raw_ranges = []
        if not isinstance(raw_ranges, list):
            raise Malformed("ranges is not a list")
        kept: list[dict[str, Any]] = []
        for rng in raw_ranges:
            if not isinstance(rng, dict):
                raise Malformed("range is not an object")
            rtype = rng.get("type")
            if rtype not in _KEPT_RANGE_TYPES:
                stats.notes[f"{str(rtype)[:16]} range dropped"] += 1
                continue
            events = _events(rng)
            if events:
                kept.append({"type": rtype, "events": events})
        if not kept and not versions:
            continue  # only GIT ranges, nothing an installed version can be compared with
        if kept:
            state, fixed = _fix_state([e for r in kept for e in r["events"]])
        else:
            state, fixed = "unknown", ""  # an explicit list says nothing about fixes
        encoded = json.dumps({"ranges": kept, "versions": versions}, separators=(",", ":"))
        dedupe_key = (key, package, encoded)
        if dedupe_key in seen:
            continue  # SUSE and Ubuntu repeat one fix for many products mapped to the same key
        seen.add(dedupe_key)
        rows.append(Affected(vid, key, package, encoded, state, fixed, pkg_severity, source))
    return vuln, aliases, rows


def _emit(doc: Any, source: str, sink: Sink, stats: FeedStats, where: str) -> None:
    try:
        parsed = parse_record(doc, source, stats)
    except Malformed as exc:
        stats.skip(str(exc), where)
        return
    except (TypeError, ValueError, AttributeError, KeyError) as exc:
        stats.skip(f"unexpected structure ({type(exc).__name__})", where)
        return
    if parsed is None:
        return
    vuln, aliases, rows = parsed
    sink.vuln(vuln)
    if aliases:
        sink.aliases(vuln.id, aliases)
    if rows:
        sink.affected(rows)
    if is_cve(vuln.id):
        for version, vector, score, src in vuln.cvss:
            sink.cvss(vuln.id, src, version, vector, score)
    stats.records += 1


def _loads(data: bytes, stats: FeedStats, where: str) -> Any:
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        stats.skip("bad JSON", where)
        return None


def read_zip(path: Path, source: str, sink: Sink, stats: FeedStats) -> None:
    """Every `*.json` member of an OSV bulk export; broken members are skipped and counted."""
    from customhouse.vulndb.feeds import MAX_RECORD_BYTES

    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        stats.skip(f"unreadable zip archive ({exc})", str(path))
        return
    with zf:
        for info in zf.infolist():
            if info.is_dir() or not info.filename.endswith(".json"):
                continue
            where = f"{path.name}:{info.filename}"
            if info.file_size > MAX_RECORD_BYTES:
                stats.skip("record too large", where)
                continue
            try:
                with zf.open(info) as fh:
                    data = fh.read(MAX_RECORD_BYTES + 1)
            except (zipfile.BadZipFile, zlib.error, OSError, EOFError, NotImplementedError, RuntimeError):
                stats.skip("unreadable zip member", where)
                continue
            if len(data) > MAX_RECORD_BYTES:
                stats.skip("record too large", where)
                continue
            doc = _loads(data, stats, where)
            if doc is not None:
                _emit(doc, source, sink, stats, where)


def read_json(path: Path, source: str, sink: Sink, stats: FeedStats) -> None:
    """One loose OSV record (or a JSON list of records, as the OSV API returns them)."""
    from customhouse.vulndb.feeds import MAX_RECORD_BYTES

    try:
        if path.stat().st_size > MAX_RECORD_BYTES:
            stats.skip("record too large", str(path))
            return
        data = path.read_bytes()
    except OSError as exc:
        stats.skip(f"unreadable file ({exc.strerror})", str(path))
        return
    doc = _loads(data, stats, path.name)
    if isinstance(doc, list):
        for i, item in enumerate(doc):
            _emit(item, source, sink, stats, f"{path.name}[{i}]")
    elif doc is not None:
        _emit(doc, source, sink, stats, path.name)
