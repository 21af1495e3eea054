"""Java archives (JAR, WAR, EAR, Jenkins HPI/JPI, PAR, SAR, KAR) and the archives nested in them.

Identity, most reliable first:

1. `META-INF/maven/<group>/<artifact>/pom.properties`, written by Maven (and Gradle's maven
   plugins) at build time. One archive may hold several: shaded jars copy the files of every
   artifact they inline, so each becomes a package. Licenses come from the `pom.xml` beside it
   when that states them literally (inherited ones from a parent POM are not visible here).
2. The manifest, only when there is no pom.properties. Jenkins plugins state Maven coordinates
   outright (`Group-Id`, `Short-Name`, `Plugin-Version`). Otherwise the artifact is the file
   name without its version; the version is `Implementation-Version`, then `Bundle-Version`,
   then `Specification-Version`, then the file name's. The group is the hardest part, and a
   wrong group is worse than none (it makes a plausible but false coordinate), so it is taken
   only from: a `Bundle-SymbolicName` that ends with `.<artifact>` (group = the rest);
   `Implementation-Vendor-Id`, which Maven's archiver fills with the groupId; or a
   `Bundle-SymbolicName` that reads like a reverse domain name (`com.google.inject`), which is
   by OSGi convention the bundle's package namespace. Which rule applied is kept in
   `metadata["group_source"]`. With no group the package is named by its artifact alone.
   `Bundle-License` supplies the license when the POM does not.
3. The file name alone (`commons-io-2.11.0.jar`), when there is not even a manifest.

Nested archives (`WEB-INF/lib/*.jar` in a WAR, `lib/*.war` in an EAR, Spring Boot's
`BOOT-INF/lib/*.jar`, anything with an archive suffix) are read into memory and scanned the
same way. Their packages get the path `outer.ear!/app.war!/WEB-INF/lib/inner.jar`: the path of
the file in the image, then each member path inside its archive after `!/`, as Java's own
`jar:` URLs write it. Hostile input is bounded: nesting depth (`Limits.max_nested_archive_depth`),
the entry count of every archive, the size of every member we inflate, the compression ratio
of nested archives (a real jar inside a war barely compresses; a zip bomb compresses 1000:1),
and the total bytes inflated per top-level file. Anything refused becomes a warning, and what
was found before the refusal is still reported.
"""

from __future__ import annotations

import io
import re
import struct
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING

from customhouse.analyzers.base import Analyzer, AnalyzerError, Blob, Found, register
from customhouse.licenses import normalize_license
from customhouse.model import AnalysisResult, FileInfo, Note, Package
from customhouse.settings import Limits

if TYPE_CHECKING:
    from customhouse.image.fs import ImageFS

#: Suffixes of archives we open at the top level and inside other archives.
ARCHIVE_SUFFIXES = (".jar", ".war", ".ear", ".jpi", ".hpi", ".par", ".sar", ".kar")
#: These suffixes are used by other formats too; a non-zip file with them is not an error.
_AMBIGUOUS_SUFFIXES = (".par", ".sar", ".kar")

#: Nesting below the file in the image (an EAR holding a WAR holding a JAR is depth 2).
MAX_DEPTH = Limits().max_nested_archive_depth
#: Bytes inflated per top-level file, all members and nesting levels together.
MAX_TOTAL_BYTES = 1 << 30
#: One nested archive, held in memory while it is scanned.
MAX_NESTED_BYTES = 256 << 20
#: pom.properties, pom.xml, MANIFEST.MF: a few KB in real archives.
MAX_SMALL_MEMBER = 1 << 20
#: Nested archives are already compressed, so their ratio inside the outer one is about 1.
MAX_RATIO = 100
RATIO_FLOOR = 1 << 20
#: Entries in one archive: the largest real jars have tens of thousands.
MAX_ENTRIES = 250_000


class Refused(Exception):
    """An archive or member exceeds a bound; becomes a warning, never a crash."""


# ---------------------------------------------------------------------- small formats


def parse_properties(text: str) -> dict[str, str]:
    """Java `.properties`: `#`/`!` comments, `=`/`:`/space separators, `\\` continuations and escapes."""
    out: dict[str, str] = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].lstrip()
        i += 1
        if not line or line[0] in "#!":
            continue
        while _continues(line) and i < len(lines):
            line = line[:-1] + lines[i].lstrip()
            i += 1
        if _continues(line):
            line = line[:-1]
        key_end = 0
        while key_end < len(line):
            c = line[key_end]
            if c == "\\":
                key_end += 2
                continue
            if c in "=: \t\f":
                break
            key_end += 1
        key = line[:key_end]
        rest = line[key_end:].lstrip(" \t\f")
        if rest[:1] in ("=", ":"):
            rest = rest[1:].lstrip(" \t\f")
        out.setdefault(_unescape(key), _unescape(rest))
    return out


def _continues(line: str) -> bool:
    n = len(line) - len(line.rstrip("\\"))
    return n % 2 == 1


_PROP_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}


def _unescape(s: str) -> str:
    if "\\" not in s:
        return s
    out: list[str] = []
    i = 0
    while i < len(s):
        c = s[i]
        if c != "\\" or i + 1 >= len(s):
            out.append(c)
            i += 1
            continue
        e = s[i + 1]
        if e == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", s[i + 2 : i + 6]):
            out.append(chr(int(s[i + 2 : i + 6], 16)))
            i += 6
            continue
        out.append(_PROP_ESCAPES.get(e, e))
        i += 2
    return "".join(out)


def parse_manifest(text: str) -> dict[str, str]:
    """The main section of a JAR manifest; continuation lines start with one space."""
    headers: dict[str, str] = {}
    last = ""
    for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if not raw:
            if headers:
                break  # end of the main section; per-entry sections follow
            continue
        if raw.startswith(" ") and last:
            headers[last] += raw[1:]
            continue
        key, sep, value = raw.partition(":")
        if not sep:
            continue
        last = key.strip()
        headers.setdefault(last, value.strip())
        if headers[last] != value.strip():
            last = ""  # a repeated header: keep the first, ignore the repeat's continuations
    return {k: v.strip() for k, v in headers.items()}


_LICENSE_URLS = {
    "apache.org/licenses/license-2.0": "Apache-2.0",
    "opensource.org/licenses/apache-2.0": "Apache-2.0",
    "opensource.org/licenses/mit": "MIT",
    "opensource.org/licenses/mit-license": "MIT",
    "opensource.org/licenses/bsd-2-clause": "BSD-2-Clause",
    "opensource.org/licenses/bsd-3-clause": "BSD-3-Clause",
    "eclipse.org/legal/epl-v10": "EPL-1.0",
    "eclipse.org/org/documents/epl-v10": "EPL-1.0",
    "eclipse.org/legal/epl-2.0": "EPL-2.0",
    "mozilla.org/mpl/2.0": "MPL-2.0",
}


def license_from_url(url: str) -> str:
    """SPDX id for the canonical URL of a license text; "" when the URL is not one we know."""
    u = url.strip().lower()
    u = re.sub(r"^https?://", "", u)
    u = u.removeprefix("www.").rstrip("/")
    u = re.sub(r"\.(txt|html?|php)$", "", u)
    return _LICENSE_URLS.get(u, "")


def _license(name: str, url: str) -> str:
    name = name.strip()
    if name:
        norm = normalize_license(name)
        if norm != name or not url:
            return norm
        return license_from_url(url) or norm
    return license_from_url(url) or url.strip()


def bundle_licenses(value: str) -> tuple[str, ...]:
    """`Bundle-License`: a URL, an SPDX id, or `name;link=url` (a list is kept verbatim)."""
    value = value.strip()
    if not value or value.upper() in ("NONE", "UNKNOWN"):
        return ()
    name, _, params = value.partition(";")
    link = ""
    m = re.search(r"link\s*=\s*\"?([^\";]+)", params)
    if m:
        link = m.group(1)
    if re.match(r"^https?://", name.strip()):
        return (license_from_url(name) or name.strip(),)
    return (_license(name, link),)


def pom_licenses(data: bytes) -> tuple[str, ...]:
    """Licenses the POM states literally under `project/licenses`."""
    from xml.etree import ElementTree  # only when a jar carries a pom.xml

    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError:
        return ()
    out: list[str] = []
    for child in root:
        if _local(child.tag) != "licenses":
            continue
        for lic in child:
            if _local(lic.tag) != "license":
                continue
            name = url = ""
            for item in lic:
                tag = _local(item.tag)
                if tag == "name":
                    name = (item.text or "").strip()
                elif tag == "url":
                    url = (item.text or "").strip()
            value = _license(name, url)
            if value and "${" not in value and value not in out:
                out.append(value)
    return tuple(out)


def _local(tag: str | object) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def split_filename(filename: str) -> tuple[str, str]:
    """`log4j-1.2-api-2.17.1.jar` -> (`log4j-1.2-api`, `2.17.1`): the version starts at the last
    `-` that is followed by a digit, so artifact names containing numbers stay whole."""
    stem = filename.rsplit("/", 1)[-1]
    low = stem.lower()
    for suf in ARCHIVE_SUFFIXES:
        if low.endswith(suf):
            stem = stem[: -len(suf)]
            break
    parts = stem.split("-")
    for k in range(len(parts) - 1, 0, -1):
        if parts[k][:1].isdigit():
            return "-".join(parts[:k]), "-".join(parts[k:])
    return stem, ""


_PACKAGE_NAME = re.compile(r"^[A-Za-z_][\w-]*(\.[A-Za-z_][\w-]*)+$")
#: First labels that make a dotted name read as a reverse domain (Java package convention).
_REVERSE_DOMAIN = frozenset(
    {"com", "org", "net", "io", "edu", "gov", "javax", "jakarta", "de", "fr", "uk", "ch", "nl", "info", "dev", "eu"}
)


def _symbolic_name(value: str) -> str:
    return value.split(";", 1)[0].strip()


def manifest_identity(headers: dict[str, str], filename: str) -> tuple[str, str, list[tuple[str, str]]]:
    """(name, version, metadata) of an archive without pom.properties; see the module docstring."""
    meta: list[tuple[str, str]] = []
    file_artifact, file_version = split_filename(filename)
    if headers.get("Short-Name") and headers.get("Group-Id"):  # Jenkins plugin
        version = headers.get("Plugin-Version", "") or headers.get("Implementation-Version", "") or file_version
        meta.append(("group_source", "jenkins-plugin"))
        return f"{headers['Group-Id']}:{headers['Short-Name']}", version, meta
    artifact = file_artifact
    version = ""
    for key in ("Implementation-Version", "Bundle-Version", "Specification-Version"):
        if headers.get(key):
            version = headers[key]
            meta.append(("version_source", key))
            break
    if not version and file_version:
        version = file_version
        meta.append(("version_source", "filename"))
    bsn = _symbolic_name(headers.get("Bundle-SymbolicName", ""))
    vendor_id = headers.get("Implementation-Vendor-Id", "").strip()
    group = ""
    if bsn and artifact and bsn.endswith("." + artifact) and _PACKAGE_NAME.match(bsn):
        group = bsn[: -len(artifact) - 1]
        meta.append(("group_source", "Bundle-SymbolicName"))
    elif vendor_id and _PACKAGE_NAME.match(vendor_id):
        group = vendor_id
        meta.append(("group_source", "Implementation-Vendor-Id"))
    elif bsn and _PACKAGE_NAME.match(bsn) and bsn.split(".", 1)[0].lower() in _REVERSE_DOMAIN:
        group = bsn
        meta.append(("group_source", "Bundle-SymbolicName"))
    if bsn:
        meta.append(("bundle_symbolic_name", bsn))
    if not artifact:
        return "", version, meta
    return (f"{group}:{artifact}" if group else artifact), version, meta


# ---------------------------------------------------------------------- zip bounds


def zip_entry_count(f: IO[bytes]) -> int:
    """Entries the end-of-central-directory record announces, read before `zipfile` builds
    one object per entry (which, for a hostile archive, is unbounded memory)."""
    f.seek(0, 2)
    size = f.tell()
    tail_len = min(size, 22 + 0xFFFF)
    f.seek(size - tail_len)
    tail = f.read(tail_len)
    pos = tail.rfind(b"PK\x05\x06")
    if pos < 0 or len(tail) - pos < 22:
        raise zipfile.BadZipFile("no end of central directory")
    (total,) = struct.unpack("<H", tail[pos + 10 : pos + 12])
    if total != 0xFFFF:
        return int(total)
    loc = pos - 20
    if loc < 0 or tail[loc : loc + 4] != b"PK\x06\x07":
        return int(total)
    (z64_off,) = struct.unpack("<Q", tail[loc + 8 : loc + 16])
    f.seek(z64_off)
    rec = f.read(56)
    if rec[:4] != b"PK\x06\x06" or len(rec) < 40:
        raise zipfile.BadZipFile("bad zip64 end of central directory")
    (total64,) = struct.unpack("<Q", rec[32:40])
    return int(total64)


@dataclass
class _Scan:
    """State of one top-level file: what was found and what is left of the byte budget."""

    packages: list[Package] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    budget: int = field(default_factory=lambda: MAX_TOTAL_BYTES)
    #: Set once the budget refused a member: the rest of the file is skipped with that one warning.
    exhausted: bool = False


def _read_member(zf: zipfile.ZipFile, zi: zipfile.ZipInfo, limit: int, scan: _Scan, check_ratio: bool) -> bytes:
    """Inflate one member, refusing by its declared sizes first and by the bytes actually
    produced second (a lying header cannot make us produce more than `limit`)."""
    if check_ratio and zi.file_size > RATIO_FLOOR and zi.file_size > MAX_RATIO * max(zi.compress_size, 1):
        raise Refused(
            f"{zi.filename} compresses {zi.file_size}:{zi.compress_size} (more than {MAX_RATIO}:1): likely a zip bomb"
        )
    if zi.file_size > limit:
        raise Refused(f"{zi.filename} is {zi.file_size} bytes uncompressed (limit {limit})")
    if zi.file_size > scan.budget:
        scan.exhausted = True
        raise Refused(f"{zi.filename}: archive exceeds its decompression budget of {MAX_TOTAL_BYTES} bytes")
    cap = min(limit, scan.budget)
    buf = io.BytesIO()
    total = 0
    with zf.open(zi) as f:
        while chunk := f.read(1 << 20):
            total += len(chunk)
            if total > cap:
                scan.exhausted = cap == scan.budget
                raise Refused(f"{zi.filename} inflates past {cap} bytes")
            buf.write(chunk)
    scan.budget -= total
    return buf.getvalue()


# ---------------------------------------------------------------------- scanning


@dataclass(frozen=True, slots=True)
class _Members:
    props: list[zipfile.ZipInfo]
    poms: dict[str, zipfile.ZipInfo]  # "group/artifact" -> pom.xml
    manifest: zipfile.ZipInfo | None
    nested: list[zipfile.ZipInfo]


def _classify(zf: zipfile.ZipFile) -> _Members:
    props: list[zipfile.ZipInfo] = []
    poms: dict[str, zipfile.ZipInfo] = {}
    manifest = None
    nested: list[zipfile.ZipInfo] = []
    for zi in zf.infolist():
        name = zi.filename
        if name.endswith("/"):
            continue
        if name.startswith("META-INF/maven/"):
            parts = name.split("/")
            if len(parts) == 5 and parts[4] == "pom.properties":
                props.append(zi)
            elif len(parts) == 5 and parts[4] == "pom.xml":
                poms[f"{parts[2]}/{parts[3]}"] = zi
            continue
        if manifest is None and name.upper() == "META-INF/MANIFEST.MF":
            manifest = zi
            continue
        if name.lower().endswith(ARCHIVE_SUFFIXES):
            nested.append(zi)
    props.sort(key=lambda z: z.filename)
    nested.sort(key=lambda z: z.filename)
    return _Members(props, poms, manifest, nested)


class _ArchiveScanner:
    def __init__(self, found_by: str) -> None:
        self.found_by = found_by

    def scan(self, f: IO[bytes], display: str, filename: str, depth: int, scan: _Scan) -> None:
        count = zip_entry_count(f)
        if count > MAX_ENTRIES:
            raise Refused(f"{count} entries (limit {MAX_ENTRIES})")
        f.seek(0)
        with zipfile.ZipFile(f) as zf:
            members = _classify(zf)
            self._identify(zf, members, display, filename, scan)
            for zi in members.nested:
                self._nested(zf, zi, display, depth, scan)

    def _small(self, zf: zipfile.ZipFile, zi: zipfile.ZipInfo, display: str, scan: _Scan) -> bytes | None:
        if scan.exhausted:
            return None
        try:
            return _read_member(zf, zi, MAX_SMALL_MEMBER, scan, check_ratio=False)
        except Refused as exc:
            scan.warnings.append(f"java: /{display}: {exc}")
        except (zipfile.BadZipFile, RuntimeError, OSError, EOFError, NotImplementedError) as exc:
            scan.warnings.append(f"java: /{display}: cannot read {zi.filename}: {exc}")
        return None

    def _identify(self, zf: zipfile.ZipFile, m: _Members, display: str, filename: str, scan: _Scan) -> None:
        headers: dict[str, str] = {}
        if m.manifest is not None:
            raw = self._small(zf, m.manifest, display, scan)
            if raw is not None:
                headers = parse_manifest(raw.decode("utf-8", "replace"))
        manifest_lics = bundle_licenses(headers.get("Bundle-License", ""))
        found: list[tuple[str, str, str, str]] = []  # group, artifact, version, member
        for zi in m.props:
            raw = self._small(zf, zi, display, scan)
            if raw is None:
                continue
            props = parse_properties(raw.decode("latin-1"))
            g, a, v = props.get("groupId", ""), props.get("artifactId", ""), props.get("version", "")
            if not g or not a or not v or "${" in g + a + v:
                continue
            found.append((g, a, v, zi.filename))
        if found:
            main = self._main_artifact(found, filename)
            for g, a, v, member in found:
                lics: tuple[str, ...] = ()
                pom = m.poms.get(f"{g}/{a}") or m.poms.get(member.split("/")[2] + "/" + member.split("/")[3])
                if pom is not None:
                    data = self._small(zf, pom, display, scan)
                    if data is not None:
                        lics = pom_licenses(data)
                if not lics and main == (g, a):
                    lics = manifest_lics
                scan.packages.append(
                    Package(
                        name=f"{g}:{a}",
                        version=v,
                        type="maven",
                        path=display,
                        licenses=lics,
                        found_by=self.found_by,
                        metadata=(("pom_properties", member),),
                    )
                )
            return
        name, version, meta = manifest_identity(headers, filename)
        if not name:
            return
        meta.append(("source", "manifest" if headers else "filename"))
        scan.packages.append(
            Package(
                name=name,
                version=version,
                type="maven",
                path=display,
                licenses=manifest_lics,
                found_by=self.found_by,
                metadata=tuple(sorted(meta)),
            )
        )

    @staticmethod
    def _main_artifact(found: list[tuple[str, str, str, str]], filename: str) -> tuple[str, str] | None:
        """The artifact the archive itself is (the manifest describes it, not what it shades)."""
        if len(found) == 1:
            return found[0][0], found[0][1]
        artifact, _ = split_filename(filename)
        for g, a, _v, _m in found:
            if a == artifact:
                return g, a
        return None

    def _nested(self, zf: zipfile.ZipFile, zi: zipfile.ZipInfo, display: str, depth: int, scan: _Scan) -> None:
        child = f"{display}!/{zi.filename}"
        if scan.exhausted:
            return
        if depth + 1 > MAX_DEPTH:
            scan.warnings.append(f"java: /{child}: archive nested deeper than {MAX_DEPTH} levels, not scanned")
            return
        try:
            data = _read_member(zf, zi, MAX_NESTED_BYTES, scan, check_ratio=True)
        except Refused as exc:
            scan.warnings.append(f"java: /{display}: refused nested archive: {exc}")
            return
        except (zipfile.BadZipFile, RuntimeError, OSError, EOFError, NotImplementedError) as exc:
            scan.warnings.append(f"java: /{display}: cannot read {zi.filename}: {exc}")
            return
        try:
            self.scan(io.BytesIO(data), child, zi.filename, depth + 1, scan)
        except Refused as exc:
            scan.warnings.append(f"java: /{child}: {exc}")
        except (zipfile.BadZipFile, OSError, EOFError, struct.error, NotImplementedError, ValueError) as exc:
            if not zi.filename.lower().endswith(_AMBIGUOUS_SUFFIXES):
                scan.warnings.append(f"java: /{child}: not a readable zip archive: {exc}")


@register
class JavaArchiveAnalyzer(Analyzer):
    name = "java"
    version = 1
    suffixes = ARCHIVE_SUFFIXES + tuple(s.upper() for s in ARCHIVE_SUFFIXES)
    # Fat jars and EARs of several hundred MB exist; the file is read through `open()`, which
    # spools large members to the cache directory, and only the members we need are inflated.
    max_size = 2 << 30

    def analyze(self, info: FileInfo, blob: Blob) -> AnalysisResult | None:
        scan = _Scan()
        f = blob.open()
        try:
            _ArchiveScanner(self.name).scan(f, info.path, info.basename, 0, scan)
        except Refused as exc:
            scan.warnings.append(f"java: /{info.path}: {exc}")
        except (zipfile.BadZipFile, EOFError, struct.error, NotImplementedError) as exc:
            if info.path.lower().endswith(_AMBIGUOUS_SUFFIXES):
                return None
            raise AnalyzerError(f"not a readable zip archive: {exc}") from None
        finally:
            f.close()
        notes = tuple(Note("warning", {"message": w}) for w in scan.warnings)
        if not scan.packages and not notes:
            return None
        return AnalysisResult(packages=tuple(scan.packages), notes=notes)

    def finalize(self, found: Sequence[Found], fs: ImageFS | None) -> AnalysisResult:
        """Packages as found, plus the per-file warnings (refused bombs, too-deep nesting)."""
        packages: list[Package] = []
        notes: list[Note] = []
        for f in found:
            packages.extend(f.result.packages)
            notes.extend(n for n in f.result.notes if n.kind == "warning")
        return AnalysisResult(packages=tuple(packages), notes=tuple(notes))
