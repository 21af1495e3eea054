"""Installed Ruby gems: `specifications/*.gemspec` and `specifications/default/*.gemspec`.

RubyGems writes one specification per installed gem into `<gem home>/specifications/`
(default gems, shipped with Ruby itself, into `specifications/default/`). Those files are Ruby
source, and we never execute image content, so we read the handful of assignments that
RubyGems' own generator emits (`s.name = "x".freeze`, `s.version = "1.2"`,
`s.licenses = ["MIT".freeze]`), accepting the spellings older RubyGems and hand-written specs
use (`%q{...}`, single quotes, `Gem::Version.new(...)`, `%w[...]`, any block variable). The
`# stub: name version platform` header, written since RubyGems 2.0, fills in what an
assignment computes at run time (`s.version = Foo::VERSION`).
"""

from __future__ import annotations

import re

from customhouse.analyzers.base import Analyzer, Blob, register
from customhouse.licenses import normalize_license
from customhouse.model import AnalysisResult, FileInfo, Package

_ASSIGN = re.compile(r"^\s*[a-z_]\w*\.(name|version|licenses?|platform)\s*=\s*(.+?)\s*$", re.MULTILINE)
# Ruby string literals as gemspecs spell them: "..." (escapes), '...', %q{...} and friends.
_STRING = re.compile(
    r""""((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'|%[qQ]?(?:\{([^}]*)\}|\(([^)]*)\)|\[([^\]]*)\]|<([^>]*)>)"""
)
_WORDS = re.compile(r"%[wW](?:\{([^}]*)\}|\(([^)]*)\)|\[([^\]]*)\]|<([^>]*)>)")
_STUB = re.compile(r"^# stub: (\S+) (\S+)(?: (\S+))?", re.MULTILINE)
_ESCAPE = re.compile(r"\\(u\{[0-9A-Fa-f]+\}|u[0-9A-Fa-f]{4}|.)")
#: Everything a RubyGems-generated spec says about identity sits in the first few KB; the
#: file list (`s.files = [...]`) can be huge and is read only as far as needed.
MAX_SPEC = 4 << 20


def _unescape(s: str) -> str:
    def sub(m: re.Match[str]) -> str:
        e = m.group(1)
        if e.startswith("u{"):
            return chr(int(e[2:-1], 16))
        if e.startswith("u") and len(e) == 5:
            return chr(int(e[1:], 16))
        return {"n": "\n", "t": "\t"}.get(e, e)

    return _ESCAPE.sub(sub, s) if "\\" in s else s


def ruby_strings(expr: str) -> list[str]:
    """String literals in a Ruby expression, in order (`.freeze` and wrappers ignored)."""
    out: list[str] = []
    for m in _STRING.finditer(expr):
        dq, sq, *pct = m.groups()
        if dq is not None:
            out.append(_unescape(dq))
        elif sq is not None:
            out.append(sq.replace("\\'", "'").replace("\\\\", "\\"))
        else:
            out.append(next(p for p in pct if p is not None))
    for m in _WORDS.finditer(expr):
        body = next(p for p in m.groups() if p is not None)
        out.extend(body.split())
    return out


def parse_gemspec(text: str, path: str, default: bool) -> Package | None:
    fields: dict[str, list[str]] = {}
    for m in _ASSIGN.finditer(text):
        attr, expr = m.group(1), m.group(2)
        if attr in fields and attr != "licenses":
            continue  # first assignment wins, as in generated specs there is only one
        vals = ruby_strings(expr)
        if vals:
            fields[attr] = vals
    name = fields.get("name", [""])[0].strip()
    version = fields.get("version", [""])[0].strip()
    platform = fields.get("platform", [""])[0].strip()
    stub = _STUB.search(text)
    if stub:
        name = name or stub.group(1)
        version = version or stub.group(2)
        platform = platform or (stub.group(3) or "")
    if not name or not version:
        return None
    raw = fields.get("licenses") or fields.get("license") or []
    licenses = tuple(dict.fromkeys(normalize_license(x) for x in raw if x.strip()))
    meta = []
    if platform and platform != "ruby":
        meta.append(("platform", platform))
    if default:
        meta.append(("default_gem", "true"))
    return Package(
        name=name,
        version=version,
        type="gem",
        path=path,
        licenses=licenses,
        found_by=GemspecAnalyzer.name,
        metadata=tuple(meta),
    )


def _is_spec_dir(path: str) -> bool:
    return path == "specifications" or path.endswith("/specifications")


@register
class GemspecAnalyzer(Analyzer):
    name = "gemspec"
    version = 1
    suffixes = (".gemspec",)
    max_size = 32 << 20

    def required(self, info: FileInfo) -> bool:
        parent = info.path.rpartition("/")[0]
        return _is_spec_dir(parent) or (parent.endswith("/default") and _is_spec_dir(parent[: -len("/default")]))

    def analyze(self, info: FileInfo, blob: Blob) -> AnalysisResult | None:
        # No "is this binary?" check: RubyGems itself writes NUL-separated extension lists
        # into the `# stub:` header of gems with C extensions.
        data = blob.read()[:MAX_SPEC]
        default = info.path.rpartition("/")[0].endswith("specifications/default")
        pkg = parse_gemspec(data.decode("utf-8", "replace"), info.path, default)
        return AnalysisResult(packages=(pkg,)) if pkg else None
