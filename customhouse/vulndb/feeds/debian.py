"""Debian: the security tracker's JSON export and the DSA/DLA announcement lists.

The tracker JSON (https://security-tracker.debian.org/tracker/data/json) is the source of truth
for what Debian considers vulnerable, per source package, per release, per CVE:

    {source_package: {CVE_or_TEMP_id: {"description": ..., "releases": {codename: {
        "status": "resolved" | "open" | "undetermined", "fixed_version": ..., "urgency": ...,
        "nodsa": ..., "nodsa_reason": "ignored" | "postponed", "repositories": {...}}}}}}

Mapping (one `affected` row per package, id and release):
- resolved with fixed_version "0": the release never shipped a vulnerable version -> no row.
- resolved with a version: fixed, range introduced 0 / fixed V.
- open: every version is affected (introduced 0, no fix); fix_state `not_fixed`, or
  `will_not_fix` when the team marked it `nodsa_reason: ignored`, or `end_of_life` when the
  urgency is `end-of-life` (the package left security support in that release). `postponed`
  stays `not_fixed`: a fix is expected in a point release.
- undetermined: `unknown`.
- urgency -> severity: unimportant/low/medium/high with the `**` ("set from NVD") marker
  stripped; "not yet assigned" and end-of-life give ''.
- sid (unstable) is skipped: it has no release number an image reports, and it moves daily.

The DSA/DLA lists (`data/DSA/list`, `data/DLA/list` in the tracker's repository) give each
advisory's title, date and the CVEs it fixed. They add advisory records and alias pairs only:
the per-CVE rows above already say which versions fix what, and a second row per package from
the advisory would report one problem twice.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

from customhouse.vulndb.feeds import (
    OPEN_RANGE,
    Affected,
    FeedStats,
    Malformed,
    Sink,
    Vuln,
    fixed_range,
    ident,
    severity_word,
    text,
    version_text,
)

# The one table of Debian codenames; OSV's `Debian:<codename>` strings use it too.
DEBIAN_CODENAMES = {
    "buzz": "1.1",
    "rex": "1.2",
    "bo": "1.3",
    "hamm": "2.0",
    "slink": "2.1",
    "potato": "2.2",
    "woody": "3.0",
    "sarge": "3.1",
    "etch": "4",
    "lenny": "5",
    "squeeze": "6",
    "wheezy": "7",
    "jessie": "8",
    "stretch": "9",
    "buster": "10",
    "bullseye": "11",
    "bookworm": "12",
    "trixie": "13",
    "forky": "14",
    "duke": "15",
}
MAX_TRACKER_BYTES = 2 << 30


def _urgency(value: Any) -> tuple[str, bool]:
    """(severity word, end-of-life?) from a tracker urgency such as `medium**`."""
    if not isinstance(value, str):
        return "", False
    word = value.strip().rstrip("*").strip().lower()
    if word == "end-of-life":
        return "", True
    return severity_word(word), False


def release_rows(package: str, vid: str, releases: Any, source: str, stats: FeedStats) -> list[Affected]:
    if releases is None or releases == []:
        return []  # the export writes an empty object as [] for ids with no release data
    if not isinstance(releases, dict):
        raise Malformed("releases is not an object")
    rows: list[Affected] = []
    for codename, info in releases.items():
        release = DEBIAN_CODENAMES.get(str(codename))
        if release is None:
            stats.notes[f"release {str(codename)[:20]} not mapped"] += 1
            continue
        if not isinstance(info, dict):
            raise Malformed(f"release {codename} is not an object")
        status = info.get("status")
        severity, eol = _urgency(info.get("urgency"))
        eco = f"debian:{release}"
        if status == "resolved":
            fixed = info.get("fixed_version")
            if fixed == "0":
                continue  # never affected in this release
            version = version_text(fixed)
            rows.append(Affected(vid, eco, package, fixed_range(version), "fixed", version, severity, source))
        elif status == "open":
            reason = info.get("nodsa_reason")
            state = "not_fixed"
            if eol:
                state = "end_of_life"
            elif reason == "ignored":
                state = "will_not_fix"
            rows.append(Affected(vid, eco, package, OPEN_RANGE, state, "", severity, source))
        elif status == "undetermined":
            rows.append(Affected(vid, eco, package, OPEN_RANGE, "unknown", "", severity, source))
        else:
            raise Malformed(f"unknown status {str(status)[:20]!r}")
    return rows


def read_tracker(path: Path, source: str, sink: Sink, stats: FeedStats) -> None:
    """The whole tracker export; one skipped record is one (package, id) pair."""
    try:
        if path.stat().st_size > MAX_TRACKER_BYTES:
            stats.skip("file too large", str(path))
            return
        raw = path.read_bytes()
        if path.name.endswith(".gz"):
            import gzip

            raw = gzip.decompress(raw)
        doc = json.loads(raw)
    except (OSError, EOFError, ValueError, RecursionError) as exc:
        stats.skip(f"unreadable tracker JSON ({type(exc).__name__})", str(path))
        return
    if not isinstance(doc, dict):
        stats.skip("tracker JSON is not an object", str(path))
        return
    for package, issues in doc.items():
        if not isinstance(issues, dict):
            stats.skip("package entry is not an object", str(package)[:80])
            continue
        for vid_raw, issue in issues.items():
            where = f"{package}/{vid_raw}"
            try:
                vid = ident(vid_raw)
                if not isinstance(issue, dict):
                    raise Malformed("issue is not an object")
                rows = release_rows(str(package), vid, issue.get("releases"), source, stats)
                sink.vuln(Vuln(id=vid, source=source, details=text(issue.get("description"))))
                if rows:
                    sink.affected(rows)
                stats.records += 1
            except Malformed as exc:
                stats.skip(str(exc), where)
            except (TypeError, ValueError, AttributeError) as exc:
                stats.skip(f"unexpected structure ({type(exc).__name__})", where)
        del issues
    del doc


# ------------------------------------------------------------------ DSA / DLA lists

_HEAD = re.compile(r"^\[(?P<date>\d{1,2} \w{3} \d{4})\] (?P<id>D[SL]A-\d+(?:-\d+)?)\s*(?P<title>.*)$")
_REFS = re.compile(r"^\s+\{(?P<ids>[^}]*)\}\s*$")


def read_advisory_list(path: Path, source: str, sink: Sink, stats: FeedStats) -> None:
    """`[01 Aug 2002] DSA-141 mpack - buffer overflow` blocks with `{CVE-...}` lines."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        stats.skip(f"unreadable file ({exc.strerror})", str(path))
        return
    current: Vuln | None = None
    refs: list[str] = []

    def flush() -> None:
        if current is None:
            return
        sink.vuln(current)
        if refs:
            sink.aliases(current.id, list(dict.fromkeys(refs)))
        stats.records += 1

    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        if line[0] == "[":
            flush()
            current, refs = None, []
            m = _HEAD.match(line)
            if not m:
                stats.skip("unparsable advisory header", f"{path.name}:{n}")
                continue
            try:
                published = datetime.strptime(m.group("date"), "%d %b %Y").strftime("%Y-%m-%dT00:00:00Z")
            except ValueError:
                published = ""
            title = m.group("title").strip()[:1024]
            current = Vuln(id=m.group("id"), source=source, summary=title, published=published)
            continue
        m2 = _REFS.match(line)
        if m2 and current is not None:
            refs.extend(t for t in m2.group("ids").split() if re.fullmatch(r"[A-Z][A-Za-z0-9]*-[\w.-]+", t))
    flush()
