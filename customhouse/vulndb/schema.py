"""The vulnerability database: one SQLite file, versioned, read-only at scan time.

Why this shape: matching asks one question per package, "which advisories name this package in
this ecosystem?", so `affected` is keyed and indexed by (ecosystem, package) and holds
everything needed to decide without further lookups (ranges as JSON, fix state, distro
severity). Enrichment (CVSS, EPSS, KEV, aliases) is looked up only for the advisories that
matched, by id.

Ecosystem keys (lower case):
- OS: `<distro>:<release>`: `alpine:3.20`, `debian:12`, `ubuntu:22.04`, `rhel:9`,
  `almalinux:9`, `rocky:9`, `sles:15.6`, `opensuse:15.6`, `wolfi`, `chainguard`.
  Package = the distro's source package (Debian/Ubuntu source, Alpine origin), or the rpm name
  the feed uses (binary names for Red Hat family OSV data).
- Language: the PURL type: `pypi` (PEP 503 name), `npm`, `golang`, `maven` (`group:artifact`),
  `cargo`, `gem`, `nuget` (lower case), `composer` (`vendor/name`, lower case).

`ranges` is JSON, one row per OSV `affected` entry:
`{"ranges": [{"type": "ECOSYSTEM" | "SEMVER", "events": [[kind, version], ...]}, ...],
"versions": [...]}` with kinds `introduced`, `fixed`, `last_affected`, `limit` exactly as OSV
defines them. Distro feeds are converted to the same form (introduced 0, fixed X), so one
evaluator serves every feed.

`fix_state`: `fixed` (a fixed version exists), `not_fixed`, `will_not_fix`, `end_of_life`,
`unknown`.
"""

from __future__ import annotations

SCHEMA_VERSION = 1

DDL = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE sources (
    name TEXT PRIMARY KEY,      -- feed name: osv:PyPI, alpine-secdb, debian-tracker, nvd, kev, epss ...
    url TEXT NOT NULL,          -- where it was read from (file path or URL)
    fetched_at TEXT NOT NULL,   -- ISO 8601 UTC
    records INTEGER NOT NULL,   -- advisories (or rows) imported
    skipped INTEGER NOT NULL,   -- malformed records skipped
    sha256 TEXT NOT NULL DEFAULT ''
);
CREATE TABLE vulnerabilities (
    id TEXT PRIMARY KEY,        -- advisory id as the feed names it (CVE-..., GHSA-..., DSA-..., PYSEC-...)
    source TEXT NOT NULL,
    summary TEXT NOT NULL DEFAULT '',
    details TEXT NOT NULL DEFAULT '',
    published TEXT NOT NULL DEFAULT '',
    modified TEXT NOT NULL DEFAULT '',
    severity TEXT NOT NULL DEFAULT '',          -- the feed's own severity (critical..low), '' if none
    severity_source TEXT NOT NULL DEFAULT '',
    references_json TEXT NOT NULL DEFAULT '[]', -- list of URLs
    cvss_json TEXT NOT NULL DEFAULT '[]'        -- [[version, vector, score, source], ...] from the feed
);
CREATE TABLE aliases (id TEXT NOT NULL, alias TEXT NOT NULL, PRIMARY KEY (id, alias)) WITHOUT ROWID;
CREATE INDEX aliases_alias ON aliases (alias);
CREATE TABLE affected (
    vuln_id TEXT NOT NULL,
    ecosystem TEXT NOT NULL,
    package TEXT NOT NULL,
    ranges TEXT NOT NULL,        -- JSON, see module docstring
    fix_state TEXT NOT NULL,
    fixed_version TEXT NOT NULL DEFAULT '',
    severity TEXT NOT NULL DEFAULT '',   -- per-package severity (e.g. Debian urgency), '' if none
    source TEXT NOT NULL
);
CREATE INDEX affected_pkg ON affected (ecosystem, package);
CREATE TABLE cvss (cve TEXT NOT NULL, source TEXT NOT NULL, version TEXT NOT NULL, vector TEXT NOT NULL,
                   score REAL NOT NULL, PRIMARY KEY (cve, source, version)) WITHOUT ROWID;
CREATE TABLE kev (cve TEXT PRIMARY KEY, name TEXT NOT NULL, date_added TEXT NOT NULL, due_date TEXT NOT NULL,
                  ransomware TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE epss (cve TEXT PRIMARY KEY, score REAL NOT NULL, percentile REAL NOT NULL, date TEXT NOT NULL)
    WITHOUT ROWID;
CREATE TABLE eol (distro TEXT NOT NULL, release TEXT NOT NULL, eol_date TEXT NOT NULL, PRIMARY KEY (distro, release))
    WITHOUT ROWID;
"""

# meta keys
META_SCHEMA = "schema_version"
META_BUILT = "built_at"
META_BUILDER = "builder"
